/* ws.c - mod_ws: RFC 6455 websockets.
 *
 *   WsMaxMessage size          largest message accepted (default 16m) -> 1009
 *   WsCloseTimeout seconds     wait for the peer's close frame (default 5)
 *   Map ws:/echo ws:echo       a built-in echo route (tests, demos, bench)
 *
 * Any plugin serves websockets through the "ws" service, version 1
 * (rp_ws.h): its HANDLER hook calls accept(), which answers the upgrade
 * handshake with 101, takes the connection over with rp_req_detach() and
 * from then on runs the connection on the worker's event loop, calling the
 * plugin's on_open / on_message / on_close.
 *
 * A connection's states:
 *   OPEN     messages flow both ways;
 *   CLOSING  our close frame is queued, waiting for the peer's (data that
 *            still arrives is read and dropped), at most WsCloseTimeout;
 *   DONE     nothing more to exchange: the queued output is flushed (at
 *            most WsCloseTimeout), then the TCP connection is closed.
 * on_close runs once, on leaving OPEN.
 *
 * Re-entrancy: callbacks may call send/close (also close(immediate) on
 * their own websocket).  A dropped connection is closed at once but its
 * memory is freed from the loop (a per-worker "reaper" event), never under
 * a caller that may still hold the pointer.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <strings.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/evp.h>
#include <rampart.h>
#include "rp_ws.h"
#include "ws_int.h"

RP_API const rp_module rp_module_ws;

/* Reading stops while more than this is queued for a client, and resumes
 * when it has drained to the low mark. */
#define WS_HIGH_WATER ((size_t)512 * 1024)
#define WS_LOW_WATER ((size_t)128 * 1024)
#define WS_MAX_READ ((size_t)64 * 1024) /* per readable event, as MaxRead for HTTP */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- configuration ------------------------------------------------------ */

typedef struct {
    size_t max_message;
    double close_timeout;
    rp_metric *open, *received, *sent; /* made in post_config */
} ws_conf;

static void *ws_create_conf(rp_pool *p)
{
    ws_conf *c = rp_pcalloc(p, sizeof *c);
    c->max_message = (size_t)16 * 1024 * 1024;
    c->close_timeout = 5.0;
    return c;
}

static const char *set_max_message(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    ws_conf *c = conf;
    size_t v;
    (void)argc;
    if (rp_parse_size(argv[0], &v) != 0 || v == 0)
        return rp_cmd_error(cmd, "%s needs a size above 0 (bytes, or with k, m, g)",
                            rp_cmd_name(cmd));
    c->max_message = v;
    return NULL;
}

static const rp_directive ws_directives[] = {
    {"WsMaxMessage", 1, 1, set_max_message, 0,
     "WsMaxMessage size: largest websocket message accepted (default 16m); larger ones close with 1009"},
    {"WsCloseTimeout", 1, 1, rp_set_seconds, offsetof(ws_conf, close_timeout),
     "WsCloseTimeout seconds: how long a closing websocket waits for the peer (default 5)"},
    RP_DIRECTIVES_END
};

/* ---- routes: "Map ws:/path ws:echo" -------------------------------------- */

typedef enum { WS_TARGET_ECHO = 1 } ws_target_kind;

typedef struct {
    ws_target_kind kind;
} ws_target;

static int ws_map_target(rp_cmd *cmd, void *conf, const char *key, int argc,
                         char *const argv[], const char **err)
{
    (void)conf;
    if (argc != 1 || strncmp(argv[0], "ws:", 3) != 0)
        return RP_DECLINED;
    if (strcmp(argv[0] + 3, "echo") != 0) {
        *err = rp_cmd_error(cmd, "unknown websocket target \"%s\" (mod_ws knows ws:echo)", argv[0]);
        return RP_ERROR;
    }
    if (strncmp(key, "ws:", 3) != 0) {
        *err = rp_cmd_error(cmd, "%s serves websockets: its key must start with ws: (ws:%s)",
                            argv[0], key);
        return RP_ERROR;
    }
    ws_target *t = rp_pcalloc(rp_cmd_pool(cmd), sizeof *t);
    t->kind = WS_TARGET_ECHO;
    if ((*err = rp_route_add(cmd, key, &rp_module_ws, t)) != NULL)
        return RP_ERROR;
    return RP_OK;
}

