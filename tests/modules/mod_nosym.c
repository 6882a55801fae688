/* mod_nosym - test plugin that does not export rp_module_nosym: refused.
 * (It exports a descriptor under another name, which must not be picked up.) */
#include <rampart.h>

RP_MODULE_DECLARE(somethingelse) = {
    RP_MODULE_HEADER,
    .name = "somethingelse",
    .version = "1.0",
};

RP_API int rp_nosym_marker(void);
int rp_nosym_marker(void)
{
    return 42;
}
