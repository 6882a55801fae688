/* listen.c - turn Bind strings into listening sockets on the main thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include "runtime.h"
#include "listen.h"
#include "tls.h"

/* "127.0.0.1:8088", "[::1]:8088", spaces anywhere ignored. */
int rp_bind_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char buf[128];
    size_t n = 0;
    for (const char *p = spec; *p && n < sizeof buf - 1; p++)
        if (*p != ' ' && *p != '\t')
            buf[n++] = *p;
    buf[n] = '\0';
    char *colon = strrchr(buf, ':');
    if (!colon)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535 || end == colon + 1)
        return -1;
    *colon = '\0';
    memset(ss, 0, sizeof *ss);
    if (buf[0] == '[') {
        size_t l = strlen(buf);
        if (l < 3 || buf[l - 1] != ']')
            return -1;
        buf[l - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, buf + 1, &a->sin6_addr) != 1)
            return -1;
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, buf, &a->sin_addr) != 1)
            return -1;
        *len = sizeof *a;
    }
    return 0;
}

static int open_socket(const char *spec, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (rp_bind_parse(spec, &ss, &len) != 0) {
        snprintf(err, errlen, "Bind '%s': expected 1.2.3.4:port or [ipv6]:port", spec);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "Bind '%s': socket: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) /* "[::]" must not also claim IPv4 */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- running out of descriptors ---------------------------------------------
 * At the descriptor limit accept() fails with EMFILE while the listening
 * socket stays readable: retrying at once spins a core and floods the log.
 * Like nginx's accept disable, we stop accepting for a moment instead, and
 * meanwhile ask the workers to shed the connections that cost most and give
 * least (idle keep-alive, heads and bodies trickling in: rp_workers_shed).
 * One descriptor is held in reserve and given up to accept the client that
 * met the limit, so it is served rather than left in the backlog.  One
 * warning when an episode starts, one notice when it ends. */

#define RP_ACCEPT_PAUSE_MS 50

static rp_listeners *g_ls; /* one running server per process */

static bool out_of_fds(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void listeners_enable(rp_listeners *ls, bool on)
{
    for (int i = 0; i < ls->n; i++)
        if (ls->ev[i])
            (on ? evconnlistener_enable : evconnlistener_disable)(ls->ev[i]);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rp_listeners *ls = arg;
    if (ls->reserve_fd < 0)
        ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    listeners_enable(ls, true);
}

/* The reserve descriptor makes room for the client waiting at listener l. */
static void accept_with_reserve(rp_listeners *ls, struct evconnlistener *l, int tls)
{
    if (ls->reserve_fd < 0)
        return;
    close(ls->reserve_fd);
    ls->reserve_fd = -1;
    int fd = accept4(evconnlistener_get_fd(l), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
        rp_workers_dispatch(fd, tls);
}

static void starved(rp_listeners *ls, struct evconnlistener *l, int tls)
{
    int open_conns = rp_workers_conn_count();
    if (!ls->starved)
        rp_log(NULL, RP_LOG_WARN,
               "accept: out of file descriptors with %d connections open: pausing accept "
               "and closing idle and slow connections (raise the limit: ulimit -n)",
               open_conns);
    ls->starved = true;
    ls->pauses++;
    accept_with_reserve(ls, l, tls);
    rp_workers_shed(open_conns / 8 + 8);
    listeners_enable(ls, false);
    struct timeval tv = {0, (suseconds_t)RP_ACCEPT_PAUSE_MS * 1000};
    event_add(ls->resume_ev, &tv);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    if (g_ls->starved) {
        rp_log(NULL, RP_LOG_NOTICE, "accept: descriptors available again after %lu pause%s",
               g_ls->pauses, g_ls->pauses == 1 ? "" : "s");
        g_ls->starved = false;
        g_ls->pauses = 0;
    }
    rp_workers_dispatch(fd, *(const int *)arg);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    if (out_of_fds(e)) {
        starved(g_ls, l, *(const int *)arg);
        return;
    }
    rp_log(NULL, RP_LOG_INFO, "accept: %s", evutil_socket_error_to_string(e));
}

int rp_listeners_open(rp_server *s, rp_listeners *ls, char *err, size_t errlen)
{
    memset(ls, 0, sizeof *ls);
    ls->reserve_fd = -1;
    bool any_tls = false;
    for (char **b = s->core->binds; b && *b; b++) {
        if (ls->n == RP_MAX_LISTENERS) {
            snprintf(err, errlen, "too many Bind addresses (at most %d)", RP_MAX_LISTENERS);
            return -1;
        }
        /* "tls:" marks "Bind addr tls"; Secure on makes every address TLS */
        bool tls = strncmp(*b, "tls:", 4) == 0;
        const char *spec = tls ? *b + 4 : *b;
        tls = tls || s->core->secure;
        int fd = open_socket(spec, err, errlen);
        if (fd < 0)
            return -1;
        ls->fd[ls->n] = fd;
        ls->tls[ls->n] = tls;
        ls->spec[ls->n++] = spec;
        any_tls = any_tls || tls;
    }
    if (ls->n == 0) {
        snprintf(err, errlen, "no Bind address");
        return -1;
    }
    if (any_tls && !s->tls) {
        snprintf(err, errlen, "TLS listeners without a TLS context (configuration not finalized)");
        return -1;
    }
    return 0;
}

int rp_listeners_attach(rp_listeners *ls, struct event_base *base)
{
    g_ls = ls;
    ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ls->resume_ev = evtimer_new(base, resume_cb, ls);
    if (!ls->resume_ev)
        return -1;
    for (int i = 0; i < ls->n; i++) {
        ls->ev[i] = evconnlistener_new(base, accept_cb, &ls->tls[i], LEV_OPT_CLOSE_ON_FREE, 0,
                                       ls->fd[i]);
        if (!ls->ev[i])
            return -1;
        evconnlistener_set_error_cb(ls->ev[i], accept_error_cb);
    }
    return 0;
}

void rp_listeners_close(rp_listeners *ls)
{
    for (int i = 0; i < ls->n; i++) {
        if (ls->ev[i])
            evconnlistener_free(ls->ev[i]);
        else if (ls->fd[i] >= 0)
            close(ls->fd[i]);
        ls->ev[i] = NULL;
        ls->fd[i] = -1;
    }
    if (ls->resume_ev)
        event_free(ls->resume_ev);
    ls->resume_ev = NULL;
    if (ls->reserve_fd >= 0)
        close(ls->reserve_fd);
    ls->reserve_fd = -1;
}
