/* core.h - internal to librampart; never installed, never included by plugins.
 *
 * Two halves meet here:
 *   configuration  conf.c module.c hooks.c route.c mime.c service.c directives.c
 *   runtime        pool.c log.c util.c listen.c worker.c conn.c request.c
 *                  response.c filter.c server.c
 */
#ifndef RP_CORE_H
#define RP_CORE_H

#include <stdio.h>
#include <stdbool.h>
#include <sys/types.h>
#include "rampart.h"

#define RP_VERSION "0.1.0"

/* Internal entry points the executables (and later the JS facade) call;
 * exported from librampart but not part of the plugin API. */
#define RP_EXPORT __attribute__((visibility("default")))

/* A growable array of pointers allocated from a pool (configuration time). */
typedef struct rp_vec {
    void **v;
    size_t n, cap;
} rp_vec;
void rp_vec_push(rp_pool *p, rp_vec *vec, void *item);

/* ---- modules ----------------------------------------------------------- */

typedef struct rp_modrec {
    const rp_module *desc; /* NULL-field-safe copy when struct_size is smaller */
    const rp_module *self; /* the plugin's own address (what it compares with);
                            * NULL: desc */
    void *handle;          /* lt_dlhandle; NULL for the core itself */
    char *file;            /* as resolved, for messages */
    void *conf;            /* from create_conf, or NULL */
    int index;             /* slot in per-request / per-worker ctx arrays */
    bool stream_body;      /* rp_module_stream_body: its routes get bodies streamed */
} rp_modrec;

/* Descriptor address -> module record, open addressing, filled as modules
 * load (module.c): rp_req_ctx and friends run per request and must not
 * search.  Read-only once the configuration is finalized. */
typedef struct rp_modslot {
    const rp_module *key; /* NULL: empty slot */
    rp_modrec *rec;
} rp_modslot;
typedef struct rp_modtab {
    rp_modslot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t n;
} rp_modtab;

/* The core's own pseudo-module: its directives, its access-log hook. */
extern const rp_module rp_module_core;

/* ---- hooks and filters ------------------------------------------------- */

typedef struct rp_hook_rec {
    rp_hook_fn fn;
    rp_modrec *mod;
    int order;
    const char *const *before;
    const char *const *after;
    int seq; /* registration order, for the stable sort */
} rp_hook_rec;

typedef struct rp_filter_def {
    const char *name;
    rp_filter_class cls;
    int order;
    rp_filter_setup_fn setup;
    rp_filter_fn fn;
    rp_modrec *mod;
    int seq;
} rp_filter_def;

struct rp_hooks {
    rp_server *server;
    rp_modrec *mod;
};

/* ---- routes ------------------------------------------------------------ */

typedef enum { RP_ROUTE_EXACT = 0, RP_ROUTE_PREFIX, RP_ROUTE_REGEX, RP_ROUTE_GLOB } rp_route_kind;

typedef struct rp_route {
    char *key;     /* as configured, e.g. "ws:~^/chat" */
    char *pattern; /* without "ws:" and "~" */
    rp_route_kind kind;
    bool ws;
    rp_modrec *owner;
    void *target;
    void *re; /* pcre2_code * for RP_ROUTE_REGEX */
    int seq;
} rp_route;

typedef struct rp_route_match {
    const rp_route *route;
    const char *rest; /* points into the matched path; "" if nothing is left */
} rp_route_match;

/* ---- the core's own settings (directives of rp_module_core) ------------ */

/* Hot-path allocations (pool blocks, buckets) are recycled per thread;
 * sanitizer builds recycle nothing, so a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define RP_RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RP_RECYCLE 0
#endif
#endif
#ifndef RP_RECYCLE
#define RP_RECYCLE 1
#endif

/* One thread's spare objects of one kind (recycle.c).  Declare it
 * _Thread_local with .max set; an object's first pointer-sized bytes are
 * overwritten while it waits. */
typedef struct rp_freelist {
    void *head;
    int n, max;
    bool registered;
} rp_freelist;
void *rp_freelist_get(rp_freelist *fl);        /* NULL when empty */
bool rp_freelist_put(rp_freelist *fl, void *item); /* false: full, free it yourself */

/* A descriptor held back for running out (fdreserve.c); *fd is -1 when
 * none is held.  hold: open one if none; spend: close it (false if none). */
void rp_fd_reserve_hold(int *fd);
bool rp_fd_reserve_spend(int *fd);

