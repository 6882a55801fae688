/* process.c - the process a script runs in: the script's own place and
 * arguments (set by the `rampart` runner, read by the process global and by
 * require's search), the server start() started, the global `process`, and
 * rampart.utils' process functions (exec, shell, kill, getpid, getppid,
 * sleep). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "js_int.h"
#include "rt.h"

extern char **environ;

/* ==== the script and its server ============================================ */

static char *g_script_path;
static char *g_script_dir;
static int g_argc;
static char **g_argv;
static duk_context *g_main;
static rp_server *g_server;

int js_script_set(const char *real_path, int argc, char **argv)
{
    char *path = strdup(real_path), *dir = strdup(real_path);
    if (!path || !dir) {
        free(path);
        free(dir);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    free(g_script_path);
    free(g_script_dir);
    g_script_path = path;
    g_script_dir = dir;
    g_argc = argc;
    g_argv = argv;
    return 0;
}

void js_script_set_main(duk_context *ctx)
{
    g_main = ctx;
}

const char *js_script_path(void)
{
    return g_script_path;
}
const char *js_script_dir(void)
{
    return g_script_dir;
}
int js_script_argc(void)
{
    return g_argc;
}
char **js_script_argv(void)
{
    return g_argv;
}
rp_server *js_started_server(void)
{
    return g_server;
}

int js_set_started_server(rp_server *s)
{
    if (g_server || !s)
        return -1;
    g_server = s;
    if (g_main && rp_server_base(s))
        js_heap_set_loop(g_main, rp_server_base(s));
    return 0;
}

/* ==== the process global ===================================================== */

static duk_ret_t process_exit(duk_context *ctx)
{
    int code = duk_is_undefined(ctx, 0) ? 0 : duk_to_int(ctx, 0);
    fflush(NULL);
    exit(code);
}

/* process.memoryUsage(): {rss, heapUsed} in bytes, as Node names them;
 * heapUsed is this heap's (each worker thread has its own). */
static duk_ret_t process_memory(duk_context *ctx)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    duk_push_object(ctx);
    duk_push_number(ctx, (double)resident * (double)sysconf(_SC_PAGESIZE));
    duk_put_prop_literal(ctx, -2, "rss");
    duk_push_number(ctx, (double)js_heap_memory_used(ctx));
    duk_put_prop_literal(ctx, -2, "heapUsed");
    return 1;
}

void js_process_install(duk_context *ctx)
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
    static const js_fn fns[] = {{"exit", process_exit, 1, "process.exit"},
                                {"memoryUsage", process_memory, 0, "process.memoryUsage"},
                                {NULL, NULL, 0, NULL}};
    js_put_functions(ctx, -1, fns, JS_FN_NAMED);

    duk_def_prop(ctx, -3,
                 DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_CONFIGURABLE |
                     DUK_DEFPROP_CLEAR_ENUMERABLE);
    duk_pop(ctx);
}

/* ==== rampart.utils: processes =============================================== */

static const struct {
    const char *name;
    int sig;
} signames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
                {"CONT", SIGCONT}, {"ALRM", SIGALRM}, {"CHLD", SIGCHLD}, {"PIPE", SIGPIPE}};

static int get_signal(duk_context *ctx, duk_idx_t idx, int def)
{
    if (duk_is_undefined(ctx, idx) || duk_is_null(ctx, idx))
        return def;
    if (duk_is_number(ctx, idx))
        return duk_get_int(ctx, idx);
    const char *s = duk_to_string(ctx, idx);
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
        if (strcmp(s, signames[i].name) == 0)
            return signames[i].sig;
    (void)duk_error(ctx, DUK_ERR_RANGE_ERROR, "unknown signal '%s'", duk_to_string(ctx, idx));
    return 0;
}

/* kill(pid [, signal]): true if the signal was sent. */
static duk_ret_t u_kill(duk_context *ctx)
{
    double pid = duk_require_number(ctx, 0);
    int sig = get_signal(ctx, 1, SIGTERM);
    if (pid <= 0 || pid > 4194304.0)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "kill: bad pid %g", pid);
    duk_push_boolean(ctx, kill((pid_t)pid, sig) == 0);
    return 1;
}

static duk_ret_t u_getpid(duk_context *ctx)
{
    duk_push_int(ctx, (duk_int_t)getpid());
    return 1;
}

static duk_ret_t u_getppid(duk_context *ctx)
{
    duk_push_int(ctx, (duk_int_t)getppid());
    return 1;
}

