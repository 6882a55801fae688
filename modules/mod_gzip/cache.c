/* cache.c - the .gzipcache/ directory next to compressed files.
 *
 * For /dir/name.ext the cached copy is /dir/.gzipcache/name.ext.gz, a plain
 * gzip file whose header carries an extra field ("RP", 24 bytes) recording
 * the original it was made from: size, mtime (seconds and nanoseconds) and
 * the CompressLevel.  A copy is current when all of them match the
 * original's stat, so it is rebuilt whenever the original's mtime or size
 * changes (or the level is reconfigured).
 *
 * Writing: the compressed stream of a response is teed into a temporary
 * file ".gzipcache/.name.ext.gz.<unique>" (O_EXCL), which is synced and
 * renamed over the cache name only once complete and only if the original
 * did not change while it was read.  rename() is atomic, so concurrent
 * workers building the same copy each produce a whole file and readers never
 * see a partial one; the last rename wins.  A failed or abandoned temporary
 * file is unlinked by the request pool's cleanup.
 *
 * Every path below .gzipcache is opened relative to directory descriptors
 * with O_NOFOLLOW, so a symlink planted as ".gzipcache" or as a cache file
 * is not followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip_int.h"

#define GZ_DIR ".gzipcache"
#define GZ_WARNED_MAX 1024 /* directories remembered as unwritable */

struct gz_warned_dir {
    struct gz_warned_dir *next;
    char path[];
};

struct gz_tee {
    rp_req *r;
    const gz_conf *conf;
    gz_orig orig;
    int fd;          /* the temporary file, -1 once closed */
    int dir_fd;      /* .gzipcache/, O_PATH */
    char *tmp_name;  /* relative to dir_fd */
    char *final_name;
    int linked;      /* tmp_name exists on disk */
};

/* ---- the extra field --------------------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void gz_extra_fill(unsigned char x[GZ_EXTRA_LEN], const gz_orig *o)
{
    memset(x, 0, GZ_EXTRA_LEN);
    x[0] = 'R';
    x[1] = 'P';
    put_le(x + 2, 24, 2);
    x[4] = 1; /* format version */
    x[5] = (unsigned char)o->level;
    put_le(x + 8, (uint64_t)o->st.st_size, 8);
    put_le(x + 16, (uint64_t)o->st.st_mtim.tv_sec, 8);
    put_le(x + 24, (uint64_t)o->st.st_mtim.tv_nsec, 4);
}

/* ---- names --------------------------------------------------------------- */

/* Split an absolute path into its directory and base name (pool copies). */
static int split_path(rp_pool *p, const char *path, char **dir, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1])
        return -1;
    *dir = slash == path ? rp_pstrdup(p, "/") : rp_pstrndup(p, path, (size_t)(slash - path));
    *base = slash + 1;
    return 0;
}

/* ---- lookup -------------------------------------------------------------- */

typedef struct gz_open_arg {
    const char *cpath;
    const gz_orig *o;
} gz_open_arg;

