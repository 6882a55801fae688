/* static.c - mod_static: files from mapped directories.
 *
 *   LoadModule static mod_static.so
 *   CacheControl "max-age=84600, public" | on | off
 *   Map /key /dir                  (headers: <Route /key/> Header set ...)
 *
 * The descriptor, the directives, the Map target, the handler and the
 * "static" service (rp_static.h: file hooks, resolve) live here; safe path
 * resolution is in path.c.  Validators, ranges and the open-file cache are
 * the core's (rp_file.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rp_static.h"
#include "static_int.h"

#define ST_CC_DEFAULT "max-age=84600, public"

/* The server's: every mapped directory (of every host), so that a file
 * hook's replacement can be checked against all roots. */
typedef struct st_conf {
    st_target *targets; /* linked through st_target.next */
} st_conf;

/* A scope's (server, host, route): the Cache-Control value, NULL: none. */
typedef struct st_route_conf {
    const char *cache_control;
} st_route_conf;

/* Forward declaration: the handler compares route owners with it. */
RP_API extern const rp_module rp_module_static;

/* ---- configuration ------------------------------------------------------ */

static void *static_create_conf(rp_pool *p)
{
    return rp_pcalloc(p, sizeof(st_conf));
}

static void *static_create_route_conf(rp_pool *p)
{
    st_route_conf *c = rp_pcalloc(p, sizeof *c);
    c->cache_control = ST_CC_DEFAULT;
    return c;
}

/* A header value from the conf file must not be able to split the response. */
static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            return 1;
    return 0;
}

static const char *set_cache_control(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    st_route_conf *c = conf;
    int on;
    (void)argc;
    if (rp_parse_flag(argv[0], &on) == 0)
        c->cache_control = on ? ST_CC_DEFAULT : NULL;
    else if (!argv[0][0] || has_ctl(argv[0]))
        return rp_cmd_error(cmd, "CacheControl: give a header value, 'on' or 'off'");
    else
        c->cache_control = rp_pstrdup(rp_cmd_pool(cmd), argv[0]);
    return NULL;
}

static const rp_directive static_directives[] = {
    {"CacheControl", 1, 1, set_cache_control, 0,
     "CacheControl \"value\" | on | off: Cache-Control header for files (default on: "
     "\"" ST_CC_DEFAULT "\")"},
    RP_DIRECTIVES_END,
};

/* ---- Map /key /dir ----------------------------------------------------- */

/* Regular expressions, globs and websocket keys make no sense for a
 * directory (the spec forbids the first two). */
static int key_is_pattern(const char *key)
{
    if (key[0] == '~' || strncmp(key, "ws:", 3) == 0)
        return 1;
    for (const char *s = key; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            continue;
        }
        if (*s == '*' || *s == '?' || *s == '[')
            return 1;
    }
    return 0;
}

/* Extra words after the directory were once response headers ("Header
 * Name Value" or "Name: Value").  Headers are a route setting now, the
 * core's Header in a <Route> block, which also covers the other modules'
 * answers there; one mechanism, so the old form is refused with its
 * replacement spelled out. */
static const char *refuse_extra(rp_cmd *cmd, const char *key, int argc, char *const argv[])
{
    size_t klen = strlen(key);
    const char *name = "Name", *value = "Value", *colon = strchr(argv[0], ':');
    if (strcasecmp(argv[0], "Header") == 0 && argc >= 3) {
        name = argv[1];
        value = argv[2];
    } else if (colon && colon > argv[0]) {
        name = rp_pstrndup(rp_cmd_pool(cmd), argv[0], (size_t)(colon - argv[0]));
        for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
            ;
    }
    return rp_cmd_error(cmd,
                        "Map %s: words after the directory ('%s') are not read; response "
                        "headers are a route setting: <Route %s%s> Header set %s \"%s\" "
                        "</Route>",
                        key, argv[0], key, klen && key[klen - 1] == '/' ? "" : "/", name, value);
}

static void close_root_fd(void *arg)
{
    st_target *t = arg;
    if (t->root_fd >= 0)
        close(t->root_fd);
}

/* Fill the root of t from the directory dir (absolute). */
static const char *set_root(rp_cmd *cmd, const char *key, st_target *t, const char *dir)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return rp_cmd_error(cmd, "Map %s: '%s': %s", key, dir, strerror(errno));
    t->root = rp_pstrdup(rp_cmd_pool(cmd), real);
    t->root_len = strlen(real);
    free(real);
    /* Kept open for openat2(RESOLVE_BENEATH); closed with the configuration. */
    t->root_fd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    rp_pool_cleanup_add(rp_cmd_pool(cmd), close_root_fd, t);
    return NULL;
}

