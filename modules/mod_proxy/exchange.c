/* exchange.c - one proxied request.
 *
 * The handler picks an upstream, takes an idle connection from the pool or
 * connects, queues the request (head, then the body from send_body) and
 * returns RP_ASYNC.  The response is parsed with llhttp as it arrives: the
 * head becomes the client's response head, body bytes go to the client at
 * once (rp_resp_write), and reading the upstream stops while more than
 * PX_HIGH_WATER bytes wait for the client, resuming when they drain.
 *
 * Failures: a connect that fails or times out counts against the
 * upstream's health and, for idempotent methods, is retried once on another
 * upstream (no request byte has left then).  A pooled connection the
 * upstream closed just as it was reused is retried once on a new connection.
 * Otherwise: 502 (refused, reset, garbage), 504 (timeout), one error-log
 * line each.  The exchange is allocated from the request pool: it lives
 * exactly as long as the request, and every path out closes or pools the
 * upstream connection before finishing the response.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <llhttp.h>
#include <openssl/err.h>
#include "proxy_int.h"

#define PX_HIGH_WATER ((size_t)256 * 1024)
#define PX_LOW_WATER ((size_t)64 * 1024)
#define PX_MAX_HEAD ((size_t)64 * 1024)

typedef enum { EX_CONNECTING, EX_SENT, EX_BODY, EX_DONE } ex_state;

typedef struct px_exch {
    rp_req *r;
    rp_pool *pool;
    const px_route *rt;
    const px_rconf *rc; /* the request's route settings */
    px_upstream *const *ups; /* rt's upstreams, or their lax twins */
    px_conf *c;
    px_worker *pw;
    px_conn *pc;
    px_upstream *up;
    int upi;
    unsigned char *tried;
    ex_state state;
    int retries;     /* connect failures that may still be retried elsewhere */
    int stale_retry; /* a reused connection found closed: one more try */
    int fresh_only;  /* after such a retry: no pooled connection */
    int eof;         /* the upstream closed the connection */
    const char *eof_why;
    char *acc; /* body bytes of the current pass over the input */
    size_t acc_len, acc_cap;
    int raw;           /* the body is read past llhttp (pump_raw) */
    uint64_t raw_left; /* its bytes still to come */
    int keep_alive;    /* the upstream's answer allows another request */
    int acc_cached;    /* acc is a PX_BUF_SIZE block of the thread's cache */
    int websocket;
    int got_bytes; /* any response byte arrived on this connection */
    int head_done; /* the final (non-1xx) head was handed to the client */
    int complete;  /* llhttp saw the whole message */
    int paused;
    /* a streamed request body (rp_req_body_stream): sent as it arrives */
    int body_stream;  /* the core streams this request's body */
    int body_chunked; /* its length is unknown: chunked to the upstream */
    int body_started; /* reading began (the upstream connection is up) */
    int body_done;    /* its last byte is queued for the upstream */
    int body_paused;  /* the upstream is behind: the client waits */
    const char *rest; /* what follows the base path in the upstream request */
    llhttp_t parser;
    /* the upstream response head being parsed */
    char *field, *value;
    const char **hnames, **hvalues;
    size_t nh, caph, head_bytes;
} px_exch;

static llhttp_settings_t g_settings;

static double read_timeout(const px_exch *ex)
{
    return ex->rc->read_timeout;
}

/* ---- token lists ------------------------------------------------------------ */

/* What a header name is to the proxy.  This runs for every header both
 * ways, so it is one switch on the length and, for the few names of that
 * length, a first-letter test before a compare. */
typedef enum {
    HK_OTHER,
    HK_HOP, /* hop-by-hop (RFC 9110 7.6.1): never forwarded */
    HK_CONNECTION,
    HK_UPGRADE, /* hop-by-hop too */
    HK_HOST,
    HK_CONTENT_LENGTH,
    HK_EXPECT,
    HK_XFF,
    HK_XFP,
    HK_XFH,
    HK_VIA,
    HK_DATE,
    HK_SERVER,
} hdr_kind;

static int name_is(const char *n, const char *lower)
{
    return (n[0] | 0x20) == lower[0] && strcasecmp(n + 1, lower + 1) == 0;
}

static hdr_kind header_kind(const char *n)
{
    switch (strlen(n)) {
    case 2: return name_is(n, "te") ? HK_HOP : HK_OTHER;
    case 3: return name_is(n, "via") ? HK_VIA : HK_OTHER;
    case 4: return name_is(n, "host") ? HK_HOST : name_is(n, "date") ? HK_DATE : HK_OTHER;
    case 6: return name_is(n, "expect") ? HK_EXPECT : name_is(n, "server") ? HK_SERVER : HK_OTHER;
    case 7: return name_is(n, "trailer") ? HK_HOP : name_is(n, "upgrade") ? HK_UPGRADE : HK_OTHER;
    case 10:
        return name_is(n, "connection")   ? HK_CONNECTION
               : name_is(n, "keep-alive") ? HK_HOP
                                          : HK_OTHER;
    case 14: return name_is(n, "content-length") ? HK_CONTENT_LENGTH : HK_OTHER;
    case 15: return name_is(n, "x-forwarded-for") ? HK_XFF : HK_OTHER;
    case 16: return name_is(n, "x-forwarded-host") ? HK_XFH : HK_OTHER;
    case 17:
        return name_is(n, "transfer-encoding")   ? HK_HOP
               : name_is(n, "x-forwarded-proto") ? HK_XFP
                                                 : HK_OTHER;
    default: break;
    }
    return (n[0] | 0x20) == 'p' && strncasecmp(n, "Proxy-", 6) == 0 ? HK_HOP : HK_OTHER;
}

