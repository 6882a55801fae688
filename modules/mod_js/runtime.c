/* runtime.c - Duktape heaps for mod_js: creation with the rampart globals,
 * the fatal handler, the cooperative deadline (exec-timeout check), the
 * registry of runtime natives, and error text. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "js_int.h"

extern char **environ;

/* ---- clocks and files ------------------------------------------------------ */

double js_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *js_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void js_strip_shebang(char *src, size_t len)
{
    if (len >= 2 && src[0] == '#' && src[1] == '!') {
        src[0] = '/';
        src[1] = '/';
    }
}

/* ---- heap state ---------------------------------------------------------- */

js_heap *js_heap_of(duk_context *ctx)
{
    duk_memory_functions mf;
    duk_get_memory_functions(ctx, &mf);
    return mf.udata;
}

/* Called by Duktape (DUK_USE_EXEC_TIMEOUT_CHECK) every 256k instructions. */
int js_exec_timeout_check(void *udata)
{
    js_heap *h = udata;
    if (!h || !h->armed)
        return 0;
    if (h->expired)
        return 1;
    if (js_now_mono() >= h->deadline) {
        h->expired = 1;
        return 1;
    }
    return 0;
}

void js_deadline_arm(duk_context *ctx, double seconds)
{
    js_heap *h = js_heap_of(ctx);
    h->expired = 0;
    if (seconds > 0) {
        h->deadline = js_now_mono() + seconds;
        h->armed = 1;
    } else {
        h->armed = 0;
    }
}

int js_deadline_expired(duk_context *ctx)
{
    const js_heap *h = js_heap_of(ctx);
    return h->armed && (h->expired || js_now_mono() >= h->deadline);
}

void js_heap_set_callback_timeout(duk_context *ctx, double seconds)
{
    js_heap_of(ctx)->callback_timeout = seconds > 0 ? seconds : 0;
}

/* Fatal errors without a heap: only Duktape's internal assertions. */
void js_default_fatal(void *udata, const char *msg)
{
    (void)udata;
    rp_log(&rp_module_js, RP_LOG_ERR, "Duktape fatal error: %s", msg ? msg : "(no message)");
    fprintf(stderr, "rampart: Duktape fatal error: %s\n", msg ? msg : "(no message)");
    abort();
}

/* A heap's fatal handler.  Duktape calls it only for an error thrown outside
 * every protected call, or when it cannot continue; it must not return.
 * mod_js runs all JS inside duk_pcall/duk_safe_call, so reaching this is a
 * bug: log where we are and stop the process rather than run on a broken
 * heap. */
static void heap_fatal(void *udata, const char *msg)
{
    const js_heap *h = udata;
    rp_log(&rp_module_js, RP_LOG_ERR, "Duktape fatal error in %s heap: %s",
           h && h->is_main ? "the main" : "a worker", msg ? msg : "(no message)");
    fprintf(stderr, "rampart: Duktape fatal error: %s\n", msg ? msg : "(no message)");
    fflush(NULL);
    abort();
}

/* ---- runtime natives ------------------------------------------------------- */

#define NATIVES_KEY DUK_HIDDEN_SYMBOL("rp_natives")

void js_push_native_registry(duk_context *ctx)
{
    duk_push_heap_stash(ctx);
    if (!duk_get_prop_string(ctx, -1, NATIVES_KEY)) {
        duk_pop(ctx);
        duk_push_bare_object(ctx);
        duk_dup_top(ctx);
        duk_put_prop_string(ctx, -3, NATIVES_KEY);
    }
    duk_remove(ctx, -2);
}

void js_register_native(duk_context *ctx, duk_idx_t idx, const char *path)
{
    idx = duk_normalize_index(ctx, idx);
    js_push_native_registry(ctx);
    duk_dup(ctx, idx);
    duk_put_prop_string(ctx, -2, path);
    duk_pop(ctx);
}

void js_push_native(duk_context *ctx, const char *path)
{
    js_push_native_registry(ctx);
    duk_get_prop_string(ctx, -1, path);
    duk_remove(ctx, -2);
}