typedef struct rp_core_conf {
    char **binds;            /* Bind, repeatable; default [::1]:8088 127.0.0.1:8088 */
    long threads;            /* Threads; 0 = number of cores */
    double connect_timeout;  /* ConnectTimeout: accept to first complete request head; 0 = none */
    double header_timeout;   /* HeaderTimeout: first byte to end of a request head; 0 = none */
    double body_timeout;     /* BodyTimeout: idle time while reading a request body; 0 = none */
    double send_timeout;     /* SendTimeout: idle time while the client takes no response byte */
    double handshake_timeout;/* HandshakeTimeout: accept to end of the TLS handshake; 0 = none */
    size_t max_read;         /* MaxRead, default 65536 */
    size_t max_write;        /* MaxWrite, default 65536 */
    size_t max_header_size;  /* MaxHeaderSize, default 8192 (request line + headers) */
    long max_headers;        /* MaxHeaders, default 100 */
    size_t max_uri;          /* MaxUriLength, default 8192 */
    size_t max_body;         /* MaxBodySize, default 32 MiB */
    int log;                 /* Log on|off: access logging; -1 unset = on if AccessLog */
    char *access_log;        /* AccessLog path; NULL = stdout */
    char *error_log;         /* ErrorLog path; NULL = stderr */
    const struct rp_logfmt *log_fmt; /* LogFormat (accesslog.c); default combined */
    rp_vec log_formats;      /* named: const char *name, const struct rp_logfmt * pairs */
    int request_id;          /* RequestId on: X-Request-Id in every response */
    size_t default_range;    /* DefaultRangeMBytes in bytes: cap of "Range: bytes=N-" */
    int append_proc_title;   /* AppendProcTitle on: ps shows the listening addresses */
    char *log_ip_header;     /* LogIpFromHeader: the client is this header's first address... */
    rp_cidr *trusted;        /* ...when the peer is one of these (TrustedProxies; default loopback) */
    size_t ntrusted;
    long log_level;          /* LogLevel err|warn|notice|info|debug */
    int daemon;              /* Daemon on|off */
    char *user;              /* User name */
    char *pid_file;          /* PidFile path */
    int map_sort;            /* MapSort on|off, default on */
    char *module_dir;        /* ModuleDir; default: see rp_default_module_dir */
    char *mime_types;        /* MimeTypes file; default: conf/mime.types */
    char **mime_map;         /* MimeMap pairs, ext type ext type ... */
    double graceful_timeout; /* GracefulTimeout seconds, default 10 */
    double keepalive_timeout;/* KeepAliveTimeout: idle time between requests (resolved, see
                              * core_post_config); 0 = none */
    int secure;              /* Secure on|off: every Bind speaks TLS */
    char *ssl_cert;          /* SslCertFile: certificate chain (PEM), leaf first */
    char *ssl_key;           /* SslKeyFile: private key (PEM) */
    const char *tls_at, *cert_at, *key_at; /* "file:line" that asked for TLS / gave each file */
    char *ssl_min;           /* SslMinVersion ssl3|tls1|tls1.1|tls1.2|tls1.3, default tls1.2 */
    long https_redirect;     /* HttpsRedirect off|permanent|temporary: 0, 301 or 302 */
    double file_cache_valid; /* FileCacheValid: seconds an open-file cache entry is trusted; 0 = off */
    long file_cache_entries; /* FileCacheEntries: entries per worker thread */
    int protocols;           /* Protocols: RP_PROTO_* bits; 0 = default (h2 on TLS, h2c on plain) */
    long h2_max_streams;     /* H2MaxConcurrentStreams, default 128 */
    size_t h2_max_header_list; /* H2MaxHeaderListSize, default 65536 */
    long h2_max_resets;      /* H2MaxResets: RST_STREAMs per RP_H2_RESET_WINDOW s, default 200 */
    double h2_idle_timeout;  /* H2IdleTimeout: no stream open; default KeepAliveTimeout */
    double h2_stall_timeout; /* H2StallTimeout: a window stays closed; default SendTimeout */
} rp_core_conf;

#define RP_PROTO_H1 1
#define RP_PROTO_H2 2
#define RP_PROTO_H2C 4
#define RP_H2_RESET_WINDOW 10.0

/* ---- one configuration ------------------------------------------------- */

typedef struct rp_mime_table rp_mime_table;

struct rp_server {
    rp_pool *pool;
    rp_vec mods;                   /* rp_modrec *, index 0 = core */
    rp_modtab modtab;              /* descriptor address -> mods entry */
    rp_vec hooks[RP_PHASE_COUNT];  /* rp_hook_rec *, sorted by rp_hooks_finalize */
    rp_vec filters;                /* rp_filter_def *, sorted likewise */
    rp_vec routes;                 /* rp_route *, sorted by rp_routes_finalize */
    rp_mime_table *mime;
    rp_core_conf *core;            /* == mods[0]->conf */
    void *tls;                     /* SSL_CTX * once a TLS listener is opened */
    int https_port;                /* port of the first TLS Bind, 0 if none */
    const char *base_dir;          /* relative paths in directives resolve here by default */
    int hook_seq;
    rp_vec applied;                /* rp_conf_line *: every directive that took effect (-T) */
    struct rp_metrics *metrics;    /* metrics.c: series plugins publish */
    struct rp_vhosts *vh;          /* route.c: hosts and scopes; NULL until first needed */
};

