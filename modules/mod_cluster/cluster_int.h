/* cluster_int.h - mod_cluster's internals, shared by cluster.c (directives,
 * service, worker inboxes) and link.c (the Redis thread). */
#ifndef CLUSTER_INT_H
#define CLUSTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <rampart.h>

#include "rp_cluster.h"

extern RP_API const rp_module rp_module_cluster;

#define CL_ID_LEN 16  /* hex digits of a server id */
#define CL_HDR "rp1:" /* payload = CL_HDR id '\n' data */
#define CL_HDR_LEN (4 + CL_ID_LEN + 1)
#define CL_DEFAULT_QUEUE 10000L
#define CL_DEFAULT_PREFIX "rampart"
#define CL_INFLIGHT 256    /* PUBLISHes sent and not yet answered */
#define CL_BACKOFF_MIN 0.1 /* seconds before the first retry */
#define CL_BACKOFF_MAX 5.0
/* Seconds Redis may leave a new connection, a command or the heartbeat
 * unanswered before the connections count as lost (ClusterTimeout). */
#define CL_DEFAULT_TIMEOUT 5.0
#define CL_BEAT_CHANNEL "!alive:" /* heartbeats: <prefix>!alive:<server id> */

typedef struct cl_inst cl_inst;

typedef struct cl_conf {
    rp_pool *pool;
    const char *url; /* as written, for messages */
    char *host;      /* TCP, or NULL */
    int port;
    char *unix_path; /* or NULL */
    int db;
    char *password; /* or NULL */
    const char *prefix;
    long queue;
    double timeout; /* ClusterTimeout */
    cl_inst *inst;  /* made in post_config when url is set */
} cl_conf;

/* A message from Redis, shared by every inbox it was put in. */
typedef struct cl_msg {
    atomic_int refs;
    char origin[CL_ID_LEN + 1]; /* "" when not sent by mod_cluster */
    char *channel;              /* prefix removed, NUL-terminated */
    size_t len;
    char data[]; /* channel follows data (+ NULs) */
} cl_msg;

/* A command waiting to be sent: a PUBLISH (fn NULL: its answer is only
 * counted) or a service call() (fn gets the answer).  One allocation. */
typedef struct cl_out {
    rp_cluster_reply_fn fn;
    void *arg;
    const char *script; /* eval(): argv[0] is EVALSHA, sent again as EVAL on NOSCRIPT */
    int argc;
    size_t len[RP_CLUSTER_CALL_ARGS];
    char buf[]; /* the arguments, one after the other */
} cl_out;

/* A ring of pointers, oldest dropped when full. */
typedef struct cl_ring {
    void **v;
    size_t cap, head, n;
} cl_ring;

typedef struct cl_sub {
    int id;
    unsigned flags;
    int dead;
    char *channel;
    size_t clen;
    int prefix; /* channel ended with '*' */
    rp_cluster_fn fn;
    void *arg;
} cl_sub;

/* One worker's side: its subscriptions (worker thread only) and its inbox
 * (filled by the Redis thread under lock, emptied on the worker's loop). */
typedef struct cl_worker {
    cl_inst *inst;
    rp_worker *w;
    pthread_mutex_t lock; /* inbox */
    cl_ring inbox;
    struct event *ev;
    atomic_int nsubs; /* live subscriptions: read by the Redis thread */
    cl_sub *subs;
    size_t nsub, capsub;
    int next_id;
    int depth;          /* nested delivery (a callback delivering) */
    const char *origin; /* of the message being delivered */
    int counted;        /* made by worker_init: counts in inst->workers */
} cl_worker;

/* Is a connection still answering?  Its callbacks count the replies; the
 * heartbeat tick compares the count with what it saw last. */
typedef struct cl_watch {
    unsigned long heard; /* replies received */
    unsigned long seen;  /* heard, at the last tick that found progress or nothing due */
    double since;        /* that tick's time */
    double opened;       /* when the connection was opened: it must answer by +timeout */
} cl_watch;

struct cl_inst {
    cl_conf *conf;
    char *where; /* "redis://host:port/db" without the password */
    char pattern[300];

    pthread_mutex_t lock; /* out, wake_pending, state, workers, ws */
    /* Held around a worker's arrival or departure with the link's start or
     * stop that it causes (never taken by the Redis thread). */
    pthread_mutex_t run_lock;
    cl_ring out;
    int wake_pending;
    int state; /* CL_NEW, CL_UP, CL_DOWN */
    int workers;
    cl_worker **ws;
    size_t nws, capws;

    int started, stopped;
    pthread_t thread;
    struct event_base *base;
    struct event *wake_ev, *stop_ev, *retry_ev, *tick_ev;
    /* Redis thread only: */
    struct redisAsyncContext *pub, *sub;
    int pub_up, sub_up, inflight, stopping, was_up;
    double backoff;
    cl_watch pubw, subw;
    int beats;    /* heartbeat PUBLISHes unanswered on pub */
    int beat_out; /* a heartbeat sent, nothing heard on sub since */
    char beat_chan[CL_ID_LEN + 64 + sizeof CL_BEAT_CHANNEL];

    atomic_int connected; /* the gauge */
    rp_metric *m_published, *m_received, *m_delivered, *m_drop_queue, *m_drop_inbox, *m_drop_disc,
        *m_reconnects, *m_timeouts, *m_script_loads;
};

enum { CL_NEW = 0, CL_UP, CL_DOWN };

/* ring.c-like helpers (cluster.c) */
int cl_ring_init(cl_ring *r, size_t cap);
/* Append; when full the oldest is returned through *dropped (else NULL). */
void cl_ring_push(cl_ring *r, void *p, void **dropped);
void *cl_ring_pop(cl_ring *r);

void cl_msg_unref(cl_msg *m);
/* Splits o->buf into argv (o->argc of them). */
void cl_out_args(const cl_out *o, const char **argv);
/* Give o's caller its answer (a call) and free o; ok 0: no answer. */
void cl_out_done(cl_out *o, int ok, const long long *v, size_t n);
const char *cl_server_id(void);

/* link.c: the Redis thread */
int cl_link_start(cl_inst *inst); /* 0 or -1 (logged) */
void cl_link_stop(cl_inst *inst); /* stops and joins; idempotent */
void cl_link_wake(cl_inst *inst); /* from any thread: the out queue has work */
/* cluster.c: a message from Redis for every subscribed worker */
void cl_dispatch(cl_inst *inst, cl_msg *m);

#endif