/* sleep(seconds): fractions allowed. */
static duk_ret_t u_sleep(duk_context *ctx)
{
    double s = duk_to_number(ctx, 0);
    if (s > 0 && isfinite(s)) {
        struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)}, rem;
        while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
            ts = rem;
    }
    return 0;
}

typedef struct growbuf {
    char *p;
    size_t n, cap;
} growbuf;

static int grow_append(growbuf *g, const char *d, size_t n)
{
    if (g->n + n > g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 4096;
        while (nc < g->n + n)
            nc *= 2;
        char *np = realloc(g->p, nc);
        if (!np)
            return -1;
        g->p = np;
        g->cap = nc;
    }
    memcpy(g->p + g->n, d, n);
    g->n += n;
    return 0;
}

typedef struct exec_opts {
    double timeout_ms;
    int kill_sig;
    int background;
    int return_buffer;
    const char *cwd;
    const char *in;
    size_t in_len;
    char **env; /* NULL: inherit */
} exec_opts;

/* argv/env strings point into Duktape strings kept on the stack. */
static void read_opts(duk_context *ctx, duk_idx_t oi, exec_opts *o, duk_idx_t env_arr)
{
    if (duk_get_prop_string(ctx, oi, "timeout"))
        o->timeout_ms = duk_to_number(ctx, -1);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "killSignal");
    o->kill_sig = get_signal(ctx, -1, SIGTERM);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "background");
    o->background = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "returnBuffer");
    o->return_buffer = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    if (!duk_get_prop_string(ctx, oi, "cd")) {
        duk_pop(ctx);
        duk_get_prop_string(ctx, oi, "cwd");
    }
    if (!duk_is_undefined(ctx, -1))
        o->cwd = duk_to_string(ctx, -1);
    duk_put_prop_string(ctx, env_arr, "cwd"); /* keep it alive */
    if (duk_get_prop_string(ctx, oi, "stdin")) {
        if (!duk_is_buffer_data(ctx, -1))
            duk_to_string(ctx, -1);
        duk_size_t n;
        o->in = duk_is_string(ctx, -1) ? duk_get_lstring(ctx, -1, &n)
                                       : duk_get_buffer_data(ctx, -1, &n);
        o->in_len = n;
    }
    duk_put_prop_string(ctx, env_arr, "stdin");
    if (duk_get_prop_string(ctx, oi, "env") && duk_is_object(ctx, -1)) {
        duk_idx_t eo = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, oi, "appendEnv");
        int append = duk_to_boolean(ctx, -1);
        duk_pop(ctx);
        duk_push_array(ctx); /* the "K=V" strings */
        duk_uarridx_t k = 0;
        if (append) {
            extern char **environ;
            for (char **e = environ; e && *e; e++) {
                duk_push_string(ctx, *e);
                duk_put_prop_index(ctx, -2, k++);
            }
        }
        duk_enum(ctx, eo, DUK_ENUM_OWN_PROPERTIES_ONLY);
        while (duk_next(ctx, -1, 1)) {
            duk_push_sprintf(ctx, "%s=%s", duk_to_string(ctx, -2), duk_to_string(ctx, -1));
            duk_put_prop_index(ctx, -5, k++);
            duk_pop_2(ctx);
        }
        duk_pop(ctx);
        o->env = calloc((size_t)k + 1, sizeof(char *));
        if (o->env)
            for (duk_uarridx_t i = 0; i < k; i++) {
                duk_get_prop_index(ctx, -1, i);
                o->env[i] = (char *)duk_get_string(ctx, -1);
                duk_pop(ctx);
            }
        duk_put_prop_string(ctx, env_arr, "envstrings");
    }
    duk_pop(ctx);
}

