/* server.c - run a finalized configuration: logs, listeners, daemon,
 * privileges, workers, signals, graceful stop. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "runtime.h"
#include "listen.h"

/* What a running server holds besides its configuration.  One per process:
 * a process serves one configuration at a time. */
static struct {
    rp_listeners ls;
    struct event_base *base;
    int threads;
    bool started;
    rp_server *original; /* the caller's; it frees it */
    rp_server *current;  /* serving new connections */
    rp_reload_fn reload;
    void *reload_arg;
    struct event *sigs[4];
    int ready_fd; /* daemon child: tells the waiting parent how the start went */
} g_run = {.ready_fd = -1};

/* The configuration used when rampart-httpd runs without -f: the demo site
 * on the loopback addresses. */
const char *rp_builtin_conf(rp_pool *p)
{
    const char *www = rp_psprintf(p, "%s/../share/rampart/www", rp_exe_dir());
    struct stat st;
    if (stat(www, &st) != 0 || !S_ISDIR(st.st_mode))
        www = RP_INSTALL_WWWDIR;
    return rp_psprintf(p,
                       "LoadModule static mod_static.so\n"
                       "LoadModule access mod_access.so\n"
                       "Bind 127.0.0.1:8088\n"
                       "Bind [::1]:8088\n"
                       "Log on\n"
                       "Map / \"%s\"\n",
                       www);
}

/* The daemon child: own session, no terminal on the standard descriptors. */
static void detach(void)
{
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > 2)
            close(fd);
    }
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

static int drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "User '%s': no such account", user);
        return -1;
    }
    rp_log_chown(pw->pw_uid, pw->pw_gid);
    if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "cannot switch to User '%s': %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "User '%s': root privileges could be regained; refusing to run", user);
        return -1;
    }
    return 0;
}

/* ---- signals -------------------------------------------------------------- */

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    rp_log(NULL, RP_LOG_NOTICE, "signal %d: finishing in-flight requests and stopping", (int)sig);
    event_base_loopbreak(arg);
}

static bool same_list(char **a, char **b)
{
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return false;
    return !*a && !*b;
}

/* What a reload cannot change, named so the operator knows to restart. */
static const char *needs_restart(const rp_server *old, const rp_server *s)
{
    const rp_core_conf *a = old->core, *b = s->core;
    if (!same_list(a->binds, b->binds) || a->secure != b->secure)
        return "Bind/Secure";
    if (rp_server_threads(old) != rp_server_threads(s))
        return "Threads";
    return NULL;
}

static void free_retired(rp_server *old, void *arg)
{
    (void)arg;
    if (old != g_run.original)
        rp_server_free(old);
    rp_log(NULL, RP_LOG_INFO, "the previous configuration has finished its last request");
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    rp_log_reopen();
    if (!g_run.reload)
        return;
    const char *err = NULL;
    rp_server *s = g_run.reload(g_run.reload_arg, &err);
    if (!s) {
        rp_log(NULL, RP_LOG_ERR, "reload refused, still serving the previous configuration: %s",
               err ? err : "unknown error");
        return;
    }
    const char *what_changed = needs_restart(g_run.current, s);
    if (!what_changed && rp_hosts_open_logs(s, &err) != 0) {
        rp_log(NULL, RP_LOG_ERR, "reload refused, still serving the previous configuration: %s",
               err);
        rp_server_free(s);
        return;
    }
    if (what_changed) {
        rp_log(NULL, RP_LOG_ERR, "reload refused, still serving the previous configuration: "
                                 "%s changed, which takes a restart", what_changed);
        rp_server_free(s);
        return;
    }
    rp_workers_swap(g_run.current, s, free_retired, NULL);
    g_run.current = s;
    rp_log(NULL, RP_LOG_NOTICE, "configuration reloaded; requests in flight finish on the old one");
}

RP_API void rp_server_on_reload(rp_server *s, rp_reload_fn fn, void *arg)
{
    (void)s;
    g_run.reload = fn;
    g_run.reload_arg = arg;
}

static void on_reopen(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    int rc = rp_log_reopen();
    if (g_run.current && rp_hosts_reopen_logs(g_run.current) != 0)
        rc = -1;
    if (rc == 0)
        rp_log(NULL, RP_LOG_NOTICE, "log files reopened");
}

static struct event *add_signal(struct event_base *b, int sig, event_callback_fn fn)
{
    struct event *ev = evsignal_new(b, sig, fn, b);
    event_add(ev, NULL);
    return ev;
}

/* ---- run ----------------------------------------------------------------- */


static int fail(const char **err, const char *fmt, const char *a)
{
    static char msg[600];
    snprintf(msg, sizeof msg, fmt, a);
    *err = msg;
    return RP_SERVER_FAILED;
}

/* Daemon, pid file and privileges, in that order: the pid file may live
 * where only root can write, and the daemon's pid is the one to record. */
/* Daemon: the parent returns only once the child serves, or with the
 * child's reason for not serving, so "Daemon on" fails loudly. */
