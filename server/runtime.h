/* runtime.h - connections, requests and workers; internal to librampart. */
#ifndef RP_RUNTIME_H
#define RP_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <llhttp.h>
#include "core.h"

struct bufferevent;
struct event;
struct evbuffer;

typedef struct rp_conn rp_conn;
typedef struct rp_thread rp_thread;

/* A name/value pair list kept in a pool (request or response headers). */
typedef struct rp_kv {
    const char **names, **values;
    size_t n, cap;
} rp_kv;
void rp_kv_add(rp_pool *p, rp_kv *kv, const char *name, const char *value);
const char *rp_kv_get(const rp_kv *kv, const char *name);
void rp_kv_unset(rp_kv *kv, const char *name);

/* Request headers the core and the bundled modules ask for on every
 * request: found once while parsing instead of by a scan per lookup. */
#define RP_HDR_KNOWN 17
/* Append a parsed request header (name and value in the request pool). */
void rp_req_add_header(rp_req *r, const char *name, const char *value);

/* A bufferevent, staging buffer and completion event a parked plain
 * connection gave back, kept for the next one (conn.c, "parking"). */
typedef struct rp_spare {
    struct bufferevent *bev;
    struct evbuffer *stage;
    struct event *next_ev;
    double send_timeout; /* SendTimeout the bufferevent carries, 0 = none */
} rp_spare;
#define RP_SPARES 512 /* a thread's stock covers a burst of this many busy connections */

/* A worker thread: its loop and connections, for the life of the process. */
struct rp_thread {
    int index;
    pthread_t tid;
    struct event_base *base;
    struct event *inbox_ev; /* activated by the main thread: new connections */
    struct event *stop_ev;  /* activated by the main thread: drain and stop */
    struct event *swap_ev;  /* activated by the main thread: a new configuration */
    pthread_mutex_t lock;   /* guards inbox and next */
    int *inbox;             /* accepted descriptors waiting, as fd << 1 | tls */
    size_t inbox_n, inbox_cap;
    rp_worker *next;        /* the configuration to switch to (reload) */
    atomic_int nconns;      /* read by the acceptor to pick the least busy */
    atomic_llong busy_since;/* ms (CLOCK_MONOTONIC_COARSE) a request began running
                             * on this thread's stack; 0 when the loop is free */
    atomic_int shed_want;   /* connections the acceptor asks this thread to close */
    struct event *shed_ev;  /* activated by the main thread: see rp_conn_shed */
    rp_conn *conns;         /* every connection of this thread */
    rp_worker *current;     /* new connections are served with this one */
    rp_worker *gens;        /* every configuration not yet retired, incl. current */
    bool stopping;
    struct rp_stop_cb *on_stop; /* modules to tell when a graceful stop begins */
    rp_spare spares[RP_SPARES]; /* see rp_spare */
    int nspares;
    struct event **accept_ev;     /* one per listening socket: this thread accepts (listen.c) */
    int naccept;
    struct event *accept_resume;  /* accepting paused (out of descriptors) until it fires */
    char date[30];          /* cached Date header value */
    time_t date_at;
};

/* A worker thread serving one configuration: what plugins see as rp_worker.
 * After a reload a thread has a new one; the old one lives until its last
 * connection is gone, then its modules' worker_exit runs. */
struct rp_worker {
    rp_thread *thread;
    rp_server *server;
    void **ctx;  /* per-module slots */
    struct rp_fcache *fcache; /* open files (fcache.c), made on first use */
    int live;    /* connections using this configuration */
    bool retired;
    rp_worker *next_gen; /* the thread's list */
};

/* How a request's response reaches its client: one per protocol
 * (response.c: HTTP/1.1, h2.c: HTTP/2).  The writers, the filter chain and
 * every module see only rp_req; framing is the transport's business. */
typedef struct rp_transport {
    /* Head (first call) and body buckets of bb, consumed; true when bb held EOS. */
    bool (*sink)(rp_req *r, rp_brigade *bb);
    bool (*gone)(const rp_req *r);            /* the client can take no more bytes */
    size_t (*pending)(const rp_req *r);       /* bytes written but not yet sent */
    void (*watch_drain)(rp_req *r, size_t low); /* call rp_resp_drained near `low` */
    void (*done)(rp_req *r); /* EOS passed; from the loop: log, free, go on */
} rp_transport;
extern const rp_transport rp_h1_transport;
extern const rp_transport rp_h2_transport;