/* A Connection value that names headers beyond the usual "close" and
 * "keep-alive" (whose Keep-Alive header is hop-by-hop anyway), else NULL:
 * only then must each other header be looked up in it. */
static const char *connection_names(const char *v)
{
    for (const char *s = v; s && *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t n = (size_t)(t - s);
        if (n && !(n == 5 && strncasecmp(s, "close", 5) == 0) &&
            !(n == 10 && strncasecmp(s, "keep-alive", 10) == 0) &&
            !(n == 7 && strncasecmp(s, "upgrade", 7) == 0))
            return v;
        s = e;
    }
    return NULL;
}

/* Whether a header goes on: an end-to-end one (kinds the proxy writes
 * itself in that direction excepted) that the Connection header's extra
 * names do not claim for this hop. */
static int request_forwards(hdr_kind k, const char *n, const char *conn_names)
{
    if (k != HK_OTHER && k != HK_DATE && k != HK_SERVER)
        return 0; /* hop-by-hop, or Host, Content-Length, Expect, X-Forwarded-*, Via */
    return !(conn_names && rp_token_listed(conn_names, n));
}

static int response_forwards(hdr_kind k, const char *n, const char *conn_names)
{
    if (k == HK_HOP || k == HK_CONNECTION || k == HK_UPGRADE || k == HK_CONTENT_LENGTH ||
        k == HK_DATE || k == HK_SERVER)
        return 0; /* the core writes Content-Length, Date and Server */
    return !(conn_names && rp_token_listed(conn_names, n));
}

static int idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL};
    for (int i = 0; ok[i]; i++)
        if (strcmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

/* ---- the upstream request --------------------------------------------------- */

/* The part of the path the upstream request carries after its base path:
 * a prefix key's rest, raw as the client sent it (percent-escapes stay as sent), or the
 * whole path when the URL named no path (as nginx's proxy_pass does). */
static const char *request_rest(rp_req *r, const px_route *rt)
{
    const char *uri = rp_req_uri(r);
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    size_t klen = strlen(rt->key);
    if (rt->prefix && plen >= klen && strncmp(uri, rt->key, klen) == 0)
        return rp_pstrndup(rp_req_pool(r), uri + klen, plen - klen);
    if (rt->prefix)
        return rp_url_encode(rp_req_pool(r), rp_req_route_rest(r));
    return "";
}

static const char *target_path(px_exch *ex)
{
    const char *base = ex->rt->paths[ex->upi];
    if (*base == '\0') { /* no path in the URL: the client's whole target */
        const char *uri = rp_req_uri(ex->r);
        const char *q = strchr(uri, '?');
        return q ? rp_pstrndup(ex->pool, uri, (size_t)(q - uri)) : uri;
    }
    return rp_pstrcat(ex->pool, base, ex->rest, (char *)NULL);
}

/* v appended to a list value: "a, b". */
static const char *list_add(rp_pool *p, const char *list, const char *v)
{
    return list ? rp_pstrcat(p, list, ", ", v, (char *)NULL) : v;
}

/* The upstream request head is assembled in a stack buffer and handed to
 * the evbuffer in one piece (or a few, for a large head): no printf, no
 * evbuffer call per header. */
typedef struct head_buf {
    struct evbuffer *out;
    size_t n;
    char b[2048];
} head_buf;

static void hb_flush(head_buf *h)
{
    evbuffer_add(h->out, h->b, h->n);
    h->n = 0;
}

static void hb_add(head_buf *h, const char *s, size_t len)
{
    if (h->n + len > sizeof h->b)
        hb_flush(h);
    if (len > sizeof h->b) {
        evbuffer_add(h->out, s, len);
        return;
    }
    memcpy(h->b + h->n, s, len);
    h->n += len;
}

static void hb_str(head_buf *h, const char *s)
{
    hb_add(h, s, strlen(s));
}

#define HB_LIT(h, lit) hb_add((h), (lit), sizeof(lit) - 1)

static void hb_line(head_buf *h, const char *n, const char *v)
{
    hb_str(h, n);
    HB_LIT(h, ": ");
    hb_str(h, v);
    HB_LIT(h, "\r\n");
}

static void hb_list(head_buf *h, const char **list)
{
    for (size_t i = 0; list && list[i]; i++) {
        hb_str(h, list[i]);
        HB_LIT(h, "\r\n");
    }
}

/* The client's headers the proxy itself reads: Connection, Host and the
 * forwarding chain, in one pass. */
typedef struct fwd_in {
    const char *connection, *host, *xff, *via;
} fwd_in;

static void read_client_headers(rp_req *r, fwd_in *in)
{
    rp_pool *p = rp_req_pool(r);
    const char *n, *v;
    memset(in, 0, sizeof *in);
    for (size_t i = 0; rp_req_header_at(r, i, &n, &v) == 0; i++) {
        switch (header_kind(n)) {
        case HK_CONNECTION: in->connection = list_add(p, in->connection, v); break;
        case HK_HOST:
            if (!in->host)
                in->host = v;
            break;
        case HK_XFF: in->xff = list_add(p, in->xff, v); break;
        case HK_VIA: in->via = list_add(p, in->via, v); break;
        default: break;
        }
    }
}

/* body_len -1: a streamed body of unknown length, sent chunked. */
static void build_head(px_exch *ex, struct evbuffer *b, int64_t body_len)
{
    rp_req *r = ex->r;
    head_buf h = {.out = b, .n = 0};
    fwd_in in;
    read_client_headers(r, &in);
    const char *q = rp_req_query(r), *n, *v, *m = rp_req_method(r);
    hb_str(&h, m);
    HB_LIT(&h, " ");
    hb_str(&h, target_path(ex));
    if (q) {
        HB_LIT(&h, "?");
        hb_str(&h, q);
    }
    HB_LIT(&h, " HTTP/1.1\r\n");
    hb_line(&h, "Host", ex->rc->preserve_host && in.host ? in.host : ex->up->hostport);
    const char *conn_names = connection_names(in.connection);
    for (size_t i = 0; rp_req_header_at(r, i, &n, &v) == 0; i++)
        if (request_forwards(header_kind(n), n, conn_names))
            hb_line(&h, n, v);
    HB_LIT(&h, "X-Forwarded-For: ");
    if (in.xff) {
        hb_str(&h, in.xff);
        HB_LIT(&h, ", ");
    }
    hb_str(&h, rp_req_remote_ip(r));
    HB_LIT(&h, "\r\n");
    hb_line(&h, "X-Forwarded-Proto", rp_req_is_tls(r) ? "https" : "http");
    if (in.host)
        hb_line(&h, "X-Forwarded-Host", in.host);
    HB_LIT(&h, "Via: ");
    if (in.via) {
        hb_str(&h, in.via);
        HB_LIT(&h, ", ");
    }
    hb_str(&h, rp_req_http_minor(r) == 0 ? "1.0 rampart\r\n" : "1.1 rampart\r\n");
    hb_list(&h, ex->rc->headers);
    if (ex->websocket) {
        const char *up = rp_req_header(r, "Upgrade");
        HB_LIT(&h, "Connection: Upgrade\r\n");
        hb_line(&h, "Upgrade", up ? up : "websocket");
    } else if (ex->c->keepalive == 0) {
        HB_LIT(&h, "Connection: close\r\n");
    }
    if (body_len < 0) {
        HB_LIT(&h, "Transfer-Encoding: chunked\r\n");
    } else if (body_len > 0 || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)body_len);
        hb_line(&h, "Content-Length", num);
    }
    HB_LIT(&h, "\r\n");
    hb_flush(&h);
}

