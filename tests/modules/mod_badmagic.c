/* mod_badmagic - test plugin with a wrong magic number: the loader must refuse it. */
#include <rampart.h>

RP_MODULE_DECLARE(badmagic) = {
    .magic = 0xdeadbeefu,
    .abi_major = RP_ABI_MAJOR,
    .abi_minor = RP_ABI_MINOR,
    .struct_size = sizeof(rp_module),
    .name = "badmagic",
    .version = "1.0",
};