/* Response body filter joined to one request. */
struct rp_filter {
    const rp_filter_def *def;
    rp_req *req;
    void *ctx;
    rp_filter *next;
    bool removed;
};

struct rp_req {
    rp_conn *conn;
    rp_pool *pool;
    rp_server *server;
    const rp_transport *tx; /* rp_h1_transport unless an HTTP/2 stream */
    struct rp_h2_stream *stream; /* HTTP/2: the stream it answers (h2.c) */
    unsigned seq; /* requests before this one on the connection */

    /* request */
    const char *method;
    bool head;
    const char *uri, *path, *query;
    int http_major, http_minor;
    rp_kv headers;
    const char *known[RP_HDR_KNOWN]; /* first value of each header of rp_known_headers */
    char *body;
    size_t body_len, body_cap;
    /* a streamed body (rp_req_body_stream; request.c has the common part) */
    unsigned char bmode;     /* RP_BODY_* */
    bool routed;             /* route_request done (early when streaming) */
    short route_status;      /* its outcome: 0 or an HTTP status */
    bool body_paused;        /* rp_req_body_pause */
    bool body_ended;         /* no more bytes will come: body_status says why */
    bool expect_continue;    /* HTTP/1.1: a 100-continue owed until reading starts */
    int body_status;         /* 0 complete, else 400 408 413 499 */
    int64_t body_length;     /* announced: Content-Length, -1 unknown */
    uint64_t body_seen;      /* bytes the client sent so far (MaxBodySize) */
    uint64_t body_given;     /* bytes delivered to body_data */
    struct evbuffer *body_held; /* arrived while paused, not yet delivered */
    rp_body_data_fn body_data;
    rp_body_end_fn body_end;
    void *body_arg;
    bool websocket;
    bool keepalive; /* as the client asked; the response may still close */
    const char *id; /* rp_req_id: X-Request-Id or made on first use */
    const char *user; /* rp_req_set_user: who an AUTH module let in */
    const char *client_ip; /* LogIpFromHeader from a trusted proxy, else NULL */

    /* routing */
    const char *route_key;
    rp_modrec *route_owner;
    void *route_target;
    const char *route_rest;
    const struct rp_host *host; /* the virtual host (rp_req_select_host), NULL before */
    void **route_conf;          /* its merged per-route settings, by module index */

    void **ctx;
    rp_kv notes;

    /* response */
    int status;
    rp_kv resp_headers;
    int64_t length;  /* -1 unknown */
    bool started;    /* filters set up */
    bool bare;       /* answer without filters (parse errors) */
    bool headers_out;
    bool finished;   /* EOS passed to the network */
    bool chunked;
    bool close_after;
    bool async;
    bool in_handler;
    bool logged;
    uint64_t body_bytes;
    bool log_skip; /* rp_access_log_skip: a module wrote the access log line */
    struct rp_file *file; /* rp_resp_send_file: the file behind the body */
    bool no_ranges, range_uncapped; /* rp_resp_ranges */
    signed char compress1;          /* rp_resp_set_compress + 1 (0: default) */
    rp_filter *filters; /* chain head, NULL if none joined */
    rp_brigade *bb;     /* scratch brigade for the writers */
    struct timespec t0;

    struct rp_waiter *drainers; /* rp_resp_on_drain, one per (fn, arg) */
    struct rp_waiter *aborters; /* rp_req_on_abort, one per (fn, arg) */
};

