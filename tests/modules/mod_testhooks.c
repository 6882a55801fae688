/* mod_testhooks - a test-only plugin that exercises the core.
 *
 * Routes: "Map /key test:<mode>" where mode is one of
 *   echo            method, uri, path, query, http minor, header count, every
 *                   header, body length and body sha256 (hex), one per line
 *   slow:<ms>       answers "slow <ms>\n" after a timer on the worker's loop
 *   block:<ms>      logs "testhooks blocking <ms>", then holds the worker's
 *                   thread (a sleep, like a long script) and answers "blocked <ms>\n"
 *                   (RP_ASYNC + rp_resp_finish)
 *   stream:<n>[:<ms>]  n chunks "chunk <i>\n", length unknown (chunked),
 *                   flushed one by one, <ms> apart (on a timer) when given
 *   status:<code>   that status with body "status <code>\n" (none for 204/304)
 *   error:<code>    returns <code> from the handler (core error page / ERROR hooks)
 *   big:<bytes>     a generated body, known length, written at once
 *   bigchunked:<bytes>  the same body with unknown length (chunked)
 *   bigdrain:<bytes>    the same, known length, written as the output drains
 *   hooks           "order=<auth hooks of hooka/b/c as they ran>\n"
 *                   "phases=<this module's hooks as they ran>\n"
 *   conf            the values set by the Test* directives
 *   worker          "worker <index>\n"
 *   svc             calls the "testsvc" service published by mod_hooka
 * Every response from a test: route carries "X-Worker: <worker index>".
 * Generated body byte i is (i ^ (i >> 8) ^ (i >> 16)) & 0xff.
 *
 * Hooks: MAP  - "X-Remap: <mode>" points any request at that mode.
 *        AUTH - records "auth" in the phases note; "X-Deny: <code>" answers it.
 *        route handler (the descriptor's .handler, no HANDLER hook) - serves
 *                  its routes (declines when "X-Hook-Claim" is present).
 *        ERROR - with "X-Custom-Error: 1" writes "custom error <status>\n".
 *        LOG  - logs "testhooks log <method> <uri> <status>" at notice level.
 * Filter: "upper" (CONTENT) joins when the request has "X-Upper: 1" and
 *         upper-cases each brigade as it passes (streaming, no buffering).
 * Lifecycle: post_config logs "testhooks post_config <n>"; worker_init and
 *         worker_exit log "testhooks worker_init <index>" / "worker_exit".
 *         "TestPostConfigFail on" makes post_config fail.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <rampart.h>

RP_MODULE_DECLARE(testhooks);
#define SELF (&rp_module_testhooks)

typedef struct {
    char *str;
    int flag;
    long num;
    size_t size;
    double secs;
    char *path;
    char **list;
    char *pair[2];
    int post_config_fail;
} th_conf;

static void *th_create_conf(rp_pool *p)
{
    th_conf *c = rp_pcalloc(p, sizeof *c);
    c->str = "default";
    c->num = -1;
    return c;
}

static const char *th_set_pair(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    th_conf *c = conf;
    (void)argc;
    if (strcmp(argv[0], "bad") == 0)
        return rp_cmd_error(cmd, "%s: 'bad' is refused by its setter", rp_cmd_name(cmd));
    c->pair[0] = rp_pstrdup(rp_cmd_pool(cmd), argv[0]);
    c->pair[1] = rp_pstrdup(rp_cmd_pool(cmd), argv[1]);
    return NULL;
}

static const rp_directive th_directives[] = {
    {"TestString", 1, 1, rp_set_string, offsetof(th_conf, str), "TestString text"},
    {"TestFlag", 1, 1, rp_set_flag, offsetof(th_conf, flag), "TestFlag on|off"},
    {"TestInt", 1, 1, rp_set_int, offsetof(th_conf, num), "TestInt integer"},
    {"TestSize", 1, 1, rp_set_size, offsetof(th_conf, size), "TestSize bytes[k|m|g]"},
    {"TestSeconds", 1, 1, rp_set_seconds, offsetof(th_conf, secs), "TestSeconds seconds"},
    {"TestPath", 1, 1, rp_set_path, offsetof(th_conf, path), "TestPath path"},
    {"TestList", 1, -1, rp_set_list, offsetof(th_conf, list), "TestList word..."},
    {"TestPair", 2, 2, th_set_pair, 0, "TestPair a b"},
    {"TestPostConfigFail", 1, 1, rp_set_flag, offsetof(th_conf, post_config_fail),
     "TestPostConfigFail on|off"},
    RP_DIRECTIVES_END};

/* ---- routes ------------------------------------------------------------ */