void js_put_native(duk_context *ctx, duk_idx_t obj_idx, const char *prop, duk_c_function fn,
                   duk_idx_t nargs, const char *path)
{
    obj_idx = duk_normalize_index(ctx, obj_idx);
    duk_push_c_function(ctx, fn, nargs);
    duk_push_string(ctx, "name");
    duk_push_string(ctx, prop);
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
    js_register_native(ctx, -1, path);
    duk_put_prop_string(ctx, obj_idx, prop);
}

void js_def_global(duk_context *ctx, const char *name)
{
    duk_push_global_object(ctx);
    duk_push_string(ctx, name);
    duk_dup(ctx, -3);
    duk_def_prop(ctx, -3,
                 DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_CONFIGURABLE |
                     DUK_DEFPROP_CLEAR_ENUMERABLE);
    duk_pop_2(ctx);
}

/* ---- process ------------------------------------------------------------------ */

static duk_ret_t process_exit(duk_context *ctx)
{
    int code = duk_is_undefined(ctx, 0) ? 0 : duk_to_int(ctx, 0);
    fflush(NULL);
    exit(code);
}

static void install_process(duk_context *ctx)
{
    duk_push_global_object(ctx);
    duk_push_string(ctx, "process");
    duk_push_object(ctx);
    js_register_native(ctx, -1, "process");

    duk_push_array(ctx);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    duk_push_string(ctx, n > 0 ? exe : "rampart");
    duk_put_prop_index(ctx, -2, 0);
    char **argv = js_script_argv();
    for (int i = 0; i < js_script_argc(); i++) {
        duk_push_string(ctx, i == 0 && js_script_path() ? js_script_path() : argv[i]);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)i + 1);
    }
    duk_put_prop_string(ctx, -2, "argv");

    duk_push_object(ctx);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        duk_push_lstring(ctx, *e, (duk_size_t)(eq - *e));
        duk_push_string(ctx, eq + 1);
        duk_put_prop(ctx, -3);
    }
    duk_put_prop_string(ctx, -2, "env");

    const char *sp = js_script_path();
    duk_push_string(ctx, js_script_dir() ? js_script_dir() : "");
    duk_put_prop_string(ctx, -2, "scriptPath");
    const char *slash = sp ? strrchr(sp, '/') : NULL;
    duk_push_string(ctx, sp ? (slash ? slash + 1 : sp) : "");
    duk_put_prop_string(ctx, -2, "scriptName");
    js_put_native(ctx, -1, "exit", process_exit, 1, "process.exit");

    duk_def_prop(ctx, -3,
                 DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_CONFIGURABLE |
                     DUK_DEFPROP_CLEAR_ENUMERABLE);
    duk_pop(ctx);
}

/* ---- heaps ------------------------------------------------------------------- */

static duk_ret_t heap_init(duk_context *ctx, void *udata)
{
    (void)udata;
    install_process(ctx);
    js_utils_install(ctx);
    js_timers_install(ctx);
    js_require_install(ctx);
    js_event_install(ctx);
    if (getenv("RAMPART_TEST_HOOKS"))
        js_test_hooks_install(ctx);
    return 0;
}

duk_context *js_heap_new(struct event_base *loop, const char *script_dir)
{
    js_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = loop;
    h->next_timer_id = 1;
    const char *dir = script_dir ? script_dir : js_script_dir();
    if (dir) {
        h->script_dir = strdup(dir);
    } else {
        char cwd[4096];
        h->script_dir = strdup(getcwd(cwd, sizeof cwd) ? cwd : ".");
    }
    h->ctx = duk_create_heap(NULL, NULL, NULL, h, heap_fatal);
    if (!h->ctx || !h->script_dir) {
        if (h->ctx)
            duk_destroy_heap(h->ctx);
        free(h->script_dir);
        free(h);
        return NULL;
    }
    if (duk_safe_call(h->ctx, heap_init, NULL, 0, 1) != DUK_EXEC_SUCCESS) {
        rp_log(&rp_module_js, RP_LOG_ERR, "cannot set up a JavaScript heap: %s",
               duk_safe_to_string(h->ctx, -1));
        duk_pop(h->ctx);
        js_heap_free(h->ctx);
        return NULL;
    }
    duk_pop(h->ctx);
    return h->ctx;
}

