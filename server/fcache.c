/* fcache.c - the open-file cache: per worker (thread and configuration),
 * bounded, no locks.
 *
 * An entry maps (ns, key) to an open rp_file: descriptor, stat and ETag,
 * or for files up to RP_FCACHE_DATA_MAX bytes their contents instead of the
 * descriptor.  An entry is
 * trusted for FileCacheValid seconds after it was last checked; the next
 * request after that calls the caller's opener again (which applies all of
 * its own path checks from scratch: root, symlinks, permissions) and
 * compares the result with the entry by device, inode, size, mtime, ctime
 * and mode.  ctime moves on chmod, chown, rename and link count changes, so
 * a replaced, renamed, deleted or permission-changed file is noticed at
 * that check.  Least recently used entries go first when the cache is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "runtime.h"

/* Files this small are read once into the entry and answered from memory. */
#define RP_FCACHE_DATA_MAX ((off_t)16 * 1024)
/* Cached file bytes per worker, at most. */
#define RP_FCACHE_DATA_TOTAL ((size_t)4 << 20)

typedef struct fc_entry {
    struct fc_entry *hnext;       /* hash chain */
    struct fc_entry *prev, *next; /* LRU list, most recent first */
    const void *ns;
    unsigned hash;
    rp_file *file;
    long long checked_ms;
    char key[];
} fc_entry;

struct rp_fcache {
    fc_entry **slots;
    size_t nslots, n, max;
    size_t nfd, max_fd; /* entries holding a descriptor, and their bound */
    size_t data_bytes;
    fc_entry *head, *tail;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a over the key, mixed with ns. */
static unsigned key_hash(const void *ns, const char *key)
{
    unsigned h = 2166136261u ^ (unsigned)((uintptr_t)ns >> 4);
    for (const unsigned char *s = (const unsigned char *)key; *s; s++)
        h = (h ^ *s) * 16777619u;
    return h;
}

/* Descriptors are shared with connections: the cache of one thread holds
 * at most a quarter of the process's share of that thread. */
static size_t fd_budget(int threads)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1024;
    size_t n = (size_t)rl.rlim_cur / 4 / (size_t)(threads > 0 ? threads : 1);
    return n > 0 ? n : 1;
}