static int th_map_target(rp_cmd *cmd, void *conf, const char *key, int argc,
                         char *const argv[], const char **err)
{
    (void)conf;
    if (argc < 1 || strncmp(argv[0], "test:", 5) != 0)
        return RP_DECLINED;
    if (argc != 1) {
        *err = rp_cmd_error(cmd, "Map %s test:<mode> takes no further arguments", key);
        return RP_ERROR;
    }
    const char *e = rp_route_add(cmd, key, SELF, rp_pstrdup(rp_cmd_pool(cmd), argv[0] + 5));
    if (e) {
        *err = e;
        return RP_ERROR;
    }
    return RP_OK;
}

/* ---- helpers ----------------------------------------------------------- */

static void note_append(rp_req *r, const char *key, const char *item)
{
    const char *old = rp_req_note_get(r, key);
    if (old && *old) {
        char *v = rp_psprintf(rp_req_pool(r), "%s,%s", old, item);
        rp_req_note_set(r, key, v);
    } else {
        rp_req_note_set(r, key, item);
    }
}

static unsigned char gen_byte(uint64_t i)
{
    return (unsigned char)((i ^ (i >> 8) ^ (i >> 16)) & 0xff);
}

static void gen_fill(unsigned char *buf, uint64_t off, size_t n)
{
    for (size_t k = 0; k < n; k++)
        buf[k] = gen_byte(off + k);
}

static void set_worker_header(rp_req *r)
{
    char b[32];
    snprintf(b, sizeof b, "%d", rp_worker_index(rp_req_worker(r)));
    rp_resp_header_set(r, "X-Worker", b);
}

/* ---- modes --------------------------------------------------------------- */

static int mode_echo(rp_req *r)
{
    size_t blen = 0;
    const void *body = rp_req_body(r, &blen);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_Digest(body ? body : "", blen, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = 0;

    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "method=%s\n", rp_req_method(r));
    rp_resp_printf(r, "uri=%s\n", rp_req_uri(r));
    rp_resp_printf(r, "path=%s\n", rp_req_path(r));
    rp_resp_printf(r, "query=%s\n", rp_req_query(r) ? rp_req_query(r) : "(none)");
    rp_resp_printf(r, "http_minor=%d\n", rp_req_http_minor(r));
    rp_resp_printf(r, "keepalive_count=%u\n", rp_req_keepalive_count(r));
    rp_resp_printf(r, "route_key=%s\n", rp_req_route_key(r) ? rp_req_route_key(r) : "(none)");
    rp_resp_printf(r, "route_rest=%s\n", rp_req_route_rest(r) ? rp_req_route_rest(r) : "(none)");
    rp_resp_printf(r, "remote=%s\n", rp_req_remote_ip(r) ? rp_req_remote_ip(r) : "(none)");
    rp_resp_printf(r, "local_port=%d\n", rp_req_local_port(r));
    rp_resp_printf(r, "headers=%zu\n", rp_req_header_count(r));
    for (size_t i = 0;; i++) {
        const char *n, *v;
        if (rp_req_header_at(r, i, &n, &v) != 0)
            break;
        rp_resp_printf(r, "h:%s: %s\n", n, v);
    }
    rp_resp_printf(r, "body_len=%zu\n", blen);
    rp_resp_printf(r, "body_sha256=%s\n", hex);
    return RP_OK;
}

/* slow:<ms> */
typedef struct {
    rp_req *r;
    struct event *ev;
    long ms;
    int done;
} slow_ctx;

static void slow_free(void *arg)
{
    slow_ctx *s = arg;
    if (s->ev) {
        event_free(s->ev);
        s->ev = NULL;
    }
}

static void slow_fire(evutil_socket_t fd, short what, void *arg)
{
    slow_ctx *s = arg;
    (void)fd;
    (void)what;
    if (s->done)
        return;
    s->done = 1;
    rp_resp_printf(s->r, "slow %ld\n", s->ms);
    rp_resp_finish(s->r);
}

static void slow_abort(rp_req *r, void *arg)
{
    slow_ctx *s = arg;
    rp_log(SELF, RP_LOG_INFO, "testhooks abort %s (done=%d)", rp_req_uri(r), s->done);
    if (s->done)
        return;
    s->done = 1;
    if (s->ev)
        event_del(s->ev);
    rp_resp_finish(r);
}

static int start_timer(rp_req *r, slow_ctx *s, long ms, event_callback_fn cb)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!s->ev) {
        s->ev = evtimer_new(rp_worker_base(rp_req_worker(r)), cb, s);
        if (!s->ev)
            return -1;
        rp_pool_cleanup_add(rp_req_pool(r), slow_free, s);
    }
    return evtimer_add(s->ev, &tv);
}

