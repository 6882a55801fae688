/* mod_oldsize - a plugin built against an older, shorter descriptor (no
 * post_config, worker_init, worker_exit).  The loader must accept it and
 * treat the missing fields as NULL, never reading past struct_size.
 * Its handler answers "oldsize ok\n" to requests with "X-Oldsize: 1". */
#include <stddef.h>
#include <string.h>
#include <rampart.h>

/* The prefix of rp_module that an older ABI 1.0 plugin would have had. */
struct old_module {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    const char *name;
    const char *version;
    const rp_directive *directives;
    void *(*create_conf)(rp_pool *p);
    void *(*merge_conf)(rp_pool *p, void *base, void *add);
    int (*map_target)(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                      const char **err);
    void (*register_hooks)(rp_hooks *h, void *conf);
};

_Static_assert(offsetof(struct old_module, register_hooks) == offsetof(rp_module, register_hooks),
               "old_module must be a prefix of rp_module");

static int old_handler(rp_req *r)
{
    const char *h = rp_req_header(r, "X-Oldsize");
    if (!h || strcmp(h, "1") != 0)
        return RP_DECLINED;
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "oldsize ok\n");
    return RP_OK;
}

static void old_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_HANDLER, old_handler, RP_HOOK_FIRST, NULL, NULL);
}

RP_API const struct old_module rp_module_oldsize;
const struct old_module rp_module_oldsize = {
    .magic = RP_MODULE_MAGIC,
    .abi_major = RP_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = sizeof(struct old_module),
    .name = "oldsize",
    .version = "0.9",
    .register_hooks = old_register_hooks,
};