struct rp_conn {
    rp_worker *worker;
    rp_server *server;
    rp_pool *pool;          /* NULL: request pools stand alone (keeps idle connections small) */
    struct bufferevent *bev; /* NULL while parked (plain sockets, see conn.c) */
    double bev_send;         /* SendTimeout bev carries, 0 = none */
    struct evbuffer *stage; /* response bytes not yet handed to bev; NULL while parked */
    struct event *read_ev;  /* plain sockets: our own reader (see conn.c) */
    bool reading;
    struct event *timer;    /* the deadline of the current phase (see conn.c) */
    unsigned char phase;    /* rp_conn_phase, conn.c */
    double accepted_at;     /* monotonic seconds (CLOCK_MONOTONIC_COARSE) */
    double phase_at;        /* when the phase began */
    double last_read;       /* bytes of a body last arrived */
    double timer_at;        /* when the timer fires; 0 = not pending */
    struct event *next_ev; /* deferred: finish a request, resume parsing */
    llhttp_t parser;
    rp_conn *prev, *next;  /* worker's list */

    char remote_ip[64], local_ip[64];
    int remote_port, local_port;
    int fd;
    bool tls;
    bool parked;     /* between requests: only socket, struct, reader, timer (conn.c) */

    struct rp_h2 *h2; /* the HTTP/2 session once the connection speaks it (h2.c) */
    rp_req *req;     /* request being parsed or served (HTTP/1.1) */
    unsigned nreq;
    bool busy;       /* a complete request is being served */
    bool closing;    /* close once output is flushed */
    bool read_eof;
    bool detached;   /* a module took the bufferevent over (upgrade) */
    bool broken;     /* the socket failed: no goodbye on close */
    bool discarding; /* reading past a body nobody read, to the next request */
    bool linger;     /* close by lingering: the client may still be sending */
    bool lingering;  /* our side is closed: reading until the client closes */
    int error_status; /* set by a parser callback to answer and close */

    /* parser scratch: the header name or value being assembled */
    char *tok;
    size_t tok_len, tok_cap;
    /* the token's first piece, still in the input buffer (conn.c: copied
     * only if more pieces come or the parser call ends before the token) */
    const char *tok_at;
    size_t tok_at_len;
    const char *field; /* completed header name awaiting its value */
    size_t header_bytes;
    size_t nheaders;
};

/* conn.c */
void rp_conn_accept(rp_worker *w, int fd, bool tls);
/* The same with the addresses when the acceptor knows them (NULL: asked of the kernel). */
void rp_conn_accept_addr(rp_worker *w, int fd, bool tls, const struct sockaddr_storage *peer,
                         const struct sockaddr_storage *local);
void rp_conn_request_done(rp_req *r);   /* response finished: log, free, next */
void rp_conn_drain_all(rp_thread *t);   /* graceful stop: close idle connections */
void rp_conn_drain_worker(rp_worker *w); /* reload: w's idle connections time out soon */
int rp_conn_shed(rp_thread *t, int n);  /* close up to n idle or slow connections */
void rp_conn_thread_done(rp_thread *t); /* its loop has ended: free the spare stock */
struct evbuffer *rp_conn_output(rp_conn *c);
bool rp_conn_client_done(rp_conn *c); /* end of file read and no request left to answer */
void rp_conn_push(rp_conn *c); /* move staged bytes out, writing directly when idle */

/* The socket is unusable or must go: no more reads or writes; the
 * connection object stays until rp_conn_close (h2.c). */
void rp_conn_drop_socket(rp_conn *c);
void rp_conn_close(rp_conn *c); /* free it now */
/* After the TLS handshake or a cleartext preface: which protocols may run. */
bool rp_conn_h2_allowed(const rp_conn *c);
/* A streamed body started or resumed: feed it from the loop (HTTP/1.1). */
void rp_conn_body_kick(rp_req *r, bool start);

/* h2.c */
/* Speak HTTP/2 on c from now on; -1 when the session cannot be made.
 * upgrade: the HTTP/1.1 request that asked for h2c (it becomes stream 1),
 * whose HTTP2-Settings header is applied; NULL for TLS ALPN and prior knowledge. */
int rp_h2_start(rp_conn *c, rp_req *upgrade);
void rp_h2_input(rp_conn *c);    /* bytes arrived in the bufferevent's input */
void rp_h2_writable(rp_conn *c); /* the output drained */
void rp_h2_lost(rp_conn *c);     /* end of file or a socket error */
void rp_h2_shutdown(rp_conn *c); /* graceful stop or reload: GOAWAY, finish, close */
void rp_h2_free(rp_conn *c);     /* from conn_free */
/* h2c by Upgrade: the request qualifies (plain bind, h2c allowed, no body). */
bool rp_h2_upgrade_wanted(const rp_req *r);
/* A streamed body started or resumed: feed it from the work event. */
void rp_h2_body_kick(rp_req *r, bool start);

