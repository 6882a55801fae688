/* conn.c - one client connection: reading, parsing with llhttp, running
 * requests one at a time (pipelined requests wait in the input buffer, so
 * answers leave in order), keep-alive, timeouts and closing. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/uio.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "runtime.h"
#include "tls.h"

/* A TLS response this small is written as one record (rp_conn_push). */
#define RP_TLS_COALESCE ((size_t)16 * 1024)
/* Input kept while a request is being served before we stop reading. */
#define RP_PIPELINE_MAX ((size_t)256 * 1024)

static llhttp_settings_t g_settings;
static pthread_once_t g_settings_once = PTHREAD_ONCE_INIT;

static void conn_free(rp_conn *c);
static void process_input(rp_conn *c);
static double mono_now(void);
static void lose_socket(rp_conn *c);
static int conn_unpark(rp_conn *c);
static void conn_park(rp_conn *c);
static bool conn_lost(const rp_conn *c);
static void ensure_writing(rp_conn *c);
static void enter_phase(rp_conn *c, int phase);
static void read_enable(rp_conn *c, bool on);

/* Phases of a connection, each with its own deadline (see "timeouts"). */
enum { PH_HANDSHAKE, PH_WAIT, PH_HEAD, PH_BODY, PH_BUSY, PH_LINGER };

/* ---- token assembly (llhttp may deliver a header in pieces) ------------- */

/* Most tokens (the URL, each header name and value) arrive whole in one
 * callback: their bytes stay where llhttp found them (tok_at) and go to the
 * request's pool in one copy when complete.  Only a token in pieces, or one
 * still open when llhttp_execute returns (its input is drained then: see
 * tok_keep), is assembled in c->tok. */

static int tok_copy(rp_conn *c, const char *at, size_t len)
{
    if (c->tok_len + len + 1 > c->tok_cap) {
        size_t cap = c->tok_cap ? c->tok_cap : 256;
        while (cap < c->tok_len + len + 1)
            cap *= 2;
        char *t = realloc(c->tok, cap);
        if (!t)
            return -1;
        c->tok = t;
        c->tok_cap = cap;
    }
    memcpy(c->tok + c->tok_len, at, len);
    c->tok_len += len;
    c->tok[c->tok_len] = '\0';
    return 0;
}

/* The pending piece into c->tok: before another piece, and before the
 * input it points into is drained.  0, or -1 out of memory. */
static int tok_keep(rp_conn *c)
{
    if (!c->tok_at)
        return 0;
    const char *at = c->tok_at;
    c->tok_at = NULL;
    return tok_copy(c, at, c->tok_at_len);
}

static int tok_append(rp_conn *c, const char *at, size_t len)
{
    if (c->tok_len == 0 && !c->tok_at) {
        c->tok_at = at;
        c->tok_at_len = len;
        return 0;
    }
    return tok_keep(c) != 0 ? -1 : tok_copy(c, at, len);
}

/* Bytes of the token so far. */
static size_t tok_size(const rp_conn *c)
{
    return c->tok_len + (c->tok_at ? c->tok_at_len : 0);
}

static void tok_reset(rp_conn *c)
{
    c->tok_len = 0;
    c->tok_at = NULL;
}

static const char *tok_take(rp_conn *c)
{
    const char *s = c->tok_at ? rp_pstrndup(c->req->pool, c->tok_at, c->tok_at_len)
                              : rp_pstrndup(c->req->pool, c->tok ? c->tok : "", c->tok_len);
    tok_reset(c);
    return s;
}

static int fail(rp_conn *c, int status)
{
    c->error_status = status;
    return -1;
}

/* ---- parser callbacks ----------------------------------------------------- */

static rp_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int on_message_begin(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    if (!c->req)
        c->req = rp_req_new(c);
    c->phase = PH_HEAD; /* its timer is settled when this read is parsed */
    c->phase_at = mono_now();
    tok_reset(c);
    c->header_bytes = 0;
    c->nheaders = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    rp_conn *c = conn_of(p);
    if (tok_size(c) + len > c->server->core->max_uri)
        return fail(c, 414);
    return tok_append(c, at, len);
}

static int on_url_complete(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    c->req->uri = tok_take(c);
    return 0;
}

static int header_bytes(rp_conn *c, size_t len)
{
    c->header_bytes += len;
    return c->header_bytes > c->server->core->max_header_size ? fail(c, 431) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    rp_conn *c = conn_of(p);
    return header_bytes(c, len) ? -1 : tok_append(c, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    if (c->discarding) { /* a trailer of a body nobody reads */
        tok_reset(c);
        return 0;
    }
    if (++c->nheaders > (size_t)c->server->core->max_headers)
        return fail(c, 431);
    c->field = tok_take(c);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    rp_conn *c = conn_of(p);
    return header_bytes(c, len) ? -1 : tok_append(c, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    if (c->discarding) {
        tok_reset(c);
        return 0;
    }
    rp_req_add_header(c->req, c->field ? c->field : "", tok_take(c));
    c->field = NULL;
    return 0;
}

static void send_continue(rp_conn *c)
{
    evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    ensure_writing(c);
}

static int host_count(const rp_req *r)
{
    int n = 0;
    for (size_t i = 0; i < r->headers.n; i++)
        n += strcasecmp(r->headers.names[i], "Host") == 0;
    return n;
}

static int on_headers_complete(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    rp_req *r = c->req;
    r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    r->head = llhttp_get_method(p) == HTTP_HEAD;
    r->http_major = llhttp_get_http_major(p);
    r->http_minor = llhttp_get_http_minor(p);
    const char *up = rp_req_header(r, "Upgrade");
    r->websocket = up && strcasestr(up, "websocket") != NULL;
    if (r->http_minor >= 1 && host_count(r) != 1)
        return fail(c, 400); /* RFC 9112, 3.2: exactly one Host in HTTP/1.1 */
    size_t max = c->server->core->max_body;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max)
        return fail(c, 413);
    const char *expect = rp_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") != 0)
        return fail(c, 417);
    bool has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
    if (has_body && !up && rp_req_stream_wanted(r)) {
        /* the handler runs now and reads the body itself (body_feed); a
         * 100-continue waits until it starts reading */
        r->bmode = RP_BODY_WAIT;
        r->body_length = (p->flags & F_CHUNKED) ? -1 : (int64_t)p->content_length;
        r->expect_continue = expect && r->http_minor >= 1;
        r->keepalive = llhttp_should_keep_alive(p) != 0; /* the answer may precede the end */
        return HPE_PAUSED;
    }
    if (expect && r->http_minor >= 1)
        send_continue(c);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
        r->body = malloc(p->content_length);
        if (!r->body)
            return fail(c, 413);
        r->body_cap = p->content_length;
    }
    if ((p->flags & F_CHUNKED) || p->content_length > 0) {
        c->phase = PH_BODY;
        c->last_read = mono_now();
    }
    return 0;
}