void js_heap_free(duk_context *ctx)
{
    if (!ctx)
        return;
    js_heap *h = js_heap_of(ctx);
    js_event_heap_gone(ctx);
    js_timers_free(h);
    duk_destroy_heap(ctx);
    free(h->script_dir);
    free(h);
}

struct event_base *js_heap_loop(duk_context *ctx)
{
    return js_heap_of(ctx)->loop;
}

void js_heap_set_user(duk_context *ctx, void *user)
{
    js_heap_of(ctx)->user = user;
}

void *js_heap_user(duk_context *ctx)
{
    return js_heap_of(ctx)->user;
}

int js_heap_is_main(duk_context *ctx)
{
    return js_heap_of(ctx)->is_main;
}

void js_heap_set_main(duk_context *ctx, int is_main)
{
    js_heap_of(ctx)->is_main = is_main;
}

/* ---- errors ------------------------------------------------------------------ */

static duk_ret_t error_text_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t v = duk_get_top_index(ctx); /* safe calls share the caller's frame */
    /* [ value ] */
    if (duk_is_error(ctx, v)) {
        duk_get_prop_string(ctx, v, "stack");
        if (duk_is_string(ctx, -1))
            return 1;
        duk_pop(ctx);
    }
    duk_dup(ctx, v);
    duk_to_string(ctx, -1);
    return 1;
}

const char *js_error_text(duk_context *ctx, duk_idx_t idx)
{
    duk_dup(ctx, idx);
    if (duk_safe_call(ctx, error_text_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        duk_pop(ctx);
        duk_push_string(ctx, "(error while formatting the error)");
    }
    return duk_get_string(ctx, -1);
}

/* From a Duktape stack ("    at f (file:line) flags"): the first frame in a
 * script file (not Duktape's or mod_js's C sources), as "file:line". */
static int where_from_stack(const char *stack, char *buf, size_t len)
{
    for (const char *l = stack; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *open = strchr(l, '(');
        const char *eol = strchr(l, '\n');
        if (!open || (eol && open > eol))
            continue;
        const char *close = strchr(open, ')');
        if (!close || (eol && close > eol))
            continue;
        const char *colon = close;
        while (colon > open && *colon != ':')
            colon--;
        if (colon <= open + 1 || colon + 1 >= close)
            continue;
        if (colon - open > 2 && colon[-2] == '.' && colon[-1] == 'c')
            continue; /* a C source */
        snprintf(buf, len, "%.*s", (int)(close - open - 1), open + 1);
        return 1;
    }
    return 0;
}

static duk_ret_t error_where_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t v = duk_get_top_index(ctx); /* safe calls share the caller's frame */
    if (!duk_is_object(ctx, v))
        return 0;
    duk_get_prop_string(ctx, v, "fileName");
    duk_get_prop_string(ctx, v, "lineNumber");
    duk_get_prop_string(ctx, v, "stack");
    return 3;
}

const char *js_error_where(duk_context *ctx, duk_idx_t idx, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    duk_dup(ctx, idx);
    if (duk_safe_call(ctx, error_where_safe, NULL, 1, 3) == DUK_EXEC_SUCCESS) {
        const char *file = duk_get_string(ctx, -3);
        size_t fl = file ? strlen(file) : 0;
        int in_c = fl > 2 && strcmp(file + fl - 2, ".c") == 0;
        if (file && !in_c && duk_is_number(ctx, -2))
            snprintf(buf, len, "%s:%ld", file, (long)duk_get_int(ctx, -2));
        else if (!duk_is_string(ctx, -1) || !where_from_stack(duk_get_string(ctx, -1), buf, len))
            buf[0] = '\0';
    }
    duk_pop_3(ctx);
    return buf;
}

void js_report_error(duk_context *ctx, duk_idx_t idx, const char *what)
{
    idx = duk_normalize_index(ctx, idx);
    char where[1024];
    js_error_where(ctx, idx, where, sizeof where);
    const char *text = js_error_text(ctx, idx);
    if (js_heap_is_main(ctx)) {
        fflush(stdout);
        fprintf(stderr, "%s%s%s: %s\n", where, where[0] ? ": " : "", what, text);
        fflush(stderr);
    } else {
        rp_log(&rp_module_js, RP_LOG_ERR, "%s%s%s: %s", where, where[0] ? ": " : "", what, text);
    }
    duk_pop(ctx);
}