/* request.c */
/* Streamed bodies: buffered (the default), streamed but not read yet,
 * being read, or over (on_end called). */
enum { RP_BODY_BUFFERED = 0, RP_BODY_WAIT, RP_BODY_READING, RP_BODY_DONE };
/* The head is complete and a body follows: does the route's owner stream
 * it?  Normalizes the path and matches the route now (the pipeline then
 * skips both). */
bool rp_req_stream_wanted(rp_req *r);
/* The transport has body bytes: deliver them, or hold them while paused. */
void rp_req_body_deliver(rp_req *r, const char *data, size_t len);
/* Deliver what is held while not paused; the bytes delivered. */
size_t rp_req_body_flush(rp_req *r);
/* No more bytes will come (status 0) or the body failed; on_end runs once
 * every held byte is delivered (or at once for an error). */
void rp_req_body_complete(rp_req *r, int status);
/* The body is read or streamed and not yet over: the transport feeds it. */
bool rp_req_body_open(const rp_req *r);
rp_req *rp_req_new(rp_conn *c);
void rp_req_run(rp_req *r);
void rp_req_free(rp_req *r);
void rp_req_log_phase(rp_req *r); /* LOG hooks, once */
int rp_req_normalize_path(rp_req *r); /* 0, or an HTTP status */

/* response.c */
int rp_resp_sink(rp_req *r, rp_brigade *bb); /* the network end of the filter chain */
bool rp_resp_status_has_body(int status);
int64_t rp_brigade_whole_length(rp_brigade *bb); /* body length if bb ends with EOS, else -1 */
void rp_resp_simple_error(rp_conn *c, int status); /* parser-level errors */
void rp_resp_drained(rp_req *r);     /* call the drain waiters that are due */
void rp_req_aborted(rp_req *r);      /* call the abort waiters, once each */
bool rp_resp_has_drainers(const rp_req *r);

/* filter.c */
int rp_filter_start(rp_req *r); /* run setups, build the chain */
int rp_filter_send(rp_req *r, rp_brigade *bb);
void rp_bucket_to_evbuffer(rp_bucket *b, struct evbuffer *out); /* consumes b's data */
/* A FILE bucket taking over one reference to f (file.h). */
void rp_brigade_add_rpfile(rp_brigade *bb, struct rp_file *f, int64_t off, int64_t len);
void rp_resp_header_set_const(rp_req *r, const char *name, const char *value); /* no copy */
int rp_resp_send_rpfile(rp_req *r, struct rp_file *f, int64_t off, int64_t len);

/* worker.c */
int rp_workers_start(rp_server *s, int n);
void rp_workers_dispatch(int fd, int tls); /* to the least loaded free thread, via its inbox */
/* t accepted fd: serve it (or pass it on); peer and local as for rp_conn_accept */
void rp_worker_take(rp_thread *t, int fd, int tls, const struct sockaddr_storage *peer,
                    const struct sockaddr_storage *local);
int rp_workers_count(void);
rp_thread *rp_workers_thread(int i);
void rp_workers_stop_accepting(void);
void rp_workers_stop(double graceful_seconds);
/* Serve new connections with s instead of old (what every thread serves now,
 * as the main thread knows it); old connections finish with theirs.
 * retired(old, arg) runs on the main thread once no thread uses `old`. */
void rp_workers_swap(rp_server *old, rp_server *s, void (*retired)(rp_server *old, void *arg),
                     void *arg);
const char *rp_worker_date(rp_worker *w);
void rp_worker_conn_gone(rp_worker *w); /* a connection of w closed */
int rp_workers_conn_count(void);        /* connections open in every thread */
void rp_workers_shed(int n);            /* ask the threads to close n idle or slow ones */
void rp_thread_busy(rp_thread *t, bool busy); /* a request runs on t's stack, or no more */

/* log.c */
void rp_log_chown(uid_t uid, gid_t gid);

#endif
