/* ws_int.h - mod_ws internals shared by ws.c and frame.c. */
#ifndef WS_INT_H
#define WS_INT_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* RFC 6455 opcodes. */
enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* Incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF); a character may be split across calls. */
typedef struct {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* allowed range of the next continuation byte */
} ws_utf8;

void ws_utf8_init(ws_utf8 *u);
int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n); /* 0 ok, -1 invalid */
int ws_utf8_complete(const ws_utf8 *u);                   /* 1 if no character is open */

/* What ws_parse() found. */
typedef enum {
    WS_EV_NEED_MORE = 0, /* the input holds no complete event */
    WS_EV_MESSAGE,       /* p->msg / p->msg_len, p->msg_binary */
    WS_EV_PING,          /* p->ctrl / p->ctrl_len */
    WS_EV_PONG,
    WS_EV_CLOSE,         /* p->close_code (1005 if none), reason in p->ctrl + 2 */
    WS_EV_ERROR          /* p->error_code: 1002, 1007 or 1009 */
} ws_event;

typedef struct {
    /* the frame being read */
    int in_payload;        /* 0: waiting for a header */
    uint8_t opcode, fin;
    uint8_t mask[4];
    uint64_t remaining;    /* payload bytes of this frame not yet read */
    uint64_t frame_off;    /* payload bytes of this frame read (mask phase) */
    /* the data message being assembled */
    int in_msg;
    int msg_binary;
    char *msg;
    size_t msg_len, msg_cap;
    ws_utf8 utf8;
    /* the control frame being read */
    uint8_t ctrl[125];
    size_t ctrl_len;
    /* results */
    int close_code;
    int error_code;
    size_t max_message;
} ws_parser;

void ws_parser_init(ws_parser *p, size_t max_message);
void ws_parser_free(ws_parser *p);
/* Consume input until one event is complete (or the input runs out). */
ws_event ws_parse(ws_parser *p, struct evbuffer *in);
/* After a WS_EV_MESSAGE was handled: forget it (keeps a small buffer). */
void ws_parser_message_done(ws_parser *p);

/* Append one unmasked, final frame whose payload is the n parts. */
int ws_frame_write(struct evbuffer *out, int opcode, const void *const *parts,
                   const size_t *lens, int n);
/* A close frame: code (0: none), reason cut to fit 125 bytes. */
int ws_close_frame_write(struct evbuffer *out, int code, const char *reason);

#endif
