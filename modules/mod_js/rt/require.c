/* require.c - CommonJS modules: resolution, a per-heap cache with hot
 * reload, JSON modules and builtin modules.  The search order is documented
 * in js_int.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "js_int.h"

#define CACHE_KEY JS_STASH_MODULES
#define DIR_KEY DUK_HIDDEN_SYMBOL("rp_dir")
#define BUILTIN_PREFIX "builtin:"

/* ---- builtins (process-wide) ------------------------------------------------ */

typedef struct builtin {
    char *name;
    duk_c_function loader;
} builtin;

static pthread_mutex_t builtins_lock = PTHREAD_MUTEX_INITIALIZER;
static builtin *builtins;
static size_t nbuiltins;

void js_builtin_register(const char *name, duk_c_function loader)
{
    pthread_mutex_lock(&builtins_lock);
    for (size_t i = 0; i < nbuiltins; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            builtins[i].loader = loader;
            pthread_mutex_unlock(&builtins_lock);
            return;
        }
    }
    builtin *nb = realloc(builtins, (nbuiltins + 1) * sizeof *nb);
    char *nm = strdup(name);
    if (nb)
        builtins = nb;
    if (nb && nm) {
        builtins[nbuiltins].name = nm;
        builtins[nbuiltins].loader = loader;
        nbuiltins++;
    } else {
        free(nm);
        rp_log(JS_LOG, RP_LOG_ERR, "out of memory registering builtin module '%s'", name);
    }
    pthread_mutex_unlock(&builtins_lock);
}

/* The table is process-wide and lives as long as mod_js.so: free it when
 * the library is unloaded (rampart-httpd closes plugins at exit). */
__attribute__((destructor)) static void builtins_free(void)
{
    for (size_t i = 0; i < nbuiltins; i++)
        free(builtins[i].name);
    free(builtins);
    builtins = NULL;
    nbuiltins = 0;
}

static duk_c_function builtin_find(const char *name)
{
    duk_c_function f = NULL;
    pthread_mutex_lock(&builtins_lock);
    for (size_t i = 0; i < nbuiltins; i++)
        if (strcmp(builtins[i].name, name) == 0)
            f = builtins[i].loader;
    pthread_mutex_unlock(&builtins_lock);
    return f;
}

/* ---- resolution ---------------------------------------------------------------- */

static pthread_once_t instdir_once = PTHREAD_ONCE_INIT;
static char instdir[PATH_MAX];

static void instdir_init(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/../%s", exe, RP_JS_MODULEDIR_REL);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && realpath(cand, instdir))
                return;
        }
    }
    snprintf(instdir, sizeof instdir, "%s", RP_JS_MODULEDIR);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* name tried in dir: as is, .js, .json, /index.js; a malloc'ed real path. */
static char *try_dir(const char *dir, const char *name)
{
    static const char *const suffixes[] = {"", ".js", ".json", "/index.js"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        int n = name[0] == '/' ? snprintf(p, sizeof p, "%s%s", name, suffixes[i])
                               : snprintf(p, sizeof p, "%s/%s%s", dir, name, suffixes[i]);
        if (n <= 0 || (size_t)n >= sizeof p)
            continue;
        if (is_file(p))
            return realpath(p, NULL);
    }
    return NULL;
}

/* Calls fn(dir) for each search directory in order until it returns
 * non-NULL.  Relative names ("./x", "../x") use the requiring directory
 * only; absolute names no directory. */
typedef char *(*dir_fn)(const char *dir, const char *name, void *arg);

/* a and b name the same directory (ignoring one trailing slash). */
static int same_dir(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (la > 1 && a[la - 1] == '/')
        la--;
    if (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static char *for_each_dir(const char *heap_dir, const char *name, const char *from, dir_fn fn,
                          void *arg)
{
    const char *base = from ? from : heap_dir;
    if (name[0] == '/')
        return fn("", name, arg);
    if (strncmp(name, "./", 2) == 0 || strncmp(name, "../", 3) == 0)
        return fn(base, name, arg);
    char *r;
    if (from && (r = fn(from, name, arg)))
        return r;
    if (heap_dir && !same_dir(heap_dir, from) && (r = fn(heap_dir, name, arg)))
        return r;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) && !same_dir(cwd, from) && !same_dir(cwd, heap_dir) &&
        (r = fn(cwd, name, arg)))
        return r;
    const char *rp = getenv("RAMPART_PATH");
    if (rp && *rp) {
        char *copy = strdup(rp), *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
            if ((r = fn(d, name, arg))) {
                free(copy);
                return r;
            }
        }
        free(copy);
    }
    pthread_once(&instdir_once, instdir_init);
    return fn(instdir, name, arg);
}