/* A buffered request body (rp_req_body) is queued by reference after the
 * head.  The reference is safe: the connection is closed or its output is
 * empty before the request (owner of the bytes) ends.  A streamed body
 * follows the head as it arrives (start_body). */
static void send_body(px_exch *ex, struct evbuffer *out, const void *body, size_t len)
{
    (void)ex;
    if (len)
        evbuffer_add_reference(out, body, len, NULL, NULL);
}

/* On a kept-alive plain connection with nothing queued the request is
 * written to the socket at once: the common small request then costs one
 * writev and no write-event round trip through the loop.  What the socket
 * does not take goes through the bufferevent. */
static void send_request(px_exch *ex)
{
    size_t len = 0;
    const void *body = rp_req_body(ex->r, &len);
    int64_t announce =
        ex->body_stream ? (ex->body_chunked ? -1 : rp_req_body_length(ex->r)) : (int64_t)len;
    struct bufferevent *bev = ex->pc->bev;
    struct evbuffer *out = bufferevent_get_output(bev);
    if (ex->state != EX_SENT || ex->up->tls || evbuffer_get_length(out) > 0) {
        build_head(ex, out, announce);
        send_body(ex, out, body, len);
        return;
    }
    struct evbuffer *tmp = ex->pw->scratch;
    build_head(ex, tmp, announce);
    send_body(ex, tmp, body, len);
    evbuffer_write(tmp, bufferevent_getfd(bev));
    if (evbuffer_get_length(tmp) > 0)
        evbuffer_add_buffer(out, tmp);
}

/* ---- ending ---------------------------------------------------------------- */

static void release_conn(px_exch *ex, int keep)
{
    px_conn *pc = ex->pc;
    if (!pc)
        return;
    ex->pc = NULL;
    ex->pw->up[ex->up->index].active--;
    if (keep)
        px_pool_put(pc);
    else
        px_conn_close(pc);
}

static void end(px_exch *ex)
{
    rp_req *r = ex->r;
    ex->state = EX_DONE;
    rp_req_on_abort(r, NULL, NULL);
    rp_resp_on_drain(r, 0, NULL, NULL);
    rp_resp_finish(r);
}

/* ---- a streamed request body ------------------------------------------------
 * Bytes go to the upstream connection's output as they arrive; past
 * PX_HIGH_WATER queued there the client is paused (the core stops reading
 * it) until the upstream has taken all but PX_LOW_WATER.  While the body
 * is being sent the read timeout waits (an upstream answers after the
 * request, as nginx's proxy_read_timeout does); the send timeout watches an
 * upstream that takes nothing. */

