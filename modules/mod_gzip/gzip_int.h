/* gzip_int.h - mod_gzip internals shared by gzip.c, accept.c, filter.c and
 * cache.c.  Nothing here is exported: the only public symbol is
 * rp_module_gzip. */
#ifndef GZIP_INT_H
#define GZIP_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#define ZLIB_CONST
#include <zlib.h>
#include "rampart.h"

RP_API extern const rp_module rp_module_gzip;
#define GZ_SELF (&rp_module_gzip)

/* Request note read by mod_gzip (set by other modules before the response
 * starts); the file behind a response comes from rp_resp_file(). */

#define GZ_LEVEL_MIN 1
#define GZ_LEVEL_MAX 10
#define GZ_LEVEL_DEFAULT 1
#define GZ_MIN_SIZE_DEFAULT 1000

/* Directories already reported as unwritable, shared by all workers. */
typedef struct gz_warned {
    pthread_mutex_t lock;
    struct gz_warned_dir *head;
    size_t n;
} gz_warned;

/* The module configuration, read-only once the server runs (the warned set
 * has its own lock). */
typedef struct gz_conf {
    int files;        /* CompressFiles: not off */
    const char *const *exts; /* lower-case extensions without the dot, NULL-terminated */
    int scripts;      /* CompressScripts */
    long level;       /* CompressLevel 1..10 */
    size_t min_size;  /* CompressMinSize */
    gz_warned *warned;
    rp_metric *cache_hits, *cache_misses; /* .gzipcache copies found / not (yet) there */
    unsigned set; /* route confs: GZ_SET_* of the fields a line of this scope set */
} gz_conf;

/* The Compress* directives are route settings (top level, <Host>, <Route>):
 * a route conf uses the fields above up to min_size; warned and the metrics
 * live in the module conf only. */
#define GZ_SET_FILES 1u
#define GZ_SET_SCRIPTS 2u
#define GZ_SET_LEVEL 4u
#define GZ_SET_MIN_SIZE 8u

/* ---- accept.c ---- */

/* 1 if an Accept-Encoding value lets us send gzip (q-values honoured,
 * "gzip;q=0" refuses, "*" stands for gzip when gzip is not named). */
int gz_accepts(const char *accept_encoding);

/* 1 if a Content-Type is worth compressing for a script response. */
int gz_type_compressible(const char *content_type);

/* The zlib level for a CompressLevel 1..10 (10 = zlib's best, 9). */
int gz_zlib_level(long level);

/* ---- cache.c ---- */

/* What the cache needs to know about the original file. */
typedef struct gz_orig {
    const char *path;  /* absolute filesystem path */
    struct stat st;    /* stat of the original when the response started */
    long level;        /* CompressLevel the cache copy must have */
} gz_orig;

/* The gzip header extra field that records the original a cache copy was
 * made from (size, mtime with nanoseconds, level): "RP", 24 bytes. */
#define GZ_EXTRA_LEN 28 /* SI1 SI2 LEN(2) + 24 */
void gz_extra_fill(unsigned char extra[GZ_EXTRA_LEN], const gz_orig *o);

/* The cached copy of o if it is current (through the core's open-file
 * cache, keyed by the copy's path and o's size, mtime and level), or NULL
 * if it is missing or stale. */
rp_file *gz_cache_get(rp_req *r, const gz_orig *o);

/* A temporary file next to the cache copy, to be renamed into place when
 * complete.  Returns NULL (and logs once per directory) when the directory
 * cannot hold a cache. */
typedef struct gz_tee gz_tee;
gz_tee *gz_tee_begin(rp_req *r, const gz_conf *c, const gz_orig *o);
/* Append compressed bytes; on a write error the tee is dropped. */
void gz_tee_write(gz_tee *t, const void *data, size_t len);
/* All input seen (in_bytes of it): rename into place if complete and the
 * original did not change meanwhile; otherwise discard. */
void gz_tee_commit(gz_tee *t, uint64_t in_bytes);
/* Discard the temporary file (also done by the request pool's cleanup). */
void gz_tee_abort(gz_tee *t);

/* The set of directories already warned about, freed with pool p. */
gz_warned *gz_warned_create(rp_pool *p);
/* Log "cannot cache in <dir>: <why>" once per directory. */
void gz_warn_once(const gz_conf *c, const char *dir, const char *why);

/* ---- filter.c ---- */

typedef enum { GZ_MODE_STREAM = 0, GZ_MODE_CACHED, GZ_MODE_DROP } gz_mode;

/* Start the filter state of one response.  For GZ_MODE_STREAM: zlib level
 * (1..10), and o (the original file, for a deterministic gzip header) or
 * NULL; tee may be NULL.  For GZ_MODE_CACHED: the copy and its length. */
typedef struct gz_ctx gz_ctx;
gz_ctx *gz_ctx_stream(rp_req *r, rp_filter *f, long level, const gz_orig *o, gz_tee *tee);
gz_ctx *gz_ctx_cached(rp_req *r, rp_filter *f, rp_file *cache_file, int64_t cache_len);
gz_ctx *gz_ctx_drop(rp_req *r, rp_filter *f);
/* Script output of unknown length: decide on the first min_size bytes.
 * Headers stay as they are until then; if the body ends (EOS) shorter than
 * min_size it passes as is, otherwise (or at the first FLUSH) it is
 * compressed. */
void gz_ctx_defer(gz_ctx *c, size_t min_size);
int gz_filter(rp_filter *f, rp_brigade *bb);

/* Content-Encoding gzip, ETag "...-gz", no Accept-Ranges, length len (-1:
 * unknown). */
void gz_set_headers(rp_req *r, int64_t len);

#endif