static char *find_cb(const char *dir, const char *name, void *arg)
{
    (void)arg;
    return try_dir(dir, name);
}

typedef struct searched {
    char text[2048];
    size_t n;
} searched;

static char *list_cb(const char *dir, const char *name, void *arg)
{
    (void)name;
    searched *s = arg;
    if (!*dir)
        return NULL;
    int n = snprintf(s->text + s->n, sizeof s->text - s->n, "%s%s", s->n ? ", " : "", dir);
    if (n > 0 && s->n + (size_t)n < sizeof s->text)
        s->n += (size_t)n;
    return NULL;
}

char *js_require_resolve(duk_context *ctx, const char *name, const char *from)
{
    if (!name || !*name)
        return NULL;
    return for_each_dir(js_heap_of(ctx)->script_dir, name, from, find_cb, NULL);
}

/* ---- the cache ------------------------------------------------------------------ */

void js_push_module_cache(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_string(ctx, -1, CACHE_KEY)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_string(ctx, -3, CACHE_KEY);
    }
    duk_remove(ctx, -2);
}

static void dir_of(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash)
        *(slash == out ? slash + 1 : slash) = '\0';
}

static duk_ret_t require_fn(duk_context *ctx);

/* Push a require function bound to directory dir (NULL: the heap's). */
static void push_require(duk_context *ctx, const char *dir)
{
    duk_push_c_function(ctx, require_fn, 1);
    if (dir) {
        duk_push_string(ctx, dir);
        duk_put_prop_string(ctx, -2, DIR_KEY);
    }
    duk_push_string(ctx, "name");
    duk_push_string(ctx, "require");
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
}

static int same_file(duk_context *ctx, duk_idx_t entry, const struct stat *st)
{
    static const char *const keys[] = {"mtime_s", "mtime_ns", "size", "ino"};
    const double vals[] = {(double)st->st_mtim.tv_sec, (double)st->st_mtim.tv_nsec,
                           (double)st->st_size, (double)st->st_ino};
    for (int i = 0; i < 4; i++) {
        duk_get_prop_string(ctx, entry, keys[i]);
        double v = duk_get_number_default(ctx, -1, -1);
        duk_pop(ctx);
        if (v != vals[i])
            return 0;
    }
    return 1;
}

static void put_stat(duk_context *ctx, duk_idx_t entry, const struct stat *st)
{
    duk_push_number(ctx, (double)st->st_mtim.tv_sec);
    duk_put_prop_string(ctx, entry, "mtime_s");
    duk_push_number(ctx, (double)st->st_mtim.tv_nsec);
    duk_put_prop_string(ctx, entry, "mtime_ns");
    duk_push_number(ctx, (double)st->st_size);
    duk_put_prop_string(ctx, entry, "size");
    duk_push_number(ctx, (double)st->st_ino);
    duk_put_prop_string(ctx, entry, "ino");
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Duktape's compile errors end in "(line N)": N, or 0. */
static long compile_error_line(const char *msg)
{
    const char *l = strstr(msg, "(line ");
    long n = 0;
    while (l) {
        n = strtol(l + 6, NULL, 10);
        l = strstr(l + 6, "(line ");
    }
    return n;
}

/* Compile the module source as a function(module, exports, require,
 * __filename, __dirname); throws a SyntaxError naming the file.  Its
 * fileName/lineNumber are the module's (the wrapper adds no line), not the C
 * line that raised it, so the trace users see starts at the module. */
static void compile_module(duk_context *ctx, const char *path, char *src, size_t len)
{
    static const char head[] = "function (module, exports, require, __filename, __dirname) {";
    static const char tail[] = "\n}";
    js_strip_shebang(src, len);
    duk_push_string(ctx, head);
    duk_push_lstring(ctx, src, len);
    duk_push_string(ctx, tail);
    duk_concat(ctx, 3);
    duk_push_string(ctx, path);
    if (duk_pcompile(ctx, DUK_COMPILE_FUNCTION) != 0) {
        /* [ err ]: name the file in the message */
        duk_get_prop_string(ctx, -1, "message");
        const char *msg = duk_safe_to_string(ctx, -1);
        long line = compile_error_line(msg);
        duk_push_error_object(ctx, DUK_ERR_SYNTAX_ERROR, "%s (in module %s)", msg, path);
        if (line > 0) {
            duk_push_string(ctx, path);
            duk_put_prop_string(ctx, -2, "fileName");
            duk_push_number(ctx, (double)line);
            duk_put_prop_string(ctx, -2, "lineNumber");
        }
        (void)duk_throw(ctx);
    }
}

static duk_ret_t json_decode_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_json_decode(ctx, -1);
    return 1;
}

