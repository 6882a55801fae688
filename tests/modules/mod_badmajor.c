/* mod_badmajor - test plugin built for another ABI major: the loader must refuse it. */
#include <rampart.h>

RP_MODULE_DECLARE(badmajor) = {
    .magic = RP_MODULE_MAGIC,
    .abi_major = RP_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(rp_module),
    .name = "badmajor",
    .version = "1.0",
};