/* With nothing queued on a plain connection the bytes go to the socket at
 * once, as one writev (chunk head, data, CRLF): an upstream that keeps up
 * costs no copy and no buffer.  What the socket does not take is queued. */
static void body_write(px_exch *ex, struct evbuffer *out, const char *data, size_t len)
{
    char head[24];
    struct iovec v[3];
    int n = 0;
    if (ex->body_chunked)
        v[n++] = (struct iovec){head, (size_t)snprintf(head, sizeof head, "%zx\r\n", len)};
    v[n++] = (struct iovec){(void *)data, len};
    if (ex->body_chunked)
        v[n++] = (struct iovec){"\r\n", 2};
    size_t done = 0;
    if (!ex->up->tls && evbuffer_get_length(out) == 0) {
        ssize_t w = writev(bufferevent_getfd(ex->pc->bev), v, n);
        done = w > 0 ? (size_t)w : 0; /* an error shows on the bufferevent's next try */
    }
    for (int i = 0; i < n; i++) {
        if (done >= v[i].iov_len) {
            done -= v[i].iov_len;
            continue;
        }
        evbuffer_add(out, (char *)v[i].iov_base + done, v[i].iov_len - done);
        done = 0;
    }
}

static void body_data(rp_req *r, const char *data, size_t len, void *arg)
{
    px_exch *ex = arg;
    if (ex->state == EX_DONE || !ex->pc)
        return;
    struct bufferevent *bev = ex->pc->bev;
    struct evbuffer *out = bufferevent_get_output(bev);
    body_write(ex, out, data, len);
    if (evbuffer_get_length(out) > PX_HIGH_WATER && !ex->body_paused) {
        ex->body_paused = 1;
        rp_req_body_pause(r);
        bufferevent_setwatermark(bev, EV_WRITE, PX_LOW_WATER, 0);
    }
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    px_exch *ex = arg;
    if (!ex->body_paused || evbuffer_get_length(bufferevent_get_output(bev)) > PX_LOW_WATER)
        return;
    ex->body_paused = 0;
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    rp_req_body_resume(ex->r);
}

static void fail(px_exch *ex, int status, const char *why);

static void body_end(rp_req *r, int status, void *arg)
{
    px_exch *ex = arg;
    if (ex->state == EX_DONE)
        return;
    if (status == 0) {
        ex->body_done = 1;
        if (ex->body_chunked && ex->pc)
            evbuffer_add(bufferevent_get_output(ex->pc->bev), "0\r\n\r\n", 5);
        if (ex->pc && ex->state != EX_CONNECTING)
            px_set_timeouts(ex->pc->bev, read_timeout(ex), ex->rc->send_timeout);
        return;
    }
    /* the upstream can never get the whole request: its connection goes,
     * never back to the pool; the client hears why unless it is gone */
    rp_log_req(r, &rp_module_proxy, RP_LOG_INFO,
               "%s %s: the client's request body failed (%d): upstream %s connection closed",
               rp_req_method(r), rp_req_uri(r), status, ex->up ? ex->up->url : "(none)");
    release_conn(ex, 0);
    ex->state = EX_DONE;
    rp_req_on_abort(r, NULL, NULL);
    rp_resp_on_drain(r, 0, NULL, NULL);
    if (status != 499 && !rp_resp_started(r)) {
        rp_resp_error(r, status);
        return;
    }
    if (rp_resp_started(r))
        rp_resp_abort(r);
    rp_resp_finish(r);
}

/* The upstream connection is up: the body may flow. */
static void start_body(px_exch *ex)
{
    if (!ex->body_stream)
        return;
    if (!ex->body_done) /* no answer is due before the request is whole */
        px_set_timeouts(ex->pc->bev, 0, ex->rc->send_timeout);
    if (!ex->body_started) {
        ex->body_started = 1;
        rp_req_body_stream(ex->r, body_data, body_end, ex);
    } else if (ex->body_paused) { /* a retry on a new connection */
        ex->body_paused = 0;
        rp_req_body_resume(ex->r);
    }
}

/* An answer that cannot come from the upstream: one error-log line, then
 * status (or, once the response has started, the client sees it cut). */
static void fail(px_exch *ex, int status, const char *why)
{
    rp_req *r = ex->r;
    rp_log_req(r, &rp_module_proxy, RP_LOG_ERR, "%s %s: upstream %s: %s%s", rp_req_method(r),
               rp_req_uri(r), ex->up ? ex->up->url : "(none)", why,
               rp_resp_started(r) ? " (response cut short)" : "");
    rp_metric_add(status == 504 ? ex->c->m_504 : ex->c->m_502, rp_req_worker(r), 1);
    release_conn(ex, 0);
    ex->state = EX_DONE;
    rp_req_on_abort(r, NULL, NULL);
    rp_resp_on_drain(r, 0, NULL, NULL);
    if (!rp_resp_started(r)) {
        rp_resp_error(r, status);
    } else {
        rp_resp_abort(r);
        rp_resp_finish(r);
    }
}

static void on_abort(rp_req *r, void *arg)
{
    px_exch *ex = arg;
    (void)r;
    if (ex->state == EX_DONE)
        return;
    release_conn(ex, 0); /* the upstream exchange is cut: never reuse it */
    end(ex);
}

/* ---- the response ------------------------------------------------------------- */

static px_exch *ex_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    px_exch *ex = ex_of(p);
    ex->nh = 0;
    ex->field = ex->value = NULL;
    return 0;
}

