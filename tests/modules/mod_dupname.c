/* mod_dupname - a second plugin whose descriptor claims the name "testhooks".
 * "LoadModule testhooks mod_dupname.so" after mod_testhooks.so is loaded must
 * be refused as a duplicate; "LoadModule dupname mod_dupname.so" finds a
 * descriptor whose name does not match. */
#include <rampart.h>

RP_MODULE_DECLARE(testhooks) = {
    RP_MODULE_HEADER,
    .name = "testhooks",
    .version = "9.9",
};

RP_MODULE_DECLARE(dupname) = {
    RP_MODULE_HEADER,
    .name = "testhooks",
    .version = "9.9",
};
