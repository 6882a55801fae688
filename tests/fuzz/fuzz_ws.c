/* fuzz_ws.c - libFuzzer target: the websocket frame parser of mod_ws
 * (modules/mod_ws/frame.c: ws_parse and the frame writer).
 *
 * Input: two bytes of message size limit, one byte picking how the stream
 * is cut, then the bytes a client sends after the handshake.  The stream is
 * parsed twice: all in one evbuffer, and arriving in pieces (each piece
 * added, then ws_parse called until it wants more), as a socket delivers
 * it.  Checked: no crash or sanitizer report; both ways give the same
 * events with the same contents; a message is within the limit and, if
 * text, valid UTF-8 (reference decoder in utf8_ref.h); a close code is one
 * a peer may send (or 1005) and its reason valid UTF-8; an error has code
 * 1002, 1007 or 1009 and sticks; every message written back as a server
 * frame (ws_frame_write) carries the right length header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "utf8_ref.h"
#include "ws_int.h"

#define MAX_EVENTS 4096

typedef struct evrec {
    int ev;
    size_t len;
    uint64_t hash;
    int code;
} evrec;

typedef struct trace {
    evrec e[MAX_EVENTS];
    size_t n;
    int overflow;
} trace;

static uint64_t fnv(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ULL;
    return h;
}

static int close_code_ok(int c)
{
    return c == 1005 || (c >= 3000 && c <= 4999) || (c >= 1000 && c <= 1003) ||
           (c >= 1007 && c <= 1014);
}

static void check_written(const char *msg, size_t len, int binary)
{
    struct evbuffer *out = evbuffer_new();
    if (!out)
        return;
    if (!msg)
        msg = ""; /* an empty message may have no buffer */
    const void *parts[2] = {msg, msg + len / 2};
    size_t lens[2] = {len / 2, len - len / 2};
    if (ws_frame_write(out, binary ? WS_OP_BINARY : WS_OP_TEXT, parts, lens, 2) != 0)
        abort();
    size_t total = evbuffer_get_length(out);
    uint8_t h[10];
    if (total < 2 || evbuffer_copyout(out, h, total < 10 ? total : 10) < 2)
        abort();
    uint64_t plen = h[1] & 0x7F;
    size_t hl = 2;
    if (plen == 126) {
        plen = (uint64_t)h[2] << 8 | h[3];
        hl = 4;
    } else if (plen == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | h[2 + i];
        hl = 10;
    }
    if (h[0] != (0x80 | (binary ? WS_OP_BINARY : WS_OP_TEXT)) || (h[1] & 0x80) || plen != len ||
        total != hl + len)
        abort();
    evbuffer_free(out);
}

static void record(trace *t, int ev, const void *p, size_t len, int code)
{
    if (t->n == MAX_EVENTS) {
        t->overflow = 1;
        return;
    }
    evrec *r = &t->e[t->n++];
    r->ev = ev;
    r->len = len;
    r->hash = fnv(p, len);
    r->code = code;
}

/* Parse what `in` holds; 1 once an error ended the stream. */
static int drain(ws_parser *p, struct evbuffer *in, trace *t)
{
    for (;;) {
        ws_event ev = ws_parse(p, in);
        switch (ev) {
        case WS_EV_NEED_MORE:
            return 0;
        case WS_EV_MESSAGE:
            if (p->msg_len > p->max_message)
                abort();
            if (!p->msg_binary && !ref_valid((const uint8_t *)p->msg, p->msg_len))
                abort();
            record(t, ev, p->msg, p->msg_len, p->msg_binary);
            check_written(p->msg, p->msg_len, p->msg_binary);
            ws_parser_message_done(p);
            break;
        case WS_EV_PING:
        case WS_EV_PONG:
            if (p->ctrl_len > 125)
                abort();
            record(t, ev, p->ctrl, p->ctrl_len, 0);
            break;
        case WS_EV_CLOSE:
            if (!close_code_ok(p->close_code) || p->ctrl_len > 125 || p->ctrl_len == 1)
                abort();
            if (p->ctrl_len >= 2 && !ref_valid(p->ctrl + 2, p->ctrl_len - 2))
                abort();
            record(t, ev, p->ctrl, p->ctrl_len, p->close_code);
            break;
        case WS_EV_ERROR:
            if (p->error_code != 1002 && p->error_code != 1007 && p->error_code != 1009)
                abort();
            if (ws_parse(p, in) != WS_EV_ERROR)
                abort(); /* an error sticks */
            record(t, ev, NULL, 0, p->error_code);
            return 1;
        default:
            abort();
        }
    }
}

static void run(const uint8_t *d, size_t n, size_t max_message, unsigned cut, trace *t)
{
    ws_parser p;
    ws_parser_init(&p, max_message);
    struct evbuffer *in = evbuffer_new();
    if (!in)
        abort();
    size_t i = 0, step = 0;
    while (i < n) {
        size_t k = cut == 0 ? n : 1 + ((cut * 31 + step * 17) % (cut + 1));
        if (k > n - i)
            k = n - i;
        evbuffer_add(in, d + i, k);
        i += k;
        step++;
        if (drain(&p, in, t))
            break;
    }
    ws_parser_free(&p);
    evbuffer_free(in);
}

static trace g_a, g_b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_message = ((size_t)data[0] << 8 | data[1]) * 4;
    unsigned cut = data[2];
    data += 3;
    size -= 3;
    g_a.n = g_b.n = 0;
    g_a.overflow = g_b.overflow = 0;
    run(data, size, max_message, 0, &g_a);
    run(data, size, max_message, cut ? cut : 1, &g_b);
    if (g_a.overflow || g_b.overflow)
        return 0;
    if (g_a.n != g_b.n)
        abort();
    for (size_t i = 0; i < g_a.n; i++)
        if (g_a.e[i].ev != g_b.e[i].ev || g_a.e[i].len != g_b.e[i].len ||
            g_a.e[i].hash != g_b.e[i].hash || g_a.e[i].code != g_b.e[i].code)
            abort();
    return 0;
}