static int map_fail(const char **err, const char *msg)
{
    *err = msg;
    return RP_ERROR;
}

static int static_map_target(rp_cmd *cmd, void *conf, const char *key, int argc,
                             char *const argv[], const char **err)
{
    st_conf *c = conf;
    if (argc < 1)
        return RP_DECLINED;
    const char *dir = rp_cmd_resolve_path(cmd, argv[0]);
    struct stat st;
    int found = stat(dir, &st) == 0;
    /* A regular file is some other module's target (a script); leave it. */
    if (found && S_ISREG(st.st_mode))
        return RP_DECLINED;
    if (key_is_pattern(key))
        return map_fail(err, rp_cmd_error(cmd, "Map %s: regular expressions, globs and ws: keys "
                                               "are not allowed for mapped directories", key));
    if (key[0] != '/')
        return map_fail(err, rp_cmd_error(cmd, "Map %s: the key must start with '/'", key));
    if (!found || !S_ISDIR(st.st_mode))
        return map_fail(err, rp_cmd_error(cmd, "Map %s: '%s' is not a directory", key, dir));

    if (argc > 1)
        return map_fail(err, refuse_extra(cmd, key, argc - 1, argv + 1));
    st_target *t = rp_pcalloc(rp_cmd_pool(cmd), sizeof *t);
    const char *e = set_root(cmd, key, t, dir);
    if (e)
        return map_fail(err, e);
    /* Directory keys are always prefixes: "/css" means "/css/". */
    size_t klen = strlen(key);
    const char *k = key[klen - 1] == '/' ? key : rp_psprintf(rp_cmd_pool(cmd), "%s/", key);
    e = rp_route_add(cmd, k, &rp_module_static, t);
    if (e)
        return map_fail(err, e);
    t->next = c->targets;
    c->targets = t;
    return RP_OK;
}

/* ---- the handler ---------------------------------------------------------- */

/* "a//b" -> "a/b": a Location starting with "//" would name another host. */
static char *collapse_slashes(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++)
        if (!(*p == '/' && w > s && w[-1] == '/'))
            *w++ = *p;
    *w = '\0';
    return s;
}

/* A directory asked for without its trailing slash: relative links inside
 * it only work from "dir/", so send the client there (keeping the query). */
static int redirect_to_slash(rp_req *r)
{
    rp_pool *p = rp_req_pool(r);
    const char *q = rp_req_query(r);
    char *loc = collapse_slashes(rp_psprintf(p, "%s/%s%s", rp_url_encode(p, rp_req_path(r)),
                                             q ? "?" : "", q ? q : ""));
    char *body = rp_psprintf(p, "<html><body><a href=\"%s\">Moved Permanently</a></body></html>\n",
                             rp_html_escape(p, loc));
    rp_resp_set_status(r, 301);
    rp_resp_header_set(r, "Location", loc);
    rp_resp_header_set(r, "Content-Type", "text/html; charset=utf-8");
    rp_resp_set_length(r, (int64_t)strlen(body));
    rp_resp_write(r, body, strlen(body));
    return RP_OK;
}

/* Headers of every file answer besides what the core sets (validators,
 * type, ranges): caching.  A route's own headers are the core's Header. */
static void set_file_headers(rp_req *r)
{
    const st_route_conf *c = rp_req_route_conf(r, &rp_module_static);
    if (c && c->cache_control)
        rp_resp_header_set(r, "Cache-Control", c->cache_control);
}

/* The open-file cache's opener: every lookup (first or after the cache's
 * validity window) goes through the safe resolution below the root. */
#define ST_IS_DIR 1 /* not an HTTP status: the name is a directory */

typedef struct st_open_arg {
    const st_target *t;
    const char *rel;
    rp_pool *pool;
} st_open_arg;

static int open_below_root(void *arg, struct stat *st, int *status)
{
    const st_open_arg *a = arg;
    const char *used;
    int fd;
    int rc = st_lookup_open(a->t, a->rel, a->pool, st, &used, &fd);
    if (rc) {
        *status = rc;
        return -1;
    }
    if (fd < 0) /* a directory, or a fifo, socket or device (403) */
        *status = S_ISDIR(st->st_mode) ? ST_IS_DIR : 403;
    return fd;
}

/* The file rel below the root, through the cache; NULL with *status. */
static rp_file *get_file(rp_req *r, const st_target *t, const char *rel, int *status)
{
    rp_pool *p = rp_req_pool(r);
    st_open_arg a = {t, rel, p};
    /* root "/" rel, without a printf: this runs for every file request */
    size_t rlen = strlen(rel), sep = t->root_len > 1;
    char *key = rp_palloc(p, t->root_len + sep + rlen + 1);
    memcpy(key, t->root, t->root_len);
    key[t->root_len] = '/';
    memcpy(key + t->root_len + sep, rel, rlen + 1);
    return rp_file_get(r, t, key, open_below_root, &a, status);
}

