/* log.c - error log and access log.
 *
 * Each log is a file descriptor written with one write(2) per line, so lines
 * from different threads never interleave.  Reopening (SIGUSR1) opens the file
 * anew and dup2()s it over the old descriptor: writers never see a closed
 * descriptor and need no lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
#include "core.h"
#include "runtime.h"

static int g_err_fd = STDERR_FILENO;
static int g_access_fd = -1;
static const char *g_err_path;
static const char *g_access_path;
static int g_level = RP_LOG_NOTICE;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int rp_log_open(const rp_core_conf *c, const char **err)
{
    static char msg[512];
    g_level = (int)c->log_level;
    if (c->error_log) {
        int fd = open_log(c->error_log);
        if (fd < 0) {
            snprintf(msg, sizeof msg, "cannot open ErrorLog '%s': %s", c->error_log, strerror(errno));
            *err = msg;
            return -1;
        }
        g_err_fd = fd;
        g_err_path = c->error_log;
    }
    if (c->log == 0)
        return 0; /* "Log off" wins over an AccessLog location */
    if (c->access_log) {
        int fd = open_log(c->access_log);
        if (fd < 0) {
            snprintf(msg, sizeof msg, "cannot open AccessLog '%s': %s", c->access_log, strerror(errno));
            *err = msg;
            return -1;
        }
        g_access_fd = fd;
        g_access_path = c->access_log;
    } else if (c->log == 1) {
        g_access_fd = STDOUT_FILENO;
    }
    return 0;
}

/* Give the log files to the account the server drops to, so a reopen after
 * rotation still works. */
void rp_log_chown(uid_t uid, gid_t gid)
{
    if (g_err_path && fchown(g_err_fd, uid, gid) != 0)
        rp_log(NULL, RP_LOG_WARN, "cannot chown ErrorLog: %s", strerror(errno));
    if (g_access_path && fchown(g_access_fd, uid, gid) != 0)
        rp_log(NULL, RP_LOG_WARN, "cannot chown AccessLog: %s", strerror(errno));
}

static int reopen_one(const char *path, int fd)
{
    if (!path)
        return 0;
    int nfd = open_log(path);
    if (nfd < 0) {
        rp_log(NULL, RP_LOG_ERR, "cannot reopen '%s': %s", path, strerror(errno));
        return -1;
    }
    dup2(nfd, fd);
    close(nfd);
    return 0;
}

int rp_log_reopen(void)
{
    int a = reopen_one(g_err_path, g_err_fd);
    int b = reopen_one(g_access_path, g_access_fd);
    return a || b ? -1 : 0;
}

void rp_log_set_level(int level)
{
    g_level = level;
}

bool rp_access_log_enabled(void)
{
    return g_access_fd >= 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

RP_API void rp_access_log_write(const char *line, size_t len)
{
    if (g_access_fd >= 0)
        write_all(g_access_fd, line, len);
}

RP_API void rp_error_log_write(const char *text, size_t len)
{
    write_all(g_err_fd, text, len);
}

RP_API void rp_vlog(const rp_module *m, rp_log_level level, const char *fmt, va_list ap)
{
    if ((int)level > g_level)
        return;
    char buf[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, sizeof buf - n, ".%03d [%s] [%s] ", (int)(tv.tv_usec / 1000),
                          level_names[level], m && m->name ? m->name : "core");
    int k = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    n = k < 0 ? n : n + (size_t)k;
    if (n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    write_all(g_err_fd, buf, n);
}

RP_API void rp_log(const rp_module *m, rp_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_vlog(m, level, fmt, ap);
    va_end(ap);
}

RP_API void rp_log_req(rp_req *r, const rp_module *m, rp_log_level level, const char *fmt, ...)
{
    if ((int)level > g_level)
        return;
    char msg[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_log(m, level, "[client %s:%d] [id %s] %s", rp_req_remote_ip(r), rp_req_remote_port(r),
           rp_req_id(r), msg);
}
