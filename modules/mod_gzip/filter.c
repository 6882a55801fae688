/* filter.c - the mod_gzip content filter once it has joined a response.
 *
 * Three modes, chosen by the setup in gzip.c:
 *
 *  STREAM  deflate the body as it passes (gzip wrapper, zlib windowBits 31).
 *          Nothing is buffered beyond zlib's own window and one output
 *          buffer: each brigade is compressed and handed on.  FLUSH gives a
 *          Z_SYNC_FLUSH (everything so far decodable by the client) and is
 *          passed on; EOS finishes the stream.  File buckets are read 64 KiB
 *          at a time and at most GZ_ROUND bytes per turn: the rest waits for
 *          the client to drain its output (rp_resp_on_drain), so a large
 *          file compressed on the fly never sits in memory whole.  The
 *          compressed bytes may also be teed into a .gzipcache temporary
 *          file (cache.c).
 *  CACHED  the body is a current .gzipcache copy: the handler's buckets are
 *          dropped and the copy goes out as one file bucket (sendfile).
 *  DROP    the setup turned the response into a 304: the body is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzip_int.h"

#define GZ_OBUF ((size_t)32 * 1024)    /* compressed bytes per bucket */
#define GZ_ROUND ((size_t)256 * 1024)  /* file bytes compressed per turn */
#define GZ_LOW_WATER ((size_t)64 * 1024) /* resume when output drops to this */

struct gz_ctx {
    rp_req *r;
    rp_filter *f;
    gz_mode mode;
    rp_brigade *out;     /* what goes to the next filter */
    /* STREAM */
    z_stream zs;
    int z_ready;
    unsigned char *obuf; /* current output buffer (malloc'd, handed to buckets) */
    gz_header head;
    unsigned char extra[GZ_EXTRA_LEN];
    gz_tee *tee;
    uint64_t in_bytes;
    rp_brigade *pending; /* input not compressed yet (paced file data, later buckets) */
    int running, again;  /* re-entrancy guard for gz_process */
    int waiting;         /* a drain callback is registered */
    int unpaced;         /* client gone or half-closed: finish without pacing */
    int done;            /* EOS handled */
    int failed;
    size_t defer_min;    /* > 0: not decided yet, hold up to this many bytes */
    /* CACHED */
    rp_file *cache_file; /* held by the request; NULL once queued */
    int64_t cache_len;
};

static void ctx_cleanup(void *arg)
{
    gz_ctx *c = arg;
    if (c->z_ready) {
        deflateEnd(&c->zs);
        c->z_ready = 0;
    }
    free(c->obuf);
    c->obuf = NULL;
}

static gz_ctx *ctx_new(rp_req *r, rp_filter *f, gz_mode mode)
{
    rp_pool *p = rp_req_pool(r);
    gz_ctx *c = rp_pcalloc(p, sizeof *c);
    c->r = r;
    c->f = f;
    c->mode = mode;
    c->out = rp_brigade_create(p);
    /* Registered after the brigade's own cleanup, so it runs before it. */
    rp_pool_cleanup_add(p, ctx_cleanup, c);
    rp_filter_set_ctx(f, c);
    return c;
}

