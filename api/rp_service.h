/* rp_service.h - module-to-module calls without linking.
 *
 * A module publishes a function table under a name and integer version in
 * post_config or register_hooks; others look it up ("ws", 1) and cast it to
 * the struct that module documents in its own public header.  A newer
 * version of a service must keep the older table's layout as its prefix.
 */
#ifndef RP_SERVICE_H
#define RP_SERVICE_H

#include "rp_common.h"

/* Returns 0, or -1 if that name is already published at an equal or higher
 * version. */
RP_API int rp_service_register(const char *name, int version, const void *table);
/* The table published under name with version >= min_version, or NULL. */
RP_API const void *rp_service_get(const char *name, int min_version);
RP_API int rp_service_version(const char *name); /* 0 if absent */

#endif