/* A chunk size is checked when it is parsed, not when its bytes are in: a
 * client announcing more than MaxBodySize would otherwise hold the
 * connection waiting for data that may never come.  Sizes no file could
 * have are a framing error. */
static int on_chunk_header(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    if (p->content_length > (uint64_t)INT64_MAX)
        return fail(c, 400);
    if (c->discarding)
        return 0; /* bounded by BodyTimeout: nobody keeps these bytes */
    if (p->content_length > c->server->core->max_body - c->req->body_seen)
        return fail(c, 413);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    rp_conn *c = conn_of(p);
    rp_req *r = c->req;
    if (c->discarding)
        return 0;
    if (r->body_seen + len > c->server->core->max_body)
        return fail(c, 413);
    r->body_seen += len;
    if (r->bmode != RP_BODY_BUFFERED) {
        rp_req_body_deliver(r, at, len);
        return 0;
    }
    if (r->body_len + len > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap * 2 : 16384;
        while (cap < r->body_len + len)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b)
            return fail(c, 413);
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    rp_conn *c = conn_of(p);
    if (c->discarding) { /* the unread body is behind us: on to the next request */
        c->discarding = false;
        c->linger = false;
        c->phase = PH_WAIT;
        c->phase_at = mono_now();
        return 0;
    }
    c->req->keepalive = llhttp_should_keep_alive(p) != 0;
    return HPE_PAUSED; /* serve this request before parsing the next */
}

static void settings_init(void)
{
    llhttp_settings_init(&g_settings);
    g_settings.on_message_begin = on_message_begin;
    g_settings.on_url = on_url;
    g_settings.on_url_complete = on_url_complete;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_field_complete = on_header_field_complete;
    g_settings.on_header_value = on_header_value;
    g_settings.on_header_value_complete = on_header_value_complete;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_chunk_header = on_chunk_header;
    g_settings.on_message_complete = on_message_complete;
}

/* ---- reading ---------------------------------------------------------------
 * Plain sockets are read by our own persistent event straight into the
 * bufferevent's input buffer: libevent's reader asks the kernel how much is
 * pending (an ioctl) before every read, one syscall per request we skip.
 * TLS connections read through their bufferevent. */

