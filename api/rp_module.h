/* rp_module.h - the plugin descriptor, configuration directives and routes.
 *
 * A plugin is a shared object exporting exactly one symbol,
 * "rp_module_<name>", a const rp_module.  Write it with RP_MODULE_DECLARE and
 * start the initializer with RP_MODULE_HEADER:
 *
 *     RP_MODULE_DECLARE(hello) = {
 *         RP_MODULE_HEADER,
 *         .name = "hello", .version = "1.0",
 *         .directives = hello_directives,
 *         .create_conf = hello_create_conf,
 *         .register_hooks = hello_register_hooks,
 *     };
 *
 * The loader refuses a descriptor whose magic differs, whose ABI major differs
 * from the server's, whose ABI minor is newer than the server's, or whose
 * name is already loaded.  Fields unknown to an older plugin (struct_size
 * smaller than the server's rp_module) are treated as NULL.
 *
 * ABI history: 1.1 added rp_stop_state_get (same descriptor); 1.2 appends
 * the descriptor field `handler`; 1.3 adds functions only (same
 * descriptor): metrics (rp_metrics.h), request ids and timing, the
 * authenticated user, typed compression and range choices, rp_resp_abort,
 * rp_req_protocol, rp_log_req, the cookie walker, CIDR matching; 1.4
 * appends `route_directives`, `create_route_conf` and `merge_route_conf`
 * (per-route settings) and adds rp_req_route_conf and the streamed request
 * body functions: rp_module_stream_body,
 * rp_req_body_stream/_pause/_resume/_streamed/_length/_received.
 */
#ifndef RP_MODULE_H
#define RP_MODULE_H

#include "rp_common.h"

#define RP_MODULE_MAGIC 0x52414d50u /* "RAMP" */
#define RP_ABI_MAJOR 1
#define RP_ABI_MINOR 4

/* ---- directives --------------------------------------------------------- */

/* A directive setter.  conf is the module's configuration object (from
 * create_conf).  Return NULL on success or an error message (for instance
 * from rp_cmd_error); the core prints it as "file:line: message". */
typedef const char *(*rp_directive_fn)(rp_cmd *cmd, void *conf, int argc, char *const argv[]);

typedef struct rp_directive {
    const char *name;     /* as written in the conf file: "CompressLevel" */
    int min_args;         /* arguments after the name */
    int max_args;         /* -1: no upper bound */
    rp_directive_fn set;  /* a generic setter below or the module's own */
    size_t offset;        /* offsetof(conf struct, field) for generic setters */
    const char *help;     /* "CompressLevel 1-10: gzip effort" - shown in errors */
} rp_directive;

#define RP_DIRECTIVES_END {NULL, 0, 0, NULL, 0, NULL}

/* Generic setters: they store into (char *)conf + offset.
 *   rp_set_string  char *        one argument, copied
 *   rp_set_flag    int           on|off|true|false|yes|no|1|0
 *   rp_set_int     long          decimal integer
 *   rp_set_size    size_t        bytes with optional k, m, g suffix (1024-based)
 *   rp_set_seconds double        seconds, fractions allowed, >= 0
 *   rp_set_path    char *        resolved against the directory of the conf file
 *   rp_set_list    char **       all arguments, NULL-terminated
 */