static duk_ret_t compile_safe(duk_context *ctx, void *udata)
{
    const char *path = udata;
    duk_size_t len;
    char *src = (char *)duk_get_buffer_data(ctx, -1, &len);
    compile_module(ctx, path, src, len);
    return 1;
}

/* Evaluate the module whose cache entry and module object require_file set
 * up; on failure the entry is removed (the next require retries) and the
 * error is rethrown. */
static void eval_module(duk_context *ctx, const char *path, duk_idx_t cache, duk_idx_t entry,
                        duk_idx_t module)
{
    size_t len;
    char *src = js_read_file(path, &len);
    if (!src) {
        duk_del_prop_string(ctx, cache, path);
        (void)duk_error(ctx, DUK_ERR_ERROR, "require: cannot read module file '%s': %s", path,
                        strerror(errno));
    }
    int rc;
    if (ends_with(path, ".json")) {
        duk_push_lstring(ctx, src, len);
        free(src);
        rc = duk_safe_call(ctx, json_decode_safe, NULL, 1, 1);
        if (rc == DUK_EXEC_SUCCESS) {
            duk_put_prop_string(ctx, module, "exports");
        } else {
            duk_del_prop_string(ctx, cache, path);
            const char *msg = duk_safe_to_string(ctx, -1);
            (void)duk_error(ctx, DUK_ERR_SYNTAX_ERROR, "require: JSON module '%s': %s", path, msg);
        }
    } else {
        /* the source goes into a Duktape buffer so a compile error leaks nothing */
        void *b = duk_push_fixed_buffer(ctx, len);
        memcpy(b, src, len);
        free(src);
        rc = duk_safe_call(ctx, compile_safe, (void *)path, 1, 1);
        if (rc != DUK_EXEC_SUCCESS) {
            duk_del_prop_string(ctx, cache, path);
            (void)duk_throw(ctx);
        }
        char dir[PATH_MAX];
        dir_of(path, dir, sizeof dir);
        /* [ fn ] -> fn.call(module.exports, module, exports, require, __filename, __dirname) */
        duk_get_prop_string(ctx, module, "exports");
        duk_dup(ctx, module);
        duk_get_prop_string(ctx, module, "exports");
        push_require(ctx, dir);
        duk_push_string(ctx, path);
        duk_push_string(ctx, dir);
        if (duk_pcall_method(ctx, 5) != DUK_EXEC_SUCCESS) {
            duk_del_prop_string(ctx, cache, path);
            (void)duk_throw(ctx);
        }
        duk_pop(ctx);
    }
    duk_push_false(ctx);
    duk_put_prop_string(ctx, entry, "loading");
    duk_push_true(ctx);
    duk_put_prop_string(ctx, module, "loaded");
}

