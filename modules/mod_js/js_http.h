/* js_http.h - internal to the HTTP half of mod_js: the module (mod_js.c),
 * start() (start.c), routes (routes.c), the request object (req.c) and the
 * return object (reply.c).  The runtime half's contract is js_int.h.
 */
#ifndef JS_HTTP_H
#define JS_HTTP_H

#include <sys/types.h>

#include "js_int.h"
#include "js_parse.h"

#define JS_SELF (&rp_module_js)

/* ---- route targets (routes.c) ------------------------------------------ */

typedef enum {
    JS_T_FUNC,    /* a function from start(): index into js_conf.funcs */
    JS_T_MODULE,  /* {module: name}, MapModule: a function or an object of paths */
    JS_T_MODPATH, /* {modulePath: dir}, MapModulePath: dir/<name>.js */
} js_kind;

typedef struct js_target {
    js_kind kind;
    const char *key;  /* the map key as configured */
    int fidx;         /* JS_T_FUNC */
    const char *name; /* JS_T_MODULE: the require() name */
    const char *from; /* JS_T_MODULE: directory require() resolves from */
    const char *dir;  /* JS_T_MODPATH: absolute directory, no trailing slash */
    int mount;        /* JS_T_MODULE under "key/": object exports mount below key */
} js_target;

/* ---- the configuration (mod_js.c) ---------------------------------------- */

typedef struct js_conf {
    double timeout;         /* ScriptTimeout seconds, 0 = none */
    int dev;                /* DeveloperMode */
    const char *script_dir; /* worker heaps' script dir; @file and modules resolve here */
    js_snapshot *snap;      /* start(): globals and functions for worker heaps */
    const char **funcs;     /* snapshot names of the functions routes refer to */
    int nfuncs, capfuncs;
    js_target *notfound; /* NotFound: every 404 */
    js_target *dirfunc;  /* DirectoryScript: directories without index.html */
    /* start() asked for TLS but no loaded code provides it: warn. */
    int secure;
} js_conf;

/* Register a snapshot function name; returns its index. */
int js_conf_func(rp_pool *p, js_conf *c, const char *name);

/* ---- per-request state --------------------------------------------------- */

/* What the request object gets besides the request itself. */
typedef struct js_extra {
    const char *errmsg; /* req.errMsg (notFoundFunc after a JS error) */
    const char *fspath; /* req.fsPath (directoryFunc) */
    int default_status; /* 200, or 404 for notFoundFunc */
} js_extra;

/* A parsed return object, applied to the response once JS is done. */
typedef struct js_hdr {
    const char *name, *value;
} js_hdr;

typedef struct js_plan {
    int status;
    const char *ctype; /* from the key, or a content-type header */
    const char *file;  /* "@path": absolute path */
    const void *data;  /* body bytes, held by the value at the stack top */
    size_t len;
    int has_body;
    int compress; /* -1 unset, 0 off, 1..10 level, 11 = on (configured level) */
    js_hdr *hdrs;
    size_t nhdrs;
    const char *why; /* developer-mode explanation of an unusable return value */
} js_plan;

/* ---- req.c --------------------------------------------------------------- */

/* Push the request object.  Returns 0, or an HTTP status (400) with *why set
 * when the body cannot be parsed as its Content-Type says. */
int js_push_req(duk_context *ctx, rp_req *r, const js_extra *ex, const char **why);

/* ---- reply.c ------------------------------------------------------------- */

/* Turn the return value at idx into a plan (may throw).  Leaves idx in place:
 * plan->data points into it. */
void js_reply_prepare(duk_context *ctx, rp_req *r, duk_idx_t idx, js_plan *plan);
/* Send the plan.  ref/unref keep the body value alive for rp_resp_write_ref
 * (both NULL: copy).  Returns RP_OK or an HTTP status. */
int js_reply_send(rp_req *r, const js_plan *plan, const js_conf *c, void (*release)(void *),
                  void *arg);
/* The developer-mode 500 page with text (HTML-escaped). */
int js_reply_dev_error(rp_req *r, const char *text);

/* ---- routes.c ---------------------------------------------------------- */

/* Map targets and the MapModule / MapModulePath / NotFound / DirectoryScript
 * directives. */
int js_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                  const char **err);
const char *js_set_map_module(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_map_module_path(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_notfound(rp_cmd *cmd, void *conf, int argc, char *const argv[]);
const char *js_set_dirscript(rp_cmd *cmd, void *conf, int argc, char *const argv[]);

/* Push the function that serves target t for r (may throw).  Returns 1 with
 * the function pushed, or 0 with nothing pushed when the target has no
 * function for this path (404). */
int js_push_target(duk_context *ctx, rp_req *r, const js_target *t);

/* ---- start.c ------------------------------------------------------------- */

rp_server *js_http_server(int *serving);

/* The prefix used for snapshot names of start()'s functions. */
#define JS_SNAP_PREFIX "rp:fn:"

#endif
