/* proxy_int.h - mod_proxy's internal types, shared by its source files.
 *
 *   conf.c      directives (module-wide and per route), upstream URLs,
 *               "Map /key proxy:URL..." routes
 *   upstream.c  per-worker state: keep-alive pool, balancing, passive health,
 *               connecting (plain or TLS)
 *   exchange.c  one proxied request: the upstream request, the streamed
 *               response, errors, retries
 *   tunnel.c    websockets after the 101: bytes relayed both ways
 *   mod_proxy.c the descriptor, workers
 */
#ifndef PROXY_INT_H
#define PROXY_INT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <openssl/ssl.h>
#include <rampart.h>

struct bufferevent;
struct event;

extern RP_API const rp_module rp_module_proxy;

enum { PX_RR = 0, PX_LEASTCONN = 1 };

/* One upstream as configured: immutable once the server runs, shared by the
 * worker threads.  index numbers it within its configuration, for the
 * per-worker arrays. */
typedef struct px_upstream {
    const char *url;      /* as written, for logs */
    const char *host;     /* for SNI, the certificate check and Host */
    const char *hostport; /* the Host header value: host[:port] */
    int port;
    int tls;
    int insecure; /* https: the certificate is not checked (ProxyInsecure on) */
    int index;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} px_upstream;

/* One "Map" line: its upstreams only; how a request goes to them is the
 * request's route settings (px_rconf). */
typedef struct px_route {
    px_upstream **ups;
    /* The same upstreams with certificates unchecked, for requests whose
     * ProxyInsecure is on (a separate pool: a connection made without the
     * check never serves a request that wants it).  Made in post_config
     * when ProxyInsecure on appears anywhere; NULL otherwise. */
    px_upstream **lax;
    const char **paths; /* each upstream's base path: '/'... or "" (none given) */
    int nups;
    int index;  /* for the per-worker round-robin counters */
    int prefix; /* the key ends in '/': the rest of the path is appended */
    const char *key; /* without "ws:" */
    struct px_route *next; /* the configuration's routes */
} px_route;

/* Which settings a scope wrote itself (the rest come from the enclosing
 * scope when merged). */
enum {
    PX_SET_CONNECT = 1 << 0,
    PX_SET_READ = 1 << 1,
    PX_SET_SEND = 1 << 2,
    PX_SET_INSECURE = 1 << 3,
    PX_SET_PRESERVE = 1 << 4,
    PX_SET_BALANCE = 1 << 5,
};

/* The per-route settings (server, <Host>, <Route>), merged once at
 * configuration time; a request reads its scope's with rp_req_route_conf. */
typedef struct px_rconf {
    double connect_timeout, read_timeout, send_timeout;
    int insecure;
    int preserve_host;
    int balance;
    const char **headers; /* "Name: value", NULL-terminated: enclosing scopes' first */
    size_t nheaders;
    unsigned set; /* PX_SET_* */
} px_rconf;

/* The module-wide settings: those of the per-worker pools and health. */
typedef struct px_conf {
    long max_fails;      /* consecutive connect failures that mark an upstream down */
    double fail_timeout; /* how long it stays down */
    long keepalive;      /* idle connections kept per upstream and worker thread */
    double keepalive_timeout;
    int any_insecure; /* some scope says ProxyInsecure on: routes get their lax twins */
    rp_pool *pool;
    px_upstream **ups; /* every upstream of every route */
    int nups, cap_ups;
    px_route *routes;
    int nroutes;
    SSL_CTX *ssl_verify, *ssl_insecure; /* made in post_config if an https upstream exists */
    /* series (post_config): connections reused / opened, answers 502 / 504 */
    rp_metric *m_reused, *m_opened, *m_502, *m_504;
} px_conf;

/* ---- per worker thread ------------------------------------------------- */

typedef struct px_conn px_conn;

typedef struct px_upstate {
    px_conn *idle; /* keep-alive pool, most recently used first */
    int nidle;
    int active;        /* exchanges using it now (least connections) */
    int fails;         /* consecutive connect failures */
    double down_until; /* monotonic seconds; 0 = up */
} px_upstate;

typedef struct px_tunnel px_tunnel;

typedef struct px_worker {
    rp_worker *w;
    px_conf *conf;
    px_upstate *up; /* [conf->nups] */
    unsigned *rr;   /* [conf->nroutes] */
    px_tunnel *tunnels;
    struct evbuffer *scratch; /* a request being written straight to a socket */
    struct px_worker *tnext;  /* this thread's workers (a reload adds one) */
} px_worker;

/* An upstream connection.  While idle it sits in its upstream's pool with
 * callbacks that notice the upstream closing it. */
struct px_conn {
    struct bufferevent *bev;
    px_upstream *up;
    px_worker *pw;
    px_conn *next, *prev;
    unsigned uses; /* requests sent on it before the current one */
};

double px_now(void);
/* Seconds as a timeval, and a connection's read and write timeouts in
 * seconds (<= 0: none): every timeout of the module is set through these. */
struct timeval px_timeval(double s);
void px_set_timeouts(struct bufferevent *bev, double rd, double wr);

/* conf.c */
extern const rp_directive px_directives[];
extern const rp_directive px_route_directives[];
void *px_create_conf(rp_pool *p);
void *px_create_route_conf(rp_pool *p);
void *px_merge_route_conf(rp_pool *p, void *parent, void *child);
int px_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                  const char **err);
/* post_config: the TLS contexts and the routes' lax upstreams. */
int px_conf_ssl(px_conf *c);

/* upstream.c */
px_worker *px_worker_new(rp_worker *w, px_conf *c);
void px_worker_free(px_worker *pw);
void px_worker_close_idle(px_worker *pw);
/* Pick one of ups (the route's upstreams or their lax twins) not in
 * tried[] (marked 1), preferring ones not marked down, by balance
 * (PX_RR, PX_LEASTCONN).  NULL when every upstream was tried. */
px_upstream *px_pick(px_worker *pw, const px_route *rt, px_upstream *const *ups, int balance,
                     const unsigned char *tried);
void px_health_fail(px_worker *pw, px_upstream *up, const char *reason);
void px_health_ok(px_worker *pw, px_upstream *up);
/* An idle pooled connection to up, taken out of the pool, or NULL. */
px_conn *px_pool_take(px_worker *pw, px_upstream *up);
/* Give a connection whose exchange ended cleanly back to the pool (or
 * close it when the pool is full). */
void px_pool_put(px_conn *pc);
/* A new connection, connect started; NULL if it could not even begin. */
px_conn *px_connect(px_worker *pw, px_upstream *up);
void px_conn_close(px_conn *pc);

/* exchange.c */
int px_handler(rp_req *r);
void px_exchange_init(void);
/* Free this thread's cached body buffers. */
void px_exchange_thread_exit(void);

/* tunnel.c: after the 101 both connections belong to the tunnel; the upstream's
 * input may already hold bytes past the 101 head.  idle_timeout: nothing
 * moved either way (ProxyReadTimeout); flush_timeout: what is left after a
 * side closed (ProxySendTimeout). */
void px_tunnel_start(px_worker *pw, rp_worker *w, struct bufferevent *client, px_conn *pc,
                     double idle_timeout, double flush_timeout);
/* Graceful stop: close them from the loop, soon. */
void px_tunnel_stop_all(px_worker *pw);
void px_tunnel_close_all(px_worker *pw);

#endif