static rp_fcache *fc_create(size_t max, int threads)
{
    rp_fcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max;
    c->max_fd = fd_budget(threads);
    c->nslots = 64;
    while (c->nslots < max * 2 && c->nslots < ((size_t)1 << 20))
        c->nslots <<= 1;
    if (!(c->slots = calloc(c->nslots, sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    return c;
}

static void lru_unlink(rp_fcache *c, fc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(rp_fcache *c, fc_entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void set_file(rp_fcache *c, fc_entry *e, rp_file *f)
{
    if (e->file) {
        if (e->file->data)
            c->data_bytes -= (size_t)e->file->st.st_size;
        if (e->file->fd >= 0)
            c->nfd--;
        rp_file_unref(e->file);
    }
    e->file = f;
    if (f && f->data)
        c->data_bytes += (size_t)f->st.st_size;
    if (f && f->fd >= 0)
        c->nfd++;
}

static void entry_remove(rp_fcache *c, fc_entry *e)
{
    fc_entry **pp = &c->slots[e->hash & (c->nslots - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    set_file(c, e, NULL);
    free(e);
    c->n--;
}

void rp_fcache_free(rp_fcache *c)
{
    if (!c)
        return;
    while (c->head)
        entry_remove(c, c->head);
    free(c->slots);
    free(c);
}

static fc_entry *lookup(rp_fcache *c, const void *ns, const char *key, unsigned h)
{
    for (fc_entry *e = c->slots[h & (c->nslots - 1)]; e; e = e->hnext)
        if (e->hash == h && e->ns == ns && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Same file, unchanged since it was cached. */
static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mode == b->st_mode && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read a small regular file whole into f->data, if the budget allows. */
static void load_data(rp_fcache *c, rp_file *f)
{
    off_t size = f->st.st_size;
    if (!S_ISREG(f->st.st_mode) || size <= 0 || size > RP_FCACHE_DATA_MAX ||
        c->data_bytes + (size_t)size > RP_FCACHE_DATA_TOTAL)
        return;
    char *buf = malloc((size_t)size);
    if (!buf)
        return;
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = pread(f->fd, buf + got, (size_t)size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* shrank or failed: serve it from the descriptor */
            free(buf);
            return;
        }
        got += (size_t)n;
    }
    f->data = buf;
    /* Its bytes are all it is needed for now: the descriptor goes back
     * (a thousand cached small files hold none open). */
    close(f->fd);
    f->fd = -1;
}

/* Each worker thread holds one spare descriptor from its start, so that a
 * request that got in can still open its file when the process is out of
 * descriptors (the acceptor keeps one for the same reason). */
static _Thread_local int reserve_fd = -1;

void rp_file_reserve(bool open_it)
{
    if (open_it)
        rp_fd_reserve_hold(&reserve_fd);
    else
        rp_fd_reserve_spend(&reserve_fd);
}

/* Out of descriptors: close some idle or slow connections of this thread
 * (as the acceptor does), else give up the reserve.  1 if one was freed. */
static int free_a_descriptor(rp_req *r)
{
    if (rp_conn_shed(r->conn->worker->thread, 8) > 0)
        return 1;
    return rp_fd_reserve_spend(&reserve_fd);
}

/* Open through the caller and wrap the result (one reference, the caller's).
 * A request that got in should not fail for want of the one descriptor its
 * file needs: out of descriptors, one is freed and the open tried again. */
static rp_file *open_new(rp_req *r, rp_file_open_fn open_fn, void *arg, const char *key,
                         int *status)
{
    struct stat st;
    int fd = open_fn(arg, &st, status);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && free_a_descriptor(r))
        fd = open_fn(arg, &st, status);
    if (reserve_fd < 0 && fd >= 0) /* the crunch is over: take the reserve back */
        rp_file_reserve(true);
    if (fd < 0)
        return NULL;
    rp_file *f = rp_file_new(fd, &st, key);
    if (!f) {
        close(fd);
        *status = 503;
    }
    return f;
}

static void insert(rp_fcache *c, const void *ns, const char *key, unsigned h, rp_file *f)
{
    size_t klen = strlen(key);
    while (c->tail && (c->n >= c->max || (f->fd >= 0 && c->nfd >= c->max_fd)))
        entry_remove(c, c->tail);
    fc_entry *e = calloc(1, sizeof *e + klen + 1);
    if (!e)
        return;
    memcpy(e->key, key, klen + 1);
    e->ns = ns;
    e->hash = h;
    e->checked_ms = now_ms();
    size_t slot = h & (c->nslots - 1);
    e->hnext = c->slots[slot];
    c->slots[slot] = e;
    lru_front(c, e);
    c->n++;
    rp_file_ref(f);
    set_file(c, e, f);
}

/* A stale entry: open again and keep the old file if nothing changed. */
static rp_file *revalidate(rp_req *r, rp_fcache *c, fc_entry *e, rp_file_open_fn open_fn,
                           void *arg, int *status)
{
    rp_file *f = open_new(r, open_fn, arg, e->key, status);
    if (!f) {
        entry_remove(c, e);
        return NULL;
    }
    e->checked_ms = now_ms();
    if (same_file(&f->st, &e->file->st)) {
        rp_file_unref(f);
        rp_file_ref(e->file);
        return e->file;
    }
    load_data(c, f);
    rp_file_ref(f);
    set_file(c, e, f);
    return f;
}

static rp_fcache *worker_cache(rp_req *r)
{
    rp_worker *w = r->conn->worker;
    if (!w->fcache) {
        const rp_core_conf *cc = r->server->core;
        w->fcache = fc_create(cc->file_cache_entries > 0 ? (size_t)cc->file_cache_entries : 1,
                              rp_server_threads(r->server));
    }
    return w->fcache;
}

RP_API rp_file *rp_file_get(rp_req *r, const void *ns, const char *key, rp_file_open_fn open_fn,
                            void *arg, int *status)
{
    const rp_core_conf *cc = r->server->core;
    rp_fcache *c = cc->file_cache_valid > 0 && cc->file_cache_entries > 0 ? worker_cache(r) : NULL;
    rp_file *f;
    if (!c) {
        if ((f = open_new(r, open_fn, arg, key, status)))
            rp_file_hold(r, f);
        return f;
    }
    unsigned h = key_hash(ns, key);
    fc_entry *e = lookup(c, ns, key, h);
    if (e) {
        long long valid_ms = (long long)(cc->file_cache_valid * 1000);
        if (now_ms() - e->checked_ms < valid_ms) {
            f = e->file;
            rp_file_ref(f);
        } else if (!(f = revalidate(r, c, e, open_fn, arg, status))) {
            return NULL;
        }
        lru_unlink(c, e);
        lru_front(c, e);
    } else {
        if (!(f = open_new(r, open_fn, arg, key, status)))
            return NULL;
        load_data(c, f);
        insert(c, ns, key, h, f);
    }
    rp_file_hold(r, f);
    return f;
}