/* ---- connections --------------------------------------------------------- */

/* Per worker (one per thread and configuration; a reload gives each thread
 * a new worker while the old one drains). */
typedef struct ws_worker {
    rp_worker *w;
    rp_ws *open;          /* websockets in state OPEN */
    rp_ws *closing;       /* CLOSING or DONE, TCP connection still up */
    rp_ws *dead;          /* dropped, freed by the reaper */
    struct event *reaper; /* frees the dead ones from the loop */
    int stopping;
    struct ws_worker *tnext; /* this thread's workers */
} ws_worker;

typedef enum { WS_OPEN, WS_CLOSING, WS_DONE, WS_DEAD } ws_state;

struct rp_ws {
    rp_ws *prev, *next; /* in its worker's list for its state */
    ws_worker *ww;
    const ws_conf *conf; /* its configuration's metrics */
    struct bufferevent *bev;
    const rp_ws_handler *h;
    void *user;
    uint64_t id;
    ws_parser parser;
    ws_state state;
    int notified; /* on_close has run */
    int paused;   /* reading stopped for back-pressure */
    int plain;    /* not TLS: answers may be written straight to the socket */
    int batching; /* parsing input: frames go to `stage` until flush_now */
    struct evbuffer *stage;
    struct event *timer;
    struct event *read_ev; /* plain sockets: our reader (rp_bev_read_socket) */
    double close_timeout;
};

/* Websocket ids (rp_ws id, req.websocketId): unique within the process, and
 * starting at a random point below 2^50 so that servers of a cluster do not
 * hand out the same ids (chat.js tells "my own message" by id), while every
 * id stays an exact JavaScript number. Set once, in post_config. */
static atomic_uint_fast64_t g_next_id = 0;

/* Where a frame goes: while a batch of input is parsed, a staging buffer
 * that flush_now() writes to the socket directly (skipping a loop turn and
 * the bufferevent's write event); otherwise the bufferevent's output. */
static struct evbuffer *wbuf(rp_ws *ws)
{
    return ws->batching ? ws->stage : bufferevent_get_output(ws->bev);
}

static size_t queued(const rp_ws *ws)
{
    return evbuffer_get_length(bufferevent_get_output(ws->bev)) + evbuffer_get_length(ws->stage);
}

static rp_ws **list_of(rp_ws *ws)
{
    switch (ws->state) {
    case WS_OPEN: return &ws->ww->open;
    case WS_DEAD: return &ws->ww->dead;
    default: return &ws->ww->closing;
    }
}

static void set_state(rp_ws *ws, ws_state state)
{
    rp_ws **from = list_of(ws);
    if (ws->prev)
        ws->prev->next = ws->next;
    else
        *from = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    ws->state = state;
    rp_ws **to = list_of(ws);
    ws->prev = NULL;
    ws->next = *to;
    if (*to)
        (*to)->prev = ws;
    *to = ws;
}

/* Free a websocket that is off every list.  Releasing the last connection
 * of a retired worker runs ws_worker_exit: the caller must not touch the
 * ws_worker after the last call. */
static void ws_free(rp_ws *ws, rp_worker *w)
{
    struct bufferevent *bev = ws->bev;
    rp_metric_add(ws->conf ? ws->conf->open : NULL, w, -1);
    if (ws->timer)
        event_free(ws->timer);
    if (ws->read_ev)
        event_free(ws->read_ev);
    evbuffer_free(ws->stage);
    ws_parser_free(&ws->parser);
    free(ws);
    rp_worker_release(w, bev);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ws_worker *ww = arg;
    rp_worker *w = ww->w;
    rp_ws *list = ww->dead;
    ww->dead = NULL;
    while (list) {
        rp_ws *n = list->next;
        ws_free(list, w);
        list = n;
    }
}