RP_API const char *rp_set_string(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_flag(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_int(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_size(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_seconds(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_path(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
RP_API const char *rp_set_list(rp_cmd *cmd, void *conf, int argc, char *const argv[]);

/* Parse helpers for custom setters; 0 on success, -1 if malformed. */
RP_API int rp_parse_flag(const char *s, int *out);
RP_API int rp_parse_size(const char *s, size_t *out);
RP_API int rp_parse_long(const char *s, long *out);

/* The directive being applied. */
RP_API const char *rp_cmd_name(const rp_cmd *cmd);
RP_API const char *rp_cmd_file(const rp_cmd *cmd);
RP_API int rp_cmd_line(const rp_cmd *cmd);
RP_API size_t rp_cmd_offset(const rp_cmd *cmd); /* the table entry's offset */
RP_API rp_pool *rp_cmd_pool(const rp_cmd *cmd); /* lives as long as the configuration */
RP_API rp_server *rp_cmd_server(const rp_cmd *cmd);
/* Absolute path: path itself if absolute, else joined to the conf file's directory. */
RP_API char *rp_cmd_resolve_path(const rp_cmd *cmd, const char *path);
/* Format an error message in the configuration pool; return it from a setter. */
RP_API const char *rp_cmd_error(const rp_cmd *cmd, const char *fmt, ...) RP_PRINTF(2, 3);

/* ---- routes --------------------------------------------------------------- */

/* Add a route to the core's table.  key forms:
 *   "/exact.html"   exact path
 *   "/dir/"         prefix (trailing slash)
 *   "~regex"        PCRE2 pattern matched against the decoded path
 *   "/x/page?.html"   glob (fnmatch) when it holds an unescaped * ? or [
 *   "ws:..."        any of the above, for websocket upgrade requests only
 * Matching order: exact and prefix, then regex, then glob; longest key first
 * within each group unless "MapSort off".  owner is the module whose
 * descriptor `handler` serves the route (see struct rp_module); target is
 * opaque data the owner gets back from rp_req_route_target().  Returns NULL
 * or an error message. */
RP_API const char *rp_route_add(rp_cmd *cmd, const char *key, const rp_module *owner, void *target);

/* ---- the descriptor ---------------------------------------------------- */

struct rp_module {
    uint32_t magic;       /* RP_MODULE_MAGIC */
    uint16_t abi_major;   /* RP_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* RP_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(rp_module) the plugin was built with */
    const char *name;     /* short name: "static"; must match LoadModule */
    const char *version;

    const rp_directive *directives; /* RP_DIRECTIVES_END-terminated, or NULL */

    /* Configuration object holding the defaults; directive setters fill it. */
    void *(*create_conf)(rp_pool *p);
    /* Layering: the result of applying "add" over "base".  Called when a
     * configuration is built from another (a reload re-reading the conf keeps
     * the module's process-wide state in base).  NULL: "add" wins whole. */
    void *(*merge_conf)(rp_pool *p, void *base, void *add);

    /* "Map /key target..." lines are offered to each loaded module, in load
     * order, until one returns RP_OK (it called rp_route_add) or an error
     * (returned through *err).  RP_DECLINED: not a target of this module. */
    int (*map_target)(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                      const char **err);

    /* Register hooks and filters (rp_hooks.h, rp_filter.h).  Called once,
     * after the configuration has been read. */
    void (*register_hooks)(rp_hooks *h, void *conf);

    /* Called exactly once per configuration, after every module's hooks are
     * registered and before any socket is accepted.  Return RP_OK or RP_ERROR
     * after logging why; an error refuses to start. */
    int (*post_config)(rp_server *s, void *conf);

    /* Called in each worker thread before it serves, and as it stops. */
    int (*worker_init)(rp_worker *w, void *conf);
    void (*worker_exit)(rp_worker *w, void *conf);

    /* ---- ABI 1.2 -------------------------------------------------------- */

    /* The content handler of the routes this module owns (rp_route_add, or
     * rp_req_set_route in a MAP hook): after MAP and AUTH the core calls the
     * owner's handler directly, with no "is this my route?" test to write
     * and no other module's HANDLER hook in front of it.  Same results as a
     * HANDLER hook (rp_hooks.h).  RP_DECLINED hands the request to the
     * HANDLER hooks, which also serve requests no route claims; when they
     * all decline the answer is 404.  NULL: the HANDLER hooks decide. */
    int (*handler)(rp_req *r);

    /* ---- ABI 1.4 -------------------------------------------------------- */

    /* Per-route settings.  These directives may be written at the top
     * level, inside <Host> and inside <Route>; their setters get the route
     * conf of the scope being read (made by create_route_conf, defaults
     * only).  `directives` above stay top-level only.  The core merges top
     * level -> host -> route once, when the configuration is finalized:
     * merge_route_conf(p, parent, child) returns the child's settings with
     * the parent's filling what the child left unset (NULL: the child wins
     * whole).  A request reads the result with rp_req_route_conf. */
    const rp_directive *route_directives;
    void *(*create_route_conf)(rp_pool *p);
    void *(*merge_route_conf)(rp_pool *p, void *parent, void *child);
};

#define RP_MODULE_HEADER \
    .magic = RP_MODULE_MAGIC, .abi_major = RP_ABI_MAJOR, .abi_minor = RP_ABI_MINOR, \
    .struct_size = sizeof(rp_module)

#define RP_MODULE_DECLARE(name) RP_API const rp_module rp_module_##name; \
    const rp_module rp_module_##name

/* The configuration object of module m in server s (what create_conf made). */
RP_API void *rp_server_conf(const rp_server *s, const rp_module *m);
/* The merged route conf of module m for request r: the best-matching
 * <Route> of r's host, else the host's, else the top level's.  NULL when m
 * has no create_route_conf.  Constant time (ABI 1.4). */
RP_API void *rp_req_route_conf(const rp_req *r, const rp_module *m);
/* The running server's number of worker threads. */
RP_API int rp_server_threads(const rp_server *s);

#endif