/* ---- file hooks: the "static" service (rp_static.h) ----------------------- */

#define ST_MAX_HOOKS 16

typedef struct st_hook {
    rp_static_file_hook fn;
    void *arg;
} st_hook;

/* Written under the lock (post_config, reload); the count is read without
 * it first so that a server without hooks pays one atomic load per file. */
static pthread_mutex_t g_hook_lock = PTHREAD_MUTEX_INITIALIZER;
static st_hook g_hooks[ST_MAX_HOOKS];
static atomic_size_t g_nhooks;

static int st_add_file_hook(rp_static_file_hook fn, void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&g_hook_lock);
    size_t n = atomic_load(&g_nhooks);
    for (size_t i = 0; i < n; i++)
        if (g_hooks[i].fn == fn && g_hooks[i].arg == arg)
            rc = 0;
    if (rc != 0 && n < ST_MAX_HOOKS) {
        g_hooks[n].fn = fn;
        g_hooks[n].arg = arg;
        atomic_store(&g_nhooks, n + 1);
        rc = 0;
    }
    pthread_mutex_unlock(&g_hook_lock);
    return rc;
}

static int st_remove_file_hook(rp_static_file_hook fn, const void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&g_hook_lock);
    size_t n = atomic_load(&g_nhooks);
    for (size_t i = 0; i < n && rc != 0; i++) {
        if (g_hooks[i].fn == fn && g_hooks[i].arg == arg) {
            memmove(&g_hooks[i], &g_hooks[i + 1], (n - i - 1) * sizeof g_hooks[0]);
            atomic_store(&g_nhooks, n - 1);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&g_hook_lock);
    return rc;
}

/* The mapping a hook's replacement path lies in: relative paths are below
 * t's root; absolute ones below the deepest mapped root holding them (any
 * of our Map lines).  NULL when none does or rel would climb out. */
static const st_target *target_of_path(rp_req *r, const st_target *t, const char *path,
                                       const char **rel)
{
    const st_target *best = NULL;
    if (path[0] != '/') {
        best = t;
        *rel = path;
    } else {
        const st_conf *c = rp_req_conf(r, &rp_module_static);
        for (const st_target *x = c ? c->targets : NULL; x; x = x->next)
            if ((!best || x->root_len > best->root_len) && rp_path_within(x->root, path))
                best = x;
        if (!best)
            return NULL;
        *rel = path + best->root_len;
    }
    while (**rel == '/')
        (*rel)++;
    /* "..", empty: never let a textual prefix match climb out */
    return **rel && st_rest_is_safe(*rel) ? best : NULL;
}

static rp_file *get_file(rp_req *r, const st_target *t, const char *rel, int *status);

/* A hook asked for another file: *t, *rel and *f follow it.  0, or 404
 * (outside every mapped root, missing, not a regular file). */
static int replace_file(rp_req *r, const st_target **t, const char **rel, rp_file **f,
                        const char *path)
{
    const char *nrel;
    const st_target *nt = target_of_path(r, *t, path, &nrel);
    int status = 404;
    rp_file *nf = nt ? get_file(r, nt, nrel, &status) : NULL;
    if (!nf) {
        rp_log(&rp_module_static, RP_LOG_WARN,
               "%s: a file hook's replacement '%s' is no file below a mapped directory",
               rp_req_path(r), path);
        return 404;
    }
    *t = nt;
    *rel = nrel;
    *f = nf;
    return 0;
}

/* Offer the file to the hooks.  RP_DECLINED: send *f (perhaps replaced);
 * anything else is the answer. */
static int run_file_hooks(rp_req *r, const st_target **t, const char **rel, rp_file **f)
{
    if (atomic_load_explicit(&g_nhooks, memory_order_relaxed) == 0)
        return RP_DECLINED;
    st_hook snap[ST_MAX_HOOKS];
    pthread_mutex_lock(&g_hook_lock);
    size_t n = atomic_load(&g_nhooks);
    memcpy(snap, g_hooks, n * sizeof snap[0]);
    pthread_mutex_unlock(&g_hook_lock);
    /* the real path: what the safe lookup found, so never outside a root */
    const char *fs = st_realpath_inside(*t, *rel, rp_req_pool(r));
    for (size_t i = 0; i < n && fs; i++) {
        const char *replace = NULL;
        int rc = snap[i].fn(r, fs, snap[i].arg, &replace);
        if (rc != RP_DECLINED)
            return rc;
        if (!replace || strcmp(replace, fs) == 0)
            continue;
        if (replace_file(r, t, rel, f, replace))
            return 404;
        fs = st_realpath_inside(*t, *rel, rp_req_pool(r));
    }
    return fs ? RP_DECLINED : 404; /* gone since it was opened */
}

