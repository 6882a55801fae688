/* response.c - status, headers, body writers and the network end of the
 * filter chain, where framing (Content-Length, chunked, close) is decided. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "file.h"
#include "runtime.h"

/* ---- status and headers ------------------------------------------------- */

RP_API void rp_resp_set_status(rp_req *r, int status) { r->status = status; }
RP_API int rp_resp_status(const rp_req *r) { return r->status; }
RP_API int rp_resp_started(const rp_req *r) { return r->started; }
RP_API int rp_resp_finished(const rp_req *r) { return r->finished; }
RP_API void rp_resp_set_length(rp_req *r, int64_t len) { r->length = len; }
RP_API int64_t rp_resp_length(const rp_req *r) { return r->length; }

/* A header value must not be able to start a new header line. */
static const char *header_safe(rp_pool *p, const char *v)
{
    if (!strpbrk(v, "\r\n"))
        return rp_pstrdup(p, v);
    char *c = rp_pstrdup(p, v);
    for (char *q = c; *q; q++)
        if (*q == '\r' || *q == '\n')
            *q = ' ';
    return c;
}

RP_API void rp_resp_header_set(rp_req *r, const char *name, const char *value)
{
    rp_kv_unset(&r->resp_headers, name);
    rp_resp_header_add(r, name, value);
}

RP_API void rp_resp_header_add(rp_req *r, const char *name, const char *value)
{
    if (r->headers_out || !name || !value)
        return;
    rp_kv_add(r->pool, &r->resp_headers, header_safe(r->pool, name), header_safe(r->pool, value));
}

/* The core's own headers: values it made safe and that outlive the
 * request (literals, the mime table, an rp_file the request holds). */
void rp_resp_header_set_const(rp_req *r, const char *name, const char *value)
{
    if (r->headers_out)
        return;
    rp_kv_unset(&r->resp_headers, name);
    rp_kv_add(r->pool, &r->resp_headers, name, value);
}

RP_API void rp_resp_header_unset(rp_req *r, const char *name)
{
    rp_kv_unset(&r->resp_headers, name);
}

RP_API const char *rp_resp_header_get(const rp_req *r, const char *name)
{
    return rp_kv_get(&r->resp_headers, name);
}

RP_API size_t rp_resp_header_count(const rp_req *r)
{
    return r->resp_headers.n;
}

RP_API int rp_resp_header_at(const rp_req *r, size_t i, const char **name, const char **value)
{
    if (i >= r->resp_headers.n)
        return -1;
    *name = r->resp_headers.names[i];
    *value = r->resp_headers.values[i];
    return 0;
}

/* ---- writers ------------------------------------------------------------ */

/* Set up the filter chain once; a bare response (parse errors) has none. */
static void start(rp_req *r)
{
    if (r->started)
        return;
    if (r->bare)
        r->started = true;
    else
        rp_filter_start(r);
}

static int begin(rp_req *r)
{
    if (r->finished || r->tx->gone(r))
        return -1;
    start(r);
    return 0;
}

RP_API int rp_resp_write(rp_req *r, const void *data, size_t len)
{
    if (begin(r))
        return -1;
    rp_brigade_add_mem(r->bb, data, len);
    return rp_filter_send(r, r->bb);
}

RP_API int rp_resp_printf(rp_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rp_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    return rp_resp_write(r, s, strlen(s));
}

RP_API int rp_resp_write_ref(rp_req *r, const void *data, size_t len, void (*release)(void *),
                             void *arg)
{
    if (begin(r)) {
        if (release)
            release(arg);
        return -1;
    }
    rp_brigade_add_ref(r->bb, data, len, release, arg);
    return rp_filter_send(r, r->bb);
}

RP_API int rp_resp_sendfile(rp_req *r, int fd, int64_t off, int64_t len)
{
    if (len < 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        len = end < off ? 0 : end - off;
    }
    if (begin(r)) {
        close(fd);
        return -1;
    }
    rp_brigade_add_file(r->bb, fd, off, len);
    return rp_filter_send(r, r->bb);
}

int rp_resp_send_rpfile(rp_req *r, rp_file *f, int64_t off, int64_t len)
{
    if (begin(r))
        return -1;
    rp_brigade_add_file_ref(r->bb, f, off, len);
    return rp_filter_send(r, r->bb);
}

RP_API int rp_resp_flush(rp_req *r)
{
    if (begin(r))
        return -1;
    rp_brigade_add_flush(r->bb);
    return rp_filter_send(r, r->bb);
}