/* The open-file cache's opener: the copy, if its header names o. */
static int open_copy(void *arg, struct stat *st, int *status)
{
    const gz_open_arg *a = arg;
    *status = 404;
    int fd = open(a->cpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    /* 10 bytes of fixed header, XLEN (2), then our subfield. */
    unsigned char hdr[12 + GZ_EXTRA_LEN], want[GZ_EXTRA_LEN];
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
        pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        goto stale;
    gz_extra_fill(want, a->o);
    if (hdr[0] != 0x1f || hdr[1] != 0x8b || hdr[2] != 8 || !(hdr[3] & 0x04) ||
        hdr[10] != GZ_EXTRA_LEN || hdr[11] != 0 || memcmp(hdr + 12, want, GZ_EXTRA_LEN) != 0)
        goto stale;
    /* O_NONBLOCK stays: it means nothing for a regular file. */
    return fd;
stale:
    close(fd);
    return -1;
}

/* v in hex at the end of buf (24 bytes); returns where it starts. */
static const char *hex(char buf[24], uint64_t v)
{
    char *w = buf + 23;
    *w = '\0';
    do
        *--w = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    return w;
}

rp_file *gz_cache_get(rp_req *r, const gz_orig *o)
{
    rp_pool *p = rp_req_pool(r);
    char *dir;
    const char *base;
    if (!o->path || split_path(p, o->path, &dir, &base) != 0)
        return NULL;
    /* "<dir>/.gzipcache/<base>.gz", built without a printf: every gzip'd
     * file request comes here. */
    gz_open_arg a;
    a.o = o;
    a.cpath = rp_pstrcat(p, dir, strcmp(dir, "/") == 0 ? "" : "/", GZ_DIR "/", base, ".gz",
                         NULL);
    /* The original's facts are part of the key: a changed original never
     * finds the copy of its previous version. */
    char b1[24], b2[24], b3[24], b4[24];
    const char *key = rp_pstrcat(p, a.cpath, " ", hex(b1, (uint64_t)o->st.st_size), " ",
                                 hex(b2, (uint64_t)o->st.st_mtim.tv_sec), ".",
                                 hex(b3, (uint64_t)o->st.st_mtim.tv_nsec), " ",
                                 hex(b4, (uint64_t)o->level), NULL);
    int status;
    return rp_file_get(r, GZ_SELF, key, open_copy, &a, &status);
}

/* ---- warnings ------------------------------------------------------------ */

static void warned_free(void *arg)
{
    gz_warned *w = arg;
    struct gz_warned_dir *d = w->head;
    while (d) {
        struct gz_warned_dir *n = d->next;
        free(d);
        d = n;
    }
    pthread_mutex_destroy(&w->lock);
}

gz_warned *gz_warned_create(rp_pool *p)
{
    gz_warned *w = rp_pcalloc(p, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    rp_pool_cleanup_add(p, warned_free, w);
    return w;
}

void gz_warn_once(const gz_conf *c, const char *dir, const char *why)
{
    gz_warned *w = c->warned;
    int log = 0;
    pthread_mutex_lock(&w->lock);
    struct gz_warned_dir *d = w->head;
    while (d && strcmp(d->path, dir) != 0)
        d = d->next;
    if (!d && w->n < GZ_WARNED_MAX) {
        size_t n = strlen(dir) + 1;
        d = malloc(sizeof *d + n);
        if (d) {
            memcpy(d->path, dir, n);
            d->next = w->head;
            w->head = d;
            w->n++;
            log = 1;
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (log)
        rp_log(GZ_SELF, RP_LOG_WARN,
               "cannot cache compressed files in %s/" GZ_DIR ": %s; compressing on the fly",
               strcmp(dir, "/") == 0 ? "" : dir, why);
}

/* ---- the temporary file ------------------------------------------------- */

static void tee_cleanup(void *arg)
{
    gz_tee_abort(arg);
    gz_tee *t = arg;
    if (t->dir_fd >= 0) {
        close(t->dir_fd);
        t->dir_fd = -1;
    }
}

/* The .gzipcache directory of dir, created if missing; O_PATH fd or -1. */
static int open_cache_dir(const char *dir)
{
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int cfd = openat(dfd, GZ_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0 && errno == ENOENT) {
        if (mkdirat(dfd, GZ_DIR, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(dfd);
            errno = e;
            return -1;
        }
        cfd = openat(dfd, GZ_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    int e = errno;
    close(dfd);
    errno = e;
    return cfd;
}

gz_tee *gz_tee_begin(rp_req *r, const gz_conf *c, const gz_orig *o)
{
    static atomic_uint seq;
    rp_pool *p = rp_req_pool(r);
    char *dir;
    const char *base;
    if (split_path(p, o->path, &dir, &base) != 0)
        return NULL;
    int cfd = open_cache_dir(dir);
    if (cfd < 0) {
        gz_warn_once(c, dir, strerror(errno));
        return NULL;
    }
    gz_tee *t = rp_pcalloc(p, sizeof *t);
    t->r = r;
    t->conf = c;
    t->orig = *o;
    t->orig.path = rp_pstrdup(p, o->path);
    t->dir_fd = cfd;
    t->fd = -1;
    t->final_name = rp_psprintf(p, "%s.gz", base);
    rp_pool_cleanup_add(p, tee_cleanup, t);
    for (int tries = 0; tries < 8; tries++) {
        unsigned n = atomic_fetch_add(&seq, 1);
        t->tmp_name = rp_psprintf(p, ".%s.gz.%ld.%u.%d", base, (long)getpid(), n,
                                  rp_worker_index(rp_req_worker(r)));
        t->fd = openat(cfd, t->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                       0644);
        if (t->fd >= 0 || errno != EEXIST)
            break;
    }
    if (t->fd < 0) {
        gz_warn_once(c, dir, strerror(errno));
        return NULL; /* the cleanup closes dir_fd */
    }
    t->linked = 1;
    return t;
}

void gz_tee_write(gz_tee *t, const void *data, size_t len)
{
    if (!t || t->fd < 0)
        return;
    const char *d = data;
    while (len > 0) {
        ssize_t n = write(t->fd, d, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rp_log(GZ_SELF, RP_LOG_WARN, "writing the cache copy of %s: %s", t->orig.path,
                   n < 0 ? strerror(errno) : "short write");
            gz_tee_abort(t);
            return;
        }
        d += n;
        len -= (size_t)n;
    }
}

void gz_tee_commit(gz_tee *t, uint64_t in_bytes)
{
    if (!t || t->fd < 0)
        return;
    struct stat now;
    /* The copy is good only if it holds the whole original as it was when
     * the response started: same size read, same stat now. */
    if (in_bytes != (uint64_t)t->orig.st.st_size || stat(t->orig.path, &now) != 0 ||
        now.st_size != t->orig.st.st_size || now.st_mtim.tv_sec != t->orig.st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != t->orig.st.st_mtim.tv_nsec) {
        gz_tee_abort(t);
        return;
    }
    /* Durable before visible: a crash must not leave a renamed but empty
     * copy behind. */
    if (fdatasync(t->fd) != 0 || close(t->fd) != 0) {
        t->fd = -1;
        gz_tee_abort(t);
        return;
    }
    t->fd = -1;
    if (renameat(t->dir_fd, t->tmp_name, t->dir_fd, t->final_name) != 0) {
        rp_log(GZ_SELF, RP_LOG_WARN, "renaming the cache copy of %s: %s", t->orig.path,
               strerror(errno));
        gz_tee_abort(t);
        return;
    }
    t->linked = 0;
}

void gz_tee_abort(gz_tee *t)
{
    if (!t)
        return;
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->linked) {
        unlinkat(t->dir_fd, t->tmp_name, 0);
        t->linked = 0;
    }
}
