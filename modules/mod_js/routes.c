/* routes.c - JavaScript route targets (mod_js, HTTP half).
 *
 *   MapModule /key name [exact]   require(name) from the conf file's (or the
 *                                 main script's) directory.  Exports:
 *                                 - a function: it serves the key;
 *                                 - an object of "/sub/path": function: each
 *                                   serves key + sub path ("/multi/" +
 *                                   "/page1.html").  A key without a trailing
 *                                   slash also mounts the object under
 *                                   "key/" unless "exact" is given.
 *   MapModulePath /key/ dir       "/key/name.ext" runs dir/name.js (any ext);
 *                                 "/key/sub/name.ext" runs dir/sub/name.js;
 *                                 an object export serves "/key/name/page".
 *                                 Only files whose real path lies below
 *                                 dir run (a symlink out of it is 404).
 *   NotFound target               serves every 404 (notFoundFunc)
 *   DirectoryScript target        directory listings (directoryFunc)
 *   Map /key file.js              same as MapModule
 *   Map /key js:function:NAME     a function from start() (internal)
 *
 * Websockets: any key may start with "ws:" ("ws:/chat", "MapModule ws:/x
 * m.js"); the core routes such keys only for requests carrying "Upgrade:
 * websocket", and the target (t->ws) is served by ws_js.c.
 *
 * Keys: exact, "dir/" prefix, "~regex" or glob, matched by the core.
 * Modules are re-read when their file changes (js_require_push).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "js_stream.h" /* js_req_cache_of */

#define FN_PREFIX "js:function:"