static int mode_slow(rp_req *r, const char *arg)
{
    slow_ctx *s = rp_pcalloc(rp_req_pool(r), sizeof *s);
    s->r = r;
    s->ms = atol(arg);
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_req_on_abort(r, slow_abort, s);
    if (start_timer(r, s, s->ms, slow_fire) != 0)
        return RP_ERROR;
    return RP_ASYNC;
}

/* stream:<n>[:<ms>] */
typedef struct {
    slow_ctx t; /* first: shares the timer helpers */
    long n, i, ms;
} stream_ctx;

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    stream_ctx *s = arg;
    (void)fd;
    (void)what;
    if (s->t.done)
        return;
    rp_resp_printf(s->t.r, "chunk %ld\n", s->i);
    rp_resp_flush(s->t.r);
    s->i++;
    if (s->i >= s->n) {
        s->t.done = 1;
        rp_resp_finish(s->t.r);
        return;
    }
    if (start_timer(s->t.r, &s->t, s->ms, stream_tick) != 0) {
        s->t.done = 1;
        rp_resp_finish(s->t.r);
    }
}

static int mode_stream(rp_req *r, const char *arg)
{
    long n = atol(arg);
    const char *c = strchr(arg, ':');
    long ms = c ? atol(c + 1) : 0;
    rp_resp_header_set(r, "Content-Type", "text/plain");
    if (ms <= 0) {
        for (long i = 0; i < n; i++) {
            rp_resp_printf(r, "chunk %ld\n", i);
            rp_resp_flush(r);
        }
        return RP_OK;
    }
    stream_ctx *s = rp_pcalloc(rp_req_pool(r), sizeof *s);
    s->t.r = r;
    s->n = n;
    s->ms = ms;
    rp_req_on_abort(r, slow_abort, &s->t);
    if (n <= 0)
        return RP_OK;
    rp_resp_printf(r, "chunk %ld\n", s->i++);
    rp_resp_flush(r);
    if (s->i >= n)
        return RP_OK;
    if (start_timer(r, &s->t, ms, stream_tick) != 0)
        return RP_ERROR;
    return RP_ASYNC;
}

/* big:<bytes> bigchunked:<bytes> bigdrain:<bytes> */
#define BIG_PIECE 65536

typedef struct {
    rp_req *r;
    uint64_t off, total;
    int done;
} drain_ctx;

static void drain_abort(rp_req *r, void *arg)
{
    drain_ctx *d = arg;
    rp_log(SELF, RP_LOG_INFO, "testhooks abort %s (done=%d)", rp_req_uri(r), d->done);
    if (d->done)
        return;
    d->done = 1;
    rp_resp_finish(r);
}

static void drain_more(rp_req *r, void *arg)
{
    drain_ctx *d = arg;
    unsigned char buf[BIG_PIECE];
    if (d->done)
        return;
    /* Queue at most 256 KiB, then wait for the output to drain to 64 KiB. */
    for (int k = 0; k < 4 && d->off < d->total; k++) {
        size_t n = d->total - d->off > BIG_PIECE ? BIG_PIECE : (size_t)(d->total - d->off);
        gen_fill(buf, d->off, n);
        if (rp_resp_write(r, buf, n) != 0) {
            d->done = 1;
            rp_resp_finish(r);
            return;
        }
        d->off += n;
    }
    if (d->off >= d->total) {
        d->done = 1;
        rp_resp_finish(r);
        return;
    }
    rp_resp_on_drain(r, BIG_PIECE, drain_more, d);
}

static int mode_big(rp_req *r, const char *arg, int chunked, int drain)
{
    uint64_t total = strtoull(arg, NULL, 10);
    rp_resp_header_set(r, "Content-Type", "application/octet-stream");
    if (!chunked)
        rp_resp_set_length(r, (int64_t)total);
    if (drain) {
        drain_ctx *d = rp_pcalloc(rp_req_pool(r), sizeof *d);
        d->r = r;
        d->total = total;
        rp_req_on_abort(r, drain_abort, d);
        drain_more(r, d);
        return RP_ASYNC;
    }
    unsigned char *buf = malloc(BIG_PIECE);
    if (!buf)
        return RP_ERROR;
    for (uint64_t off = 0; off < total;) {
        size_t n = total - off > BIG_PIECE ? BIG_PIECE : (size_t)(total - off);
        gen_fill(buf, off, n);
        if (rp_resp_write(r, buf, n) != 0)
            break;
        off += n;
    }
    free(buf);
    return RP_OK;
}