static int wait_for_child(int fd, const char **err)
{
    static char msg[600];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof msg - 1 && (got = read(fd, msg + n, sizeof msg - 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    msg[n] = '\0';
    if (strcmp(msg, "ok") == 0)
        return 0;
    *err = n ? msg : "the daemon exited before it was serving (see the ErrorLog)";
    return -1;
}

/* Daemon child: "ok", or why the start failed; then the parent goes. */
static void tell_parent(const char *err)
{
    if (g_run.ready_fd < 0)
        return;
    const char *m = err ? err : "ok";
    ssize_t ignored = write(g_run.ready_fd, m, strlen(m));
    (void)ignored;
    close(g_run.ready_fd);
    g_run.ready_fd = -1;
}

static int prepare_process(rp_server *s, bool *parent, pid_t *pid, const char **err)
{
    rp_core_conf *c = s->core;
    static char msg[512];
    bool root = geteuid() == 0;
    *parent = false;
    if (root && !c->user)
        return fail(err, "%s", "refusing to run as root without 'User': name the account to "
                               "switch to after binding (for example: User nobody)");
    if (c->daemon) {
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) != 0)
            return fail(err, "cannot create a pipe: %s", strerror(errno));
        pid_t child = fork();
        if (child < 0)
            return fail(err, "cannot fork: %s", strerror(errno));
        if (child > 0) {
            close(ready[1]);
            *parent = true;
            *pid = child;
            return wait_for_child(ready[0], err);
        }
        close(ready[0]);
        g_run.ready_fd = ready[1];
        detach();
    }
    *pid = getpid();
    if (c->pid_file && write_pid_file(c->pid_file) != 0)
        return fail(err, "cannot write PidFile: %s", strerror(errno));
    if (c->user && root && drop_privileges(c->user, msg, sizeof msg) != 0)
        return fail(err, "%s", msg);
    if (c->user && !root)
        rp_log(NULL, RP_LOG_INFO, "not started as root: 'User %s' has nothing to do", c->user);
    return 0;
}

/* The signals the main loop handles.  They are blocked from before the
 * sockets listen (a client may see the port open and signal at once) until
 * their handlers exist; worker threads inherit the block, so they always
 * land on the main thread. */
static void block_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(how, &set, NULL);
}

static int start_loops(rp_server *s, const char **err)
{
    g_run.threads = rp_server_threads(s);
    g_run.base = event_base_new();
    if (!g_run.base)
        return fail(err, "%s", "cannot create the main event loop");
    g_run.sigs[0] = add_signal(g_run.base, SIGTERM, on_stop);
    g_run.sigs[1] = add_signal(g_run.base, SIGINT, on_stop);
    g_run.sigs[2] = add_signal(g_run.base, SIGUSR1, on_reopen);
    g_run.sigs[3] = add_signal(g_run.base, SIGHUP, on_reload);
    if (rp_workers_start(s, g_run.threads) != 0 || rp_listeners_attach(&g_run.ls, g_run.base) != 0)
        return fail(err, "%s", "cannot start the event loops");
    return 0;
}

RP_API int rp_server_start(rp_server *s, pid_t *pid, const char **err)
{
    static char msg[512];
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    if (rp_log_open(s->core, err) != 0 || rp_hosts_open_logs(s, err) != 0)
        return RP_SERVER_FAILED;
    block_signals(SIG_BLOCK);
    if (rp_listeners_open(s, &g_run.ls, msg, sizeof msg) != 0) {
        block_signals(SIG_UNBLOCK);
        return fail(err, "%s", msg);
    }
    bool parent;
    int rc = prepare_process(s, &parent, pid, err);
    if (rc != 0 || parent) {
        rp_listeners_close(&g_run.ls);
        block_signals(SIG_UNBLOCK);
        tell_parent(*err);
        return rc != 0 ? RP_SERVER_FAILED : RP_SERVER_PARENT;
    }
    if (start_loops(s, err) != 0) {
        tell_parent(*err);
        return RP_SERVER_FAILED;
    }
    tell_parent(NULL);
    block_signals(SIG_UNBLOCK); /* signals that came early are delivered now */
    char title[512] = "";
    for (int i = 0; i < g_run.ls.n; i++) {
        rp_log(NULL, RP_LOG_NOTICE, "listening on %s", g_run.ls.spec[i]);
        size_t n = strlen(title);
        snprintf(title + n, sizeof title - n, "%s%s", n ? " " : "", g_run.ls.spec[i]);
    }
    if (s->core->append_proc_title)
        rp_proc_title_append(title);
    rp_log(NULL, RP_LOG_NOTICE, "%s serving with %d worker thread%s (pid %ld)", rp_version(),
           g_run.threads, g_run.threads == 1 ? "" : "s", (long)getpid());
    g_run.started = true;
    g_run.original = g_run.current = s;
    return RP_SERVER_STARTED;
}

RP_API struct event_base *rp_server_base(rp_server *s)
{
    (void)s; /* one running server per process */
    return g_run.base;
}

RP_API int rp_server_loop(rp_server *s)
{
    (void)s;
    if (!g_run.started)
        return 1;
    event_base_dispatch(g_run.base);

    rp_listeners_close(&g_run.ls);
    rp_workers_stop(g_run.current->core->graceful_timeout);
    for (size_t i = 0; i < sizeof g_run.sigs / sizeof g_run.sigs[0]; i++)
        event_free(g_run.sigs[i]);
    event_base_free(g_run.base);
    g_run.started = false;
    if (g_run.current != g_run.original)
        rp_server_free(g_run.current);
    g_run.current = NULL;
    if (s->core->pid_file && unlink(s->core->pid_file) != 0 && errno != ENOENT)
        rp_log(NULL, RP_LOG_WARN, "cannot remove PidFile '%s': %s (keep it in a directory the "
                                  "User can write)", s->core->pid_file, strerror(errno));
    rp_log(NULL, RP_LOG_NOTICE, "stopped");
    return 0;
}