static void child_exec(char **argv, const exec_opts *o, int in_fd, int out_fd, int err_fd,
                       int report_fd)
{
    if (in_fd >= 0)
        dup2(in_fd, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->cwd && chdir(o->cwd) != 0) {
        int e = errno;
        if (write(report_fd, &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    if (o->env)
        execvpe(argv[0], argv, o->env);
    else
        execvp(argv[0], argv);
    int e = errno;
    if (write(report_fd, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Runs argv; fills out/err and *status.  Returns 0, or an errno for a
 * command that could not be started. */
static int run_child(char **argv, const exec_opts *o, growbuf *out, growbuf *err, int *status,
                     int *timed_out, pid_t *pid_out)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, prep[2] = {-1, -1};
    if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || pipe2(prep, O_CLOEXEC) ||
        pipe2(pin, O_CLOEXEC)) {
        int e = errno;
        close_fd(&pin[0]), close_fd(&pin[1]), close_fd(&pout[0]), close_fd(&pout[1]);
        close_fd(&perr[0]), close_fd(&perr[1]), close_fd(&prep[0]), close_fd(&prep[1]);
        return e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close_fd(&pin[0]), close_fd(&pin[1]), close_fd(&pout[0]), close_fd(&pout[1]);
        close_fd(&perr[0]), close_fd(&perr[1]), close_fd(&prep[0]), close_fd(&prep[1]);
        return e;
    }
    if (pid == 0)
        child_exec(argv, o, pin[0], pout[1], perr[1], prep[1]);
    *pid_out = pid;
    close_fd(&pin[0]);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    close_fd(&prep[1]);
    int e = 0;
    ssize_t r;
    while ((r = read(prep[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close_fd(&prep[0]);
    if (r == (ssize_t)sizeof e) {
        close_fd(&pin[1]);
        close_fd(&pout[0]);
        close_fd(&perr[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return e ? e : ENOEXEC;
    }
    if (!o->in || o->in_len == 0)
        close_fd(&pin[1]);
    else
        fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
    size_t in_off = 0;
    double deadline = o->timeout_ms > 0 ? js_now_mono() + o->timeout_ms / 1000.0 : 0;
    char buf[16384];
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd pf[3];
        int np = 0, iout = -1, ierr = -1, iin = -1;
        if (pout[0] >= 0)
            pf[iout = np++] = (struct pollfd){pout[0], POLLIN, 0};
        if (perr[0] >= 0)
            pf[ierr = np++] = (struct pollfd){perr[0], POLLIN, 0};
        if (pin[1] >= 0)
            pf[iin = np++] = (struct pollfd){pin[1], POLLOUT, 0};
        int wait_ms = -1;
        if (deadline > 0) {
            double left = deadline - js_now_mono();
            if (left <= 0) {
                kill(pid, o->kill_sig);
                *timed_out = 1;
                deadline = 0;
                continue;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        int pr = poll(pf, (nfds_t)np, wait_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            break;
        if (iin >= 0 && (pf[iin].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], o->in + in_off, o->in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                in_off = o->in_len;
            if (in_off >= o->in_len)
                close_fd(&pin[1]);
        }
        const int idx[2] = {iout, ierr};
        int *fds[2] = {&pout[0], &perr[0]};
        growbuf *gb[2] = {out, err};
        for (int k = 0; k < 2; k++) {
            if (idx[k] < 0 || !(pf[idx[k]].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(*fds[k], buf, sizeof buf);
            if (n > 0)
                grow_append(gb[k], buf, (size_t)n);
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                close_fd(fds[k]);
        }
    }
    close_fd(&pin[1]);
    close_fd(&pout[0]);
    close_fd(&perr[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    return 0;
}

/* Background: double fork so nothing is left to reap; returns the pid. */
static int run_background(char **argv, const exec_opts *o, pid_t *pid_out)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return errno;
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (c == 0) {
        setsid();
        pid_t g = fork();
        if (g < 0)
            _exit(1);
        if (g > 0) {
            if (write(p[1], &g, sizeof g) < 0)
                _exit(1);
            _exit(0);
        }
        int devnull = open("/dev/null", O_RDWR);
        child_exec(argv, o, devnull, devnull, devnull, p[1]);
    }
    close(p[1]);
    while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
        ;
    pid_t g = -1;
    ssize_t r = read(p[0], &g, sizeof g);
    /* a second message is an exec errno from the grandchild */
    int e = 0;
    ssize_t r2 = read(p[0], &e, sizeof e);
    close(p[0]);
    if (r != (ssize_t)sizeof g)
        return ECHILD;
    if (r2 == (ssize_t)sizeof e && e)
        return e;
    *pid_out = g;
    return 0;
}

/* exec(command [, args...] [, options]) - command is a program name (found
 * in PATH) followed by its arguments, or an array [program, args...].  No
 * shell is involved (see shell()).  options: timeout (ms), killSignal,
 * background, cd, env (object; appendEnv: true keeps the current
 * environment), stdin (string or Buffer), returnBuffer.
 * Returns {stdout, stderr, exitStatus, timedOut, pid}; exitStatus is the
 * exit code, or 128 + signal number when killed.  With background: {pid}. */
static duk_ret_t u_exec(duk_context *ctx)
{
    duk_idx_t nargs = duk_get_top(ctx);
    duk_push_bare_object(ctx); /* keeps strings alive */
    duk_idx_t keep = duk_get_top_index(ctx);
    duk_push_array(ctx);
    duk_idx_t av = duk_get_top_index(ctx);
    duk_uarridx_t ac = 0;
    exec_opts o = {0};
    o.kill_sig = SIGTERM;
    for (duk_idx_t i = 0; i < nargs; i++) {
        if (duk_is_array(ctx, i)) {
            duk_size_t n = duk_get_length(ctx, i);
            for (duk_size_t k = 0; k < n; k++) {
                duk_get_prop_index(ctx, i, (duk_uarridx_t)k);
                duk_to_string(ctx, -1);
                duk_put_prop_index(ctx, av, ac++);
            }
        } else if (duk_is_object(ctx, i) && !duk_is_function(ctx, i) &&
                   !duk_is_buffer_data(ctx, i)) {
            read_opts(ctx, i, &o, keep);
        } else if (!duk_is_undefined(ctx, i)) {
            duk_dup(ctx, i);
            duk_to_string(ctx, -1);
            duk_put_prop_index(ctx, av, ac++);
        }
    }
    if (ac == 0) {
        free(o.env);
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "exec: no command given");
    }
    char **argv = calloc((size_t)ac + 1, sizeof *argv);
    if (!argv) {
        free(o.env);
        return duk_error(ctx, DUK_ERR_ERROR, "exec: out of memory");
    }
    for (duk_uarridx_t i = 0; i < ac; i++) {
        duk_get_prop_index(ctx, av, i);
        argv[i] = (char *)duk_get_string(ctx, -1);
        duk_pop(ctx);
    }
    fflush(stdout);
    fflush(stderr);
    growbuf out = {0}, err = {0};
    int status = -1, timed_out = 0;
    pid_t pid = -1;
    int e = o.background ? run_background(argv, &o, &pid)
                         : run_child(argv, &o, &out, &err, &status, &timed_out, &pid);
    char cmd0[256];
    snprintf(cmd0, sizeof cmd0, "%s", argv[0]);
    free(argv);
    free(o.env);
    if (e) {
        free(out.p);
        free(err.p);
        return duk_error(ctx, DUK_ERR_ERROR, "exec: cannot run '%s': %s", cmd0, strerror(e));
    }
    duk_push_object(ctx);
    if (!o.background) {
        growbuf *gb[2] = {&out, &err};
        const char *names[2] = {"stdout", "stderr"};
        for (int k = 0; k < 2; k++) {
            void *b = duk_push_fixed_buffer(ctx, gb[k]->n);
            if (gb[k]->n)
                memcpy(b, gb[k]->p, gb[k]->n);
            free(gb[k]->p);
            if (!o.return_buffer)
                duk_buffer_to_string(ctx, -1);
            duk_put_prop_string(ctx, -2, names[k]);
        }
        duk_push_int(ctx, status);
        duk_put_prop_string(ctx, -2, "exitStatus");
        duk_push_boolean(ctx, timed_out);
        duk_put_prop_string(ctx, -2, "timedOut");
    }
    duk_push_int(ctx, (duk_int_t)pid);
    duk_put_prop_string(ctx, -2, "pid");
    return 1;
}

/* shell(commandLine [, options]): exec("/bin/sh", "-c", commandLine). */
static duk_ret_t u_shell(duk_context *ctx)
{
    const char *cmd = duk_require_string(ctx, 0);
    duk_idx_t nargs = duk_get_top(ctx);
    duk_push_c_function(ctx, u_exec, DUK_VARARGS);
    duk_push_string(ctx, "/bin/sh");
    duk_push_string(ctx, "-c");
    duk_push_string(ctx, cmd);
    int extra = 0;
    if (nargs > 1 && duk_is_object(ctx, 1)) {
        duk_dup(ctx, 1);
        extra = 1;
    }
    duk_call(ctx, 3 + extra);
    return 1;
}

const js_fn js_process_fns[] = {{"exec", u_exec, DUK_VARARGS, "rampart.utils.exec"},
                                {"shell", u_shell, DUK_VARARGS, "rampart.utils.shell"},
                                {"kill", u_kill, 2, "rampart.utils.kill"},
                                {"getpid", u_getpid, 0, "rampart.utils.getpid"},
                                {"getppid", u_getppid, 0, "rampart.utils.getppid"},
                                {"sleep", u_sleep, 1, "rampart.utils.sleep"},
                                {NULL, NULL, 0, NULL}};