/* The "static" service's resolve: the file r's route maps it to. */
static const char *st_resolve(rp_req *r)
{
    if (rp_req_route_owner(r) != &rp_module_static)
        return NULL;
    const st_target *t = rp_req_route_target(r);
    const char *rest = rp_req_route_rest(r);
    while (*rest == '/')
        rest++;
    if (!t || !st_rest_is_safe(rest))
        return NULL;
    struct stat st;
    const char *used;
    if (st_lookup(t, rest, rp_req_pool(r), &st, &used) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    return st_realpath_inside(t, rest, rp_req_pool(r));
}

static const rp_static_api st_api = {
    .resolve = st_resolve,
    .add_file_hook = st_add_file_hook,
    .remove_file_hook = st_remove_file_hook,
};

static void static_register_hooks(rp_hooks *h, void *conf)
{
    (void)h;
    (void)conf;
    (void)rp_service_register(RP_STATIC_SERVICE, RP_STATIC_VERSION, &st_api);
}

static int serve_file(rp_req *r, const st_target *t, const char *rel, rp_file *f)
{
    int rc = run_file_hooks(r, &t, &rel, &f);
    if (rc != RP_DECLINED)
        return rc;
    set_file_headers(r);
    return rp_resp_send_file(r, f);
}

/* A directory: redirect to "dir/", serve its index.html, or 403 with the
 * note "static.dir" naming it so a listing module can take over. */
static int serve_dir(rp_req *r, const st_target *t, const char *rest)
{
    const char *path = rp_req_path(r);
    size_t plen = strlen(path);
    if (plen == 0 || path[plen - 1] != '/')
        return redirect_to_slash(r);
    rp_pool *p = rp_req_pool(r);
    size_t rlen = strlen(rest);
    const char *index = rp_psprintf(p, "%s%sindex.html", rest,
                                    (rlen == 0 || rest[rlen - 1] == '/') ? "" : "/");
    int status;
    rp_file *f = get_file(r, t, index, &status);
    if (f)
        return serve_file(r, t, index, f);
    const char *real = st_realpath_inside(t, rest, p);
    if (real)
        rp_req_note_set(r, "static.dir", real);
    return 403;
}

/* The raw path must not hold an encoded NUL: the decoded C string would
 * silently end early ("secret%00.html" -> "secret").  The core refuses
 * these with 400 already; this is defence in depth. */
static int uri_has_nul(const rp_req *r)
{
    const char *uri = rp_req_uri(r);
    size_t n = strcspn(uri, "?");
    for (size_t i = 0; i + 2 < n; i++)
        if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
            return 1;
    return 0;
}

/* The spec wants a mapped-directory key without its slash to be NOT FOUND:
 * with "/file.html" mapped to a directory, "/file.html" is 404 and only
 * "/file.html/..." serves files.  The core's prefix match already never
 * offers "/dir" to the key "/dir/"; this keeps the rule if it ever does. */
static int is_bare_key(const rp_req *r, const char *rest)
{
    const char *path = rp_req_path(r);
    size_t plen = strlen(path);
    return rest[0] == '\0' && (plen == 0 || path[plen - 1] != '/');
}

/* The descriptor's handler: the core calls it only for our routes. */
static int static_handler(rp_req *r)
{
    const st_target *t = rp_req_route_target(r);
    if (!rp_req_is_head(r) && strcmp(rp_req_method(r), "GET") != 0) {
        rp_resp_header_set(r, "Allow", "GET, HEAD");
        return 405;
    }
    const char *rest = rp_req_route_rest(r);
    if (is_bare_key(r, rest))
        return 404;
    while (*rest == '/')
        rest++;
    if (!st_rest_is_safe(rest) || uri_has_nul(r))
        return 404;
    int status;
    rp_file *f = get_file(r, t, rest, &status);
    if (f)
        return serve_file(r, t, rest, f);
    return status == ST_IS_DIR ? serve_dir(r, t, rest) : status;
}

RP_MODULE_DECLARE(static) = {
    RP_MODULE_HEADER,
    .name = "static",
    .version = "0.1.0",
    .map_target = static_map_target,
    .register_hooks = static_register_hooks,
    .handler = static_handler,
    /* CacheControl is a route setting; its one field means the innermost
     * scope that sets it wins whole, so no merge function is needed. */
    .route_directives = static_directives,
    .create_conf = static_create_conf,
    .create_route_conf = static_create_route_conf,
};
