/* One plugin source built as several test plugins, each broken in one way
 * (see CMakeLists.txt).  It uses no librampart symbol so it loads into the
 * unit test without the shared library. */
#include "rampart.h"

#ifndef MODNAME
#define MODNAME good
#endif
#ifndef DESC_NAME
#define DESC_NAME "good"
#endif
#ifndef MAGIC
#define MAGIC RP_MODULE_MAGIC
#endif
#ifndef MAJOR
#define MAJOR RP_ABI_MAJOR
#endif
#ifndef MINOR
#define MINOR RP_ABI_MINOR
#endif
#ifndef SIZE
#define SIZE sizeof(rp_module)
#endif
#ifndef DIRECTIVE
#define DIRECTIVE "GoodThing"
#endif

typedef struct vconf {
    int value;
} vconf;

static vconf the_conf; /* no pool calls: this plugin links nothing */

static void *v_create(rp_pool *p)
{
    (void)p;
    the_conf.value = 7;
    return &the_conf;
}

static const char *v_set(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)cmd;
    (void)argc;
    ((vconf *)conf)->value = argv[0][0] == '1' ? 1 : 0;
    return NULL;
}

static const rp_directive v_directives[] = {
    {DIRECTIVE, 1, 1, v_set, 0, DIRECTIVE " 0|1: a test setting"}, RP_DIRECTIVES_END};

#define DECLARE(n) RP_MODULE_DECLARE(n)
DECLARE(MODNAME) = {
    .magic = MAGIC,
    .abi_major = MAJOR,
    .abi_minor = MINOR,
    .struct_size = SIZE,
    .name = DESC_NAME,
    .version = "1.0",
    .directives = v_directives,
    .create_conf = v_create,
};