static int is_pattern(const char *key)
{
    if (strncmp(key, "ws:", 3) == 0)
        key += 3;
    if (key[0] == '~')
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

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory relative names resolve against, without a trailing "/.". */
static const char *cmd_dir(rp_cmd *cmd)
{
    char *d = rp_cmd_resolve_path(cmd, ".");
    size_t n = strlen(d);
    if (n >= 2 && strcmp(d + n - 2, "/.") == 0)
        d[n - 2] = '\0';
    return *d ? d : "/";
}

int js_conf_func(rp_pool *p, js_conf *c, const char *name)
{
    for (int i = 0; i < c->nfuncs; i++)
        if (strcmp(c->funcs[i], name) == 0)
            return i;
    if (c->nfuncs == c->capfuncs) {
        int ncap = c->capfuncs ? c->capfuncs * 2 : 16;
        const char **n = rp_palloc(p, (size_t)ncap * sizeof *n);
        if (c->nfuncs)
            memcpy(n, c->funcs, (size_t)c->nfuncs * sizeof *n);
        c->funcs = n;
        c->capfuncs = ncap;
    }
    c->funcs[c->nfuncs] = rp_pstrdup(p, name);
    return c->nfuncs++;
}

/* A module target; NULL with *err set when the module cannot be found. */
static js_target *module_target(rp_cmd *cmd, const char *key, const char *name, const char **err)
{
    rp_pool *p = rp_cmd_pool(cmd);
    const char *from = cmd_dir(cmd);
    /* Names that look like paths must exist now (bare names go through the
     * module search at the first request). */
    if (name[0] == '/' || name[0] == '.' || strchr(name, '/') || strstr(name, ".js")) {
        const char *abs = rp_cmd_resolve_path(cmd, name);
        if (!is_file(abs) && !is_file(rp_psprintf(p, "%s.js", abs)) &&
            !is_file(rp_psprintf(p, "%s.json", abs))) {
            *err = rp_cmd_error(cmd, "%s %s: cannot find module '%s' (looked for %s and %s.js)",
                                rp_cmd_name(cmd), key, name, abs, abs);
            return NULL;
        }
        name = abs;
    }
    js_target *t = rp_pcalloc(p, sizeof *t);
    t->kind = JS_T_MODULE;
    t->key = rp_pstrdup(p, key);
    t->name = rp_pstrdup(p, name);
    t->from = from;
    return t;
}

static const char *check_key(rp_cmd *cmd, const char *key)
{
    const char *k = key;
    if (strncmp(k, "ws:", 3) == 0)
        k += 3;
    if (k[0] != '/' && k[0] != '~')
        return rp_cmd_error(cmd,
                            "%s %s: the key must start with '/' (a path) or '~' (a "
                            "regular expression)",
                            rp_cmd_name(cmd), key);
    return NULL;
}

static int is_ws_key(const char *key)
{
    return strncmp(key, "ws:", 3) == 0;
}

/* rp_route_add for a mod_js target; "ws:" keys are websocket routes. */
static const char *route_add(rp_cmd *cmd, const char *key, js_target *t)
{
    if (is_ws_key(key)) {
        t->ws = 1;
        js_conf *c = rp_server_conf(rp_cmd_server(cmd), JS_SELF);
        if (c)
            c->nws++;
    }
    return rp_route_add(cmd, key, JS_SELF, t);
}

/* Route a module; exact keys also mount object exports under "key/". */
static const char *add_module(rp_cmd *cmd, const char *key, const char *name, int exact)
{
    const char *err = check_key(cmd, key);
    if (err)
        return err;
    js_target *t = module_target(cmd, key, name, &err);
    if (!t)
        return err;
    size_t klen = strlen(key);
    t->mount = key[klen - 1] == '/' ? 1 : 0;
    if ((err = route_add(cmd, key, t)))
        return err;
    if (!t->mount && !exact && !is_pattern(key) && !t->ws) {
        js_target *m = rp_palloc(rp_cmd_pool(cmd), sizeof *m);
        *m = *t;
        m->mount = 2;
        /* Already mapped to something else: that mapping wins. */
        (void)rp_route_add(cmd, rp_psprintf(rp_cmd_pool(cmd), "%s/", key), JS_SELF, m);
    }
    return NULL;
}

static const char *add_module_path(rp_cmd *cmd, const char *key, const char *dir)
{
    rp_pool *p = rp_cmd_pool(cmd);
    const char *err = check_key(cmd, key);
    if (err)
        return err;
    if (is_pattern(key))
        return rp_cmd_error(cmd,
                            "%s %s: regular expressions and globs are not allowed for a "
                            "module directory",
                            rp_cmd_name(cmd), key);
    const char *abs = rp_cmd_resolve_path(cmd, dir);
    char *real = realpath(abs, NULL);
    if (!real || !is_dir(real)) {
        free(real);
        return rp_cmd_error(cmd, "%s %s: '%s' is not a directory", rp_cmd_name(cmd), key, abs);
    }
    js_target *t = rp_pcalloc(p, sizeof *t);
    t->kind = JS_T_MODPATH;
    t->key = rp_pstrdup(p, key);
    t->dir = rp_pstrdup(p, real);
    free(real);
    size_t klen = strlen(key);
    return route_add(cmd, key[klen - 1] == '/' ? key : rp_psprintf(p, "%s/", key), t);
}

/* "js:function:NAME" (start() only) or a module file. */
static js_target *parse_target(rp_cmd *cmd, js_conf *c, const char *key, const char *target,
                               const char **err)
{
    rp_pool *p = rp_cmd_pool(cmd);
    if (strncmp(target, FN_PREFIX, strlen(FN_PREFIX)) == 0) {
        if (!c->snap) {
            *err = rp_cmd_error(cmd,
                                "%s %s: '%s' names a function of a start() script; from a "
                                "conf file map a module file instead",
                                rp_cmd_name(cmd), key, target);
            return NULL;
        }
        js_target *t = rp_pcalloc(p, sizeof *t);
        t->kind = JS_T_FUNC;
        t->key = rp_pstrdup(p, key);
        t->fidx = js_conf_func(p, c, target + strlen(FN_PREFIX));
        return t;
    }
    return module_target(cmd, key, target, err);
}

js_target *js_parse_target(rp_cmd *cmd, js_conf *c, const char *key, const char *target,
                           const char **err)
{
    return parse_target(cmd, c, key, target, err);
}

int js_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                  const char **err)
{
    js_conf *c = conf;
    if (argc < 1)
        return RP_DECLINED;
    const char *target = argv[0];
    int fn = strncmp(target, FN_PREFIX, strlen(FN_PREFIX)) == 0;
    size_t tl = strlen(target);
    int jsfile =
        tl > 3 && strcmp(target + tl - 3, ".js") == 0 && is_file(rp_cmd_resolve_path(cmd, target));
    if (!fn && !jsfile)
        return RP_DECLINED;
    if (argc > 1) {
        *err = rp_cmd_error(cmd, "Map %s %s: a JavaScript target takes no extra arguments", key,
                            target);
        return RP_ERROR;
    }
    if (!fn) {
        *err = add_module(cmd, key, target, 0);
        return *err ? RP_ERROR : RP_OK;
    }
    if ((*err = check_key(cmd, key)))
        return RP_ERROR;
    js_target *t = parse_target(cmd, c, key, target, err);
    if (!t)
        return RP_ERROR;
    *err = route_add(cmd, key, t);
    return *err ? RP_ERROR : RP_OK;
}

const char *js_set_map_module(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    int exact = 0;
    if (argc == 3) {
        if (strcmp(argv[2], "exact") != 0)
            return rp_cmd_error(cmd,
                                "MapModule %s %s: the third word may only be 'exact', got "
                                "'%s'",
                                argv[0], argv[1], argv[2]);
        exact = 1;
    }
    return add_module(cmd, argv[0], argv[1], exact);
}

const char *js_set_map_module_path(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    (void)argc;
    return add_module_path(cmd, argv[0], argv[1]);
}