/* Close the TCP connection.  The memory goes from the loop (reap_cb), so
 * whoever is on the stack with this websocket may still look at it, and
 * must not do more than check `state`. */
static void ws_drop(rp_ws *ws)
{
    if (ws->state == WS_DEAD)
        return;
    bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
    if (ws->read_ev)
        event_del(ws->read_ev);
    bufferevent_setcb(ws->bev, NULL, NULL, NULL, NULL);
    if (ws->timer)
        event_del(ws->timer);
    set_state(ws, WS_DEAD);
    event_active(ws->ww->reaper, EV_TIMEOUT, 1);
}

/* Reading on or off: a plain socket through our own event, TLS through
 * the bufferevent. */
static void read_enable(rp_ws *ws, int on)
{
    if (!ws->read_ev) {
        if (on)
            bufferevent_enable(ws->bev, EV_READ);
        else
            bufferevent_disable(ws->bev, EV_READ);
    } else if (on) {
        event_add(ws->read_ev, NULL);
    } else {
        event_del(ws->read_ev);
    }
}

/* Leave state OPEN for `state`; on_close runs (once) with code. */
static void set_closed(rp_ws *ws, ws_state state, int code)
{
    set_state(ws, state);
    if (ws->notified)
        return;
    ws->notified = 1;
    if (ws->h->on_close)
        ws->h->on_close(ws, code);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_ws *ws = arg;
    if (ws->state == WS_OPEN) /* not armed while open; be safe */
        set_closed(ws, WS_DONE, RP_WS_ABNORMAL);
    ws_drop(ws);
}

static void arm_timer(rp_ws *ws)
{
    if (!ws->timer) {
        ws->timer = evtimer_new(bufferevent_get_base(ws->bev), timer_cb, ws);
        if (!ws->timer)
            return;
    }
    double t = ws->close_timeout > 0 ? ws->close_timeout : 0.001;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    evtimer_add(ws->timer, &tv);
}

/* Nothing more to exchange: flush what is queued, then close. */
static void start_done(rp_ws *ws)
{
    struct evbuffer *in = bufferevent_get_input(ws->bev);
    set_state(ws, WS_DONE);
    if (ws->paused) {
        ws->paused = 0;
        read_enable(ws, 1); /* keep reading (and dropping) */
    }
    evbuffer_drain(in, evbuffer_get_length(in));
    if (queued(ws) == 0) {
        ws_drop(ws);
        return;
    }
    bufferevent_setwatermark(ws->bev, EV_WRITE, 0, 0);
    arm_timer(ws);
}