static void read_enable(rp_conn *c, bool on)
{
    if (!c->read_ev) {
        if (on)
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        event_add(c->read_ev, NULL);
    else
        event_del(c->read_ev);
}

static void reader_free(rp_conn *c)
{
    if (c->read_ev)
        event_free(c->read_ev);
    c->read_ev = NULL;
}

/* ---- timeouts ----------------------------------------------------------------
 * A connection is always in one phase, and the phase has a deadline:
 *   HANDSHAKE  TLS handshake: HandshakeTimeout, and ConnectTimeout, after accept
 *   WAIT       no byte of the next request yet: ConnectTimeout after accept
 *              for the first request, KeepAliveTimeout between requests; not
 *              counted while response bytes are still pending
 *   HEAD       a request head is arriving: HeaderTimeout after its first
 *              byte (and for the first request no later than ConnectTimeout
 *              after accept).  A deadline: trickling bytes does not extend it
 *   BODY       a body is arriving: BodyTimeout of silence
 *   BUSY       a complete request is being served: no read deadline.  Its
 *              writes are guarded by SendTimeout, the bufferevent's write
 *              timeout, which libevent restarts after every successful write,
 *              so a download that progresses never trips it.
 * One timer per connection, armed lazily: it fires at the earliest deadline
 * it was set for, and the callback re-arms it when the phase moved on to a
 * later one.  A keep-alive connection therefore costs no timer operation
 * per request. */
/* Idle connections of a configuration replaced by a reload wait at most this
 * long for their next (and last) request. */
#define RP_RETIRED_IDLE 5.0
/* A deadline this close counts as reached (the clocks are coarse). */
#define RP_DEADLINE_SLACK 0.005
/* Lingering close (conn_finish): how long a client still sending a body we
 * did not read gets to see our end of file. */
#define RP_LINGER 2.0

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The earlier of two limits in seconds, where <= 0 means none. */
static double earliest(double a, double b)
{
    if (a <= 0)
        return b;
    if (b <= 0)
        return a;
    return a < b ? a : b;
}

/* Absolute deadline of the current phase, or 0 for none. */
static double phase_deadline(const rp_conn *c)
{
    const rp_core_conf *cc = c->server->core;
    double connect = cc->connect_timeout > 0 ? c->accepted_at + cc->connect_timeout : 0;
    switch (c->phase) {
    case PH_HANDSHAKE:
        return earliest(cc->handshake_timeout > 0 ? c->accepted_at + cc->handshake_timeout : 0,
                        connect);
    case PH_WAIT: {
        if (c->nreq == 0)
            return connect;
        double t = cc->keepalive_timeout;
        if (c->worker->retired)
            t = earliest(t, RP_RETIRED_IDLE);
        return t > 0 ? c->phase_at + t : 0;
    }
    case PH_HEAD:
        return earliest(cc->header_timeout > 0 ? c->phase_at + cc->header_timeout : 0,
                        c->nreq == 0 ? connect : 0);
    case PH_BODY:
        return cc->body_timeout > 0 ? c->last_read + cc->body_timeout : 0;
    case PH_LINGER:
        return c->phase_at + RP_LINGER;
    default:
        return 0;
    }
}

/* Make sure the timer fires no later than the current phase's deadline. */
static void timer_settle(rp_conn *c)
{
    double at = phase_deadline(c);
    if (at <= 0 || (c->timer_at > 0 && c->timer_at <= at))
        return;
    double in = at - mono_now();
    if (in < 0)
        in = 0;
    struct timeval tv = {(time_t)in, (suseconds_t)((in - (double)(time_t)in) * 1e6)};
    event_add(c->timer, &tv);
    c->timer_at = at;
}

static void enter_phase(rp_conn *c, int phase)
{
    c->phase = (unsigned char)phase;
    c->phase_at = mono_now();
    if (phase == PH_BODY)
        c->last_read = c->phase_at;
    timer_settle(c);
}

/* ---- reading and dispatch -------------------------------------------------- */

static void dispatch(rp_conn *c)
{
    c->busy = true;
    c->nreq++;
    if (c->parser.upgrade && rp_h2_upgrade_wanted(c->req)) {
        rp_req *r = c->req;
        c->req = NULL;
        c->busy = false;
        c->phase = PH_BUSY; /* HTTP/2 keeps its own deadlines (h2.c) */
        if (rp_h2_start(c, r) == 0)
            return;
        c->req = r; /* no session (out of memory): answer over HTTP/1.1 */
        c->busy = true;
    }
    if (c->parser.upgrade) /* what follows is not HTTP, unless a module takes over */
        c->req->close_after = true;
    c->phase = PH_BUSY; /* a pending timer finds no deadline and goes quiet */
    rp_req_run(c->req);
}

/* Answer status and close: what is still unread is not trusted. */
static void refuse(rp_conn *c, int status)
{
    if (status == 413)
        c->linger = true; /* the client may be sending the body right now */
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
    read_enable(c, false);
    c->phase = PH_BUSY;
    rp_resp_simple_error(c, status);
}

/* ---- streamed bodies ------------------------------------------------------
 * A request whose owner streams bodies was dispatched when its head was
 * complete, the parser paused there.  Once the handler reads
 * (rp_req_body_stream), the parser resumes over the input and on_body hands
 * the bytes on (rp_req_body_deliver); the socket is read only while the
 * reader is not paused, so a slow reader holds at most one read of input
 * plus what the kernel buffers.  BodyTimeout counts while we read. */

/* Read the socket for the body only while its reader takes it. */
static void body_reading(rp_conn *c)
{
    rp_req *r = c->req;
    if (rp_req_body_open(r) && !r->body_paused && !r->body_ended && !c->read_eof && c->bev) {
        if (c->phase != PH_BODY)
            enter_phase(c, PH_BODY);
        read_enable(c, true);
        return;
    }
    c->phase = PH_BUSY;
    if (rp_req_body_open(r) && !r->body_ended)
        read_enable(c, false); /* back-pressure: the client waits in the kernel */
}

/* The body cannot be completed: its reader learns why, the connection
 * closes after the answer, and what the client sends meanwhile is ignored. */
static void body_failed(rp_conn *c, int status)
{
    rp_req *r = c->req;
    r->close_after = true;
    c->linger = true;
    if (c->bev)
        evbuffer_drain(bufferevent_get_input(c->bev),
                       evbuffer_get_length(bufferevent_get_input(c->bev)));
    read_enable(c, false);
    c->phase = PH_BUSY;
    rp_req_body_complete(r, status);
    rp_req_body_flush(r); /* on_end, if the handler reads already */
}

static void body_feed(rp_conn *c)
{
    rp_req *r = c->req;
    rp_req_body_flush(r);
    if (!c->bev) {
        rp_req_body_complete(r, 499);
        rp_req_body_flush(r);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (rp_req_body_open(r) && !r->body_paused && !r->body_ended &&
           evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        llhttp_errno_t err = llhttp_execute(&c->parser, v.iov_base, v.iov_len);
        if (tok_keep(c) != 0 && err == HPE_OK) /* (a trailer in pieces) */
            err = HPE_USER;
        if (err == HPE_PAUSED) { /* on_message_complete: the body is whole */
            const char *end = llhttp_get_error_pos(&c->parser);
            evbuffer_drain(in, (size_t)(end - (const char *)v.iov_base));
            rp_req_body_complete(r, 0);
            rp_req_body_flush(r);
            break;
        }
        if (err != HPE_OK) {
            int status = c->error_status ? c->error_status : 400;
            rp_log(NULL, RP_LOG_INFO, "%s:%d: streamed request body: %s: %d", c->remote_ip,
                   c->remote_port, llhttp_errno_name(err), status);
            body_failed(c, status);
            return;
        }
        evbuffer_drain(in, v.iov_len);
    }
    if (c->read_eof && !r->body_ended && evbuffer_get_length(in) == 0) {
        rp_req_body_complete(r, 499); /* the client left mid-body */
        rp_req_body_flush(r);
    }
    body_reading(c);
}

void rp_conn_body_kick(rp_req *r, bool start)
{
    rp_conn *c = r->conn;
    if (start && r->expect_continue && !r->headers_out && c->bev) {
        r->expect_continue = false;
        send_continue(c);
    }
    if (start)
        llhttp_resume(&c->parser); /* paused at the end of the head */
    if (c->next_ev)
        event_active(c->next_ev, EV_TIMEOUT, 1); /* feeds from the loop (next_cb) */
}

static void parse_error(rp_conn *c, llhttp_errno_t err)
{
    if (c->discarding) {
        conn_free(c); /* the answer is out: no second one for a bad tail */
        return;
    }
    int status = c->error_status ? c->error_status : 400;
    if (status == 400)
        rp_log(NULL, RP_LOG_INFO, "bad request from %s: %s (%s)", c->remote_ip,
               llhttp_errno_name(err), llhttp_get_error_reason(&c->parser));
    refuse(c, status);
}

static void timed_out(rp_conn *c)
{
    switch (c->phase) {
    case PH_WAIT:
        if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
            c->phase_at = mono_now(); /* still sending: SendTimeout watches that */
            timer_settle(c);
            return;
        }
        conn_free(c); /* an idle connection: a quiet close */
        return;
    case PH_HEAD:
    case PH_BODY:
        if (c->discarding) {
            conn_free(c); /* the answer is out; nobody waits for these bytes */
            return;
        }
        rp_log(NULL, RP_LOG_INFO, "%s:%d: request %s not complete in time: 408", c->remote_ip,
               c->remote_port, c->phase == PH_HEAD ? "head" : "body");
        if (c->busy && c->req) /* a streamed body: its reader answers */
            body_failed(c, 408);
        else
            refuse(c, 408);
        return;
    case PH_LINGER:
        conn_free(c);
        return;
    case PH_HANDSHAKE:
        rp_log(NULL, RP_LOG_INFO, "%s:%d: TLS handshake not complete in time", c->remote_ip,
               c->remote_port);
        rp_metric_add(rp_core_metrics_of(c->server)->tls_failed, c->worker, 1);
        lose_socket(c);
        return;
    default:
        return;
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_conn *c = arg;
    c->timer_at = 0;
    double at = phase_deadline(c);
    if (at <= 0)
        return;
    if (at - mono_now() > RP_DEADLINE_SLACK)
        timer_settle(c); /* the phase moved on to a later deadline */
    else
        timed_out(c);
}

/* HTTP/2 with prior knowledge: a cleartext connection whose first bytes are
 * the client preface.  0: not HTTP/2, 1: a prefix of the preface so far,
 * 2: the preface. */
static int h2_preface(rp_conn *c, struct evbuffer *in)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t n = evbuffer_get_length(in);
    if (c->tls || n == 0 || !rp_conn_h2_allowed(c))
        return 0;
    if (n > sizeof preface - 1)
        n = sizeof preface - 1;
    const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
    if (!p || memcmp(p, preface, n) != 0)
        return 0;
    return n == sizeof preface - 1 ? 2 : 1;
}

static void process_input(rp_conn *c)
{
    if (c->parked && conn_unpark(c) != 0) {
        lose_socket(c); /* out of memory */
        return;
    }
    if (c->h2) {
        rp_h2_input(c);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->lingering) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->phase == PH_BODY)
        c->last_read = mono_now();
    if (c->busy && c->req && rp_req_body_open(c->req)) {
        body_feed(c);
        return;
    }
    switch (c->nreq == 0 && !c->req ? h2_preface(c, in) : 0) {
    case 1:
        return; /* a prefix of it: wait for the rest */
    case 2:
        c->phase = PH_BUSY;
        if (rp_h2_start(c, NULL) != 0)
            lose_socket(c);
        return;
    default:
        break;
    }
    while (!c->busy && !c->closing && !c->h2 && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        llhttp_errno_t err = llhttp_execute(&c->parser, v.iov_base, v.iov_len);
        if (tok_keep(c) != 0 && err == HPE_OK) { /* a token goes on in the next read */
            c->error_status = 500;
            err = HPE_USER;
        }
        size_t used = v.iov_len;
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE)
            used = (size_t)(llhttp_get_error_pos(&c->parser) - (const char *)v.iov_base);
        else if (err != HPE_OK) {
            parse_error(c, err);
            return;
        }
        evbuffer_drain(in, used);
        if (err != HPE_OK)
            dispatch(c);
    }
    if (c->h2) { /* upgraded to h2c: what follows is the client's preface */
        if (c->bev)
            rp_h2_input(c);
        return;
    }
    if (c->busy && evbuffer_get_length(in) > RP_PIPELINE_MAX)
        read_enable(c, false);
    if (!c->busy && !c->closing) {
        timer_settle(c);
        conn_park(c);
    }
}

