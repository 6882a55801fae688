/* mod_newminor - test plugin claiming a newer ABI minor than the server: refused. */
#include <rampart.h>

RP_MODULE_DECLARE(newminor) = {
    .magic = RP_MODULE_MAGIC,
    .abi_major = RP_ABI_MAJOR,
    .abi_minor = 99,
    .struct_size = sizeof(rp_module),
    .name = "newminor",
    .version = "1.0",
};