static int mode_conf(rp_req *r)
{
    th_conf *c = rp_req_conf(r, SELF);
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "string=%s\n", c->str ? c->str : "(null)");
    rp_resp_printf(r, "flag=%d\n", c->flag);
    rp_resp_printf(r, "int=%ld\n", c->num);
    rp_resp_printf(r, "size=%zu\n", c->size);
    rp_resp_printf(r, "seconds=%g\n", c->secs);
    rp_resp_printf(r, "path=%s\n", c->path ? c->path : "(null)");
    rp_resp_printf(r, "list=");
    for (char **l = c->list; l && *l; l++)
        rp_resp_printf(r, "%s%s", l == c->list ? "" : "|", *l);
    rp_resp_printf(r, "\npair=%s,%s\n", c->pair[0] ? c->pair[0] : "(null)",
                   c->pair[1] ? c->pair[1] : "(null)");
    return RP_OK;
}

typedef struct {
    int (*add)(int a, int b);
    const char *(*name)(void);
} testsvc_v1;

static int mode_svc(rp_req *r)
{
    const testsvc_v1 *t = rp_service_get("testsvc", 1);
    rp_resp_header_set(r, "Content-Type", "text/plain");
    if (!t) {
        rp_resp_printf(r, "svc=missing\n");
        return RP_OK;
    }
    rp_resp_printf(r, "svc=%d from=%s version=%d\n", t->add(2, 3), t->name(),
                   rp_service_version("testsvc"));
    return RP_OK;
}

/* ---- hooks --------------------------------------------------------------- */

static int th_map(rp_req *r)
{
    note_append(r, "th_phases", "map");
    const char *m = rp_req_header(r, "X-Remap");
    if (m && *m) {
        rp_req_set_route(r, SELF, rp_pstrdup(rp_req_pool(r), m), "");
        return RP_OK;
    }
    return RP_DECLINED;
}

static int th_auth(rp_req *r)
{
    note_append(r, "th_phases", "auth");
    const char *d = rp_req_header(r, "X-Deny");
    if (d && atoi(d) >= 400)
        return atoi(d);
    return RP_OK;
}

/* The route handler: the core calls it only for requests routed to us. */
static int th_handler(rp_req *r)
{
    if (rp_req_header(r, "X-Hook-Claim"))
        return RP_DECLINED;
    const char *mode = rp_req_route_target(r);
    if (!mode)
        return RP_DECLINED;
    note_append(r, "th_phases", "handler");
    set_worker_header(r);
    rp_log(SELF, RP_LOG_INFO, "testhooks handler %s %s", mode, rp_req_uri(r));

    if (strcmp(mode, "echo") == 0)
        return mode_echo(r);
    if (strncmp(mode, "slow:", 5) == 0)
        return mode_slow(r, mode + 5);
    if (strncmp(mode, "block:", 6) == 0) {
        long ms = atol(mode + 6);
        rp_log(SELF, RP_LOG_NOTICE, "testhooks blocking %ld", ms);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        rp_resp_header_set(r, "Content-Type", "text/plain");
        rp_resp_printf(r, "blocked %ld\n", ms);
        return RP_OK;
    }
    if (strncmp(mode, "stream:", 7) == 0)
        return mode_stream(r, mode + 7);
    if (strncmp(mode, "status:", 7) == 0) {
        int st = atoi(mode + 7);
        rp_resp_set_status(r, st);
        if (st != 204 && st != 304 && st >= 200) {
            rp_resp_header_set(r, "Content-Type", "text/plain");
            rp_resp_printf(r, "status %d\n", st);
        }
        return RP_OK;
    }
    if (strncmp(mode, "error:", 6) == 0)
        return atoi(mode + 6);
    if (strncmp(mode, "bigchunked:", 11) == 0)
        return mode_big(r, mode + 11, 1, 0);
    if (strncmp(mode, "bigdrain:", 9) == 0)
        return mode_big(r, mode + 9, 0, 1);
    if (strncmp(mode, "big:", 4) == 0)
        return mode_big(r, mode + 4, 0, 0);
    if (strcmp(mode, "hooks") == 0) {
        const char *o = rp_req_note_get(r, "order");
        const char *p = rp_req_note_get(r, "th_phases");
        rp_resp_header_set(r, "Content-Type", "text/plain");
        rp_resp_printf(r, "order=%s\nphases=%s\n", o ? o : "", p ? p : "");
        return RP_OK;
    }
    if (strcmp(mode, "conf") == 0)
        return mode_conf(r);
    if (strcmp(mode, "worker") == 0) {
        rp_resp_header_set(r, "Content-Type", "text/plain");
        rp_resp_printf(r, "worker %d\n", rp_worker_index(rp_req_worker(r)));
        return RP_OK;
    }
    if (strcmp(mode, "svc") == 0)
        return mode_svc(r);
    rp_log(SELF, RP_LOG_ERR, "unknown test mode '%s'", mode);
    return 500;
}

