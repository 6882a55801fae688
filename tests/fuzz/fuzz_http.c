/* fuzz_http.c - libFuzzer target: the HTTP/1.1 glue around llhttp.
 *
 * The real core (conn.c, request.c, response.c, filter.c) runs one worker
 * loop, with small limits and short deadlines.  Each input is written whole
 * into one end of a socketpair handed to the worker as a client connection,
 * then half-closed, so pipelined requests, chunked bodies,
 * limits, 100-continue and every error path are reached.  Checked on every
 * input, beyond the sanitizers: the server closes the connection in bounded
 * time (a request left hanging is a finding: it is how a chunk size of
 * ffffffffffffffff used to hold a connection), and everything it sends is
 * a sequence of well-formed status lines. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include "runtime.h"

/* Deadlines short enough that a stalled request is cut inside HANG_MS. */
static const char CONF[] = "Threads 1\n"
                           "MaxBodySize 4096\n"
                           "MaxHeaderSize 2048\n"
                           "MaxHeaders 16\n"
                           "MaxUriLength 512\n"
                           "ConnectTimeout 1\n"
                           "HeaderTimeout 1\n"
                           "BodyTimeout 1\n"
                           "SendTimeout 1\n"
                           "LogLevel err\n";
#define HANG_MS 5000

/* The worker runs on the fuzzing thread itself: no thread hand-off per
 * input, and every input sees the same order of events. */
static rp_thread g_thread;
static rp_worker g_worker;

static void start_core(void)
{
    static bool started;
    if (started)
        return;
    started = true;
    signal(SIGPIPE, SIG_IGN); /* as rp_server_start does: a closed peer is an error return */
    rp_server *s = rp_server_new();
    const char *err = NULL;
    if (rp_conf_read_string(s, CONF, "fuzz_http.conf", "/", &err) != 0 ||
        rp_server_finalize(s, &err) != 0 || !(g_thread.base = event_base_new())) {
        fprintf(stderr, "fuzz_http: cannot start the core: %s\n", err ? err : "?");
        abort();
    }
    g_worker.thread = &g_thread;
    g_worker.server = s;
    g_worker.ctx = calloc(s->mods.n, sizeof(void *));
    g_thread.current = g_thread.gens = &g_worker;
}

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every response the server wrote begins with a status line. */
static void check_output(const char *out, size_t n)
{
    if (n == 0)
        return;
    if (n < 12 || memcmp(out, "HTTP/1.1 ", 9) != 0)
        abort();
}

/* Write what the socket takes; false once the server closed its end. */
static bool client_write(int fd, const uint8_t *data, size_t size, size_t *sent)
{
    ssize_t w = write(fd, data + *sent, size - *sent);
    if (w > 0)
        *sent += (size_t)w;
    return !(w < 0 && errno != EAGAIN);
}

/* Read what is there; false at the server's end of file. */
static bool client_read(int fd, char *out, size_t cap, size_t *got, bool *progress)
{
    for (;;) {
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return false;
        if (r < 0)
            return true;
        *progress = true;
        size_t take = (size_t)r < cap - *got ? (size_t)r : cap - *got;
        memcpy(out + *got, buf, take);
        *got += take;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    start_core();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    g_worker.live++;
    atomic_fetch_add(&g_thread.nconns, 1);
    rp_conn_accept(&g_worker, sv[1], false);
    static char out[1 << 16];
    size_t got = 0, sent = 0;
    bool shut = false;
    long long deadline = ms_now() + HANG_MS;
    for (;;) {
        bool progress = false;
        if (sent < size) {
            size_t before = sent;
            if (!client_write(sv[0], data, size, &sent))
                sent = size; /* the server closed: nothing more to send */
            progress = sent != before;
        }
        if (sent == size && !shut) {
            shutdown(sv[0], SHUT_WR);
            shut = true;
        }
        event_base_loop(g_thread.base, EVLOOP_NONBLOCK);
        if (!client_read(sv[0], out, sizeof out, &got, &progress))
            break;
        if (ms_now() > deadline)
            abort(); /* the server neither answered nor closed */
        if (!progress) /* wait for the server's next event (a read, a timer) */
            event_base_loop(g_thread.base, EVLOOP_ONCE);
    }
    close(sv[0]);
    event_base_loop(g_thread.base, EVLOOP_NONBLOCK); /* let it finish closing */
    check_output(out, got);
    return 0;
}
