/* h2.c - HTTP/2 (RFC 9113) on a connection's bufferevent.
 *
 * nghttp2 does the framing, HPACK, stream states and flow control, and no
 * I/O: bytes read from the socket go to nghttp2_session_mem_recv, and what
 * nghttp2_session_mem_send hands back goes to the connection's staging
 * buffer (rp_conn_push), the same way HTTP/1.1 answers leave.
 *
 * Each stream becomes an rp_req with rp_h2_transport and runs the same
 * map -> auth -> handler -> filter -> log pipeline (rp_req_run) as an
 * HTTP/1.1 request; nothing above the transport knows the difference.  Its
 * response body waits in a per-stream brigade that nghttp2's data provider
 * pulls from as the flow-control windows allow; an empty brigade defers the
 * stream and the next write resumes it.  Files are read in blocks
 * (rp_bucket_read) as they are framed, never whole.
 *
 * Nothing runs inside nghttp2's callbacks but bookkeeping: complete
 * requests are queued and run once mem_recv returns, client resets are
 * told to the modules (rp_req_on_abort) from the deferred "work" event, and
 * a request's memory goes only when both its stream is closed and its
 * response has finished (a handler may still hold the rp_req).
 *
 * Defences: nghttp2 1.52 (Debian, with the CVE fixes) already refuses
 * CONTINUATION floods, SETTINGS/PING/empty-frame floods (its outbound queue
 * limit, NGHTTP2_ERR_FLOODED) and applies its own stream-reset rate limit;
 * we add MaxConcurrentStreams and header-list size in SETTINGS, our own
 * H2MaxResets (GOAWAY ENHANCE_YOUR_CALM), MaxBodySize, idle and
 * closed-window (stall) timeouts. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include "runtime.h"
#include "tls.h"

/* Frames are made only while less than this waits for the socket: a slow
 * reader's connection holds about this much, not whole responses. */
#define H2_OUT_HIGH ((size_t)64 * 1024)
/* A deadline this close counts as reached (the clocks are coarse). */
#define H2_SLACK 0.005
/* Lingering close: how long a finished session waits for the client to
 * close after our last byte (see linger). */
#define H2_LINGER 2.0

typedef struct rp_h2_stream rp_h2_stream;

typedef struct rp_h2 {
    rp_conn *c;
    nghttp2_session *s;                /* NULL once the socket is gone */
    rp_h2_stream *streams;             /* every stream holding a request */
    rp_h2_stream *ready, **ready_tail; /* complete requests waiting to run */
    struct event *work;                /* deferred: run, tell aborts, send, reap */
    struct event *timer;               /* idle and stall deadlines */
    bool in_io;                        /* inside nghttp2_session_mem_recv or mem_send */
    bool lost;                         /* the socket is gone */
    bool goaway;                       /* a graceful GOAWAY was sent: close when idle */
    bool lingering;                    /* our side is closed: reading until the client closes */
    double idle_since;                 /* no stream since then; 0 = some stream */
    double timer_at;                   /* when the timer fires; 0 = not pending */
    double resets_at;                  /* the current reset-counting window began */
    long resets;
} rp_h2;

struct rp_h2_stream {
    rp_h2 *h;
    int32_t id;
    rp_req *r;
    rp_brigade *out;      /* response body not yet framed */
    size_t off;           /* bytes of out's first bucket already framed */
    size_t queued;        /* bytes in out */
    size_t hdr_bytes;     /* header list so far, counted as RFC 9113 6.5.2 does */
    const char *cookie;   /* cookie fields joined with "; " (RFC 9113 8.2.3) */
    int error;            /* status to answer instead of running (413, 431) */
    double stalled_at;    /* body waits on a closed window since; 0 = not */
    double last_recv;     /* request bytes last arrived (BodyTimeout) */
    struct evbuffer *in;  /* a streamed body: arrived, not yet delivered (feed_bodies) */
    int body_err;         /* a streamed body failed: 408, 413; told from feed_bodies */
    bool body_eos;        /* a streamed body's last byte arrived */
    bool expect_continue; /* "expect: 100-continue" on a streamed body: 100 when read */
    bool eos, deferred, ran, closed, queued_to_run, aborted;
    rp_h2_stream *prev, *next, *ready_next;
};

