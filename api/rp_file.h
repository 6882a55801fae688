/* rp_file.h - file responses, validators and the open-file cache.
 *
 * Any handler that answers with the contents of a file hands the core an
 * rp_file and calls rp_resp_send_file(): the core sets ETag and
 * Last-Modified, answers 304 (If-None-Match / If-Modified-Since), 206 for a
 * single Range (If-Range honoured) and 416, sends HEAD without a body, and
 * records the file behind the response so that filters (compression) read
 * its facts through rp_resp_file() instead of stat'ing it again.
 *
 * Files come from the worker's open-file cache (rp_file_get) or from a
 * descriptor the caller opened (rp_file_from_fd).  The cache keeps, per
 * worker thread, the open descriptor, stat and ETag of recently served
 * files, and small files' bytes; an entry is trusted for FileCacheValid
 * seconds (default 1) and then re-opened through the caller's opener and
 * compared, so a file that was replaced, deleted, renamed or made
 * unreadable is never served for longer than that after the change.  The
 * opener is the only way in: a path never reaches the cache that the
 * opener (with its own root and symlink checks) did not open.
 */
#ifndef RP_FILE_H
#define RP_FILE_H

#include <sys/stat.h>
#include <time.h>
#include "rp_common.h"

typedef struct rp_file rp_file;

/* Open the file a cache key names.  Return a descriptor open for reading
 * with *st filled from it, or -1 with the HTTP status to answer in *status
 * (404, 403, 503...).  A descriptor of something other than a regular file
 * is returned as is; the caller decides (rp_file_stat). */
typedef int (*rp_file_open_fn)(void *arg, struct stat *st, int *status);

/* The file named by (ns, key) from this worker's cache, or opened with
 * open(arg) and remembered.  ns separates key spaces (e.g. one per mapped
 * directory: the route target); key is compared as a string and should be
 * the file's absolute path (rp_file_path reports it, and the Content-Type
 * comes from its extension).  The file stays valid until the request
 * ends.  NULL on failure, with the status the opener gave in *status. */
RP_API rp_file *rp_file_get(rp_req *r, const void *ns, const char *key, rp_file_open_fn open,
                            void *arg, int *status);

/* Wrap a descriptor the caller opened (not cached).  The request takes
 * ownership of fd.  path (may be NULL) names it for filters.  NULL with
 * *status if fstat fails. */
RP_API rp_file *rp_file_from_fd(rp_req *r, int fd, const char *path, int *status);

RP_API const struct stat *rp_file_stat(const rp_file *f);
/* The strong validator the core sends: "\"<mtime hex>-<size hex>\"". */
RP_API const char *rp_file_etag(const rp_file *f);
/* The filesystem path it was opened as (absolute), or NULL if unknown. */
RP_API const char *rp_file_path(const rp_file *f);

/* Answer with the file.  Content-Type comes from the path's extension
 * unless already set; Accept-Ranges, ETag, Last-Modified always.  Returns
 * RP_OK (a 200, 206 or 304 response is under way, or HEAD's headers) or a
 * status for the handler to return (416, with Content-Range set; 503 if
 * the file shrank since it was opened). */
RP_API int rp_resp_send_file(rp_req *r, rp_file *f);

/* Add [off, off+len) of f to a brigade (a filter serving a cached copy);
 * the bucket keeps the file open until its bytes are sent. */
RP_API void rp_brigade_add_file_ref(rp_brigade *bb, rp_file *f, int64_t off, int64_t len);

/* The file whose whole or partial contents are this response's body (set by
 * rp_resp_send_file), or NULL.  For filters deciding at response start. */
RP_API const rp_file *rp_resp_file(const rp_req *r);

/* ---- validators, for modules that produce their own representations ---- */

/* 1 if an If-None-Match value lists etag (weak comparison: W/ ignored on
 * both sides) or is "*". */
RP_API int rp_etag_listed(const char *if_none_match, const char *etag);
/* 1 if the request's If-None-Match (or, without it, If-Modified-Since)
 * says the client's copy with this etag and mtime is current. */
RP_API int rp_req_not_modified(const rp_req *r, const char *etag, time_t mtime);
/* A Range header value against a body of size bytes: 200 (absent, ignored
 * or several ranges: send it whole), 206 with *off and *len, or 416. */
RP_API int rp_range_parse(const char *value, int64_t size, int64_t *off, int64_t *len);

/* How rp_resp_send_file answers Range for this response: as configured
 * (an open-ended "bytes=N-" capped at DefaultRangeMBytes), uncapped, or not
 * at all (no Accept-Ranges; Range ignored, 200 with the whole file). */
typedef enum { RP_RANGES_CAPPED = 0, RP_RANGES_UNCAPPED, RP_RANGES_OFF } rp_ranges;
RP_API void rp_resp_ranges(rp_req *r, rp_ranges mode);

#endif
