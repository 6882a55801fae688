/* filter.c - brigades, buckets and the per-response filter chain.
 *
 * Buckets are malloc'd (not pooled) because a streaming response may pass an
 * unbounded number of them through one request; each is freed as soon as the
 * network end has taken its bytes.  Small copies live inside the bucket's own
 * allocation; larger ones are handed to libevent by reference, so they are
 * copied exactly once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "runtime.h"

#define RP_INLINE_MAX 8192
#define RP_FILE_READ_MAX ((size_t)64 * 1024)

typedef struct rp_filefd {
    int fd;
    int refs;
} rp_filefd;

struct rp_bucket {
    rp_bucket *prev, *next;
    rp_brigade *bb; /* the brigade holding it, so a split can extend it */
    rp_bucket_type type;
    const char *data;
    size_t len;
    void (*release)(void *);
    void *arg;
    rp_filefd *file;
    int64_t off;
};

struct rp_brigade {
    rp_bucket *head, *tail;
};

/* ---- buckets ------------------------------------------------------------ */

static rp_bucket *bucket_new(rp_bucket_type type, size_t extra)
{
    rp_bucket *b = calloc(1, sizeof(*b) + extra);
    if (!b)
        abort();
    b->type = type;
    return b;
}

static void file_unref(rp_filefd *f)
{
    if (f && --f->refs == 0) {
        close(f->fd);
        free(f);
    }
}

static void bucket_free(rp_bucket *b)
{
    if (b->release)
        b->release(b->arg);
    file_unref(b->file);
    free(b);
}

static void append(rp_brigade *bb, rp_bucket *b)
{
    b->bb = bb;
    b->next = NULL;
    b->prev = bb->tail;
    if (bb->tail)
        bb->tail->next = b;
    else
        bb->head = b;
    bb->tail = b;
}

static void unlink_bucket(rp_brigade *bb, rp_bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        bb->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        bb->tail = b->prev;
    b->prev = b->next = NULL;
    b->bb = NULL;
}

/* The pool owns only the brigade header; buckets still in it when the pool
 * goes are released by this cleanup. */
static void brigade_cleanup(void *arg)
{
    rp_brigade_clear(arg);
}

RP_API rp_brigade *rp_brigade_create(rp_pool *p)
{
    rp_brigade *bb = rp_pcalloc(p, sizeof(*bb));
    rp_pool_cleanup_add(p, brigade_cleanup, bb);
    return bb;
}

RP_API int rp_brigade_empty(const rp_brigade *bb)
{
    return bb->head == NULL;
}

RP_API void rp_brigade_clear(rp_brigade *bb)
{
    rp_bucket *b = bb->head;
    bb->head = bb->tail = NULL;
    while (b) {
        rp_bucket *n = b->next;
        bucket_free(b);
        b = n;
    }
}

RP_API void rp_brigade_concat(rp_brigade *dst, rp_brigade *src)
{
    if (!src->head)
        return;
    for (rp_bucket *b = src->head; b; b = b->next)
        b->bb = dst;
    if (dst->tail) {
        dst->tail->next = src->head;
        src->head->prev = dst->tail;
    } else {
        dst->head = src->head;
    }
    dst->tail = src->tail;
    src->head = src->tail = NULL;
}

RP_API rp_bucket *rp_brigade_first(const rp_brigade *bb)
{
    return bb->head;
}

RP_API rp_bucket *rp_bucket_next(const rp_bucket *b)
{
    return b->next;
}

RP_API rp_bucket *rp_bucket_delete(rp_brigade *bb, rp_bucket *b)
{
    rp_bucket *n = b->next;
    unlink_bucket(bb, b);
    bucket_free(b);
    return n;
}

RP_API void rp_brigade_add_mem(rp_brigade *bb, const void *data, size_t len)
{
    if (len == 0)
        return;
    rp_bucket *b;
    if (len <= RP_INLINE_MAX) {
        b = bucket_new(RP_BUCKET_MEM, len);
        memcpy(b + 1, data, len);
        b->data = (const char *)(b + 1);
    } else {
        char *copy = malloc(len);
        if (!copy)
            abort();
        memcpy(copy, data, len);
        b = bucket_new(RP_BUCKET_MEM, 0);
        b->data = copy;
        b->release = free;
        b->arg = copy;
    }
    b->len = len;
    append(bb, b);
}

RP_API void rp_brigade_add_ref(rp_brigade *bb, const void *data, size_t len,
                               void (*release)(void *), void *arg)
{
    rp_bucket *b = bucket_new(RP_BUCKET_MEM, 0);
    b->data = data;
    b->len = len;
    b->release = release;
    b->arg = arg;
    append(bb, b);
}

RP_API void rp_brigade_add_file(rp_brigade *bb, int fd, int64_t off, int64_t len)
{
    rp_filefd *f = malloc(sizeof(*f));
    if (!f)
        abort();
    f->fd = fd;
    f->refs = 1;
    rp_bucket *b = bucket_new(RP_BUCKET_FILE, 0);
    b->file = f;
    b->off = off;
    b->len = (size_t)len;
    append(bb, b);
}

RP_API void rp_brigade_add_flush(rp_brigade *bb)
{
    append(bb, bucket_new(RP_BUCKET_FLUSH, 0));
}

RP_API void rp_brigade_add_eos(rp_brigade *bb)
{
    append(bb, bucket_new(RP_BUCKET_EOS, 0));
}

RP_API rp_bucket_type rp_bucket_kind(const rp_bucket *b)
{
    return b->type;
}