/* ---- callbacks ------------------------------------------------------------ */

/* Close once the answer is out.  A client may still be sending a body we
 * did not read (an early answer, a 413): closing now would make our kernel
 * answer its bytes with a reset, and a reset makes the client's kernel drop
 * the answer it has not read yet.  So end our direction first, read and
 * drop what still comes, and close at its end of file or after RP_LINGER,
 * as nginx's lingering_close does. */
static void conn_finish(rp_conn *c)
{
    if (!c->linger || c->lingering || !c->bev || c->broken) {
        conn_free(c);
        return;
    }
    c->lingering = true;
    if (c->tls) {
        rp_tls_close_notify(c->bev);
        c->broken = true; /* said goodbye already */
    }
    shutdown(c->fd, SHUT_WR);
    enter_phase(c, PH_LINGER);
    read_enable(c, true);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    rp_conn *c = arg;
    if (c->h2) {
        rp_h2_writable(c);
        return;
    }
    if (c->lingering)
        return;
    if (c->closing && !c->busy && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        conn_finish(c);
        return;
    }
    if (c->req && rp_resp_has_drainers(c->req))
        rp_resp_drained(c->req);
    else if (!c->busy)
        conn_park(c); /* the last answer has left: nothing to hold on to */
}

static void abort_request(rp_conn *c)
{
    rp_req *r = c->req;
    if (!r)
        return;
    if (r->bmode != RP_BODY_BUFFERED && !r->body_ended) {
        if (c->bev && rp_req_body_open(r))
            body_feed(c); /* what arrived before the end still counts */
        rp_req_body_complete(r, 499);
        rp_req_body_flush(r);
    }
    rp_req_aborted(r);
}

