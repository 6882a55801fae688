/* mod_abi11 - a plugin as built against the ABI 1.1 headers: its descriptor
 * ends before `handler` (struct_size says so) and it serves its routes from a
 * HANDLER hook that checks the route owner, the way 1.1 plugins did.
 *
 * The loader must treat the missing field as NULL (the bytes past
 * struct_size here hold a handler that must never run), the owner check must
 * see this plugin's own descriptor address, and per-module calls made with
 * that address must find the module although the server reads a copy.
 *
 * Routes: "Map /key abi11:" answers "abi11 hook conf=<n> ctx=<n>\n".
 */
#include <stddef.h>
#include <string.h>
#include <rampart.h>

RP_MODULE_DECLARE(abi11);
#define SELF (&rp_module_abi11)

static void *a11_create_conf(rp_pool *p)
{
    long *n = rp_pcalloc(p, sizeof *n);
    *n = 11;
    return n;
}

static int a11_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                          const char **err)
{
    (void)conf;
    if (argc != 1 || strcmp(argv[0], "abi11:") != 0)
        return RP_DECLINED;
    *err = rp_route_add(cmd, key, SELF, NULL);
    return *err ? RP_ERROR : RP_OK;
}

static int a11_auth(rp_req *r)
{
    if (rp_req_route_owner(r) == SELF) {
        long *v = rp_pcalloc(rp_req_pool(r), sizeof *v);
        *v = 42;
        rp_req_set_ctx(r, SELF, v);
    }
    return RP_OK;
}

static int a11_hook(rp_req *r)
{
    if (rp_req_route_owner(r) != SELF)
        return RP_DECLINED;
    const long *conf = rp_req_conf(r, SELF);
    const long *ctx = rp_req_ctx(r, SELF);
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "abi11 hook conf=%ld ctx=%ld\n", conf ? *conf : -1, ctx ? *ctx : -1);
    return RP_OK;
}

/* Beyond struct_size: a 1.1 server would never know of it. */
static int a11_not_mine(rp_req *r)
{
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "abi11 descriptor read past struct_size\n");
    return RP_OK;
}

static void a11_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_AUTH, a11_auth, RP_HOOK_MIDDLE, NULL, NULL);
    rp_hook_add(h, RP_PHASE_HANDLER, a11_hook, RP_HOOK_MIDDLE, NULL, NULL);
}

RP_MODULE_DECLARE(abi11) = {
    .magic = RP_MODULE_MAGIC,
    .abi_major = RP_ABI_MAJOR,
    .abi_minor = 1,
    .struct_size = offsetof(rp_module, handler),
    .name = "abi11",
    .version = "1.1",
    .create_conf = a11_create_conf,
    .map_target = a11_map_target,
    .register_hooks = a11_register_hooks,
    .handler = a11_not_mine,
};
