/* static_int.h - mod_static internals shared by static.c, path.c and cond.c.
 * Nothing here is exported: the only public symbol is rp_module_static. */
#ifndef STATIC_INT_H
#define STATIC_INT_H

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "rampart.h"

/* The opaque route target of one mapped directory, built at configuration
 * time and read-only afterwards (shared by all workers). */
typedef struct st_target {
    const char *root; /* realpath of the mapped directory, no trailing '/' (except "/") */
    size_t root_len;
    int root_fd;      /* O_PATH directory fd for openat2(RESOLVE_BENEATH), or -1 */
    struct st_target *next; /* the configuration's list of every mapping */
} st_target;

/* ---- path.c: safe resolution below the root ---- */

/* 1 if rest (the path below the mapping key) has no ".." segment and is of
 * sane length; the core normally guarantees this already. */
int st_rest_is_safe(const char *rest);

/* Find rel (relative to the root, no leading '/') without leaving the root.
 * On success returns 0, fills *st and sets *used to the relative path that
 * st_open_read() must be given.  Otherwise returns an HTTP status (404 for
 * anything missing or outside the root, 403 for permission denied). */
int st_lookup(const st_target *t, const char *rel, rp_pool *p, struct stat *st, const char **used);
/* st_lookup that also leaves a regular file open for reading in *fd_out
 * (-1 for anything else), saving the second open on a GET. */
int st_lookup_open(const st_target *t, const char *rel, rp_pool *p, struct stat *st,
                   const char **used, int *fd_out);

/* Open what st_lookup found for reading (O_CLOEXEC, never blocking on a
 * fifo).  Returns an fd, with *st refreshed from it, or -1 with an HTTP
 * status in *status. */
int st_open_read(const st_target *t, const char *used, rp_pool *p, struct stat *st, int *status);

/* Real filesystem path of rel, or NULL if it is missing or outside the root. */
char *st_realpath_inside(const st_target *t, const char *rel, rp_pool *p);

#endif