RP_API int rp_resp_finish(rp_req *r)
{
    if (r->finished)
        return 0;
    start(r);
    rp_brigade_add_eos(r->bb);
    return rp_filter_send(r, r->bb);
}

RP_API size_t rp_resp_pending(const rp_req *r)
{
    return r->tx->pending(r);
}

/* Waiters for "the output drained" and "the client went away": several
 * modules may wait on one request (a handler streaming, a filter pacing
 * itself); each (fn, arg) pair waits once, registering it again replaces
 * its water mark.  Memory comes from the request pool. */
struct rp_waiter {
    struct rp_waiter *next;
    void (*fn)(rp_req *, void *);
    void *arg;
    size_t low;
    bool live;
};

static struct rp_waiter *waiter_set(rp_req *r, struct rp_waiter **list, void (*fn)(rp_req *, void *),
                                    void *arg)
{
    struct rp_waiter *w;
    for (w = *list; w; w = w->next)
        if (w->fn == fn && w->arg == arg)
            break;
    if (!w) {
        w = rp_pcalloc(r->pool, sizeof(*w));
        w->fn = fn;
        w->arg = arg;
        w->next = *list;
        *list = w;
    }
    w->live = true;
    return w;
}

static void waiters_clear(struct rp_waiter *w)
{
    for (; w; w = w->next)
        w->live = false;
}

/* The lowest mark anybody waits for: the write callback fires there. */
static void drain_watermark(rp_req *r)
{
    size_t low = SIZE_MAX;
    for (struct rp_waiter *w = r->drainers; w; w = w->next)
        if (w->live && w->low < low)
            low = w->low;
    if (low != SIZE_MAX)
        r->tx->watch_drain(r, low);
}

RP_API void rp_resp_on_drain(rp_req *r, size_t low_water, void (*fn)(rp_req *, void *), void *arg)
{
    if (!fn) {
        waiters_clear(r->drainers);
        return;
    }
    waiter_set(r, &r->drainers, fn, arg)->low = low_water;
    drain_watermark(r);
    if (rp_resp_pending(r) <= low_water)
        rp_resp_drained(r);
}

bool rp_resp_has_drainers(const rp_req *r)
{
    for (const struct rp_waiter *w = r->drainers; w; w = w->next)
        if (w->live)
            return true;
    return false;
}

/* Each waiter that is due is called once per pass: one that registers again
 * from its callback without writing waits for the next drain. */
void rp_resp_drained(rp_req *r)
{
    struct rp_waiter *due[16];
    size_t n = 0, pending = rp_resp_pending(r);
    for (struct rp_waiter *w = r->drainers; w && n < 16; w = w->next)
        if (w->live && pending <= w->low) {
            w->live = false;
            due[n++] = w;
        }
    for (size_t i = 0; i < n; i++)
        due[i]->fn(r, due[i]->arg);
}

RP_API void rp_req_on_abort(rp_req *r, void (*fn)(rp_req *, void *), void *arg)
{
    if (!fn)
        waiters_clear(r->aborters);
    else
        waiter_set(r, &r->aborters, fn, arg);
}

void rp_req_aborted(rp_req *r)
{
    for (struct rp_waiter *w = r->aborters; w; w = w->next)
        if (w->live) {
            w->live = false;
            w->fn(r, w->arg);
        }
}

/* ---- error pages -------------------------------------------------------- */

RP_API int rp_resp_error(rp_req *r, int status)
{
    if (r->started)
        return -1;
    r->status = status;
    r->length = -1;
    rp_resp_header_unset(r, "Content-Type");
    rp_resp_header_unset(r, "Content-Encoding");
    rp_resp_header_unset(r, "Content-Length");
    if (status >= 400 && r->method[0]) {
        const rp_vec *v = &r->server->hooks[RP_PHASE_ERROR];
        for (size_t i = 0; i < v->n; i++) {
            int rc = ((const rp_hook_rec *)v->v[i])->fn(r);
            if (rc == RP_OK || rc == RP_ASYNC) {
                if (rc == RP_OK && !r->finished)
                    rp_resp_finish(r);
                return 0;
            }
        }
    }
    if (status < 200 || status == 204 || status == 304)
        return rp_resp_finish(r);
    const char *reason = rp_status_reason(status);
    char *body = rp_psprintf(r->pool,
                             "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                             "<body><h1>%d %s</h1></body></html>\n",
                             status, reason, status, reason);
    rp_resp_header_set(r, "Content-Type", "text/html; charset=utf-8");
    r->length = (int64_t)strlen(body);
    rp_resp_write(r, body, strlen(body));
    return rp_resp_finish(r);
}

