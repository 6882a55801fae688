/* rp_ws.h - the "ws" service of mod_ws: RFC 6455 websockets for any plugin.
 *
 * mod_ws publishes this function table as service "ws" version 1.  A plugin
 * that wants to serve websockets looks it up (no linking against mod_ws):
 *
 *     const rp_ws_service_v1 *ws = rp_service_get("ws", 1);
 *
 * and, in its route handler (the descriptor's .handler, called for the "ws:"
 * routes it owns), hands the request over:
 *
 *     static const rp_ws_handler my_handler = {
 *         .on_open = my_open, .on_message = my_message, .on_close = my_close,
 *     };
 *     static int my_route_handler(rp_req *r) {
 *         return ws->accept(r, &my_handler, my_state);
 *     }
 *
 * Threads: a websocket lives on the worker thread that accepted it; every
 * call on it and every callback happen on that thread (rp_ws_worker()).
 * Nothing here locks.
 *
 * Lifetime of an rp_ws pointer: from on_open until on_close returns.  After
 * on_close the pointer must not be used again (mod_ws may still be finishing
 * the closing handshake with it, but that is no longer the owner's business).
 */
#ifndef RP_WS_H
#define RP_WS_H

#include <stddef.h>
#include <stdint.h>
#include <rampart.h>

#define RP_WS_SERVICE "ws"
#define RP_WS_SERVICE_VERSION 1

typedef struct rp_ws rp_ws; /* one websocket connection (opaque) */

/* Close codes (RFC 6455, 7.4.1) used by mod_ws. */
enum {
    RP_WS_NORMAL = 1000,        /* normal closure */
    RP_WS_GOING_AWAY = 1001,    /* server stopping (graceful stop) */
    RP_WS_PROTOCOL_ERROR = 1002,
    RP_WS_UNSUPPORTED = 1003,
    RP_WS_NO_STATUS = 1005,     /* the peer's close frame carried no code */
    RP_WS_ABNORMAL = 1006,      /* the TCP connection went away without a close frame */
    RP_WS_INVALID_DATA = 1007,  /* a text message was not UTF-8 */
    RP_WS_POLICY = 1008,
    RP_WS_TOO_BIG = 1009,       /* message larger than WsMaxMessage / max_message */
    RP_WS_INTERNAL = 1011
};

/* Callbacks of one kind of websocket.  The struct must outlive every
 * connection accepted with it (make it static const). */
typedef struct rp_ws_handler {
    /* Called once, inside accept(), after the 101 answer was queued and the
     * connection taken over.  r is still the upgrade request (headers,
     * query, cookies, remote address...), valid only during this call: copy
     * what you need.  ws->send/close may be called from here.  Optional. */
    void (*on_open)(rp_ws *ws, rp_req *r);
    /* A complete message (fragments reassembled; text is valid UTF-8).
     * data is valid only during the call (not NUL-terminated).  Required. */
    void (*on_message)(rp_ws *ws, int binary, const void *data, size_t len);
    /* Called exactly once when the websocket stops being open, after which
     * no message is delivered and send() fails:
     *   - the peer sent a close frame: its code (RP_WS_NO_STATUS if none);
     *     mod_ws has echoed it;
     *   - this side called close(): the code given;
     *   - a protocol violation: the code mod_ws sent (1002, 1007, 1009);
     *   - the connection dropped: RP_WS_ABNORMAL;
     *   - graceful server stop: RP_WS_GOING_AWAY.
     * Free the user pointer here.  Optional. */
    void (*on_close)(rp_ws *ws, int code);
    /* Largest message accepted, bytes; 0 means the WsMaxMessage directive. */
    size_t max_message;
} rp_ws_handler;

typedef struct rp_ws_service_v1 {
    /* Perform the upgrade handshake on r (from a route handler or a HANDLER
     * hook) and take the connection over.  Return its result from there:
     *   RP_OK  the 101 went out, on_open has run (unless the client vanished
     *          during the handshake: then no callback runs at all);
     *   400    not a valid websocket upgrade request (method, Upgrade,
     *          Connection, Sec-WebSocket-Key, missing Sec-WebSocket-Version);
     *   426    Sec-WebSocket-Version other than 13 (the answer carries
     *          "Sec-WebSocket-Version: 13");
     *   503    the worker is stopping;  RP_ERROR  out of memory.
     * Response headers set on r before the call (Sec-WebSocket-Protocol,
     * Set-Cookie, ...) go out with the 101.  The rule for `user`: if
     * on_open was called, the callbacks own it (free it in on_close);
     * otherwise it is still the caller's. */
    int (*accept)(rp_req *r, const rp_ws_handler *h, void *user);

    /* Queue one message (text must be UTF-8; it is not checked).  Copies
     * the data.  0, or -1 if the websocket is no longer open. */
    int (*send)(rp_ws *ws, int binary, const void *data, size_t len);
    /* The same with the payload given as n pieces sent as ONE message
     * (e.g. a prefix buffer followed by the data). */
    int (*sendv)(rp_ws *ws, int binary, const void *const *parts, const size_t *lens, int n);
    /* Start the closing handshake with code (0 = 1000) and an optional
     * reason (UTF-8, cut to 123 bytes).  immediate = 0: queued messages go
     * out first, then the close frame; mod_ws waits for the peer's close
     * (WsCloseTimeout) and closes the TCP connection.  immediate != 0: the
     * connection is dropped now, queued output is discarded.  on_close runs
     * inside this call.  0, or -1 if it was not open. */
    int (*close)(rp_ws *ws, int code, const char *reason, int immediate);
    /* Send a ping (payload <= 125 bytes).  Pongs are not reported. */
    int (*ping)(rp_ws *ws, const void *data, size_t len);

    /* Unique per server run (across all workers), starting at 1. */
    uint64_t (*id)(const rp_ws *ws);
    void *(*user)(const rp_ws *ws);
    void (*set_user)(rp_ws *ws, void *user);
    rp_worker *(*worker)(const rp_ws *ws);
    /* Bytes queued for the client and not yet written.  mod_ws stops
     * reading from a client whose output is above 512 KiB until it drains. */
    size_t (*pending)(const rp_ws *ws);
    /* 1 while open (between on_open and on_close), else 0. */
    int (*is_open)(const rp_ws *ws);
} rp_ws_service_v1;

#endif
