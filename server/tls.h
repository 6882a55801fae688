/* tls.h - TLS context and connections (internal). */
#ifndef RP_TLS_H
#define RP_TLS_H

#include <stdbool.h>
#include "core.h"

struct bufferevent;
struct event_base;

/* Build s->tls from Ssl* directives; -1 with a one-sentence message. */
int rp_tls_init(rp_server *s, char *err, size_t n);
/* Build the context if any Bind needs it (called by rp_server_finalize). */
int rp_tls_prepare(rp_server *s, const char **err);
/* A server-side TLS bufferevent owning fd (NULL on failure). */
struct bufferevent *rp_tls_bufferevent(rp_server *s, struct event_base *base, int fd);

/* The handshake chose h2 by ALPN. */
bool rp_tls_alpn_h2(struct bufferevent *bev);
/* After the handshake: was the session resumed (ticket or cache)? */
bool rp_tls_resumed(struct bufferevent *bev);
/* Before freeing a TLS connection that closes cleanly. */
void rp_tls_close_notify(struct bufferevent *bev);
/* Write through bev's SSL at once (nothing queued); bytes written or <= 0. */
int rp_tls_write_now(struct bufferevent *bev, const void *data, size_t len);

#endif