static nghttp2_session_callbacks *g_cb;
static pthread_once_t g_cb_once = PTHREAD_ONCE_INIT;

static void pump(rp_h2 *h);
static void finish(rp_h2 *h);
static void linger(rp_h2 *h);

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void schedule(rp_h2 *h)
{
    event_active(h->work, EV_TIMEOUT, 1);
}

static const rp_core_conf *conf_of(const rp_h2 *h)
{
    return h->c->server->core;
}

/* The timer serves two deadlines: it fires at the earlier one and its
 * callback looks at both. */
static void timer_in(rp_h2 *h, double in)
{
    if (in < 0)
        in = 0;
    double at = mono_now() + in;
    if (h->timer_at > 0 && h->timer_at <= at)
        return;
    h->timer_at = at;
    struct timeval tv = {(time_t)in, (suseconds_t)((in - (double)(time_t)in) * 1e6)};
    event_add(h->timer, &tv);
}

/* ---- streams ------------------------------------------------------------- */

static rp_h2_stream *stream_new(rp_h2 *h, int32_t id, rp_req *r)
{
    if (!r)
        r = rp_req_new(h->c);
    r->tx = &rp_h2_transport;
    r->http_major = 2;
    r->http_minor = 0;
    r->keepalive = true;
    rp_h2_stream *st = rp_pcalloc(r->pool, sizeof(*st));
    st->h = h;
    st->id = id;
    st->r = r;
    st->out = rp_brigade_create(r->pool);
    r->stream = st;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->idle_since = 0;
    st->last_recv = mono_now();
    if (h->s)
        nghttp2_session_set_stream_user_data(h->s, id, st);
    double body = conf_of(h)->body_timeout;
    if (body > 0)
        timer_in(h, body);
    return st;
}

static void stream_unlink(rp_h2 *h, rp_h2_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
}

static void to_run(rp_h2 *h, rp_h2_stream *st)
{
    if (st->queued_to_run || st->ran)
        return;
    st->queued_to_run = true;
    st->ready_next = NULL;
    *h->ready_tail = st;
    h->ready_tail = &st->ready_next;
}

static rp_h2_stream *stream_of(nghttp2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s, id);
}

/* ---- nghttp2 callbacks (bookkeeping only) --------------------------------- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        stream_new(ud, f->hd.stream_id, NULL);
    return 0;
}

static void add_pseudo(rp_req *r, const char *name, const char *value, size_t vlen)
{
    if (strcmp(name, ":method") == 0) {
        r->method = rp_pstrndup(r->pool, value, vlen);
        r->head = strcmp(r->method, "HEAD") == 0;
    } else if (strcmp(name, ":path") == 0) {
        r->uri = rp_pstrndup(r->pool, value, vlen);
    } else if (strcmp(name, ":authority") == 0 && !rp_req_header(r, "Host")) {
        rp_req_add_header(r, "host", rp_pstrndup(r->pool, value, vlen));
    }
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    rp_h2 *h = ud;
    rp_h2_stream *st = stream_of(s, f->hd.stream_id);
    if (!st || st->error || st->ran)
        return 0; /* trailers are not kept, as with HTTP/1.1 */
    rp_req *r = st->r;
    const rp_core_conf *cc = conf_of(h);
    st->hdr_bytes += nlen + vlen + 32;
    if (st->hdr_bytes > cc->h2_max_header_list || r->headers.n >= (size_t)cc->max_headers) {
        st->error = 431;
        return 0;
    }
    if (nlen > 0 && name[0] == ':') {
        char pn[16];
        if (nlen < sizeof pn) {
            memcpy(pn, name, nlen);
            pn[nlen] = '\0';
            add_pseudo(r, pn, (const char *)value, vlen);
        }
        return 0;
    }
    const char *v = rp_pstrndup(r->pool, (const char *)value, vlen);
    if (nlen == 6 && memcmp(name, "cookie", 6) == 0) {
        st->cookie = st->cookie ? rp_psprintf(r->pool, "%s; %s", st->cookie, v) : v;
        return 0;
    }
    rp_req_add_header(r, rp_pstrndup(r->pool, (const char *)name, nlen), v);
    return 0;
}

/* An interim 100 (Continue) HEADERS frame: a client that sent "expect:
 * 100-continue" may send the body now (RFC 9110 10.1.1; RFC 9113 8.1). */