static int close_code_sendable(int c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static const char *error_reason(int code)
{
    switch (code) {
    case RP_WS_PROTOCOL_ERROR: return "protocol error";
    case RP_WS_INVALID_DATA: return "invalid UTF-8 in text";
    case RP_WS_TOO_BIG: return "message too big";
    default: return "internal error";
    }
}

/* Parse and act on whatever input is buffered. */
static void parse_input(rp_ws *ws)
{
    struct evbuffer *in = bufferevent_get_input(ws->bev);
    struct evbuffer *out = ws->stage;
    ws_parser *p = &ws->parser;
    while (ws->state != WS_DEAD) {
        if (ws->state == WS_DONE) {
            evbuffer_drain(in, evbuffer_get_length(in));
            break;
        }
        if (queued(ws) > WS_HIGH_WATER) {
            ws->paused = 1;
            read_enable(ws, 0);
            break;
        }
        ws_event ev = ws_parse(p, in);
        if (ev == WS_EV_NEED_MORE)
            break;
        switch (ev) {
        case WS_EV_MESSAGE:
            if (ws->state == WS_OPEN) {
                rp_metric_add(ws->conf ? ws->conf->received : NULL, ws->ww->w, 1);
                ws->h->on_message(ws, p->msg_binary, p->msg ? p->msg : "", p->msg_len);
            }
            ws_parser_message_done(p);
            break;
        case WS_EV_PING:
            if (ws->state == WS_OPEN) {
                const void *parts[1] = {p->ctrl};
                ws_frame_write(out, WS_OP_PONG, parts, &p->ctrl_len, 1);
            }
            break;
        case WS_EV_CLOSE:
            if (ws->state == WS_OPEN) {
                int code = p->close_code;
                ws_close_frame_write(out, code == RP_WS_NO_STATUS ? 0 : code, NULL);
                set_closed(ws, WS_DONE, code);
            }
            if (ws->state != WS_DEAD)
                start_done(ws);
            break;
        case WS_EV_ERROR:
            if (ws->state == WS_OPEN) {
                ws_close_frame_write(out, p->error_code, error_reason(p->error_code));
                set_closed(ws, WS_DONE, p->error_code);
            }
            if (ws->state != WS_DEAD)
                start_done(ws);
            break;
        default: /* pong: nothing to do */
            break;
        }
    }
}

/* Write the answers to a plain socket at once instead of on the next loop
 * turn (the bufferevent writes whatever the socket does not take).  1 if
 * reading was paused and may go on now. */
static int flush_now(rp_ws *ws)
{
    if (ws->state == WS_DEAD)
        return 0;
    struct evbuffer *out = bufferevent_get_output(ws->bev);
    if (evbuffer_get_length(ws->stage) > 0) {
        if (ws->plain && evbuffer_get_length(out) == 0)
            evbuffer_write(ws->stage, bufferevent_getfd(ws->bev));
        if (evbuffer_get_length(ws->stage) > 0)
            evbuffer_add_buffer(out, ws->stage);
    }
    size_t left = evbuffer_get_length(out);
    if (ws->state == WS_DONE) {
        if (left == 0)
            ws_drop(ws);
        return 0;
    }
    if (ws->paused && left <= WS_LOW_WATER) {
        ws->paused = 0;
        read_enable(ws, 1);
        return 1;
    }
    return 0;
}

static void process(rp_ws *ws)
{
    do {
        ws->batching = 1;
        parse_input(ws);
        ws->batching = 0;
    } while (flush_now(ws));
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    rp_ws *ws = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (ws->state == WS_DONE) {
        if (left == 0)
            ws_drop(ws);
    } else if (ws->paused && left <= WS_LOW_WATER) {
        ws->paused = 0;
        read_enable(ws, 1);
        process(ws); /* what was left in the input when reading stopped */
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    rp_ws *ws = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (ws->state == WS_OPEN)
        set_closed(ws, WS_DONE, RP_WS_ABNORMAL);
    ws_drop(ws);
}

/* A plain socket is readable: one readv (no FIONREAD ioctl first, as
 * libevent's reader does), then the same work as read_cb. */
static void raw_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_ws *ws = arg;
    long got = rp_bev_read_socket(ws->bev, WS_MAX_READ);
    if (got == RP_READ_AGAIN)
        return;
    if (got <= 0)
        event_cb(ws->bev, BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), ws);
    else
        process(ws);
}

/* ---- the handshake ------------------------------------------------------- */

/* Does any header `name` hold `token` in its comma-separated list? */
static int header_has_token(const rp_req *r, const char *name, const char *token)
{
    const char *n, *v;
    for (size_t i = 0; rp_req_header_at(r, i, &n, &v) == 0; i++)
        if (strcasecmp(n, name) == 0 && rp_token_listed(v, token))
            return 1; /* every line of a repeated header counts */
    return 0;
}