static char *append(rp_pool *pool, char *cur, const char *at, size_t len)
{
    if (!cur)
        return rp_pstrndup(pool, at, len);
    return rp_psprintf(pool, "%s%.*s", cur, (int)len, at);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    px_exch *ex = ex_of(p);
    if ((ex->head_bytes += len) > PX_MAX_HEAD)
        return -1;
    ex->field = append(ex->pool, ex->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    px_exch *ex = ex_of(p);
    if ((ex->head_bytes += len) > PX_MAX_HEAD)
        return -1;
    ex->value = append(ex->pool, ex->value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    px_exch *ex = ex_of(p);
    if (ex->nh == ex->caph) {
        size_t cap = ex->caph ? ex->caph * 2 : 16;
        const char **n = rp_palloc(ex->pool, cap * sizeof *n);
        const char **v = rp_palloc(ex->pool, cap * sizeof *v);
        if (ex->nh) {
            memcpy(n, ex->hnames, ex->nh * sizeof *n);
            memcpy(v, ex->hvalues, ex->nh * sizeof *v);
        }
        ex->hnames = n;
        ex->hvalues = v;
        ex->caph = cap;
    }
    ex->hnames[ex->nh] = ex->field ? ex->field : "";
    ex->hvalues[ex->nh++] = ex->value ? ex->value : "";
    ex->field = ex->value = NULL;
    return 0;
}

/* The upstream's head becomes the client's, minus what belongs to the
 * upstream connection and what the core writes itself. */
static void copy_head(px_exch *ex, int status)
{
    rp_req *r = ex->r;
    const char *connection = NULL, *upgrade = NULL;
    for (size_t i = 0; i < ex->nh; i++) {
        hdr_kind k = header_kind(ex->hnames[i]);
        if (k == HK_CONNECTION)
            connection = list_add(ex->pool, connection, ex->hvalues[i]);
        else if (k == HK_UPGRADE && !upgrade)
            upgrade = ex->hvalues[i];
    }
    const char *conn_names = connection_names(connection);
    rp_resp_set_status(r, status);
    for (size_t i = 0; i < ex->nh; i++) {
        const char *n = ex->hnames[i];
        if (response_forwards(header_kind(n), n, conn_names))
            rp_resp_header_add(r, n, ex->hvalues[i]);
    }
    if (status == 101) {
        rp_resp_header_set(r, "Connection", "Upgrade");
        rp_resp_header_set(r, "Upgrade", upgrade ? upgrade : "websocket");
    } else if (ex->parser.flags & F_CONTENT_LENGTH) {
        rp_resp_set_length(r, (int64_t)ex->parser.content_length);
    }
}

static int on_headers_complete(llhttp_t *p)
{
    px_exch *ex = ex_of(p);
    int status = llhttp_get_status_code(p);
    if (status < 200 && status != 101)
        return 1; /* interim (100, 103): dropped, the final answer follows */
    if (status == 101 && !ex->websocket)
        return -1; /* an upgrade nobody asked for */
    copy_head(ex, status);
    ex->keep_alive = llhttp_should_keep_alive(p);
    ex->head_done = 1;
    ex->state = EX_BODY;
    return rp_req_is_head(ex->r) ? 1 : 0;
}

/* Body bytes of one pass over the input are gathered into one buffer that
 * goes to the client by reference (flush_body): llhttp hands them over in
 * pieces as small as the input buffer's chunks, and one write per piece
 * would cost a brigade, a filter pass and a writev each. */
/* Big body buffers are kept for reuse on their thread: a fresh 256 KiB
 * block per pass would be fresh pages (faults, zeroing) and a trim each. */
#define PX_BUF_SIZE ((size_t)256 * 1024)
#define PX_BUF_CACHE 8
static __thread char *tl_bufs[PX_BUF_CACHE];
static __thread int tl_nbufs;

static void buf_put(void *b)
{
    if (tl_nbufs < PX_BUF_CACHE)
        tl_bufs[tl_nbufs++] = b;
    else
        free(b);
}

void px_exchange_thread_exit(void)
{
    while (tl_nbufs > 0)
        free(tl_bufs[--tl_nbufs]);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    px_exch *ex = ex_of(p);
    if (ex->acc_cap && !ex->acc) {
        if (ex->acc_cap <= PX_BUF_SIZE && ex->acc_cap >= PX_BUF_SIZE / 16) {
            ex->acc = tl_nbufs ? tl_bufs[--tl_nbufs] : malloc(PX_BUF_SIZE);
            ex->acc_cached = 1;
        } else {
            ex->acc = malloc(ex->acc_cap);
            ex->acc_cached = 0;
        }
    }
    if (!ex->acc || ex->acc_len + len > ex->acc_cap)
        return rp_resp_write(ex->r, at, len) == 0 ? 0 : -1;
    memcpy(ex->acc + ex->acc_len, at, len);
    ex->acc_len += len;
    return 0;
}

static int flush_body(px_exch *ex)
{
    char *b = ex->acc;
    size_t n = ex->acc_len;
    void (*release)(void *) = ex->acc_cached ? buf_put : free;
    ex->acc = NULL;
    ex->acc_len = 0;
    if (!b)
        return 0;
    if (n == 0) {
        release(b);
        return 0;
    }
    return rp_resp_write_ref(ex->r, b, n, release, b);
}

static int on_message_complete(llhttp_t *p)
{
    px_exch *ex = ex_of(p);
    if (!ex->head_done) /* an interim response ended: parse the next head */
        return 0;
    ex->complete = 1;
    return HPE_PAUSED;
}

static void tunnel(px_exch *ex, struct evbuffer *in)
{
    rp_req *r = ex->r;
    end(ex);
    struct bufferevent *client = rp_req_detach(r);
    px_conn *pc = ex->pc;
    ex->pc = NULL;
    ex->pw->up[ex->up->index].active--;
    if (!client) {
        px_conn_close(pc);
        return;
    }
    (void)in; /* bytes past the 101 stay in the upstream's input for the tunnel */
    px_tunnel_start(ex->pw, rp_req_worker(r), client, pc, read_timeout(ex),
                    ex->rc->send_timeout);
}

static void complete(px_exch *ex, struct evbuffer *in)
{
    /* a body passed through raw (pump_raw) left llhttp mid-message: the
     * answer was taken when the head arrived */
    int alive = ex->raw ? ex->keep_alive : llhttp_should_keep_alive(&ex->parser);
    /* an upstream that answered before taking the whole body is not reused */
    int keep = !ex->websocket && alive && (!ex->body_stream || ex->body_done) &&
               evbuffer_get_length(in) == 0 &&
               evbuffer_get_length(bufferevent_get_output(ex->pc->bev)) == 0;
    release_conn(ex, keep);
    end(ex);
}

static void on_drain(rp_req *r, void *arg);
static void pump(px_exch *ex);
static void attempt(px_exch *ex);
static void upstream_closed(px_exch *ex);

/* Feed what the upstream sent to llhttp, one contiguous piece at a time,
 * until it is used up or the message ends; then the gathered body goes to
 * the client, and reading stops while the client is too far behind. */
static void parse_input(px_exch *ex)
{
    struct evbuffer *in = bufferevent_get_input(ex->pc->bev);
    struct evbuffer_iovec v = {0};
    llhttp_errno_t e = HPE_OK;
    ex->acc_cap = evbuffer_get_length(in);
    if (ex->acc_cap)
        ex->got_bytes = 1;
    while (e == HPE_OK && evbuffer_peek(in, -1, NULL, &v, 1) >= 1 && v.iov_len > 0) {
        e = llhttp_execute(&ex->parser, v.iov_base, v.iov_len);
        if (e == HPE_OK)
            evbuffer_drain(in, v.iov_len);
    }
    ex->acc_cap = 0;
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE)
        evbuffer_drain(in, (size_t)(llhttp_get_error_pos(&ex->parser) - (char *)v.iov_base));
    int gone = flush_body(ex) != 0 || (e == HPE_USER && ex->head_done);
    if (gone) {
        /* a write to the client failed: it is gone, on_abort follows */
        release_conn(ex, 0);
        end(ex);
    } else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        if (ex->websocket && llhttp_get_status_code(&ex->parser) == 101)
            tunnel(ex, in);
        else
            complete(ex, in);
    } else if (e != HPE_OK) {
        fail(ex, 502,
             rp_psprintf(ex->pool, "bad response: %s (%s)", llhttp_errno_name(e),
                         ex->head_bytes > PX_MAX_HEAD ? "head over 64 KiB"
                                                      : llhttp_get_error_reason(&ex->parser)));
    } else if (rp_resp_pending(ex->r) > PX_HIGH_WATER) {
        /* back-pressure: the upstream's socket holds the rest meanwhile */
        ex->paused = 1;
        bufferevent_disable(ex->pc->bev, EV_READ);
        rp_resp_on_drain(ex->r, PX_LOW_WATER, on_drain, ex);
    }
}

