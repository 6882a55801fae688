/* frame.c - RFC 6455 frames: an incremental parser for client frames and a
 * writer for server frames, with an incremental UTF-8 validator.
 *
 * The parser reads straight from the connection's input evbuffer.  Payload
 * bytes are copied once, into the message (or control) buffer, unmasked and
 * checked as they arrive, so a text message that is not UTF-8 or a message
 * over the size limit fails as soon as the offending frame shows up.
 */
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "ws_int.h"

/* ---- UTF-8 --------------------------------------------------------------- */

void ws_utf8_init(ws_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
}

int ws_utf8_complete(const ws_utf8 *u)
{
    return u->need == 0;
}

int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (u->need == 0) {
            /* ASCII runs, eight bytes at a time */
            while (i + 8 <= n) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                if (v & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i >= n)
                break;
            uint8_t c = p[i++];
            if (c < 0x80)
                continue;
            u->lo = 0x80;
            u->hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                u->need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                u->need = 2;
                if (c == 0xE0)
                    u->lo = 0xA0; /* no overlong forms */
                else if (c == 0xED)
                    u->hi = 0x9F; /* no surrogates */
            } else if (c >= 0xF0 && c <= 0xF4) {
                u->need = 3;
                if (c == 0xF0)
                    u->lo = 0x90; /* no overlong forms */
                else if (c == 0xF4)
                    u->hi = 0x8F; /* nothing above U+10FFFF */
            } else {
                return -1; /* 0x80-0xC1 as a lead byte, 0xF5-0xFF */
            }
        } else {
            uint8_t c = p[i++];
            if (c < u->lo || c > u->hi)
                return -1;
            u->lo = 0x80;
            u->hi = 0xBF;
            u->need--;
        }
    }
    return 0;
}

/* ---- the parser ------------------------------------------------------------ */

void ws_parser_init(ws_parser *p, size_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    ws_utf8_init(&p->utf8);
}

void ws_parser_free(ws_parser *p)
{
    free(p->msg);
    p->msg = NULL;
    p->msg_len = p->msg_cap = 0;
}

/* Messages above this leave their buffer behind; smaller buffers are kept
 * for the next message. */
#define WS_KEEP_BUFFER ((size_t)64 * 1024)

void ws_parser_message_done(ws_parser *p)
{
    p->msg_len = 0;
    if (p->msg_cap > WS_KEEP_BUFFER) {
        free(p->msg);
        p->msg = NULL;
        p->msg_cap = 0;
    }
}

static ws_event fail(ws_parser *p, int code)
{
    p->error_code = code;
    return WS_EV_ERROR;
}

static int is_control(int op)
{
    return op >= WS_OP_CLOSE;
}

static int grow(ws_parser *p, size_t need)
{
    if (need <= p->msg_cap)
        return 0;
    size_t cap = p->msg_cap ? p->msg_cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > p->max_message && need <= p->max_message)
        cap = p->max_message;
    char *m = realloc(p->msg, cap);
    if (!m)
        return -1;
    p->msg = m;
    p->msg_cap = cap;
    return 0;
}

/* XOR with the mask, starting at payload offset off. */
static void unmask(uint8_t *d, size_t n, const uint8_t m[4], uint64_t off)
{
    uint8_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = m[(off + (uint64_t)i) & 3];
    uint64_t k64;
    memcpy(&k64, k, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, d + i, 8);
        v ^= k64;
        memcpy(d + i, &v, 8);
    }
    for (; i < n; i++)
        d[i] ^= k[i & 7];
}

/* Close codes a peer may send (RFC 6455 7.4, IANA registry). */
static int close_code_ok(int c)
{
    if (c >= 3000 && c <= 4999)
        return 1;
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014);
}

/* Read a frame header if the input holds all of it.  1 read, 0 need more,
 * -1 protocol violation (error_code set). */
static int read_header(ws_parser *p, struct evbuffer *in)
{
    uint8_t h[14];
    size_t avail = evbuffer_get_length(in);
    if (avail < 2)
        return 0;
    ev_ssize_t got = evbuffer_copyout(in, h, avail < sizeof h ? avail : sizeof h);
    if (got < 2)
        return 0;
    int fin = (h[0] & 0x80) != 0;
    int op = h[0] & 0x0F;
    int len7 = h[1] & 0x7F;
    /* Checks that need only the first two bytes come first: fail fast. */
    if (h[0] & 0x70) /* RSV1-3: no extension was negotiated */
        return fail(p, 1002), -1;
    if (is_control(op)) {
        if (op > WS_OP_PONG || !fin || len7 > 125)
            return fail(p, 1002), -1;
    } else if (op == WS_OP_CONT) {
        if (!p->in_msg)
            return fail(p, 1002), -1;
    } else if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
        if (p->in_msg)
            return fail(p, 1002), -1;
    } else {
        return fail(p, 1002), -1; /* reserved data opcodes 3-7 */
    }
    if (!(h[1] & 0x80)) /* client frames must be masked */
        return fail(p, 1002), -1;
    size_t extra = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    size_t hlen = 2 + extra + 4;
    if ((size_t)got < hlen)
        return 0;
    uint64_t len = (uint64_t)len7;
    if (extra) {
        len = 0;
        for (size_t i = 0; i < extra; i++)
            len = len << 8 | h[2 + i];
        if (len >> 63)
            return fail(p, 1002), -1;
    }
    if (!is_control(op)) {
        size_t cur = op == WS_OP_CONT ? p->msg_len : 0;
        if (cur > p->max_message || len > (uint64_t)(p->max_message - cur))
            return fail(p, 1009), -1;
        if (op != WS_OP_CONT) {
            p->in_msg = 1;
            p->msg_binary = op == WS_OP_BINARY;
            p->msg_len = 0;
            ws_utf8_init(&p->utf8);
        }
    } else {
        p->ctrl_len = 0;
    }
    memcpy(p->mask, h + 2 + extra, 4);
    evbuffer_drain(in, hlen);
    p->opcode = (uint8_t)op;
    p->fin = (uint8_t)fin;
    p->remaining = len;
    p->frame_off = 0;
    p->in_payload = 1;
    return 1;
}

