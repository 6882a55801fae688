/* server.c - run a finalized configuration: logs, listeners, daemon,
 * privileges, workers, signals, graceful stop. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
                       "Bind 127.0.0.1:8088\n"
                       "Bind [::1]:8088\n"
                       "Log on\n"
                       "Map / \"%s\"\n",
                       www);
}

static void fatal(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "rampart-httpd: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > 2)
            close(fd);
    }
    return 0;
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

static void on_reopen(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    if (rp_log_reopen() == 0)
        rp_log(NULL, RP_LOG_NOTICE, "log files reopened");
}

static struct event *add_signal(struct event_base *b, int sig, event_callback_fn fn)
{
    struct event *ev = evsignal_new(b, sig, fn, b);
    event_add(ev, NULL);
    return ev;
}

/* ---- run ----------------------------------------------------------------- */

static int prepare_process(rp_server *s)
{
    rp_core_conf *c = s->core;
    char err[512];
    if (geteuid() == 0 && !c->user) {
        fatal("%s%s", "refusing to run as root without 'User': name the account to switch to after"
                      " binding (for example: User nobody)", "");
        return -1;
    }
    if (c->daemon && daemonize() != 0) {
        fatal("cannot daemonize: %s%s", strerror(errno), "");
        return -1;
    }
    if (c->pid_file && write_pid_file(c->pid_file) != 0) {
        rp_log(NULL, RP_LOG_ERR, "cannot write PidFile '%s': %s", c->pid_file, strerror(errno));
        return -1;
    }
    bool root = geteuid() == 0;
    if (c->user && root && drop_privileges(c->user, err, sizeof err) != 0) {
        rp_log(NULL, RP_LOG_ERR, "%s", err);
        fatal("%s%s", err, "");
        return -1;
    }
    if (c->user && !root)
        rp_log(NULL, RP_LOG_INFO, "not started as root: 'User %s' has nothing to do", c->user);
    return 0;
}

int rp_server_run(rp_server *s)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    const char *lerr;
    if (rp_log_open(s->core, &lerr) != 0) {
        fatal("%s%s", lerr, "");
        return 1;
    }
    rp_listeners ls;
    char err[512];
    if (rp_listeners_open(s, &ls, err, sizeof err) != 0) {
        rp_log(NULL, RP_LOG_ERR, "%s", err);
        fatal("%s%s", err, "");
        return 1;
    }
    if (prepare_process(s) != 0)
        return 1;
    int threads = rp_server_threads(s);
    struct event_base *main_base = event_base_new();
    if (!main_base || rp_workers_start(s, threads) != 0 || rp_listeners_attach(&ls, main_base) != 0) {
        rp_log(NULL, RP_LOG_ERR, "cannot start the event loops");
        return 1;
    }
    struct event *sigs[] = {add_signal(main_base, SIGTERM, on_stop), add_signal(main_base, SIGINT, on_stop),
                            add_signal(main_base, SIGUSR1, on_reopen),
                            add_signal(main_base, SIGHUP, on_reopen)};
    for (int i = 0; i < ls.n; i++)
        rp_log(NULL, RP_LOG_NOTICE, "listening on %s", ls.spec[i]);
    rp_log(NULL, RP_LOG_NOTICE, "%s serving with %d worker thread%s (pid %ld)", rp_version(), threads,
           threads == 1 ? "" : "s", (long)getpid());
    event_base_dispatch(main_base);

    rp_listeners_close(&ls);
    rp_workers_stop(s->core->graceful_timeout);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        event_free(sigs[i]);
    event_base_free(main_base);
    if (s->core->pid_file)
        unlink(s->core->pid_file);
    rp_log(NULL, RP_LOG_NOTICE, "stopped");
    return 0;
}
