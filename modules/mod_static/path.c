/* path.c - resolve a request path below a mapped root without escaping it.
 *
 * Two ways to the same guarantee:
 *
 *  fast  openat2(root_fd, rel, RESOLVE_BENEATH): the kernel resolves the
 *        path, following symlinks, and fails with EXDEV if any step (a ".."
 *        or a symlink) would leave the root.  One system call, no race.
 *  slow  realpath() and a prefix check against the root's realpath, then an
 *        open of the resolved path with O_NOFOLLOW.  Used when the fast path
 *        refuses (an absolute symlink that still points inside the root is
 *        legitimate but always EXDEV under RESOLVE_BENEATH) or is unavailable
 *        (kernel before 5.6, no root fd).  The window between realpath and
 *        open only matters to someone who can already write inside the root.
 *
 * Anything missing or outside the root is 404: an escape attempt must look
 * exactly like a file that does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "static_int.h"

int st_rest_is_safe(const char *rest)
{
    size_t n = strlen(rest);
    if (n >= PATH_MAX)
        return 0;
    /* Look for a ".." segment: between slashes, or at either end. */
    for (const char *s = rest; (s = strstr(s, "..")) != NULL; s += 2) {
        int starts = (s == rest || s[-1] == '/');
        int ends = (s[2] == '\0' || s[2] == '/');
        if (starts && ends)
            return 0;
    }
    return 1;
}

/* Map errno from a lookup to the status the client sees. */
static int errno_status(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 503;
    default: /* ENOENT ENOTDIR ELOOP ENAMETOOLONG EXDEV ... */
        return 404;
    }
}

static int openat2_beneath(int dirfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof how);
}

static int inside_root(const st_target *t, const char *real)
{
    return rp_path_within(t->root, real);
}

char *st_realpath_inside(const st_target *t, const char *rel, rp_pool *p)
{
    char *joined = rp_psprintf(p, "%s/%s", t->root, rel);
    char *real = realpath(joined, NULL);
    if (!real)
        return NULL;
    char *out = inside_root(t, real) ? rp_pstrdup(p, real) : NULL;
    free(real);
    if (!out)
        errno = ENOENT; /* outside: indistinguishable from missing */
    return out;
}

/* The slow path: open the realpath of rel if it lies inside the root.
 * *used becomes the absolute resolved path. */
static int open_resolved(const st_target *t, const char *rel, rp_pool *p, int flags,
                         const char **used)
{
    char *real = st_realpath_inside(t, rel, p);
    if (!real)
        return -1;
    *used = real;
    /* realpath left no symlink in real; O_NOFOLLOW catches a last-moment
     * swap of the final component. */
    return open(real, flags | O_NOFOLLOW);
}

/* Open rel below the root with flags by whichever path works; *used is what
 * to pass to a later open of the same file (relative or absolute). */
static int open_inside(const st_target *t, const char *rel, rp_pool *p, int flags,
                       const char **used)
{
    if (rel[0] == '/') /* already resolved by the slow path */
        return inside_root(t, rel) ? open(rel, flags | O_NOFOLLOW) : (errno = ENOENT, -1);
    if (t->root_fd >= 0) {
        int fd = openat2_beneath(t->root_fd, rel, flags);
        if (fd >= 0) {
            *used = rel;
            return fd;
        }
        if (errno != EXDEV && errno != ENOSYS && errno != EBADF && errno != EPERM)
            return -1;
    }
    return open_resolved(t, rel, p, flags, used);
}

int st_lookup(const st_target *t, const char *rel, rp_pool *p, struct stat *st, const char **used)
{
    /* O_PATH: find and stat without opening the object itself, so a fifo
     * or device inside the root is never opened (no blocking, no side
     * effects). */
    int fd = open_inside(t, rel, p, O_PATH | O_CLOEXEC, used);
    if (fd < 0)
        return errno_status(errno);
    int rc = fstat(fd, st);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : errno_status(e);
}

int st_lookup_open(const st_target *t, const char *rel, rp_pool *p, struct stat *st,
                   const char **used, int *fd_out)
{
    /* One open serves the lookup and the body (the common GET costs an open
     * and an fstat).  O_NONBLOCK|O_NOCTTY: a fifo in the root opens at once
     * without waiting for a writer, and nothing becomes a controlling tty. */
    *fd_out = -1;
    int fd = open_inside(t, rel, p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, used);
    if (fd < 0)
        return errno == EACCES || errno == ENOENT || errno == ENOTDIR || errno == ELOOP ||
                       errno == EXDEV
                   ? errno_status(errno)
                   : st_lookup(t, rel, p, st, used); /* e.g. a directory without read access */
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return errno_status(e);
    }
    if (S_ISREG(st->st_mode))
        *fd_out = fd;
    else
        close(fd);
    return 0;
}

int st_open_read(const st_target *t, const char *used, rp_pool *p, struct stat *st, int *status)
{
    const char *again = used;
    /* O_NONBLOCK: if the file was swapped for a fifo since st_lookup, the
     * open must not hang the worker. */
    int fd = open_inside(t, used, p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, &again);
    if (fd < 0) {
        *status = errno_status(errno);
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        *status = 404;
        return -1;
    }
    /* O_NONBLOCK stays set: regular files ignore it (read and sendfile
     * still block on the disk), and it saves two fcntl calls per request. */
    return fd;
}
