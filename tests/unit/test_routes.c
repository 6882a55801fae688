/* The Map table: key kinds, ordering with and without MapSort, matching. */
#include "fake.h"
#include "ut.h"

/* A module that takes every Map target; "refuse" and "fail" test errors. */
static int fake_map(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                    const char **err)
{
    (void)conf;
    (void)argc;
    if (strcmp(argv[0], "refuse") == 0)
        return RP_DECLINED;
    if (strcmp(argv[0], "fail") == 0) {
        *err = rp_cmd_error(cmd, "Map: fake cannot serve '%s'", key);
        return RP_ERROR;
    }
    const char *e = rp_route_add(cmd, key, rp_hooks_module == NULL ? NULL : cmd ? NULL : NULL,
                                 NULL);
    (void)e;
    return RP_ERROR;
}