/* Copy of a header value without surrounding blanks, cut to n-1 bytes;
 * NULL if absent. */
static const char *trimmed(const rp_req *r, const char *name, char *buf, size_t n)
{
    const char *v = rp_req_header(r, name);
    if (!v)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

/* 16 bytes in base64: 22 alphabet characters and "==". */
static int key_valid(const char *k)
{
    if (strlen(k) != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (int i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

/* 0 with accept filled in, or the HTTP status to answer. */
static int check_handshake(rp_req *r, char accept[32])
{
    char vbuf[16] = {0}, kbuf[64] = {0};
    if (strcmp(rp_req_method(r), "GET") != 0 || rp_req_http_minor(r) < 1)
        return 400;
    if (!header_has_token(r, "Upgrade", "websocket") || !header_has_token(r, "Connection", "upgrade"))
        return 400;
    const char *ver = trimmed(r, "Sec-WebSocket-Version", vbuf, sizeof vbuf);
    if (!ver)
        return 400;
    if (strcmp(ver, "13") != 0) {
        rp_resp_header_set(r, "Sec-WebSocket-Version", "13");
        return 426;
    }
    const char *key = trimmed(r, "Sec-WebSocket-Key", kbuf, sizeof kbuf);
    if (!key || !key_valid(key))
        return 400;
    char src[24 + sizeof WS_GUID];
    memcpy(src, key, 24);
    memcpy(src + 24, WS_GUID, sizeof WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(src, 24 + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return RP_ERROR;
    EVP_EncodeBlock((unsigned char *)accept, md, 20); /* 28 characters + NUL */
    return 0;
}

/* ---- the ws/1 service ------------------------------------------------------- */

static int svc_accept(rp_req *r, const rp_ws_handler *h, void *user)
{
    if (!h || !h->on_message)
        return RP_ERROR;
    ws_worker *ww = rp_worker_ctx(rp_req_worker(r), &rp_module_ws);
    if (!ww)
        return RP_ERROR;
    char accept[32];
    int st = check_handshake(r, accept);
    if (st != 0)
        return st;
    if (ww->stopping)
        return 503;
    const ws_conf *c = rp_req_conf(r, &rp_module_ws);
    rp_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return RP_ERROR;
    ws->stage = evbuffer_new();
    if (!ws->stage) {
        free(ws);
        return RP_ERROR;
    }
    rp_resp_set_status(r, 101);
    rp_resp_header_set(r, "Upgrade", "websocket");
    rp_resp_header_set(r, "Connection", "Upgrade");
    rp_resp_header_set(r, "Sec-WebSocket-Accept", accept);
    rp_resp_set_length(r, 0);
    rp_resp_finish(r);
    struct bufferevent *bev = rp_req_detach(r);
    if (!bev) { /* the client went away during the handshake */
        evbuffer_free(ws->stage);
        free(ws);
        return RP_OK;
    }
    ws->ww = ww;
    ws->conf = c;
    rp_metric_add(c ? c->open : NULL, ww->w, 1);
    ws->bev = bev;
    ws->h = h;
    ws->user = user;
    ws->id = atomic_fetch_add(&g_next_id, 1);
    ws->close_timeout = c ? c->close_timeout : 5.0;
    ws->plain = !rp_req_is_tls(r);
    ws_parser_init(&ws->parser, h->max_message ? h->max_message
                                : c ? c->max_message : (size_t)16 * 1024 * 1024);
    ws->state = WS_OPEN;
    ws->next = ww->open;
    if (ww->open)
        ww->open->prev = ws;
    ww->open = ws;

    if (ws->plain)
        ws->read_ev = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev),
                                EV_READ | EV_PERSIST, raw_read_cb, ws);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, ws);
    bufferevent_setwatermark(bev, EV_WRITE, WS_LOW_WATER, 0);
    bufferevent_enable(bev, EV_WRITE);
    read_enable(ws, 1);
    if (h->on_open)
        h->on_open(ws, r);
    /* Frames the client sent right behind the request are in the input
     * already; no read event will announce them. */
    if (ws->state != WS_DEAD)
        bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return RP_OK;
}

static int svc_sendv(rp_ws *ws, int binary, const void *const *parts, const size_t *lens, int n)
{
    if (!ws || ws->state != WS_OPEN || n < 0)
        return -1;
    rp_metric_add(ws->conf ? ws->conf->sent : NULL, ws->ww->w, 1);
    return ws_frame_write(wbuf(ws), binary ? WS_OP_BINARY : WS_OP_TEXT,
                          parts, lens, n);
}

static int svc_send(rp_ws *ws, int binary, const void *data, size_t len)
{
    const void *parts[1] = {data};
    return svc_sendv(ws, binary, parts, &len, 1);
}

static int svc_close(rp_ws *ws, int code, const char *reason, int immediate)
{
    if (!ws || ws->state != WS_OPEN)
        return -1;
    if (!close_code_sendable(code))
        code = RP_WS_NORMAL;
    if (immediate) {
        set_closed(ws, WS_DONE, code);
        ws_drop(ws);
    } else {
        ws_close_frame_write(wbuf(ws), code, reason);
        arm_timer(ws);
        set_closed(ws, WS_CLOSING, code);
    }
    return 0;
}

static int svc_ping(rp_ws *ws, const void *data, size_t len)
{
    if (!ws || ws->state != WS_OPEN || len > 125)
        return -1;
    const void *parts[1] = {data};
    return ws_frame_write(wbuf(ws), WS_OP_PING, parts, &len, 1);
}

static uint64_t svc_id(const rp_ws *ws) { return ws ? ws->id : 0; }
static void *svc_user(const rp_ws *ws) { return ws ? ws->user : NULL; }
static void svc_set_user(rp_ws *ws, void *user) { if (ws) ws->user = user; }
static rp_worker *svc_worker(const rp_ws *ws) { return ws ? ws->ww->w : NULL; }

static size_t svc_pending(const rp_ws *ws)
{
    return ws && ws->state != WS_DEAD ? queued(ws) : 0;
}

static int svc_is_open(const rp_ws *ws)
{
    return ws && ws->state == WS_OPEN;
}

static const rp_ws_service_v1 ws_service = {
    .accept = svc_accept,
    .send = svc_send,
    .sendv = svc_sendv,
    .close = svc_close,
    .ping = svc_ping,
    .id = svc_id,
    .user = svc_user,
    .set_user = svc_set_user,
    .worker = svc_worker,
    .pending = svc_pending,
    .is_open = svc_is_open,
};

/* ---- the echo route ------------------------------------------------------- */

static void echo_message(rp_ws *ws, int binary, const void *data, size_t len)
{
    svc_send(ws, binary, data, len);
}

static const rp_ws_handler echo_handler = {
    .on_message = echo_message,
};

/* The descriptor's handler: the core calls it only for our routes. */
static int ws_handler(rp_req *r)
{
    const ws_target *t = rp_req_route_target(r);
    if (!t || t->kind != WS_TARGET_ECHO)
        return RP_DECLINED;
    return svc_accept(r, &echo_handler, NULL);
}

/* ---- workers ----------------------------------------------------------------- */

/* The workers of this thread.  rp_worker_on_stop() callbacks belong to the
 * thread and cannot be withdrawn, while a worker retired by a reload goes
 * away; so one callback per thread walks this list instead of holding a
 * worker pointer. */
static __thread ws_worker *tl_workers;
static __thread int tl_stop_hooked;

/* Graceful stop: every open websocket gets a close frame with 1001.  No
 * websocket is freed during the walk (frees happen in reap_cb), so no
 * worker retires under it. */
static void ws_on_stop(rp_worker *w, void *arg)
{
    (void)w;
    (void)arg;
    for (ws_worker *ww = tl_workers; ww; ww = ww->tnext) {
        ww->stopping = 1;
        /* each close moves the head to the closing list; on_close callbacks
         * may close others, which leave the list too */
        while (ww->open)
            if (svc_close(ww->open, RP_WS_GOING_AWAY, "server stopping", 0) != 0)
                break;
    }
}

static int ws_worker_init(rp_worker *w, void *conf)
{
    (void)conf;
    ws_worker *ww = calloc(1, sizeof *ww);
    if (!ww)
        return RP_ERROR;
    ww->w = w;
    ww->reaper = event_new(rp_worker_base(w), -1, 0, reap_cb, ww);
    if (!ww->reaper) {
        free(ww);
        return RP_ERROR;
    }
    ww->tnext = tl_workers;
    tl_workers = ww;
    rp_worker_set_ctx(w, &rp_module_ws, ww);
    if (!tl_stop_hooked) {
        rp_worker_on_stop(w, ws_on_stop, NULL);
        tl_stop_hooked = 1;
    }
    return RP_OK;
}

static void free_list(rp_ws *list, rp_worker *w)
{
    while (list) {
        rp_ws *n = list->next;
        ws_free(list, w);
        list = n;
    }
}

/* The loop has ended (GracefulTimeout passed: drop whatever is left), or a
 * configuration replaced by a reload retires with its last connection
 * (then nothing is left; this may run inside reap_cb). */
static void ws_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    ws_worker *ww = rp_worker_ctx(w, &rp_module_ws);
    if (!ww)
        return;
    rp_worker_set_ctx(w, &rp_module_ws, NULL);
    for (ws_worker **pp = &tl_workers; *pp; pp = &(*pp)->tnext)
        if (*pp == ww) {
            *pp = ww->tnext;
            break;
        }
    if (ww->open || ww->closing)
        rp_log(&rp_module_ws, RP_LOG_INFO, "worker %d: dropping websockets still open",
               rp_worker_index(w));
    while (ww->open)
        set_closed(ww->open, WS_DONE, RP_WS_GOING_AWAY);
    rp_ws *closing = ww->closing, *dead = ww->dead;
    ww->closing = ww->dead = NULL;
    event_free(ww->reaper);
    free(ww);
    free_list(closing, w); /* the ws_worker is gone; w may go with the last */
    free_list(dead, w);
}

/* ---- registration ---------------------------------------------------------- */

static void ws_register_hooks(rp_hooks *h, void *conf)
{
    (void)h;
    (void)conf;
    /* Published here, before any module's post_config, so every module can
     * look it up there. */
    if (rp_service_version(RP_WS_SERVICE) < RP_WS_SERVICE_VERSION)
        rp_service_register(RP_WS_SERVICE, RP_WS_SERVICE_VERSION, &ws_service);
}

static int ws_post_config(rp_server *s, void *conf)
{
    ws_conf *c = conf;
    if (atomic_load(&g_next_id) == 0) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
            r = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
        atomic_store(&g_next_id, (r & ((UINT64_C(1) << 50) - 1)) + 1);
    }
    c->open = rp_metric_gauge(s, "rampart_websockets_open", "Websocket connections open");
    c->received = rp_metric_counter(s, "rampart_websocket_messages_received_total",
                                    "Websocket messages received (after reassembly)");
    c->sent = rp_metric_counter(s, "rampart_websocket_messages_sent_total",
                                "Websocket messages sent");
    return RP_OK;
}

RP_MODULE_DECLARE(ws) = {
    RP_MODULE_HEADER,
    .name = "ws",
    .version = "1.0",
    .directives = ws_directives,
    .create_conf = ws_create_conf,
    .map_target = ws_map_target,
    .register_hooks = ws_register_hooks,
    .post_config = ws_post_config,
    .worker_init = ws_worker_init,
    .worker_exit = ws_worker_exit,
    .handler = ws_handler,
};
