/* listen.h - listening sockets (internal). */
#ifndef RP_LISTEN_H
#define RP_LISTEN_H

#include <sys/socket.h>
#include "core.h"

#define RP_MAX_LISTENERS 32

struct evconnlistener;
struct event_base;

typedef struct rp_listeners {
    int n;
    int fd[RP_MAX_LISTENERS];
    const char *spec[RP_MAX_LISTENERS];
    int tls[RP_MAX_LISTENERS]; /* 1: connections speak TLS */
    struct evconnlistener *ev[RP_MAX_LISTENERS];
    /* Out of descriptors (EMFILE): see listen.c */
    int reserve_fd;           /* /dev/null, given up to accept one more client */
    struct event *resume_ev;  /* accepting is paused until it fires */
    bool starved;             /* in an episode; its first and last moments are logged */
    unsigned long pauses;     /* pauses in the current episode */
} rp_listeners;

int rp_bind_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len);
int rp_listeners_open(rp_server *s, rp_listeners *ls, char *err, size_t errlen);
int rp_listeners_attach(rp_listeners *ls, struct event_base *base);
void rp_listeners_close(rp_listeners *ls);

#endif