/* metrics.c: slots and per-thread rows for every series made so far; after
 * this, no new series.  0, or -1 when memory is short. */
typedef struct rp_metrics rp_metrics;
int rp_metrics_freeze(rp_server *s, int threads);
/* The core's own series (NULL members before the freeze: adds do nothing). */
typedef struct rp_core_metrics {
    struct rp_metric *tls_ok, *tls_resumed, *tls_failed;
} rp_core_metrics;
const rp_core_metrics *rp_core_metrics_of(const rp_server *s);

/* One directive line as applied, with where it came from. */
typedef struct rp_conf_line {
    const char *file;
    int line;
    int argc;
    char **argv;
} rp_conf_line;

/* ---- configuration side ------------------------------------------------ */

/* rp_server_new/free, rp_conf_apply, rp_conf_read_file/string, rp_server_finalize,
 * rp_server_start/loop and rp_hooks_dump are public: api/rp_embed.h. */
/* Split one line into words: quotes ("..." and '...'), backslash escapes,
 * '#' comments.  Returns argc, or -1 with *err set (unterminated quote). */
int rp_conf_split(rp_pool *p, const char *line, char ***argv, const char **err);

/* Loader. */
int rp_module_load(rp_server *s, rp_cmd *cmd, const char *name, const char *file, const char **err);
rp_modrec *rp_module_find(const rp_server *s, const char *name);
/* For an unknown directive: "... is provided by module 'gzip' (mod_gzip.so),
 * which is not loaded: add 'LoadModule gzip mod_gzip.so'", or NULL. */
const char *rp_module_hint(rp_server *s, const char *directive);
const char *rp_default_module_dir(void);

/* Pieces of rp_server_finalize. */
int rp_hooks_sort(rp_server *s, const char **err);
int rp_routes_finalize(rp_server *s, const char **err);
/* Match a decoded path.  Returns 0 and fills *m, or -1 when nothing matches. */
int rp_routes_match(const rp_server *s, const char *path, bool websocket, rp_route_match *m);
int rp_mime_finalize(rp_server *s, const char **err);

/* ---- runtime side ------------------------------------------------------ */

/* log.c */
int rp_log_open(const rp_core_conf *c, const char **err); /* before dropping privileges */
int rp_log_reopen(void);                                   /* SIGUSR1 */
void rp_log_set_level(int level);
bool rp_access_log_enabled(void);
/* accesslog.c */
typedef struct rp_logfmt rp_logfmt;
extern const char *const rp_logfmt_builtin[][2]; /* {name, format}, NULL-terminated */
const char *rp_logfmt_compile(rp_pool *p, const char *src, const rp_logfmt **out);
int rp_access_log_hook(rp_req *r);
int rp_request_id_hook(rp_req *r);
/* tls.c: HttpsRedirect, a MAP hook of the core */
int rp_https_redirect_hook(rp_req *r);

/* The built-in configuration text (demo site on loopback) used without -f. */
RP_EXPORT const char *rp_builtin_conf(rp_pool *p);
/* proctitle.c: "<command line> <text>" where ps reads it (after init). */
void rp_proc_title_append(const char *text);
/* -V: library versions (built with / running) and the module directory. */
RP_EXPORT void rp_print_build_info(FILE *out, const rp_server *s);

/* ---- added by the configuration half (conf.c module.c directives.c) ---- */

/* How deep Include may nest before the reader refuses. */
#define RP_INCLUDE_DEPTH_MAX 16

/* The record of a loaded module, found by descriptor address (the plugin's
 * own or the loader's copy) in constant time; NULL if not loaded. */
rp_modrec *rp_modrec_of(const rp_server *s, const rp_module *m);
/* Make rec findable by key (module.c).  Configuration time only. */
void rp_modtab_add(rp_server *s, const rp_module *key, rp_modrec *rec);
/* Setter of the core's Include directive (conf.c): reads each file or glob,
 * relative to the including file's directory. */