/* An error found while parsing: no filters, no hooks but LOG, then close. */
void rp_resp_simple_error(rp_conn *c, int status)
{
    if (!c->req)
        c->req = rp_req_new(c);
    rp_req *r = c->req;
    r->close_after = true;
    r->keepalive = false;
    r->bare = true; /* no filters: the request is not trustworthy */
    c->busy = true;
    rp_resp_error(r, status);
}

/* ---- the network end ---------------------------------------------------- */

bool rp_resp_status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* Length of the body if the brigade holds all of it (ends with EOS). */
int64_t rp_brigade_whole_length(rp_brigade *bb)
{
    int64_t n = 0;
    for (rp_bucket *b = rp_brigade_first(bb); b; b = rp_bucket_next(b)) {
        if (rp_bucket_kind(b) == RP_BUCKET_EOS)
            return n;
        n += (int64_t)rp_bucket_length(b);
    }
    return -1;
}

/* The head is assembled in one stack buffer and added to the output with
 * as few evbuffer calls as possible: every response has several lines. */
typedef struct head_buf {
    struct evbuffer *out;
    size_t n;
    char b[2048];
} head_buf;

static void hb_put(head_buf *h, const char *s, size_t len)
{
    if (h->n + len > sizeof h->b) {
        evbuffer_add(h->out, h->b, h->n);
        h->n = 0;
        if (len > sizeof h->b) {
            evbuffer_add(h->out, s, len);
            return;
        }
    }
    memcpy(h->b + h->n, s, len);
    h->n += len;
}

static void hb_str(head_buf *h, const char *s)
{
    hb_put(h, s, strlen(s));
}

static void hb_uint(head_buf *h, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do
        tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    hb_put(h, tmp + i, sizeof tmp - i);
}

static void hb_line(head_buf *h, const char *name, const char *value)
{
    hb_str(h, name);
    hb_put(h, ": ", 2);
    hb_str(h, value);
    hb_put(h, "\r\n", 2);
}

/* Framing headers are the core's business (except Connection for an
 * upgrade); the first letter spares most names the comparisons. */
static bool framing_header(const char *n, bool upgrade)
{
    switch (*n) {
    case 'C':
    case 'c':
        return strcasecmp(n, "Content-Length") == 0 ||
               (!upgrade && strcasecmp(n, "Connection") == 0);
    case 'T':
    case 't':
        return strcasecmp(n, "Transfer-Encoding") == 0;
    default:
        return false;
    }
}

static void write_headers(rp_req *r, rp_brigade *bb, struct evbuffer *out)
{
    rp_conn *c = r->conn;
    bool body = rp_resp_status_has_body(r->status);
    if (r->length < 0 && body)
        r->length = rp_brigade_whole_length(bb);
    if (body && r->length < 0 && !r->head) {
        if (r->http_minor >= 1)
            r->chunked = true;
        else
            r->close_after = true;
    }
    bool upgrade = r->status == 101;
    const rp_thread *t = c->worker->thread;
    bool keep = r->keepalive && !r->close_after && !t->stopping && !rp_conn_client_done(c) &&
                c->worker == t->current; /* an old configuration after a reload closes */
    if (!keep)
        r->close_after = true;
    head_buf h;
    h.out = out;
    h.n = 0;
    hb_put(&h, "HTTP/1.1 ", 9);
    hb_uint(&h, (unsigned)r->status);
    hb_put(&h, " ", 1);
    hb_str(&h, rp_status_reason(r->status));
    hb_put(&h, "\r\nServer: ", 10);
    hb_str(&h, rp_version());
    hb_put(&h, "\r\nDate: ", 8);
    hb_str(&h, rp_worker_date(c->worker));
    hb_put(&h, "\r\n", 2);
    for (size_t i = 0; i < r->resp_headers.n; i++) {
        const char *n = r->resp_headers.names[i];
        if (!framing_header(n, upgrade))
            hb_line(&h, n, r->resp_headers.values[i]);
    }
    if (body && r->length >= 0) {
        hb_put(&h, "Content-Length: ", 16);
        hb_uint(&h, (unsigned long long)r->length);
        hb_put(&h, "\r\n", 2);
    } else if (r->chunked) {
        hb_put(&h, "Transfer-Encoding: chunked\r\n", 28);
    }
    if (upgrade)
        ; /* the upgrading module wrote Connection: Upgrade */
    else if (!keep)
        hb_put(&h, "Connection: close\r\n", 19);
    else if (r->http_minor == 0)
        hb_put(&h, "Connection: keep-alive\r\n", 24);
    hb_put(&h, "\r\n", 2);
    evbuffer_add(out, h.b, h.n);
    r->headers_out = true;
}