static void on_drain(rp_req *r, void *arg)
{
    px_exch *ex = arg;
    (void)r;
    if (ex->state == EX_DONE || !ex->paused)
        return;
    ex->paused = 0;
    bufferevent_enable(ex->pc->bev, EV_READ);
    pump(ex);
}

/* The upstream closed (or reset) the connection and what it sent before
 * has been parsed. */
static void upstream_closed(px_exch *ex)
{
    /* (not once body bytes went to the closed connection: they are gone) */
    int body_sent = ex->body_started && (rp_req_body_received(ex->r) > 0 || ex->body_done);
    if (!ex->got_bytes && ex->pc->uses > 0 && ex->stale_retry && !body_sent) {
        /* the upstream closed a kept-alive connection as it was reused */
        ex->stale_retry = 0;
        ex->fresh_only = 1;
        ex->eof = 0;
        release_conn(ex, 0);
        ex->tried[ex->upi] = 0;
        attempt(ex);
        return;
    }
    if (ex->head_done && !ex->complete && !ex->raw)
        llhttp_finish(&ex->parser); /* a close-delimited body ends here */
    if (ex->complete) {
        release_conn(ex, 0); /* a body that ends with the connection */
        end(ex);
        return;
    }
    const char *why = ex->eof_why;
    fail(ex, 502,
         ex->head_done ? rp_psprintf(ex->pool, "%s in the body", why)
                       : rp_psprintf(ex->pool, "%s before a complete answer", why));
}

