/* rp_dirlist.h - the "dirlist" service of mod_dirlist, for plugins that
 * supply directory listings themselves (mod_js's directoryFunc).
 *
 * When mod_static finds a directory without index.html it answers 403 and
 * leaves the directory's real filesystem path in the request note
 * "static.dir".  mod_dirlist's ERROR hook then offers the request to every
 * registered provider, in registration order; the first that returns RP_OK
 * (it produced a complete response: status, headers, body) or RP_ASYNC (it
 * will finish the response later with rp_resp_finish) wins.  If all decline
 * (RP_DECLINED) the built-in listing is sent when "DirectoryFunc on",
 * otherwise the 403 stands.
 *
 * Use it from post_config (every module's register_hooks has run by then,
 * so the service is published whatever the load order):
 *
 *     #include "rp_dirlist.h"
 *     const rp_dirlist_api *dl = rp_service_get(RP_DIRLIST_SERVICE, 1);
 *     if (dl)
 *         dl->add_provider(my_listing, my_arg);
 *
 * A provider runs on the request's worker thread, with the status still 403
 * and the error page not started: set the status (200), headers and body,
 * e.g. with rp_resp_write().  fs_path has no trailing slash (except "/").
 */
#ifndef RP_DIRLIST_H
#define RP_DIRLIST_H

#include <rampart.h>

#define RP_DIRLIST_SERVICE "dirlist"
#define RP_DIRLIST_VERSION 1

typedef int (*rp_dirlist_provider)(rp_req *r, const char *fs_path, void *arg);

typedef struct rp_dirlist_api {
    /* Register a provider; registering the same (fn, arg) again is a no-op.
     * 0, or -1 when the table is full (16 providers). */
    int (*add_provider)(rp_dirlist_provider fn, void *arg);
    /* Remove a provider (e.g. at reload); 0, or -1 if it was not there. */
    int (*remove_provider)(rp_dirlist_provider fn, const void *arg);
    /* Send the built-in listing of fs_path for r (status 200), whatever
     * DirectoryFunc says: for a provider that only wants to decorate it or
     * decide per request.  RP_OK, or an HTTP status on failure (403, 404). */
    int (*builtin)(rp_req *r, const char *fs_path);
} rp_dirlist_api;

#endif