/* The socket is unusable; a request still being produced keeps the
 * connection object alive (its writers now fail) until it finishes. */
static void lose_socket(rp_conn *c)
{
    c->closing = true;
    c->broken = true;
    if (c->h2) {
        rp_conn_drop_socket(c);
        rp_h2_lost(c);
        return;
    }
    if (c->busy && !(c->req && c->req->finished)) {
        reader_free(c);
        bufferevent_free(c->bev);
        c->bev = NULL;
        abort_request(c);
        return;
    }
    if (!c->busy)
        conn_free(c);
}

/* A client that half-closed after pipelining requests (nc, scripts) still
 * reads: the requests it sent before its end of file are all answered. */
bool rp_conn_client_done(rp_conn *c)
{
    return c->read_eof && (!c->bev || evbuffer_get_length(bufferevent_get_input(c->bev)) == 0);
}

static void on_eof(rp_conn *c)
{
    c->read_eof = true;
    read_enable(c, false);
    if (c->h2) {
        rp_h2_lost(c);
        return;
    }
    if (c->busy) {
        abort_request(c); /* a producer waiting on the client stops */
        return;
    }
    conn_free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    rp_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) { /* the TLS handshake is done */
        const rp_core_metrics *m = rp_core_metrics_of(c->server);
        rp_metric_add(rp_tls_resumed(c->bev) ? m->tls_resumed : m->tls_ok, c->worker, 1);
        if (c->phase == PH_HANDSHAKE)
            enter_phase(c, PH_WAIT);
        if (rp_tls_alpn_h2(c->bev) && rp_conn_h2_allowed(c)) {
            c->phase = PH_BUSY; /* HTTP/2 keeps its own deadlines (h2.c) */
            if (rp_h2_start(c, NULL) != 0)
                lose_socket(c);
        }
        return;
    }
    if (c->phase == PH_HANDSHAKE)
        rp_metric_add(rp_core_metrics_of(c->server)->tls_failed, c->worker, 1);
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING))
        rp_log(NULL, RP_LOG_INFO, "%s:%d: took no response byte for SendTimeout (%g s): closing",
               c->remote_ip, c->remote_port, c->server->core->send_timeout);
    if (what & BEV_EVENT_EOF)
        on_eof(c);
    else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        lose_socket(c);
}

/* Our reader for plain sockets: one readv into the input buffer's free space
 * (rp_bev_read_socket, sockread.c). */
static void raw_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_conn *c = arg;
    if (c->parked && conn_unpark(c) != 0) {
        lose_socket(c); /* out of memory */
        return;
    }
    long got = rp_bev_read_socket(c->bev, c->server->core->max_read);
    if (got == RP_READ_AGAIN)
        return;
    if (got == 0)
        on_eof(c);
    else if (got < 0)
        lose_socket(c); /* an error, or out of memory */
    else
        process_input(c);
}

/* Deferred completion of a request: log it, free it, then continue. */
static void next_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_conn *c = arg;
    rp_req *r = c->req;
    if (!r)
        return;
    if (!r->finished) {
        if (rp_req_body_open(r) && c->busy)
            body_feed(c); /* rp_conn_body_kick */
        return;
    }
    rp_req_log_phase(r);
    /* What the response announced decides: a connection of a configuration
     * a reload replaced since its headers went out said keep-alive, so it
     * serves one more request (whose answer says close) - closing it now
     * would race with the client's next request. */
    bool close = r->close_after || c->worker->thread->stopping || rp_conn_client_done(c);
    /* A streamed body nobody read to its end: the client that waits for a
     * 100-continue never sends it, anyone else's is read and dropped. */
    bool unread = r->bmode != RP_BODY_BUFFERED && !r->body_ended;
    if (unread && r->expect_continue)
        close = true;
    if (unread)
        c->linger = true; /* if it closes, let the client see the answer */
    c->discarding = unread && !close;
    c->req = NULL;
    rp_req_free(r);
    c->busy = false;
    if (c->detached) {
        conn_free(c); /* the bufferevent lives on with its new owner */
        return;
    }
    if (close || conn_lost(c)) {
        c->closing = true;
        if (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_finish(c);
        else
            read_enable(c, false);
        return;
    }
    llhttp_resume(&c->parser);
    if (c->discarding) {
        enter_phase(c, PH_BODY); /* BodyTimeout bounds the discarding */
    } else {
        c->phase = PH_WAIT;
        c->phase_at = mono_now();
    }
    read_enable(c, true);
    process_input(c); /* settles the timer for the phase it ends in */
}