const char *rp_conf_include(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
/* The directory relative paths of the directive being applied resolve in. */
const char *rp_cmd_dir(const rp_cmd *cmd);

/* ---- scopes and virtual hosts (route.c, conf.c) ---------------------- */

/* Where a directive may appear: a bit each.  Module `directives` are server
 * scope; `route_directives` are valid in all three. */
#define RP_SCOPE_SERVER 1
#define RP_SCOPE_HOST 2
#define RP_SCOPE_ROUTE 4
#define RP_SCOPE_ALL 7

/* The settings one scope gives (the top level, a <Host>, a <Route>): the
 * route confs its lines set, per module index, and after finalize the
 * merged vector a request reads (rp_req_route_conf). */
typedef struct rp_scope {
    int kind; /* RP_SCOPE_* */
    struct rp_scope *parent;
    rp_vec own;    /* void * per module index, NULL where no line of this scope set it */
    void **merged; /* s->mods.n entries, filled by rp_routes_finalize */
} rp_scope;

/* One certificate and its key; a host may have several (RSA + ECDSA). */
typedef struct rp_tls_pair {
    char *cert, *key;
    const char *cert_at, *key_at; /* "file:line" */
    char *staple;                 /* SslStaplingFile: a DER OCSP response, or NULL */
    const char *staple_at;
    unsigned char *ocsp; /* its bytes, read when the TLS context is built */
    size_t ocsp_len;
    const void *leaf; /* X509 * of cert in the context, to find the pair again */
} rp_tls_pair;

typedef struct rp_host {
    char **names;   /* lower-case; NULL-terminated; NULL for the top level */
    rp_vec *routes; /* its Map table (the top level's is s->routes) */
    rp_vec own_routes;
    rp_vec blocks; /* rp_route * of its <Route> blocks, target = rp_scope * */
    rp_scope scope;
    rp_vec certs;     /* rp_tls_pair * */
    char *access_log; /* AccessLog inside <Host>: its own file */
    const struct rp_logfmt *log_fmt;
    int log_fd; /* -1 until rp_hosts_open_logs */
    bool log_off; /* Log off inside <Host>: no access log line for its requests */
    bool is_default;
    void *tls;      /* SSL_CTX * of its certificates, or NULL */
    const char *at; /* "file:line" of <Host>, or NULL for the top level */
    int index;      /* 0 = the top level */
} rp_host;

typedef struct rp_vhosts {
    rp_host *top;                   /* the top-level settings: a host with no names */
    rp_vec hosts;                   /* rp_host *, top first */
    rp_host *dflt;                  /* Default, else top */
    rp_host *cur_host;              /* reading: the open <Host>, NULL outside */
    rp_scope *cur;                  /* reading: the scope lines apply to */
    const char *host_at, *route_at; /* reading: "file:line" of the open blocks */
    /* lookup, built by rp_routes_finalize */
    const char **exact;   /* sorted names ... */
    rp_host **exact_host; /* ... and their hosts */
    size_t nexact;
    const char **wild; /* "*.x" as ".x", longest first ... */
    rp_host **wild_host;
    size_t nwild;
    bool any_headers; /* a Header line exists: the core's filter joins */
    int strict_sni;   /* SslStrictSni on: refuse unknown server names */
} rp_vhosts;

rp_vhosts *rp_vhosts_of(rp_server *s); /* made on first use */
rp_host *rp_cmd_host(rp_cmd *cmd);     /* the host lines apply to now */
/* Conf reader: "<Host ...>", "</Host>", "<Route key>", "</Route>". */
const char *rp_block_line(rp_cmd *cmd, int argc, char **argv);
/* Reading ends: a block left open is an error. */
const char *rp_blocks_check_closed(rp_server *s);
/* The route conf of module m in the scope being read (made on first use). */
void *rp_scope_conf(rp_server *s, rp_modrec *m);
int rp_scope_now(rp_server *s);                               /* RP_SCOPE_* of the lines read now */
RP_EXPORT const char *rp_scope_names(rp_pool *p, int mask);   /* "server, host" */
RP_EXPORT int rp_core_directive_scope(const rp_directive *d); /* mask of a core directive */
/* The host a name selects (lower-case, no port, no trailing dot); the
 * default host when none, with *known false. */
const rp_host *rp_host_lookup(const rp_server *s, const char *name, size_t len, bool *known);
int rp_host_routes_match(const rp_host *h, const char *path, bool websocket, rp_route_match *m);
/* Per request: pick the host (Host or :authority), 421 when a TLS
 * connection's SNI chose another, the <Route> scope.  0 or a status. */
int rp_req_select_host(rp_req *r);
/* Open each host's AccessLog (start, reload); -1 with *err. */
int rp_hosts_open_logs(rp_server *s, const char **err);
int rp_hosts_reopen_logs(rp_server *s); /* SIGUSR1 */
/* accesslog.c: r's line in format f; 0 when nothing to write. */
size_t rp_access_log_format(rp_req *r, const struct rp_logfmt *f, char *buf, size_t cap);
/* tls.c: the host the handshake's server name chose, NULL without SNI. */
const rp_host *rp_tls_sni_host(const rp_req *r);

#endif