static void send_continue(rp_h2 *h, rp_h2_stream *st)
{
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(h->s, NGHTTP2_FLAG_NONE, st->id, NULL, &nv, 1, NULL);
}

/* The head is complete: what HTTP/1.1 would have found while parsing. */
static void headers_done(rp_h2 *h, rp_h2_stream *st, bool end_stream)
{
    rp_req *r = st->r;
    if (st->cookie)
        rp_req_add_header(r, "cookie", st->cookie);
    const char *cl = rp_req_header(r, "Content-Length");
    const char *expect = end_stream ? NULL : rp_req_header(r, "Expect");
    long long n = cl ? atoll(cl) : 0;
    if (!end_stream && (n < 0 || (unsigned long long)n > conf_of(h)->max_body))
        st->error = 413;
    if (expect && strcasecmp(expect, "100-continue") != 0 && !st->error)
        st->error = 417;
    if (!end_stream && !st->error && !rp_req_header(r, "Upgrade") && rp_req_stream_wanted(r)) {
        /* runs now; its body is held in the stream window until read, and
         * a client waiting for 100 gets it when the handler starts reading */
        r->bmode = RP_BODY_WAIT;
        r->body_length = cl ? n : -1;
        st->expect_continue = expect != NULL;
        to_run(h, st);
    } else if (expect && !st->error) {
        send_continue(h, st); /* the body is read whole before the handler runs */
    }
    if (end_stream || st->error)
        to_run(h, st);
}

static void count_reset(rp_h2 *h)
{
    const rp_core_conf *cc = conf_of(h);
    double now = mono_now();
    if (now - h->resets_at > RP_H2_RESET_WINDOW) {
        h->resets_at = now;
        h->resets = 0;
    }
    if (cc->h2_max_resets > 0 && ++h->resets == cc->h2_max_resets + 1) {
        rp_log(NULL, RP_LOG_INFO,
               "%s:%d: HTTP/2: more than %ld stream resets in %g s: GOAWAY "
               "ENHANCE_YOUR_CALM",
               h->c->remote_ip, h->c->remote_port, cc->h2_max_resets, RP_H2_RESET_WINDOW);
        nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    rp_h2 *h = ud;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    rp_h2_stream *st = f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (st && f->headers.cat == NGHTTP2_HCAT_REQUEST)
            headers_done(h, st, end);
        else if (st && end)
            to_run(h, st); /* trailers end the body */
        if (st && end && f->headers.cat != NGHTTP2_HCAT_REQUEST)
            st->body_eos = true;
        break;
    case NGHTTP2_DATA:
        if (st && end) {
            st->body_eos = true;
            to_run(h, st);
        }
        break;
    case NGHTTP2_RST_STREAM: count_reset(h); break;
    default: break;
    }
    return 0;
}

static void free_evbuffer(void *b)
{
    evbuffer_free(b);
}

/* A streamed body's bytes wait in st->in until feed_bodies delivers them;
 * only then is the stream's window granted back (WINDOW_UPDATE), so a
 * paused reader holds at most one window per stream. */
static int stream_chunk(rp_h2 *h, rp_h2_stream *st, const uint8_t *data, size_t len)
{
    rp_req *r = st->r;
    st->last_recv = mono_now();
    if (st->body_err || r->body_ended || r->finished) {
        nghttp2_session_consume_stream(h->s, st->id, len); /* dropped */
        return 0;
    }
    if (r->body_seen + len > conf_of(h)->max_body) {
        st->body_err = 413;
        nghttp2_session_consume_stream(h->s, st->id, len);
        schedule(h);
        return 0;
    }
    r->body_seen += len;
    if (!st->in) {
        st->in = evbuffer_new();
        if (!st->in) {
            st->body_err = 413;
            return 0;
        }
        rp_pool_cleanup_add(r->pool, free_evbuffer, st->in);
    }
    evbuffer_add(st->in, data, len);
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    rp_h2 *h = ud;
    rp_h2_stream *st = stream_of(s, id);
    /* windows are ours to grant (no automatic WINDOW_UPDATE): the
     * connection's at once, a stream's once its bytes are taken */
    nghttp2_session_consume_connection(s, len);
    if (st && !st->error && st->r->bmode != RP_BODY_BUFFERED)
        return stream_chunk(h, st, data, len);
    nghttp2_session_consume_stream(s, id, len);
    if (!st || st->error || st->ran)
        return 0;
    rp_req *r = st->r;
    st->last_recv = mono_now();
    if (r->body_len + len > conf_of(h)->max_body) {
        st->error = 413; /* answered now; the rest of the body is dropped */
        to_run(h, st);
        return 0;
    }
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 16384;
        while (cap < r->body_len + len)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            st->error = 413;
            to_run(h, st);
            return 0;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    rp_h2_stream *st = stream_of(s, id);
    if (st) {
        st->closed = true;
        nghttp2_session_set_stream_user_data(s, id, NULL);
        schedule(ud);
    }
    return 0;
}