void rp_conn_request_done(rp_req *r)
{
    event_active(r->conn->next_ev, EV_TIMEOUT, 1);
}

/* When nothing is queued, write the staged bytes to the socket at once: for
 * the common small response this skips arming the write event and a loop
 * turn.  Whatever the socket does not take goes through the bufferevent. */
void rp_conn_push(rp_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    bool direct = !c->tls && evbuffer_get_length(out) == 0;
    if (direct) {
        /* libevent writes memory and file pieces in separate calls (writev,
         * sendfile); keep going until MaxWrite is spent or the socket is full. */
        ev_ssize_t budget = (ev_ssize_t)c->server->core->max_write;
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        while (budget > 0 && evbuffer_get_length(c->stage) > 0) {
            int n = evbuffer_write_atmost(c->stage, fd, budget);
            if (n <= 0)
                break;
            budget -= n;
        }
    }
    if (!evbuffer_get_length(c->stage))
        return;
    if (direct) {
        /* The socket just took all it could, so a write readiness reported
         * earlier in this loop turn is stale.  Re-arm the write event so the
         * bufferevent waits for the next one: trying now would get EAGAIN,
         * which libevent's sendfile path reports as a 0-byte write and the
         * bufferevent then takes for end of file. */
        bufferevent_disable(c->bev, EV_WRITE);
        evbuffer_add_buffer(out, c->stage);
        bufferevent_enable(c->bev, EV_WRITE);
    } else {
        /* TLS writes each piece of the buffer as a record of its own, with
         * a send each: a small response (head + file) goes as one - and,
         * when nothing is queued, at once (see rp_tls_write_now). */
        size_t n = evbuffer_get_length(c->stage);
        if (c->tls && n <= RP_TLS_COALESCE) {
            unsigned char *p = evbuffer_pullup(c->stage, -1);
            if (p && evbuffer_get_length(out) == 0) {
                int w = rp_tls_write_now(c->bev, p, n);
                if (w > 0)
                    evbuffer_drain(c->stage, (size_t)w);
                if (!evbuffer_get_length(c->stage))
                    return;
            }
        }
        evbuffer_add_buffer(out, c->stage);
        ensure_writing(c);
    }
}

struct evbuffer *rp_conn_output(rp_conn *c)
{
    return bufferevent_get_output(c->bev);
}

/* ---- lifetime --------------------------------------------------------------- */

static void addr_to_text(const struct sockaddr_storage *ss, char *ip, size_t n, int *port)
{
    /* Copies, not casts: sockaddr_storage is only an aligned byte holder. */
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 a;
        memcpy(&a, ss, sizeof a);
        inet_ntop(AF_INET6, &a.sin6_addr, ip, (socklen_t)n);
        *port = ntohs(a.sin6_port);
    } else {
        struct sockaddr_in a;
        memcpy(&a, ss, sizeof a);
        inet_ntop(AF_INET, &a.sin_addr, ip, (socklen_t)n);
        *port = ntohs(a.sin_port);
    }
}

/* What the acceptor already knows costs no system call. */
static void conn_addresses(rp_conn *c, int fd, const struct sockaddr_storage *peer,
                           const struct sockaddr_storage *local)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    if (peer)
        addr_to_text(peer, c->remote_ip, sizeof c->remote_ip, &c->remote_port);
    else if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_to_text(&ss, c->remote_ip, sizeof c->remote_ip, &c->remote_port);
    len = sizeof ss;
    if (local)
        addr_to_text(local, c->local_ip, sizeof c->local_ip, &c->local_port);
    else if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_to_text(&ss, c->local_ip, sizeof c->local_ip, &c->local_port);
}

/* ---- parking ------------------------------------------------------------------
 * Between requests a connection keeps only what waiting needs: its socket,
 * this struct, its reader and its timer.  A plain connection gives back its
 * bufferevent (with its two buffers), its staging buffer and its
 * deferred-completion event, and every connection its parser's token
 * scratch; they are taken again when bytes arrive, the way nginx frees a
 * keep-alive connection's request and buffers.  Two thousand idle plain
 * connections cost under 2 MiB.  What is given back goes to a small
 * per-thread stock (RP_SPARES sets) first: under load a connection takes the
 * set another just parked, so a request pays no allocation and no libevent
 * set-up for it.  A TLS connection keeps its bufferevent (the SSL object
 * cannot be rebuilt); OpenSSL releases its record buffers instead
 * (SSL_MODE_RELEASE_BUFFERS, tls.c). */

/* A parked bufferevent has no descriptor; EV_WRITE is enabled only when
 * output is queued (rp_conn_push), since enabling it on an empty buffer
 * costs an epoll_ctl and a wakeup that finds nothing to write. */
static void ensure_writing(rp_conn *c)
{
    if (!(bufferevent_get_enabled(c->bev) & EV_WRITE))
        bufferevent_enable(c->bev, EV_WRITE);
}

static void bev_configure(rp_conn *c)
{
    const rp_core_conf *cc = c->server->core;
    bufferevent_set_max_single_read(c->bev, cc->max_read);
    bufferevent_set_max_single_write(c->bev, cc->max_write);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    double send = cc->send_timeout > 0 ? cc->send_timeout : 0;
    if (send == c->bev_send)
        return; /* a stocked bufferevent usually has it already */
    c->bev_send = send;
    if (send > 0) {
        struct timeval tv = {(time_t)send, (suseconds_t)((send - (double)(time_t)send) * 1e6)};
        bufferevent_set_timeouts(c->bev, NULL, &tv);
    } else {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
    }
}

