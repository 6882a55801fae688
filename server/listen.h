/* listen.h - listening sockets (internal). */
#ifndef RP_LISTEN_H
#define RP_LISTEN_H

#include <sys/socket.h>
#include "core.h"

#define RP_MAX_LISTENERS 32

struct event_base;

typedef struct rp_listeners {
    int n;
    int fd[RP_MAX_LISTENERS];
    const char *spec[RP_MAX_LISTENERS];
    int tls[RP_MAX_LISTENERS]; /* 1: connections speak TLS */
    struct sockaddr_storage local[RP_MAX_LISTENERS]; /* the bound address */
    bool local_known[RP_MAX_LISTENERS]; /* not a wildcard: connections arrive on exactly it */
    void *ctx;                /* per thread and listener: what its accept event needs */
    /* Out of descriptors (EMFILE): see listen.c */
    int reserve_fd;           /* /dev/null, given up to accept one more client */
    struct event *resume_ev;  /* the reserve is reopened when it fires */
    struct event *starved_ev; /* activated by a worker that met the limit */
    struct event *recovered_ev; /* activated by the first accept that works again */
    bool starved;             /* in an episode; its first and last moments are logged */
    unsigned long pauses;     /* pauses in the current episode */
} rp_listeners;

int rp_bind_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len);
int rp_listeners_open(rp_server *s, rp_listeners *ls, char *err, size_t errlen);
int rp_listeners_attach(rp_listeners *ls, struct event_base *base);
void rp_listeners_close(rp_listeners *ls);

#endif