/* libevent 2.1 reads at most 4 KiB per readiness when more is waiting
 * (EVBUFFER_MAX_READ): a big body would cost a loop turn, a read and a
 * client write per 4 KiB.  When a read came back full, a plain connection
 * reads on here, straight into the input buffer, up to PX_READ_MAX. */
#define PX_READ_MAX PX_BUF_SIZE

static void top_up(px_exch *ex)
{
    struct bufferevent *bev = ex->pc->bev;
    size_t have;
    while ((have = evbuffer_get_length(bufferevent_get_input(bev))) < PX_READ_MAX) {
        size_t want = PX_READ_MAX - have;
        long got = rp_bev_read_socket(bev, want);
        if (got == RP_READ_AGAIN)
            break;
        if (got <= 0) {
            ex->eof = 1;
            ex->eof_why = got == 0 ? "connection closed" : evutil_socket_error_to_string(errno);
            break;
        }
        if ((size_t)got < want)
            break; /* the socket is empty */
    }
}

static void pause_reading(px_exch *ex)
{
    ex->paused = 1;
    bufferevent_disable(ex->pc->bev, EV_READ);
    rp_resp_on_drain(ex->r, PX_LOW_WATER, on_drain, ex);
}

/* A Content-Length body on a plain connection skips llhttp and the copy:
 * it is read straight into a buffer of the thread's cache, which goes to
 * the client by reference. */
static void pump_raw(px_exch *ex)
{
    struct bufferevent *bev = ex->pc->bev;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (ex->raw_left > 0) {
        size_t want = ex->raw_left < PX_BUF_SIZE ? (size_t)ex->raw_left : PX_BUF_SIZE;
        char *b = tl_nbufs ? tl_bufs[--tl_nbufs] : malloc(PX_BUF_SIZE);
        if (!b) {
            fail(ex, 502, "out of memory");
            return;
        }
        size_t n = (size_t)evbuffer_remove(in, b, want); /* what libevent read */
        int drained = 0;
        if (n < want && !ex->eof) {
            size_t ask = want - n;
            ssize_t got = read(bufferevent_getfd(bev), b + n, ask);
            if (got > 0) {
                n += (size_t)got;
                drained = (size_t)got < ask;
            } else {
                drained = 1;
                if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                    ex->eof = 1;
                    ex->eof_why =
                        got == 0 ? "connection closed" : evutil_socket_error_to_string(errno);
                }
            }
        }
        if (n == 0) {
            buf_put(b);
            break;
        }
        ex->raw_left -= n;
        if (rp_resp_write_ref(ex->r, b, n, buf_put, b) != 0) {
            release_conn(ex, 0); /* the client is gone, on_abort follows */
            end(ex);
            return;
        }
        if (rp_resp_pending(ex->r) > PX_HIGH_WATER && ex->raw_left > 0) {
            pause_reading(ex);
            return;
        }
        if (drained || ex->eof)
            break;
    }
    if (ex->raw_left == 0) {
        ex->complete = 1;
        complete(ex, in);
    }
}

/* Everything the upstream has sent is taken in: parsed, or passed raw. */
static void pump(px_exch *ex)
{
    struct bufferevent *bev = ex->pc->bev;
    if (!ex->raw) {
        if (!ex->up->tls && evbuffer_get_length(bufferevent_get_input(bev)) >= 4096)
            top_up(ex);
        parse_input(ex);
        if (ex->state == EX_DONE || ex->paused)
            return;
        if (ex->head_done && !ex->complete && !ex->up->tls &&
            (ex->parser.flags & F_CONTENT_LENGTH) && ex->parser.content_length > 0 &&
            evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
            ex->raw = 1;
            ex->raw_left = ex->parser.content_length;
        }
    }
    if (ex->raw)
        pump_raw(ex);
    if (ex->eof && ex->state != EX_DONE && !ex->paused)
        upstream_closed(ex);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    px_exch *ex = arg;
    if (!ex->paused)
        pump(ex);
}

/* ---- attempts ----------------------------------------------------------------- */

static void event_cb(struct bufferevent *bev, short what, void *arg);

/* Why a connection failed, in words, for the error log. */
static const char *conn_error(px_exch *ex, short what)
{
    if (what & BEV_EVENT_TIMEOUT)
        return ex->state == EX_CONNECTING ? "connect timed out" : "timed out";
    unsigned long e = bufferevent_get_openssl_error(ex->pc->bev);
    if (e) {
        SSL *ssl = bufferevent_openssl_get_ssl(ex->pc->bev);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK)
            return rp_psprintf(ex->pool, "TLS: certificate verify failed: %s",
                               X509_verify_cert_error_string(vr));
        return rp_psprintf(ex->pool, "TLS: %s", ERR_reason_error_string(e));
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (what & BEV_EVENT_EOF || !err)
        return "connection closed";
    return evutil_socket_error_to_string(err);
}