static void require_file(duk_context *ctx, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        (void)duk_error(ctx, DUK_ERR_ERROR, "require: cannot stat module file '%s': %s", path,
                        strerror(errno));
    duk_idx_t base = duk_get_top(ctx);
    js_push_module_cache(ctx);
    duk_idx_t cache = base;
    if (duk_get_prop_string(ctx, cache, path)) {
        duk_idx_t entry = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, entry, "loading");
        int loading = duk_to_boolean(ctx, -1);
        duk_pop(ctx);
        if (loading || same_file(ctx, entry, &st)) {
            duk_get_prop_string(ctx, entry, "module");
            duk_get_prop_string(ctx, -1, "exports");
            duk_replace(ctx, base);
            duk_set_top(ctx, base + 1);
            return;
        }
    }
    duk_pop(ctx);

    duk_push_object(ctx); /* entry */
    duk_idx_t entry = duk_get_top_index(ctx);
    put_stat(ctx, entry, &st);
    duk_push_true(ctx);
    duk_put_prop_string(ctx, entry, "loading");
    duk_push_object(ctx); /* module */
    duk_idx_t module = duk_get_top_index(ctx);
    duk_push_string(ctx, path);
    duk_put_prop_string(ctx, module, "id");
    duk_push_string(ctx, path);
    duk_put_prop_string(ctx, module, "filename");
    duk_push_object(ctx);
    duk_put_prop_string(ctx, module, "exports");
    duk_push_false(ctx);
    duk_put_prop_string(ctx, module, "loaded");
    duk_dup(ctx, module);
    duk_put_prop_string(ctx, entry, "module");
    duk_dup(ctx, entry);
    duk_put_prop_string(ctx, cache, path);

    eval_module(ctx, path, cache, entry, module);

    duk_get_prop_string(ctx, module, "exports");
    duk_replace(ctx, base);
    duk_set_top(ctx, base + 1);
}

static void require_builtin(duk_context *ctx, const char *name, duk_c_function loader)
{
    char key[256];
    snprintf(key, sizeof key, BUILTIN_PREFIX "%s", name);
    duk_idx_t base = duk_get_top(ctx);
    js_push_module_cache(ctx);
    if (duk_get_prop_string(ctx, base, key)) {
        duk_get_prop_string(ctx, -1, "module");
        duk_get_prop_string(ctx, -1, "exports");
        duk_replace(ctx, base);
        duk_set_top(ctx, base + 1);
        return;
    }
    duk_pop(ctx);
    duk_push_c_function(ctx, loader, 0);
    duk_call(ctx, 0);
    duk_push_object(ctx); /* entry */
    duk_push_object(ctx); /* module */
    duk_push_string(ctx, name);
    duk_put_prop_string(ctx, -2, "id");
    duk_dup(ctx, -3);
    duk_put_prop_string(ctx, -2, "exports");
    duk_put_prop_string(ctx, -2, "module");
    duk_put_prop_string(ctx, base, key);
    duk_replace(ctx, base);
    duk_set_top(ctx, base + 1);
}

void js_require_push(duk_context *ctx, const char *name, const char *from)
{
    if (!name || !*name)
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "require: the module name must be a non-empty string");
    duk_c_function loader = builtin_find(name);
    if (loader) {
        require_builtin(ctx, name, loader);
        return;
    }
    const char *heap_dir = js_heap_of(ctx)->script_dir;
    char *path = for_each_dir(heap_dir, name, from, find_cb, NULL);
    if (!path) {
        searched s = {{0}, 0};
        for_each_dir(heap_dir, name, from, list_cb, &s);
        (void)duk_error(ctx, DUK_ERR_ERROR, "require: cannot find module '%s' (searched %s)", name,
                        name[0] == '/' ? "that path" : s.text);
    }
    duk_push_string(ctx, path);
    free(path);
    require_file(ctx, duk_get_string(ctx, -1));
    duk_remove(ctx, -2);
}

static duk_ret_t require_fn(duk_context *ctx)
{
    if (!duk_is_string(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "require: the module name must be a string");
    const char *name = duk_get_string(ctx, 0);
    duk_push_current_function(ctx);
    duk_get_prop_string(ctx, -1, DIR_KEY);
    const char *dir = duk_get_string(ctx, -1); /* NULL for the global require */
    js_require_push(ctx, name, dir);
    return 1;
}

void js_require_install(duk_context *ctx)
{
    push_require(ctx, NULL);
    js_register_native(ctx, -1, "require");
    js_def_global(ctx, "require");
}