/* Small files are cheaper to read than to sendfile: one pread, and the
 * bytes leave in the same writev as the headers. */
#define RP_SMALL_FILE ((size_t)16 * 1024)
#define RP_TLS_READ_FILE ((size_t)256 * 1024)

static void write_bucket(rp_req *r, rp_bucket *b, struct evbuffer *out)
{
    size_t len = rp_bucket_length(b);
    if (len == 0)
        return;
    /* Over TLS the bytes must pass through memory anyway; libevent would
     * map and unmap the file for each response (an munmap is a TLB
     * shootdown on every core), so moderate files are read instead. */
    size_t read_max = r->conn->tls ? RP_TLS_READ_FILE : RP_SMALL_FILE;
    if (rp_bucket_kind(b) == RP_BUCKET_FILE && len <= read_max) {
        const char *d;
        if (rp_bucket_read(b, &d, &len) != 0) {
            r->close_after = true; /* cannot keep the framing promise */
            return;
        }
    }
    r->body_bytes += len;
    if (r->chunked)
        evbuffer_add_printf(out, "%zx\r\n", len);
    rp_bucket_to_evbuffer(b, out);
    if (r->chunked)
        evbuffer_add(out, "\r\n", 2);
}

static bool has_eos(rp_brigade *bb)
{
    for (rp_bucket *b = rp_brigade_first(bb); b; b = rp_bucket_next(b))
        if (rp_bucket_kind(b) == RP_BUCKET_EOS)
            return true;
    return false;
}

/* Completion runs from the loop, never inside the caller's stack frame. */
static void mark_finished(rp_req *r)
{
    r->finished = true;
    if (!r->in_handler)
        r->tx->done(r);
}

/* HTTP/1.1: head, then the body as it is or in chunks, into the staging
 * buffer, pushed to the socket. */
static bool h1_sink(rp_req *r, rp_brigade *bb)
{
    rp_conn *c = r->conn;
    struct evbuffer *out = c->stage;
    if (!r->headers_out)
        write_headers(r, bb, out);
    bool body = rp_resp_status_has_body(r->status) && !r->head;
    bool eos = false;
    for (rp_bucket *b = rp_brigade_first(bb); b; b = rp_bucket_delete(bb, b)) {
        rp_bucket_type t = rp_bucket_kind(b);
        if (t == RP_BUCKET_EOS) {
            eos = true;
        } else if (body && !eos && (t == RP_BUCKET_MEM || t == RP_BUCKET_FILE)) {
            write_bucket(r, b, out);
        }
    }
    if (eos && r->chunked)
        evbuffer_add(out, "0\r\n\r\n", 5);
    rp_conn_push(c);
    return eos;
}

static bool h1_gone(const rp_req *r)
{
    return !r->conn->bev;
}

static size_t h1_pending(const rp_req *r)
{
    return r->conn->bev ? evbuffer_get_length(rp_conn_output(r->conn)) : 0;
}

static void h1_watch_drain(rp_req *r, size_t low)
{
    if (r->conn->bev)
        bufferevent_setwatermark(r->conn->bev, EV_WRITE, low, 0);
}

const rp_transport rp_h1_transport = {
    .sink = h1_sink,
    .gone = h1_gone,
    .pending = h1_pending,
    .watch_drain = h1_watch_drain,
    .done = rp_conn_request_done,
};

int rp_resp_sink(rp_req *r, rp_brigade *bb)
{
    if (r->finished || r->tx->gone(r)) {
        /* Client gone: drop the bytes but still complete the request at
         * EOS, so it is logged and its memory released. */
        bool eos = !r->finished && has_eos(bb);
        rp_brigade_clear(bb);
        if (eos)
            mark_finished(r);
        return -1;
    }
    if (r->tx->sink(r, bb))
        mark_finished(r);
    return 0;
}