RP_API size_t rp_bucket_length(const rp_bucket *b)
{
    return b->len;
}

/* Split a FILE bucket so that b keeps its first `keep` bytes and the rest
 * follows it in the same brigade. */
static void split_file(rp_bucket *b, size_t keep)
{
    rp_bucket *rest = bucket_new(RP_BUCKET_FILE, 0);
    rest->file = b->file;
    b->file->refs++;
    rest->off = b->off + (int64_t)keep;
    rest->len = b->len - keep;
    b->len = keep;
    rest->bb = b->bb;
    rest->prev = b;
    rest->next = b->next;
    if (b->next)
        b->next->prev = rest;
    else if (b->bb)
        b->bb->tail = rest;
    b->next = rest;
}

RP_API int rp_bucket_read(rp_bucket *b, const char **data, size_t *len)
{
    if (b->type == RP_BUCKET_FILE) {
        if (b->len > RP_FILE_READ_MAX)
            split_file(b, RP_FILE_READ_MAX);
        char *buf = malloc(b->len ? b->len : 1);
        if (!buf)
            return -1;
        size_t got = 0;
        while (got < b->len) {
            ssize_t n = pread(b->file->fd, buf + got, b->len - got, (off_t)(b->off + (int64_t)got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                free(buf);
                return -1;
            }
            got += (size_t)n;
        }
        file_unref(b->file);
        b->file = NULL;
        b->type = RP_BUCKET_MEM;
        b->data = buf;
        b->release = free;
        b->arg = buf;
    }
    *data = b->data;
    *len = b->len;
    return 0;
}

/* ---- to the network ----------------------------------------------------- */

typedef struct rp_refbox {
    void (*release)(void *);
    void *arg;
} rp_refbox;

static void evbuffer_release(const void *data, size_t len, void *extra)
{
    (void)data;
    (void)len;
    rp_refbox *box = extra;
    if (box->release)
        box->release(box->arg);
    free(box);
}

/* Largest file segment read into memory rather than mapped (see below). */
#define RP_FILE_PREAD_MAX ((size_t)256 * 1024)

void rp_bucket_to_evbuffer(rp_bucket *b, struct evbuffer *out)
{
    if (b->type == RP_BUCKET_FILE) {
        /* libevent closes the descriptor with the segment; give it its own
         * descriptor unless this bucket holds the last reference. */
        int fd = b->file->fd;
        if (b->file->refs == 1) {
            free(b->file);
        } else {
            fd = dup(fd);
            b->file->refs--;
        }
        b->file = NULL;
        if (fd < 0)
            return;
        /* Where the segment cannot be sent with sendfile (TLS), libevent
         * reads it into memory when it is added: with mmap by default, and
         * every mmap and munmap takes the process-wide mmap lock and the
         * munmap shoots down TLB entries on every core running a worker -
         * that serialised TLS keep-alive across workers.  Small segments are
         * read with pread instead (big ones stay mapped: no copy of a whole
         * large file in memory). */
        int flags = EVBUF_FS_CLOSE_ON_FREE;
        if (b->len <= RP_FILE_PREAD_MAX)
            flags |= EVBUF_FS_DISABLE_MMAP;
        struct evbuffer_file_segment *seg =
            evbuffer_file_segment_new(fd, b->off, (ev_off_t)b->len, (unsigned)flags);
        if (!seg) {
            close(fd);
            return;
        }
        evbuffer_add_file_segment(out, seg, 0, (ev_off_t)b->len);
        evbuffer_file_segment_free(seg);
    } else if (b->type == RP_BUCKET_MEM && b->len) {
        if (!b->release) {
            evbuffer_add(out, b->data, b->len);
        } else {
            rp_refbox *box = malloc(sizeof(*box));
            if (!box)
                abort();
            box->release = b->release;
            box->arg = b->arg;
            b->release = NULL;
            evbuffer_add_reference(out, b->data, b->len, evbuffer_release, box);
        }
    }
}

/* ---- the chain ---------------------------------------------------------- */

int rp_filter_start(rp_req *r)
{
    rp_server *s = r->server;
    rp_filter **tail = &r->filters;
    r->started = true;
    for (size_t i = 0; i < s->filters.n; i++) {
        const rp_filter_def *d = s->filters.v[i];
        rp_filter *f = rp_pcalloc(r->pool, sizeof(*f));
        f->def = d;
        f->req = r;
        if (d->setup && d->setup(f, r) != RP_OK)
            continue;
        *tail = f;
        tail = &f->next;
    }
    return 0;
}

static rp_filter *live(rp_filter *f)
{
    while (f && f->removed)
        f = f->next;
    return f;
}

static int deliver(rp_req *r, rp_filter *f, rp_brigade *bb)
{
    f = live(f);
    if (!f)
        return rp_resp_sink(r, bb);
    return f->def->fn(f, bb);
}

int rp_filter_send(rp_req *r, rp_brigade *bb)
{
    return deliver(r, r->filters, bb);
}

RP_API int rp_filter_pass(rp_filter *f, rp_brigade *bb)
{
    return deliver(f->req, f->next, bb);
}

RP_API rp_req *rp_filter_req(const rp_filter *f)
{
    return f->req;
}

RP_API const char *rp_filter_name(const rp_filter *f)
{
    return f->def->name;
}

RP_API void *rp_filter_ctx(const rp_filter *f)
{
    return f->ctx;
}

RP_API void rp_filter_set_ctx(rp_filter *f, void *ctx)
{
    f->ctx = ctx;
}

RP_API void rp_filter_remove(rp_filter *f)
{
    f->removed = true;
}