static ws_event control_done(ws_parser *p)
{
    switch (p->opcode) {
    case WS_OP_PING:
        return WS_EV_PING;
    case WS_OP_PONG:
        return WS_EV_PONG;
    default: /* close */
        if (p->ctrl_len == 0) {
            p->close_code = 1005;
            return WS_EV_CLOSE;
        }
        if (p->ctrl_len == 1)
            return fail(p, 1002);
        p->close_code = p->ctrl[0] << 8 | p->ctrl[1];
        if (!close_code_ok(p->close_code))
            return fail(p, 1002);
        ws_utf8 u;
        ws_utf8_init(&u);
        if (ws_utf8_feed(&u, p->ctrl + 2, p->ctrl_len - 2) != 0 || !ws_utf8_complete(&u))
            return fail(p, 1007);
        return WS_EV_CLOSE;
    }
}

ws_event ws_parse(ws_parser *p, struct evbuffer *in)
{
    if (p->error_code)
        return WS_EV_ERROR;
    for (;;) {
        if (!p->in_payload) {
            int rc = read_header(p, in);
            if (rc <= 0)
                return rc < 0 ? WS_EV_ERROR : WS_EV_NEED_MORE;
        }
        int control = is_control(p->opcode);
        while (p->remaining > 0) {
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return WS_EV_NEED_MORE;
            size_t n = p->remaining < avail ? (size_t)p->remaining : avail;
            uint8_t *dst;
            if (control) {
                dst = p->ctrl + p->ctrl_len;
            } else {
                if (grow(p, p->msg_len + n) != 0)
                    return fail(p, 1009);
                dst = (uint8_t *)p->msg + p->msg_len;
            }
            if (evbuffer_remove(in, dst, n) != (ev_ssize_t)n)
                return fail(p, 1011);
            unmask(dst, n, p->mask, p->frame_off);
            if (control) {
                p->ctrl_len += n;
            } else {
                if (!p->msg_binary && ws_utf8_feed(&p->utf8, dst, n) != 0)
                    return fail(p, 1007);
                p->msg_len += n;
            }
            p->frame_off += n;
            p->remaining -= n;
        }
        p->in_payload = 0;
        if (control)
            return control_done(p);
        if (p->fin) {
            p->in_msg = 0;
            if (!p->msg_binary && !ws_utf8_complete(&p->utf8))
                return fail(p, 1007); /* ends inside a character */
            return WS_EV_MESSAGE;
        }
    }
}

/* ---- the writer ----------------------------------------------------------- */

int ws_frame_write(struct evbuffer *out, int opcode, const void *const *parts,
                   const size_t *lens, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += lens[i];
    uint8_t h[10];
    size_t hl;
    h[0] = (uint8_t)(0x80 | opcode);
    if (total < 126) {
        h[1] = (uint8_t)total;
        hl = 2;
    } else if (total <= 0xFFFF) {
        h[1] = 126;
        h[2] = (uint8_t)(total >> 8);
        h[3] = (uint8_t)total;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(total >> (56 - 8 * i));
        hl = 10;
    }
    if (evbuffer_add(out, h, hl) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (lens[i] && evbuffer_add(out, parts[i], lens[i]) != 0)
            return -1;
    return 0;
}

int ws_close_frame_write(struct evbuffer *out, int code, const char *reason)
{
    uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    const void *parts[2] = {c, reason};
    size_t lens[2] = {2, 0};
    if (code <= 0)
        return ws_frame_write(out, WS_OP_CLOSE, parts, lens, 0);
    if (reason) {
        size_t r = strlen(reason);
        if (r > 123) {
            r = 123;
            while (r > 0 && ((const uint8_t *)reason)[r] >= 0x80 &&
                   ((const uint8_t *)reason)[r] < 0xC0)
                r--; /* do not cut a character in two */
        }
        lens[1] = r;
    }
    return ws_frame_write(out, WS_OP_CLOSE, parts, lens, 2);
}