static int th_error(rp_req *r)
{
    const char *h = rp_req_header(r, "X-Custom-Error");
    if (!h || strcmp(h, "1") != 0)
        return RP_DECLINED;
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "custom error %d\n", rp_resp_status(r));
    return RP_OK;
}

static int th_log(rp_req *r)
{
    rp_log(SELF, RP_LOG_NOTICE, "testhooks log %s %s %d", rp_req_method(r), rp_req_uri(r),
           rp_resp_status(r));
    return RP_OK;
}

/* ---- the "upper" filter ---------------------------------------------------- */

typedef struct {
    rp_brigade *out;
    unsigned long brigades;
} upper_ctx;

static int upper_setup(rp_filter *f, rp_req *r)
{
    const char *h = rp_req_header(r, "X-Upper");
    if (!h || strcmp(h, "1") != 0)
        return RP_DECLINED;
    upper_ctx *u = rp_pcalloc(rp_req_pool(r), sizeof *u);
    u->out = rp_brigade_create(rp_req_pool(r));
    rp_filter_set_ctx(f, u);
    rp_resp_header_set(r, "X-Upper-Filter", "joined");
    return RP_OK;
}

static int upper_fn(rp_filter *f, rp_brigade *bb)
{
    upper_ctx *u = rp_filter_ctx(f);
    u->brigades++;
    for (rp_bucket *b = rp_brigade_first(bb); b; b = rp_bucket_next(b)) {
        switch (rp_bucket_kind(b)) {
        case RP_BUCKET_MEM:
        case RP_BUCKET_FILE: {
            const char *data;
            size_t len;
            if (rp_bucket_read(b, &data, &len) != 0)
                return RP_ERROR;
            char *up = malloc(len ? len : 1);
            if (!up)
                return RP_ERROR;
            for (size_t i = 0; i < len; i++)
                up[i] = (char)toupper((unsigned char)data[i]);
            rp_brigade_add_mem(u->out, up, len);
            free(up);
            break;
        }
        case RP_BUCKET_FLUSH:
            rp_brigade_add_flush(u->out);
            break;
        case RP_BUCKET_EOS:
            rp_log(SELF, RP_LOG_INFO, "upper filter saw %lu brigades", u->brigades);
            rp_brigade_add_eos(u->out);
            break;
        }
    }
    rp_brigade_clear(bb);
    return rp_filter_pass(f, u->out);
}

/* ---- lifecycle ------------------------------------------------------------ */

static int post_config_calls;

static void th_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_MAP, th_map, RP_HOOK_MIDDLE, NULL, NULL);
    rp_hook_add(h, RP_PHASE_AUTH, th_auth, RP_HOOK_MIDDLE, NULL, NULL);
    rp_hook_add(h, RP_PHASE_ERROR, th_error, RP_HOOK_MIDDLE, NULL, NULL);
    rp_hook_add(h, RP_PHASE_LOG, th_log, RP_HOOK_MIDDLE, NULL, NULL);
    rp_filter_register(h, "upper", RP_FILTER_CONTENT, 0, upper_setup, upper_fn);
}

static int th_post_config(rp_server *s, void *conf)
{
    th_conf *c = conf;
    post_config_calls++;
    rp_log(SELF, RP_LOG_NOTICE, "testhooks post_config %d threads=%d", post_config_calls,
           rp_server_threads(s));
    if (c->post_config_fail) {
        rp_log(SELF, RP_LOG_ERR, "testhooks post_config failing as asked");
        return RP_ERROR;
    }
    return RP_OK;
}

static int th_worker_init(rp_worker *w, void *conf)
{
    (void)conf;
    rp_log(SELF, RP_LOG_NOTICE, "testhooks worker_init %d", rp_worker_index(w));
    return RP_OK;
}

static void th_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    rp_log(SELF, RP_LOG_NOTICE, "testhooks worker_exit %d", rp_worker_index(w));
}

RP_MODULE_DECLARE(testhooks) = {
    RP_MODULE_HEADER,
    .name = "testhooks",
    .version = "1.0",
    .directives = th_directives,
    .create_conf = th_create_conf,
    .map_target = th_map_target,
    .register_hooks = th_register_hooks,
    .post_config = th_post_config,
    .worker_init = th_worker_init,
    .worker_exit = th_worker_exit,
    .handler = th_handler,
};
