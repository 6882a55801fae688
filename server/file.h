/* file.h - the core's open files (rp_file) and the per-worker open-file
 * cache; internal to librampart.  See api/rp_file.h for the public side. */
#ifndef RP_FILE_INT_H
#define RP_FILE_INT_H

#include <sys/stat.h>
#include "core.h"
#include "rp_file.h"

struct evbuffer_file_segment;

#define RP_ETAG_MAX 48

/* One open file.  Reference counted by the cache entry, by each request
 * using it and by each bucket carrying its bytes; all of them live on the
 * worker thread that opened it, so the count needs no atomics. */
struct rp_file {
    int refs;
    int fd;                            /* -1 for a cached small file (data) */
    struct evbuffer_file_segment *seg; /* the whole file, made on first sendfile */
    struct stat st;
    char etag[RP_ETAG_MAX];
    char lastmod[32];                  /* Last-Modified value */
    const char *mime;                  /* Content-Type from the path, found on first send */
    const void *mime_of;               /* the rp_server mime was found in */
    char *path; /* malloc'd, or NULL */
    char *data; /* small cached files: all st_size bytes, or NULL */
};

/* A new file with one reference, owning fd; NULL if out of memory. */
rp_file *rp_file_new(int fd, const struct stat *st, const char *path);
void rp_file_ref(rp_file *f);
void rp_file_unref(rp_file *f);
/* The request holds a reference until its pool goes. */
void rp_file_hold(rp_req *r, rp_file *f);
/* The file's segment (created on first use; the file's fd moves into it). */
struct evbuffer_file_segment *rp_file_segment(rp_file *f);

/* A worker thread's reserve descriptor (fcache.c): open (true) as the
 * thread starts, close (false) as it ends. */
void rp_file_reserve(bool open_it);

/* The per-worker cache (fcache.c).  NULL-safe free. */
typedef struct rp_fcache rp_fcache;
void rp_fcache_free(rp_fcache *c);

#endif