gz_ctx *gz_ctx_stream(rp_req *r, rp_filter *f, long level, const gz_orig *o, gz_tee *tee)
{
    gz_ctx *c = ctx_new(r, f, GZ_MODE_STREAM);
    c->pending = rp_brigade_create(rp_req_pool(r));
    c->tee = tee;
    if (deflateInit2(&c->zs, gz_zlib_level(level), Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    c->z_ready = 1;
    if (o) {
        /* A file's stream is a pure function of the file and the level, so
         * the copy streamed now and the one cached later are identical. */
        gz_extra_fill(c->extra, o);
        c->head.time = (uLong)o->st.st_mtim.tv_sec;
        c->head.os = 3; /* Unix */
        c->head.extra = c->extra;
        c->head.extra_len = GZ_EXTRA_LEN;
        if (deflateSetHeader(&c->zs, &c->head) != Z_OK)
            return NULL;
    }
    return c;
}

gz_ctx *gz_ctx_cached(rp_req *r, rp_filter *f, rp_file *cache_file, int64_t cache_len)
{
    gz_ctx *c = ctx_new(r, f, GZ_MODE_CACHED);
    c->cache_file = cache_file;
    c->cache_len = cache_len;
    return c;
}

gz_ctx *gz_ctx_drop(rp_req *r, rp_filter *f)
{
    return ctx_new(r, f, GZ_MODE_DROP);
}

/* "\"abc\"" -> "\"abc-gz\"" (W/ kept): the gzip variant's own tag. */
static const char *gz_etag(rp_req *r, const char *etag)
{
    size_t n = etag ? strlen(etag) : 0;
    if (n < 2 || etag[n - 1] != '"')
        return NULL;
    char *g = rp_palloc(rp_req_pool(r), n + 4); /* etag minus '"', then -gz" */
    memcpy(g, etag, n - 1);
    memcpy(g + n - 1, "-gz\"", 5);
    return g;
}

/* Headers of a gzip-encoded variant; len -1 when unknown. */
void gz_set_headers(rp_req *r, int64_t len)
{
    rp_resp_header_set(r, "Content-Encoding", "gzip");
    rp_resp_header_unset(r, "Content-Length");
    rp_resp_header_unset(r, "Accept-Ranges"); /* ranges address the identity bytes */
    const char *et = rp_resp_header_get(r, "ETag");
    if (et) {
        const char *g = gz_etag(r, et);
        if (g)
            rp_resp_header_set(r, "ETag", g);
        else
            rp_resp_header_unset(r, "ETag");
    }
    rp_resp_set_length(r, len);
}

/* ---- STREAM ---------------------------------------------------------------- */

/* Hand the filled part of the output buffer on (and to the cache tee). */
static void emit(gz_ctx *c)
{
    if (!c->obuf)
        return;
    size_t n = GZ_OBUF - c->zs.avail_out;
    if (n == 0)
        return;
    gz_tee_write(c->tee, c->obuf, n);
    rp_brigade_add_ref(c->out, c->obuf, n, free, c->obuf);
    c->obuf = NULL;
    c->zs.avail_out = 0;
}

/* Compress len bytes with the given zlib flush mode.  0 or -1. */
static int deflate_some(gz_ctx *c, const void *data, size_t len, int flush)
{
    c->zs.next_in = (const Bytef *)data;
    c->zs.avail_in = (uInt)len;
    for (;;) {
        if (!c->obuf) {
            c->obuf = malloc(GZ_OBUF);
            if (!c->obuf)
                return -1;
            c->zs.next_out = c->obuf;
            c->zs.avail_out = (uInt)GZ_OBUF;
        }
        int rc = deflate(&c->zs, flush);
        if (rc == Z_STREAM_ERROR)
            return -1;
        if (c->zs.avail_out == 0) {
            emit(c);
            continue;
        }
        /* Room left: all input taken and, for a flush, all output made. */
        break;
    }
    if (flush != Z_NO_FLUSH)
        emit(c);
    return 0;
}

static int deflate_input(gz_ctx *c, const char *data, size_t len)
{
    /* avail_in is 32 bits wide. */
    while (len > 0) {
        size_t n = len > (size_t)1 << 30 ? (size_t)1 << 30 : len;
        if (deflate_some(c, data, n, Z_NO_FLUSH) != 0)
            return -1;
        c->in_bytes += n;
        data += n;
        len -= n;
    }
    return 0;
}

/* One turn: compress pending buckets until they run out or, for file data,
 * the turn's budget is spent.  Returns 1 if paused on file data. */
static int round_once(gz_ctx *c)
{
    size_t budget = GZ_ROUND;
    rp_bucket *b;
    while ((b = rp_brigade_first(c->pending)) != NULL) {
        rp_bucket_type kind = rp_bucket_kind(b);
        if (c->done || c->failed) {
            /* Nothing may follow EOS; after a failure only EOS matters. */
            if (kind == RP_BUCKET_EOS && !c->done) {
                rp_brigade_add_eos(c->out);
                c->done = 1;
            }
            rp_bucket_delete(c->pending, b);
            continue;
        }
        if (kind == RP_BUCKET_FILE || kind == RP_BUCKET_MEM) {
            if (kind == RP_BUCKET_FILE && budget == 0 && !c->unpaced)
                return 1;
            const char *d;
            size_t n;
            if (rp_bucket_read(b, &d, &n) != 0) {
                rp_log_req(c->r, GZ_SELF, RP_LOG_ERR, "reading the body of %s failed",
                           rp_req_uri(c->r));
                c->failed = 1;
            } else if (deflate_input(c, d, n) != 0) {
                rp_log_req(c->r, GZ_SELF, RP_LOG_ERR, "zlib failed on %s", rp_req_uri(c->r));
                c->failed = 1;
            }
            if (kind == RP_BUCKET_FILE)
                budget -= n < budget ? n : budget;
            if (c->failed)
                gz_tee_abort(c->tee);
        } else if (kind == RP_BUCKET_FLUSH) {
            if (deflate_some(c, NULL, 0, Z_SYNC_FLUSH) != 0)
                c->failed = 1;
            rp_brigade_add_flush(c->out);
        } else { /* EOS */
            if (deflate_some(c, NULL, 0, Z_FINISH) != 0) {
                c->failed = 1;
                gz_tee_abort(c->tee);
            } else {
                gz_tee_commit(c->tee, c->in_bytes);
            }
            rp_brigade_add_eos(c->out);
            c->done = 1;
        }
        rp_bucket_delete(c->pending, b);
    }
    return 0;
}

static void on_drain(rp_req *r, void *arg);

static void on_abort(rp_req *r, void *arg)
{
    (void)r;
    gz_ctx *c = arg;
    /* No drain will come (or the client only half-closed): finish the
     * stream without pacing so the request can complete. */
    c->unpaced = 1;
    if (c->waiting) {
        c->waiting = 0;
        rp_resp_on_drain(c->r, 0, NULL, NULL);
        on_drain(c->r, c);
    }
}

/* Compress what is pending, pass the output on, and if file data remains,
 * continue when the client has drained. */
static int process(gz_ctx *c)
{
    if (c->running) {
        c->again = 1;
        return 0;
    }
    c->running = 1;
    int rc = 0;
    do {
        c->again = 0;
        int paused = round_once(c);
        if (!rp_brigade_empty(c->out) && rp_filter_pass(c->f, c->out) != 0)
            rc = -1;
        if (paused && !c->waiting) {
            if (!c->unpaced)
                rp_req_on_abort(c->r, on_abort, c);
            c->waiting = 1;
            /* May call on_drain at once, which sets c->again. */
            rp_resp_on_drain(c->r, GZ_LOW_WATER, on_drain, c);
        }
    } while (c->again && !rp_brigade_empty(c->pending));
    c->running = 0;
    return rc;
}

static void on_drain(rp_req *r, void *arg)
{
    (void)r;
    gz_ctx *c = arg;
    c->waiting = 0;
    process(c);
}

void gz_ctx_defer(gz_ctx *c, size_t min_size)
{
    c->defer_min = min_size;
}

/* Deferred decision: 1 compress, 0 pass as is, -1 not known yet. */
static int decide(const gz_ctx *c)
{
    size_t total = 0;
    for (rp_bucket *b = rp_brigade_first(c->pending); b; b = rp_bucket_next(b)) {
        rp_bucket_type k = rp_bucket_kind(b);
        if (k == RP_BUCKET_FLUSH)
            return 1; /* the producer streams: compress from here on */
        if (k == RP_BUCKET_EOS)
            return total >= c->defer_min;
        total += rp_bucket_length(b);
        if (total >= c->defer_min)
            return 1;
    }
    return -1;
}

static int stream_fn(gz_ctx *c, rp_brigade *bb)
{
    rp_brigade_concat(c->pending, bb);
    if (c->defer_min) {
        int d = decide(c);
        if (d < 0)
            return 0; /* at most defer_min bytes held */
        c->defer_min = 0;
        if (d == 0) {
            /* Short body: leave the chain; headers were never touched. */
            rp_filter_remove(c->f);
            return rp_filter_pass(c->f, c->pending);
        }
        gz_set_headers(c->r, -1);
    }
    if (c->waiting)
        return 0; /* the drain callback continues in order */
    return process(c);
}

/* ---- CACHED and DROP ------------------------------------------------------ */

static int replace_fn(gz_ctx *c, rp_brigade *bb)
{
    for (rp_bucket *b = rp_brigade_first(bb); b;) {
        rp_bucket_type k = rp_bucket_kind(b);
        if (k == RP_BUCKET_MEM || k == RP_BUCKET_FILE)
            b = rp_bucket_delete(bb, b);
        else
            b = rp_bucket_next(b);
    }
    if (c->cache_file) {
        /* The copy goes first, before any FLUSH or EOS of this brigade. */
        rp_brigade_add_file_ref(c->out, c->cache_file, 0, c->cache_len);
        c->cache_file = NULL;
    }
    rp_brigade_concat(c->out, bb);
    if (rp_brigade_empty(c->out))
        return 0;
    return rp_filter_pass(c->f, c->out);
}

int gz_filter(rp_filter *f, rp_brigade *bb)
{
    gz_ctx *c = rp_filter_ctx(f);
    if (c->mode == GZ_MODE_STREAM)
        return stream_fn(c, bb);
    return replace_fn(c, bb);
}