static void spare_free(rp_spare *s)
{
    bufferevent_setfd(s->bev, -1); /* it still names its last, closed descriptor */
    bufferevent_free(s->bev);
    evbuffer_free(s->stage);
    event_free(s->next_ev);
}

/* Take back what serving a request needs; -1 when memory is short. */
static int conn_unpark(rp_conn *c)
{
    if (c->tls) { /* it kept everything but the token scratch */
        c->parked = false;
        return 0;
    }
    rp_thread *t = c->worker->thread;
    if (t->nspares > 0) {
        rp_spare *s = &t->spares[--t->nspares];
        c->bev = s->bev;
        c->stage = s->stage;
        c->next_ev = s->next_ev;
        c->bev_send = s->send_timeout;
        bufferevent_setfd(c->bev, c->fd);
        event_assign(c->next_ev, t->base, -1, 0, next_cb, c);
    } else {
        c->bev = bufferevent_socket_new(t->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
        c->bev_send = 0; /* no timeouts yet */
        c->stage = evbuffer_new();
        c->next_ev = event_new(t->base, -1, 0, next_cb, c);
        if (c->stage) /* staged file segments stay sendfile segments, not mmap + writev */
            evbuffer_set_flags(c->stage, EVBUFFER_FLAG_DRAINS_TO_FD);
        if (!c->bev || !c->stage || !c->next_ev)
            return -1; /* what was made is freed with the connection */
    }
    bev_configure(c);
    c->parked = false;
    return 0;
}

/* Give c's (empty) bufferevent, staging buffer and completion event to the
 * thread's stock, or free them when it is full. */
static void io_to_stock(rp_conn *c)
{
    rp_spare s = {c->bev, c->stage, c->next_ev, c->bev_send};
    c->bev = NULL;
    c->stage = NULL;
    c->next_ev = NULL;
    /* Only what is needed: each libevent call below that touches an event
     * takes the loop's lock.  The descriptor is not cleared: nothing is
     * pending on it, and the next owner's bufferevent_setfd replaces it. */
    if (bufferevent_get_enabled(s.bev))
        bufferevent_disable(s.bev, EV_READ | EV_WRITE);
    bufferevent_setwatermark(s.bev, EV_WRITE, 0, 0);
    bufferevent_setcb(s.bev, NULL, NULL, NULL, NULL);
    rp_thread *t = c->worker->thread;
    if (t->nspares < RP_SPARES && !t->stopping)
        t->spares[t->nspares++] = s;
    else
        spare_free(&s);
}

static void conn_park(rp_conn *c)
{
    if (c->parked || c->busy || c->closing || c->req || c->h2 || c->phase != PH_WAIT || !c->bev ||
        evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
        evbuffer_get_length(c->stage) > 0)
        return;
    free(c->tok);
    c->tok = NULL;
    c->tok_cap = c->tok_len = 0;
    c->tok_at = NULL;
    c->parked = true;
    if (c->tls)
        return;
    io_to_stock(c); /* the descriptor stays with us: our reader watches it */
}

void rp_conn_thread_done(rp_thread *t)
{
    while (t->nspares > 0)
        spare_free(&t->spares[--t->nspares]);
}

/* No usable socket: it failed, or a module took it over.  A parked plain
 * connection has no bufferevent but still its descriptor. */
static bool conn_lost(const rp_conn *c)
{
    return !c->bev && !c->parked;
}

void rp_conn_accept(rp_worker *w, int fd, bool tls)
{
    rp_conn_accept_addr(w, fd, tls, NULL, NULL);
}

void rp_conn_accept_addr(rp_worker *w, int fd, bool tls, const struct sockaddr_storage *peer,
                         const struct sockaddr_storage *local)
{
    pthread_once(&g_settings_once, settings_init);
    rp_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        rp_worker_conn_gone(w);
        return;
    }
    rp_thread *t = w->thread;
    c->worker = w;
    c->server = w->server;
    c->fd = fd;
    conn_addresses(c, fd, peer, local);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->tls = tls;
    c->timer = event_new(t->base, -1, 0, timer_cb, c);
    bool ok = c->timer != NULL;
    if (tls) {
        c->bev = rp_tls_bufferevent(c->server, t->base, fd);
        c->stage = evbuffer_new();
        c->next_ev = event_new(t->base, -1, 0, next_cb, c);
        ok = ok && c->bev && c->stage && c->next_ev;
        if (c->bev) {
            bev_configure(c);
            bufferevent_enable(c->bev, EV_WRITE);
        }
    } else {
        c->read_ev = event_new(t->base, fd, EV_READ | EV_PERSIST, raw_read_cb, c);
        ok = ok && c->read_ev;
    }
    c->parked = true; /* the request's parts come with its first bytes */
    if (!ok) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->stage)
            evbuffer_free(c->stage);
        if (c->next_ev)
            event_free(c->next_ev);
        if (c->timer)
            event_free(c->timer);
        reader_free(c);
        free(c);
        rp_worker_conn_gone(w);
        return;
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
    c->parser.data = c;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    c->accepted_at = mono_now();
    enter_phase(c, tls ? PH_HANDSHAKE : PH_WAIT);
    read_enable(c, true);
}