static void connect_failed(px_exch *ex, int status, const char *why)
{
    px_health_fail(ex->pw, ex->up, why);
    if (ex->retries > 0) {
        ex->retries--;
        px_upstream *was = ex->up;
        release_conn(ex, 0);
        if (px_pick(ex->pw, ex->rt, ex->ups, ex->rc->balance, ex->tried)) {
            rp_log_req(ex->r, &rp_module_proxy, RP_LOG_WARN,
                       "%s %s: upstream %s: %s; trying another", rp_req_method(ex->r),
                       rp_req_uri(ex->r), was->url, why);
            attempt(ex);
            return;
        }
        ex->up = was;
    }
    fail(ex, status, why);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    px_exch *ex = arg;
    if (what & BEV_EVENT_CONNECTED) {
        px_health_ok(ex->pw, ex->up);
        ex->state = EX_SENT;
        px_set_timeouts(bev, read_timeout(ex), ex->rc->send_timeout);
        start_body(ex);
        return;
    }
    const char *why = conn_error(ex, what);
    if (ex->state == EX_CONNECTING) {
        connect_failed(ex, (what & BEV_EVENT_TIMEOUT) ? 504 : 502, why);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        fail(ex, 504,
             rp_psprintf(ex->pool, "no answer within %gs",
                         (what & BEV_EVENT_WRITING) ? ex->rc->send_timeout : read_timeout(ex)));
        return;
    }
    /* closed or reset: first what it sent before closing */
    ex->eof = 1;
    ex->eof_why = why;
    pump(ex);
}

static int route_index(const px_exch *ex, const px_upstream *up)
{
    for (int i = 0; i < ex->rt->nups; i++)
        if (ex->ups[i] == up)
            return i;
    return 0;
}

static void attempt(px_exch *ex)
{
    px_upstream *up = px_pick(ex->pw, ex->rt, ex->ups, ex->rc->balance, ex->tried);
    if (!up) {
        fail(ex, 502, "no upstream left to try");
        return;
    }
    ex->up = up;
    ex->upi = route_index(ex, up);
    ex->tried[ex->upi] = 1;
    ex->got_bytes = 0;
    ex->raw = 0;
    ex->head_done = 0;
    ex->complete = 0;
    ex->head_bytes = 0;
    llhttp_init(&ex->parser, HTTP_RESPONSE, &g_settings);
    ex->parser.data = ex;
    ex->pw->up[up->index].active++;
    ex->pc = ex->fresh_only ? NULL : px_pool_take(ex->pw, up);
    rp_metric_add(ex->pc ? ex->c->m_reused : ex->c->m_opened, ex->pw->w, 1);
    if (ex->pc) {
        ex->state = EX_SENT;
        px_set_timeouts(ex->pc->bev, read_timeout(ex), ex->rc->send_timeout);
    } else {
        ex->pc = px_connect(ex->pw, up);
        if (!ex->pc) {
            connect_failed(ex, 502, "cannot start a connection");
            return;
        }
        ex->state = EX_CONNECTING;
        px_set_timeouts(ex->pc->bev, ex->rc->connect_timeout, ex->rc->connect_timeout);
    }
    bufferevent_setcb(ex->pc->bev, read_cb, ex->body_stream ? write_cb : NULL, event_cb, ex);
    bufferevent_setwatermark(ex->pc->bev, EV_READ, 0, 0);
    send_request(ex);
    if (ex->state == EX_SENT)
        start_body(ex);
    /* Enabling what is already enabled re-arms the write event: on a
     * pooled connection that costs two epoll_ctl per request for nothing
     * (the bufferevent arms it itself when bytes are queued). */
    short missing = (short)((EV_READ | EV_WRITE) & ~bufferevent_get_enabled(ex->pc->bev));
    if (missing)
        bufferevent_enable(ex->pc->bev, missing);
}

void px_exchange_init(void)
{
    llhttp_settings_init(&g_settings);
    g_settings.on_message_begin = on_message_begin;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_value = on_header_value;
    g_settings.on_header_value_complete = on_header_value_complete;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_message_complete;
}

/* The request pool going away with the upstream connection still held
 * happens only when the loop ended under a running exchange (a stop past
 * GracefulTimeout): close the connection, touching nothing else (the
 * worker's state may be gone already). */
static void ex_cleanup(void *arg)
{
    px_exch *ex = arg;
    if (ex->pc) {
        px_conn_close(ex->pc);
        ex->pc = NULL;
    }
}

int px_handler(rp_req *r)
{
    px_worker *pw = rp_worker_ctx(rp_req_worker(r), &rp_module_proxy);
    const px_route *rt = rp_req_route_target(r);
    if (!pw || !rt)
        return RP_DECLINED;
    px_exch *ex = rp_pcalloc(rp_req_pool(r), sizeof *ex);
    ex->r = r;
    ex->pool = rp_req_pool(r);
    ex->rt = rt;
    /* one pointer, merged at configuration time: nothing to merge here */
    ex->rc = rp_req_route_conf(r, &rp_module_proxy);
    ex->ups = ex->rc->insecure && rt->lax ? rt->lax : rt->ups;
    ex->c = pw->conf;
    ex->pw = pw;
    ex->tried = rp_pcalloc(ex->pool, (size_t)rt->nups);
    ex->retries = idempotent(rp_req_method(r)) && rt->nups > 1 ? 1 : 0;
    ex->stale_retry = idempotent(rp_req_method(r));
    const char *up = rp_req_header(r, "Upgrade");
    ex->websocket = up && rp_token_listed(up, "websocket");
    ex->rest = request_rest(r, rt);
    ex->body_stream = rp_req_body_streamed(r);
    ex->body_chunked = ex->body_stream && rp_req_body_length(r) < 0;
    rp_pool_cleanup_add(ex->pool, ex_cleanup, ex);
    rp_req_on_abort(r, on_abort, ex);
    attempt(ex);
    return RP_ASYNC;
}