const char *js_set_notfound(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    js_conf *c = conf;
    const char *err = NULL;
    (void)argc;
    c->notfound = parse_target(cmd, c, "(NotFound)", argv[0], &err);
    return c->notfound ? NULL : err;
}

const char *js_set_dirscript(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    js_conf *c = conf;
    const char *err = NULL;
    (void)argc;
    c->dirfunc = parse_target(cmd, c, "(DirectoryScript)", argv[0], &err);
    return c->dirfunc ? NULL : err;
}

/* ---- at request time ------------------------------------------------------ */

/* exports (at the top) is replaced by its function for sub, or popped
 * (returns 0) when there is none. */
static int pick(duk_context *ctx, const char *sub, int allow_function)
{
    if (duk_is_function(ctx, -1)) {
        if (allow_function)
            return 1;
        duk_pop(ctx);
        return 0;
    }
    if (!duk_is_object(ctx, -1) || !sub) {
        duk_pop(ctx);
        return 0;
    }
    duk_get_prop_string(ctx, -1, sub);
    duk_remove(ctx, -2);
    if (duk_is_function(ctx, -1))
        return 1;
    duk_pop(ctx);
    return 0;
}

/* No "..", no empty or hidden segments ("." files), no NUL. */
static int safe_rest(const char *rest)
{
    if (!*rest || rest[0] == '/')
        return 0;
    for (const char *s = rest; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || s[0] == '.')
            return 0;
        s += n + (e ? 1 : 0);
        if (e && !*s)
            return 0;
    }
    return 1;
}

/* The real path of dir/base.js if it is a regular file below the root
 * t->dir (itself a real path), else NULL.  A symlink in the file name or in
 * a directory on the way may lead anywhere: resolving it first and checking
 * the result keeps code outside the root from running, the same rule
 * mod_static applies to the files it serves. */
static const char *module_inside(rp_pool *p, const js_target *t, const char *base)
{
    char *real = realpath(rp_psprintf(p, "%s/%s.js", t->dir, base), NULL);
    if (!real)
        return NULL;
    int below = rp_path_within(t->dir, real) && strcmp(real, t->dir) != 0;
    const char *out = below && is_file(real) ? rp_pstrdup(p, real) : NULL;
    free(real);
    return out;
}

static int push_modpath(duk_context *ctx, rp_req *r, const js_target *t)
{
    rp_pool *p = rp_req_pool(r);
    const char *rest = rp_req_route_rest(r);
    if (!safe_rest(rest))
        return 0;
    /* Longest module file first: a/b/c.html -> a/b/c.js, then a/b.js with
     * sub "/c.html", then a.js with "/b/c.html". */
    char *path = rp_pstrdup(p, rest);
    const char *sub = NULL;
    for (;;) {
        char *slash = strrchr(path, '/');
        char *dot = strrchr(slash ? slash : path, '.');
        char *base = dot ? rp_pstrndup(p, path, (size_t)(dot - path)) : path;
        const char *file = module_inside(p, t, base);
        if (file) {
            js_require_push(ctx, file, NULL);
            return pick(ctx, sub ? sub : "/", 1);
        }
        if (!slash)
            return 0;
        sub = rest + (slash - path);
        *slash = '\0';
    }
}

/* Push the heap's mapped functions (JS_STASH_FUNCS), by pointer after the
 * first time: duk_push_heap_stash and a named get cost more than the rest of
 * the lookup.  setup_stash puts the array once, when the heap is made, and
 * never replaces it, so the pointer stays valid (the stash keeps it). */
static void push_funcs(duk_context *ctx)
{
    js_req_cache *rc = js_req_cache_of(ctx);
    if (rc->funcs) {
        duk_push_heapptr(ctx, rc->funcs);
        return;
    }
    duk_push_heap_stash(ctx);
    duk_get_prop_literal(ctx, -1, JS_STASH_FUNCS);
    duk_remove(ctx, -2);
    if (duk_is_object(ctx, -1))
        rc->funcs = duk_get_heapptr(ctx, -1);
}

int js_push_target(duk_context *ctx, rp_req *r, const js_target *t)
{
    switch (t->kind) {
    case JS_T_FUNC:
        push_funcs(ctx);
        duk_get_prop_index(ctx, -1, (duk_uarridx_t)t->fidx);
        duk_remove(ctx, -2);
        if (duk_is_function(ctx, -1))
            return 1;
        duk_pop(ctx);
        return 0;
    case JS_T_MODULE: {
        js_require_push(ctx, t->name, t->from);
        if (t->mount == 0)
            return pick(ctx, "/", 1);
        const char *rest = rp_req_route_rest(r);
        const char *sub = rp_psprintf(rp_req_pool(r), "/%s", rest);
        return pick(ctx, sub, t->mount == 1);
    }
    case JS_T_MODPATH: return push_modpath(ctx, r, t);
    }
    return 0;
}