static void conn_free(rp_conn *c)
{
    rp_worker *w = c->worker;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->thread->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    reader_free(c);
    bool h2 = c->h2 != NULL; /* its bufferevent never goes to the stock */
    if (h2)
        rp_h2_free(c);
    if (c->bev && c->tls && !c->broken)
        rp_tls_close_notify(c->bev);
    if (c->bev && !c->tls && !c->broken && !h2 && c->stage && c->next_ev) {
        /* A healthy set goes back to the stock for the next connection. */
        evbuffer_drain(c->stage, evbuffer_get_length(c->stage));
        struct evbuffer *in = bufferevent_get_input(c->bev), *out = bufferevent_get_output(c->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        evbuffer_drain(out, evbuffer_get_length(out));
        event_del(c->next_ev); /* never to fire for c */
        io_to_stock(c);
        close(c->fd);
    }
    if (c->bev)
        bufferevent_free(c->bev); /* closes the descriptor */
    else if (c->parked && !c->tls)
        close(c->fd);
    if (c->next_ev)
        event_free(c->next_ev);
    event_free(c->timer);
    if (c->stage)
        evbuffer_free(c->stage);
    if (c->req)
        rp_req_free(c->req);
    free(c->tok);
    bool detached = c->detached;
    free(c);
    if (!detached) /* a detached connection counts until rp_worker_release */
        rp_worker_conn_gone(w);
}

RP_API struct bufferevent *rp_req_detach(rp_req *r)
{
    rp_conn *c = r->conn;
    if (r->status != 101 || !r->finished || !c->bev || c->detached || r->tx != &rp_h1_transport)
        return NULL;
    struct bufferevent *bev = c->bev;
    reader_free(c); /* the new owner reads through the bufferevent */
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_enable(bev, EV_WRITE); /* its writes must flush (see ensure_writing) */
    c->bev = NULL;
    c->detached = true;
    return bev;
}

RP_API void rp_worker_release(rp_worker *w, struct bufferevent *bev)
{
    if (bev)
        bufferevent_free(bev);
    rp_worker_conn_gone(w);
}

/* Idle connections (of one configuration, or all) go now, busy ones after
 * their answer. */
static void drain(rp_thread *t, const rp_worker *only)
{
    rp_conn *c = t->conns;
    while (c) {
        rp_conn *n = c->next;
        if (c->h2) {
            if (!only || c->worker == only)
                rp_h2_shutdown(c); /* closes from its work event */
        } else if (!c->busy && !c->detached && (!only || c->worker == only)) {
            if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
                c->closing = true; /* a response still leaving: closed once it has */
                read_enable(c, false);
            } else {
                conn_free(c);
            }
        }
        c = n;
    }
}

/* Shedding: out of descriptors, close what costs most and gives least, in
 * this order, oldest first: connections waiting for a request (idle
 * keep-alive, or connected and silent for RP_SHED_IDLE), then heads (or TLS handshakes)
 * trickling in for more than RP_SHED_SLOW seconds, then bodies silent that long.  A request being
 * served or a response being written is never shed. */
#define RP_SHED_SLOW 1.0
/* A connection accepted a moment ago has had no chance to send yet. */
#define RP_SHED_IDLE 0.25

static bool sheddable(const rp_conn *c, int cls, double now)
{
    if (c->busy || c->closing || c->detached || c->h2 || conn_lost(c))
        return false;
    switch (cls) {
    case 0:
        return c->phase == PH_WAIT && now - c->phase_at > RP_SHED_IDLE &&
               (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0);
    case 1:
        return (c->phase == PH_HEAD || c->phase == PH_HANDSHAKE) && now - c->phase_at > RP_SHED_SLOW;
    default:
        return c->phase == PH_BODY && now - c->last_read > RP_SHED_SLOW;
    }
}

int rp_conn_shed(rp_thread *t, int n)
{
    rp_conn *tail = t->conns;
    while (tail && tail->next)
        tail = tail->next;
    double now = mono_now();
    int done = 0;
    for (int cls = 0; cls < 3 && done < n; cls++) {
        for (rp_conn *c = tail, *prev; c && done < n; c = prev) {
            prev = c->prev;
            if (!sheddable(c, cls, now))
                continue;
            if (c == tail)
                tail = prev;
            conn_free(c);
            done++;
        }
    }
    if (done)
        rp_log(NULL, RP_LOG_INFO, "worker %d: closed %d idle or slow connection%s to free "
               "descriptors", t->index, done, done == 1 ? "" : "s");
    return done;
}

void rp_conn_drain_all(rp_thread *t)
{
    drain(t, NULL);
}

/* Reload: closing an idle keep-alive connection races with a request the
 * client may be sending on it right now, so they stay open, shortly: the
 * next request is answered (by the old configuration) and closes it. */
void rp_conn_drain_worker(rp_worker *w)
{
    for (rp_conn *c = w->thread->conns, *n; c; c = n) {
        n = c->next;
        if (c->worker == w && c->h2)
            rp_h2_shutdown(c); /* GOAWAY: the client opens its next streams anew */
        else if (c->worker == w && c->phase == PH_WAIT && !c->detached && !conn_lost(c))
            timer_settle(c);
    }
}

/* HTTP/2 drops its socket on its own terms (GOAWAY sent, or the peer gone);
 * streams still producing keep the connection object until they finish. */
void rp_conn_drop_socket(rp_conn *c)
{
    c->closing = true;
    reader_free(c);
    if (!c->bev)
        return;
    if (c->tls && !c->broken)
        rp_tls_close_notify(c->bev);
    bufferevent_free(c->bev); /* closes the descriptor */
    c->bev = NULL;
}

void rp_conn_close(rp_conn *c)
{
    conn_free(c);
}

/* Protocols directive; by default h2 on TLS binds, h2c on plain ones. */
bool rp_conn_h2_allowed(const rp_conn *c)
{
    unsigned p = (unsigned)c->server->core->protocols;
    if (!p)
        return true;
    return (p & (c->tls ? RP_PROTO_H2 : RP_PROTO_H2C)) != 0;
}
