/* rp_static.h - the "static" service of mod_static, for plugins that look
 * at or replace the file a request is about to be sent (mod_js's
 * beginFuncOnFile).
 *
 * Use it from post_config (every module's register_hooks has run by then,
 * so the service is published whatever the load order):
 *
 *     #include "rp_static.h"
 *     const rp_static_api *st = rp_service_get(RP_STATIC_SERVICE, 1);
 *     if (st)
 *         st->add_file_hook(my_hook, my_arg);
 *
 * Every path this service hands out is the real path (no symlink, no "..")
 * of a regular file below the root of a directory mapped with mod_static's
 * Map: a request naming something outside every mapped root - through a
 * symlink, say - is answered 404 before any hook sees it.
 */
#ifndef RP_STATIC_H
#define RP_STATIC_H

#include <rampart.h>

#define RP_STATIC_SERVICE "static"
#define RP_STATIC_VERSION 1

/* A file hook runs on the request's worker thread just before mod_static
 * sends the regular file fs_path for r (a GET or HEAD on a mapped
 * directory, index.html of a directory included), with nothing of the
 * response started.  It returns
 *   RP_DECLINED      send the file; or, with *replace set to another path,
 *                    send that file instead - absolute, or relative to
 *                    the root r's route maps; it too must be a regular
 *                    file below a mapped root, else the answer is 404
 *   RP_OK, RP_ASYNC  the hook answered (as a route handler does)
 *   a status         answer that status (404, 403, ...)
 * Hooks run in registration order until one returns something other than
 * RP_DECLINED without a replacement. */
typedef int (*rp_static_file_hook)(rp_req *r, const char *fs_path, void *arg,
                                   const char **replace);

typedef struct rp_static_api {
    /* The real path of the regular file r's static route maps it to, in
     * r's pool; NULL when r is no request for mod_static, or the file is
     * missing, no regular file, or outside the root. */
    const char *(*resolve)(rp_req *r);
    /* Register a hook; registering the same (fn, arg) again is a no-op.
     * 0, or -1 when the table is full (16 hooks). */
    int (*add_file_hook)(rp_static_file_hook fn, void *arg);
    /* Remove a hook (e.g. at reload); 0, or -1 if it was not there. */
    int (*remove_file_hook)(rp_static_file_hook fn, const void *arg);
} rp_static_api;

#endif