/* An error answered before the request body ended (413): once it is out,
 * tell the client to stop sending (RFC 9113 8.1). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || !f->hd.stream_id)
        return 0;
    rp_h2_stream *st = stream_of(s, f->hd.stream_id);
    if (st && (st->error || st->r->bmode != RP_BODY_BUFFERED) &&
        !nghttp2_session_get_stream_remote_close(s, f->hd.stream_id))
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

/* The data provider: frame what the stream's brigade holds, up to what the
 * windows allow (length); nothing yet defers the stream until the next
 * write resumes it. */
static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    rp_h2_stream *st = src->ptr;
    size_t n = 0;
    rp_bucket *b;
    while (n < length && (b = rp_brigade_first(st->out)) != NULL) {
        const char *d;
        size_t len;
        if (rp_bucket_read(b, &d, &len) != 0) /* a file block: read now, framed in pieces */
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        size_t take = len - st->off;
        if (take > length - n)
            take = length - n;
        memcpy(buf + n, d + st->off, take);
        n += take;
        st->off += take;
        if (st->off == len) {
            rp_bucket_delete(st->out, b);
            st->off = 0;
        }
    }
    st->queued -= n;
    st->r->body_bytes += n;
    if (st->eos && !rp_brigade_first(st->out)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void callbacks_init(void)
{
    nghttp2_session_callbacks_new(&g_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(g_cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(g_cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(g_cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(g_cb, on_frame_send);
}

/* ---- the transport -------------------------------------------------------- */

/* Connection-specific fields have no meaning on HTTP/2 (RFC 9113 8.2.2);
 * Content-Length is the core's to set. */
static bool h2_skip_header(const char *n)
{
    static const char *const skip[] = {"connection",        "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade",    "content-length"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(n, skip[i]) == 0)
            return true;
    return false;
}

static nghttp2_nv nv_of(const char *name, const char *value)
{
    nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static const char *lower(rp_pool *p, const char *s)
{
    char *l = rp_pstrdup(p, s);
    for (char *q = l; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return l;
}

/* HEADERS for the response; with no body to come they end the stream. */
static int submit_head(rp_h2_stream *st, rp_brigade *bb)
{
    rp_req *r = st->r;
    bool body = rp_resp_status_has_body(r->status);
    if (r->length < 0 && body)
        r->length = rp_brigade_whole_length(bb);
    if (r->status < 200 || r->status > 999)
        r->status = 500; /* no upgrades or interim answers as a final HEADERS */
    size_t n = 0, cap = r->resp_headers.n + 4;
    nghttp2_nv *nv = rp_palloc(r->pool, cap * sizeof(*nv));
    char status[8];
    snprintf(status, sizeof status, "%d", r->status);
    nv[n++] = nv_of(":status", status);
    nv[n++] = nv_of("server", rp_version());
    nv[n++] = nv_of("date", rp_worker_date(r->conn->worker));
    for (size_t i = 0; i < r->resp_headers.n; i++) {
        const char *name = r->resp_headers.names[i];
        if (!h2_skip_header(name))
            nv[n++] = nv_of(lower(r->pool, name), r->resp_headers.values[i]);
    }
    if (body && r->length >= 0)
        nv[n++] = nv_of("content-length", rp_psprintf(r->pool, "%lld", (long long)r->length));
    r->headers_out = true;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read};
    bool more = body && !r->head && r->length != 0;
    return nghttp2_submit_response(st->h->s, st->id, nv, n, more ? &prd : NULL);
}

static bool h2_sink(rp_req *r, rp_brigade *bb)
{
    rp_h2_stream *st = r->stream;
    rp_h2 *h = st->h;
    if (!r->headers_out && submit_head(st, bb) != 0)
        st->closed = true; /* nghttp2 refused the stream: the writers now fail */
    bool body = rp_resp_status_has_body(r->status) && !r->head && !st->closed;
    bool eos = false;
    for (rp_bucket *b = rp_brigade_first(bb); b;) {
        rp_bucket_type t = rp_bucket_kind(b);
        size_t len = rp_bucket_length(b);
        if (t == RP_BUCKET_EOS)
            eos = true;
        if (body && !eos && len > 0 && (t == RP_BUCKET_MEM || t == RP_BUCKET_FILE)) {
            st->queued += len;
            b = rp_bucket_next(b);
        } else {
            b = rp_bucket_delete(bb, b);
        }
    }
    rp_brigade_concat(st->out, bb);
    if (eos)
        st->eos = true;
    if (st->deferred && h->s && (st->eos || st->queued)) {
        st->deferred = false;
        nghttp2_session_resume_data(h->s, st->id);
    }
    schedule(h);
    return eos;
}

static bool h2_gone(const rp_req *r)
{
    const rp_h2_stream *st = r->stream;
    return st->closed || st->h->lost;
}

static size_t h2_pending(const rp_req *r)
{
    return ((const rp_h2_stream *)r->stream)->queued;
}

/* Drain waiters are checked after every send (pump). */
static void h2_watch_drain(rp_req *r, size_t low)
{
    (void)r;
    (void)low;
}

static void h2_done(rp_req *r)
{
    schedule(((rp_h2_stream *)r->stream)->h);
}

const rp_transport rp_h2_transport = {
    .sink = h2_sink,
    .gone = h2_gone,
    .pending = h2_pending,
    .watch_drain = h2_watch_drain,
    .done = h2_done,
};

/* ---- running, sending, reaping --------------------------------------------- */

static void run_ready(rp_h2 *h)
{
    while (h->ready && !h->lost) {
        rp_h2_stream *st = h->ready;
        h->ready = st->ready_next;
        if (!h->ready)
            h->ready_tail = &h->ready;
        st->queued_to_run = false;
        if (st->closed)
            continue; /* reset before it ran: reaped unlogged */
        st->ran = true;
        h->c->nreq++;
        rp_req *r = st->r;
        if (st->error) {
            r->bare = true; /* an untrusted request: no filters, no error hooks */
            r->method = "";
            rp_resp_error(r, st->error);
        } else {
            rp_req_run(r);
        }
    }
}

/* Streamed bodies: deliver what arrived to readers that are not paused,
 * granting the window back as it goes, then tell each one how it ended. */
static void feed_body(rp_h2 *h, rp_h2_stream *st)
{
    rp_req *r = st->r;
    if (!rp_req_body_open(r))
        return;
    rp_req_body_flush(r);
    if (st->body_err) {
        rp_req_body_complete(r, st->body_err);
        rp_req_body_flush(r);
        return;
    }
    while (st->in && !r->body_paused && rp_req_body_open(r) && evbuffer_get_length(st->in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(st->in, -1, NULL, &v, 1) < 1)
            break;
        rp_req_body_deliver(r, v.iov_base, v.iov_len);
        evbuffer_drain(st->in, v.iov_len);
        if (h->s)
            nghttp2_session_consume_stream(h->s, st->id, v.iov_len);
    }
    bool empty = !st->in || evbuffer_get_length(st->in) == 0;
    if (empty && st->body_eos)
        rp_req_body_complete(r, 0);
    else if (st->closed || h->lost)
        rp_req_body_complete(r, 499); /* reset or gone before its end */
    rp_req_body_flush(r);
}

static void feed_bodies(rp_h2 *h)
{
    for (rp_h2_stream *st = h->streams; st; st = st->next)
        if (st->ran && st->r->bmode == RP_BODY_READING)
            feed_body(h, st);
}

void rp_h2_body_kick(rp_req *r, bool start)
{
    rp_h2_stream *st = r->stream;
    if (start && st->expect_continue && !r->headers_out) {
        st->expect_continue = false;
        send_continue(st->h, st);
    }
    st->last_recv = mono_now(); /* BodyTimeout counts from reading again */
    schedule(st->h);
}

/* Frames to the socket while it keeps up; the write callback resumes. */
static void send_frames(rp_h2 *h)
{
    rp_conn *c = h->c;
    if (h->in_io || h->lost || !c->bev)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    bool fatal = false;
    h->in_io = true;
    while (evbuffer_get_length(out) + evbuffer_get_length(c->stage) < H2_OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0)
            fatal = true;
        if (n <= 0)
            break;
        evbuffer_add(c->stage, data, (size_t)n);
    }
    h->in_io = false;
    if (evbuffer_get_length(c->stage))
        rp_conn_push(c);
    if (fatal) {
        rp_log(NULL, RP_LOG_DEBUG, "%s:%d: HTTP/2: cannot frame: closing", c->remote_ip,
               c->remote_port);
        finish(h);
    }
}

/* A request whose body stops arriving for BodyTimeout is answered 408, as
 * over HTTP/1.1: an open stream must not hold its slot forever. */
static double check_bodies(rp_h2 *h, double now)
{
    double limit = conf_of(h)->body_timeout, next = 0;
    if (limit <= 0)
        return 0;
    for (rp_h2_stream *st = h->streams; st; st = st->next) {
        rp_req *r = st->r;
        /* a streamed body counts while its reader takes it */
        bool reading = st->ran && rp_req_body_open(r) && !r->body_paused && !r->body_ended &&
                       !st->body_eos && !st->body_err;
        if (st->closed || st->queued_to_run || (st->ran && !reading))
            continue;
        if (reading && now - st->last_recv >= limit - H2_SLACK) {
            rp_log(NULL, RP_LOG_INFO,
                   "%s:%d: HTTP/2 stream %d: streamed request body silent for BodyTimeout: 408",
                   h->c->remote_ip, h->c->remote_port, st->id);
            st->body_err = 408;
            schedule(h);
        } else if (reading) {
            if (!next || st->last_recv + limit < next)
                next = st->last_recv + limit;
        } else if (now - st->last_recv >= limit - H2_SLACK) {
            rp_log(NULL, RP_LOG_INFO,
                   "%s:%d: HTTP/2 stream %d: request body not complete in "
                   "time: 408",
                   h->c->remote_ip, h->c->remote_port, st->id);
            st->error = 408;
            to_run(h, st);
            schedule(h);
        } else if (!next || st->last_recv + limit < next) {
            next = st->last_recv + limit;
        }
    }
    return next;
}

/* Streams whose body waits on a closed flow-control window, and requests
 * whose body stopped arriving. */
static void check_stalls(rp_h2 *h, double now)
{
    double limit = conf_of(h)->h2_stall_timeout, next = 0;
    if (h->lost)
        return;
    double body_next = check_bodies(h, now);
    if (body_next)
        timer_in(h, body_next - now);
    if (limit <= 0)
        return;
    for (rp_h2_stream *st = h->streams; st; st = st->next) {
        bool waiting = !st->closed && st->r->headers_out && (st->queued > 0) &&
                       (nghttp2_session_get_stream_remote_window_size(h->s, st->id) <= 0 ||
                        nghttp2_session_get_remote_window_size(h->s) <= 0);
        if (!waiting) {
            st->stalled_at = 0;
            continue;
        }
        if (!st->stalled_at)
            st->stalled_at = now;
        if (now - st->stalled_at >= limit - H2_SLACK) {
            rp_log(NULL, RP_LOG_INFO,
                   "%s:%d: HTTP/2 stream %d: window closed for H2StallTimeout "
                   "(%g s): RST_STREAM CANCEL",
                   h->c->remote_ip, h->c->remote_port, st->id, limit);
            nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
            st->stalled_at = 0;
        } else if (!next || st->stalled_at + limit < next) {
            next = st->stalled_at + limit;
        }
    }
    if (next)
        timer_in(h, next - now);
}

/* Requests whose stream is closed and whose response has finished go:
 * logged, freed.  Then the connection goes when nothing is left to do. */
static void reap(rp_h2 *h)
{
    for (rp_h2_stream *st = h->streams, *n; st; st = n) {
        n = st->next;
        rp_req *r = st->r;
        if (st->ran && !r->finished && (st->closed || h->lost) && !st->aborted) {
            st->aborted = true;
            rp_req_aborted(r); /* the client reset it or left: producers stop */
        }
        if (!(st->closed || h->lost) || (st->ran && !r->finished))
            continue;
        if (st->queued_to_run && !h->lost)
            continue; /* still on the ready list: run_ready drops it first */
        stream_unlink(h, st);
        if (h->s) /* an error if nghttp2 closed it already; harmless */
            nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
        if (st->ran)
            rp_req_log_phase(r);
        rp_req_free(r);
    }
    if (!h->streams && !h->idle_since && !h->lost) {
        h->idle_since = mono_now();
        double idle = conf_of(h)->h2_idle_timeout;
        if (idle > 0)
            timer_in(h, idle);
    }
}

static bool output_empty(const rp_conn *c)
{
    return !c->bev || (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
                       evbuffer_get_length(c->stage) == 0);
}

/* The session is over and every byte is out.  Closing the socket now would
 * reset the connection if the client's last frames (WINDOW_UPDATE, a
 * PING) are still arriving, and a reset makes its kernel drop the answer
 * bytes it has not read yet.  So: end our direction (close_notify on TLS,
 * then a FIN), discard what still comes, and close at the client's end of
 * file or after H2_LINGER, as nginx's lingering close does. */
static void linger(rp_h2 *h)
{
    rp_conn *c = h->c;
    rp_log(NULL, RP_LOG_DEBUG, "%s:%d: HTTP/2 session over: closing", c->remote_ip, c->remote_port);
    h->lingering = true;
    if (c->tls && c->bev) {
        rp_tls_close_notify(c->bev);
        c->broken = true; /* said goodbye already */
    }
    shutdown(c->fd, SHUT_WR);
    event_del(h->timer);
    h->timer_at = 0;
    timer_in(h, H2_LINGER);
}

/* Send, wake drain waiters, reap, and close when the session is over. */
static void pump(rp_h2 *h)
{
    rp_conn *c = h->c;
    send_frames(h);
    for (rp_h2_stream *st = h->streams; st && !h->lost; st = st->next)
        if (st->ran && !st->r->finished && rp_resp_has_drainers(st->r))
            rp_resp_drained(st->r);
    send_frames(h);
    reap(h);
    if (!h->lost && !h->lingering) {
        bool over = !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s);
        if (h->goaway && !h->streams && !nghttp2_session_want_write(h->s))
            over = true;
        if (over && output_empty(c))
            linger(h);
        else if (!over)
            check_stalls(h, mono_now());
    }
    if (h->lost && !h->streams)
        rp_conn_close(c); /* frees h */
}

/* The socket goes; running requests learn it from the work event. */
static void finish(rp_h2 *h)
{
    if (h->lost)
        return;
    h->lost = true;
    rp_conn_drop_socket(h->c);
    if (h->s) {
        nghttp2_session_del(h->s);
        h->s = NULL;
    }
    event_del(h->timer);
    h->timer_at = 0;
    h->ready = NULL; /* never to run: reaped unlogged */
    h->ready_tail = &h->ready;
    schedule(h);
}

static void work_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_h2 *h = arg;
    rp_conn *c = h->c;
    if (!h->lost && c->bev && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
        rp_h2_input(c); /* runs and pumps too */
        return;
    }
    run_ready(h);
    feed_bodies(h);
    pump(h);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_h2 *h = arg;
    h->timer_at = 0;
    if (h->lost)
        return;
    if (h->lingering) {
        finish(h);
        return;
    }
    double now = mono_now(), idle = conf_of(h)->h2_idle_timeout;
    if (!h->streams && h->idle_since && idle > 0) {
        if (now - h->idle_since >= idle - H2_SLACK) {
            h->goaway = true;
            nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
        } else {
            timer_in(h, h->idle_since + idle - now);
        }
    }
    check_stalls(h, now);
    pump(h);
}

/* ---- the connection's entry points ----------------------------------------- */

/* HTTP2-Settings is base64url without padding (RFC 7540 3.2.1). */
static size_t b64url_decode(const char *in, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v;
        char ch = *in;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '-' || ch == '+')
            v = 62;
        else if (ch == '_' || ch == '/')
            v = 63;
        else
            return (size_t)-1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return (size_t)-1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

bool rp_h2_upgrade_wanted(const rp_req *r)
{
    const char *up = rp_req_header(r, "Upgrade");
    return !r->conn->tls && up && strcasecmp(up, "h2c") == 0 &&
           rp_req_header(r, "HTTP2-Settings") && rp_conn_h2_allowed(r->conn);
}

static int session_new(rp_h2 *h)
{
    const rp_core_conf *cc = conf_of(h);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return -1;
    /* Our own H2MaxResets answers first; nghttp2's limit stays as a backstop. */
    nghttp2_option_set_max_settings(opt, 64);
    /* streamed request bodies grant stream windows as they are read */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rv = nghttp2_session_server_new2(&h->s, g_cb, h, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)cc->h2_max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cc->h2_max_header_list},
    };
    return nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
}

int rp_h2_start(rp_conn *c, rp_req *up)
{
    pthread_once(&g_cb_once, callbacks_init);
    struct event_base *base = c->worker->thread->base;
    rp_h2 *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    h->c = c;
    h->ready_tail = &h->ready;
    h->work = event_new(base, -1, 0, work_cb, h);
    h->timer = evtimer_new(base, timer_cb, h);
    uint8_t settings[256];
    size_t slen = 0;
    if (up) {
        slen = b64url_decode(rp_req_header(up, "HTTP2-Settings"), settings, sizeof settings);
    }
    if (!h->work || !h->timer || slen == (size_t)-1 || session_new(h) != 0 ||
        (up && nghttp2_session_upgrade2(h->s, settings, slen, up->head, NULL) != 0)) {
        if (h->s)
            nghttp2_session_del(h->s);
        if (h->work)
            event_free(h->work);
        if (h->timer)
            event_free(h->timer);
        free(h);
        return -1;
    }
    c->h2 = h;
    if (up) {
        static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                 "Upgrade: h2c\r\n\r\n";
        evbuffer_add(c->stage, sw, sizeof sw - 1);
        rp_h2_stream *st = stream_new(h, 1, up);
        c->nreq--; /* counted again as the stream runs */
        to_run(h, st);
    } else {
        h->idle_since = mono_now();
        if (conf_of(h)->h2_idle_timeout > 0)
            timer_in(h, conf_of(h)->h2_idle_timeout);
    }
    schedule(h); /* the work event reads what is pending: c stays valid for the caller */
    return 0;
}

void rp_h2_input(rp_conn *c)
{
    rp_h2 *h = c->h2;
    if (h->lost || !c->bev)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (h->lingering) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    ssize_t err = 0;
    h->in_io = true;
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(h->s, v.iov_base, v.iov_len);
        if (n < 0) {
            err = n;
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    h->in_io = false;
    if (err) {
        /* Protocol errors nghttp2 answers itself; these end the session:
         * floods (its outbound queue limit, CONTINUATION frames past its
         * cap) are told to calm down, anything else is a protocol error. */
        rp_log(NULL, RP_LOG_INFO, "%s:%d: HTTP/2: %s", c->remote_ip, c->remote_port,
               nghttp2_strerror((int)err));
        evbuffer_drain(in, evbuffer_get_length(in));
        bool flood = err == NGHTTP2_ERR_FLOODED || err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
        nghttp2_session_terminate_session(h->s, flood ? NGHTTP2_ENHANCE_YOUR_CALM
                                                      : NGHTTP2_PROTOCOL_ERROR);
    }
    run_ready(h);
    feed_bodies(h);
    pump(h);
}

void rp_h2_writable(rp_conn *c)
{
    pump(c->h2);
}

void rp_h2_lost(rp_conn *c)
{
    rp_h2 *h = c->h2;
    rp_log(NULL, RP_LOG_DEBUG, "%s:%d: HTTP/2: the connection was lost", c->remote_ip,
           c->remote_port);
    finish(h);
}

/* GOAWAY with the last stream we took: in-flight streams finish (bounded
 * by GracefulTimeout, which ends the loop), new ones go elsewhere. */
void rp_h2_shutdown(rp_conn *c)
{
    rp_h2 *h = c->h2;
    if (h->lost || h->goaway)
        return;
    h->goaway = true;
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    schedule(h);
}

void rp_h2_free(rp_conn *c)
{
    rp_h2 *h = c->h2;
    c->h2 = NULL;
    if (h->s)
        nghttp2_session_del(h->s);
    while (h->streams) {
        rp_h2_stream *st = h->streams;
        stream_unlink(h, st);
        rp_req_free(st->r);
    }
    event_free(h->work);
    event_free(h->timer);
    free(h);
}
