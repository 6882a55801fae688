/* request.c - the request object and the map -> auth -> handler pipeline. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include "runtime.h"

/* ---- name/value lists --------------------------------------------------- */

void rp_kv_add(rp_pool *p, rp_kv *kv, const char *name, const char *value)
{
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 16;
        const char **n = rp_palloc(p, cap * sizeof(*n));
        const char **v = rp_palloc(p, cap * sizeof(*v));
        if (kv->n) {
            memcpy(n, kv->names, kv->n * sizeof(*n));
            memcpy(v, kv->values, kv->n * sizeof(*v));
        }
        kv->names = n;
        kv->values = v;
        kv->cap = cap;
    }
    kv->names[kv->n] = name;
    kv->values[kv->n] = value;
    kv->n++;
}

/* Same first letter (ASCII, any case) before the full comparison. */
static inline int same_name(const char *a, const char *b)
{
    return ((a[0] ^ b[0]) & ~0x20) == 0 && strcasecmp(a, b) == 0;
}

const char *rp_kv_get(const rp_kv *kv, const char *name)
{
    for (size_t i = 0; i < kv->n; i++)
        if (same_name(kv->names[i], name))
            return kv->values[i];
    return NULL;
}

void rp_kv_unset(rp_kv *kv, const char *name)
{
    size_t o = 0;
    for (size_t i = 0; i < kv->n; i++) {
        if (same_name(kv->names[i], name))
            continue;
        kv->names[o] = kv->names[i];
        kv->values[o] = kv->values[i];
        o++;
    }
    kv->n = o;
}

/* ---- lifetime ----------------------------------------------------------- */

rp_req *rp_req_new(rp_conn *c)
{
    rp_pool *p = rp_pool_create(c->pool);
    rp_req *r = rp_pcalloc(p, sizeof(*r));
    r->pool = p;
    r->conn = c;
    r->server = c->server;
    r->tx = &rp_h1_transport;
    r->seq = c->nreq;
    r->method = "";
    r->uri = "";
    r->path = "/";
    r->http_major = 1;
    r->http_minor = 1;
    r->status = 200;
    r->length = -1;
    r->ctx = rp_pcalloc(p, c->server->mods.n * sizeof(void *));
    r->bb = rp_brigade_create(p);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    return r;
}

void rp_req_free(rp_req *r)
{
    free(r->body);
    if (r->body_held)
        evbuffer_free(r->body_held);
    rp_pool_destroy(r->pool);
}

/* ---- path normalization ----------------------------------------------- */

/* RFC 3986 remove_dot_segments on an absolute path, in place.  Returns -1
 * when a ".." would climb above "/". */
static int remove_dot_segments(char *path)
{
    char *out = path; /* writes never overtake reads */
    const char *in = path;
    while (*in) {
        const char *seg = in + 1; /* in points at a '/' */
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 1 && seg[0] == '.') {
            if (!end)
                *out++ = '/';
        } else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (out == path)
                return -1;
            while (out > path && *--out != '/')
                ;
            if (!end)
                *out++ = '/';
        } else {
            memmove(out, in, len + 1);
            out += len + 1;
        }
        in = seg + len;
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
    return 0;
}

/* Split the target into path and query, decode the path once, refuse what
 * could smuggle a separator (%2F) or a NUL (%00), and remove dot segments.
 * A backslash is an ordinary file-name byte on this platform. */
int rp_req_normalize_path(rp_req *r)
{
    const char *u = r->uri;
    if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) {
        u = strchr(u + (u[4] == ':' ? 7 : 8), '/'); /* absolute-form: drop scheme and host */
        if (!u)
            u = "/";
    }
    if (u[0] != '/')
        return 400;
    const char *q = strchr(u, '?');
    const char *frag = strchr(u, '#');
    size_t plen = q ? (size_t)(q - u) : frag ? (size_t)(frag - u) : strlen(u);
    if (q)
        r->query =
            rp_pstrndup(r->pool, q + 1, frag && frag > q ? (size_t)(frag - q - 1) : strlen(q + 1));
    for (size_t i = 0; i + 2 < plen; i++)
        if (u[i] == '%' && u[i + 1] != '\0' &&
            ((u[i + 1] == '2' && (u[i + 2] == 'f' || u[i + 2] == 'F')) ||
             (u[i + 1] == '0' && u[i + 2] == '0')))
            return 400;
    size_t dlen;
    char *path = rp_url_decode(r->pool, u, plen, 0, &dlen);
    if (!path || strlen(path) != dlen)
        return 400;
    if (remove_dot_segments(path) != 0)
        return 400;
    r->path = path;
    return 0;
}

/* ---- the pipeline -------------------------------------------------------- */

static int run_first(rp_req *r, rp_phase ph)
{
    const rp_vec *v = &r->server->hooks[ph];
    for (size_t i = 0; i < v->n; i++) {
        const rp_hook_rec *h = v->v[i];
        int rc = h->fn(r);
        if (rc != RP_DECLINED)
            return rc;
    }
    return RP_DECLINED;
}

static int run_all(rp_req *r, rp_phase ph)
{
    const rp_vec *v = &r->server->hooks[ph];
    for (size_t i = 0; i < v->n; i++) {
        const rp_hook_rec *h = v->v[i];
        int rc = h->fn(r);
        if (rc >= 100 || rc == RP_ERROR)
            return rc;
    }
    return RP_OK;
}

static void match_route(rp_req *r)
{
    rp_route_match m;
    if (r->host ? rp_host_routes_match(r->host, r->path, r->websocket, &m) == 0
                : rp_routes_match(r->server, r->path, r->websocket, &m) == 0) {
        r->route_key = m.route->key;
        r->route_owner = m.route->owner;
        r->route_target = m.route->target;
        r->route_rest = m.rest;
    }
}

/* Path, virtual host (421, <Route> settings) and route, once: a streamed
 * body's head does it before the body, the pipeline otherwise.  The
 * outcome is kept so a refusal is answered after the body, as always. */
static int route_request(rp_req *r)
{
    if (r->routed)
        return r->route_status;
    r->routed = true;
    int rc = rp_req_normalize_path(r);
    if (!rc)
        rc = rp_req_select_host(r);
    if (!rc)
        match_route(r);
    r->route_status = (short)rc;
    return rc;
}

/* The route decides who serves it (nginx's content handler): the owner's
 * handler runs before, and regardless of, the HANDLER hooks, so no handler
 * has to ask "is this my route?" on every request.  route_owner's desc is
 * the loader's full-size copy: an older plugin's handler reads NULL. */
static int run_route_handler(rp_req *r)
{
    const rp_modrec *owner = r->route_owner;
    if (!owner || !owner->desc->handler)
        return RP_DECLINED;
    return owner->desc->handler(r);
}

static bool is_trusted(const rp_core_conf *c, const rp_cidr *a)
{
    for (size_t i = 0; i < c->ntrusted; i++)
        if (rp_cidr_contains(&c->trusted[i], a))
            return true;
    return false;
}

/* LogIpFromHeader: behind a proxy this server trusts, the client is the
 * rightmost address of the header that is not itself a trusted proxy -
 * with one proxy, the first address (NEWER.md). Proxies append, so the
 * addresses to the left of theirs are whatever the client sent: taking
 * the first blindly would let anyone pose as 127.0.0.1. From a peer not
 * in TrustedProxies the header is only a header. */
static void client_from_header(rp_req *r)
{
    const rp_core_conf *c = r->server->core;
    const char *h = rp_req_header(r, c->log_ip_header);
    rp_cidr peer;
    if (!h || rp_addr_parse(r->conn->remote_ip, &peer) != 0 || !is_trusted(c, &peer))
        return;
    const char *end = h + strlen(h), *pick = NULL;
    size_t pick_len = 0;
    while (end > h) { /* from the right */
        const char *comma = end;
        while (comma > h && comma[-1] != ',')
            comma--;
        const char *s = comma, *e = end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        char ip[64];
        rp_cidr a;
        size_t n = (size_t)(e - s);
        if (n == 0 || n >= sizeof ip)
            return; /* not a list of addresses: believe none of it */
        memcpy(ip, s, n);
        ip[n] = '\0';
        if (rp_addr_parse(ip, &a) != 0)
            return;
        pick = s;
        pick_len = n;
        if (!is_trusted(c, &a))
            break; /* the first hop no trusted proxy vouches for */
        end = comma > h ? comma - 1 : h;
    }
    if (pick)
        r->client_ip = rp_pstrndup(r->pool, pick, pick_len);
}

static int pipeline(rp_req *r)
{
    if (r->server->core->log_ip_header)
        client_from_header(r);
    int rc = route_request(r);
    if (rc)
        return rc;
    rc = run_first(r, RP_PHASE_MAP);
    if (rc != RP_OK && rc != RP_DECLINED)
        return rc;
    rc = run_all(r, RP_PHASE_AUTH);
    if (rc != RP_OK)
        return rc;
    rc = run_route_handler(r);
    if (rc == RP_DECLINED)
        rc = run_first(r, RP_PHASE_HANDLER);
    return rc == RP_DECLINED ? 404 : rc;
}

/* Run a complete request.  The response may finish now or later (RP_ASYNC). */
void rp_req_run(rp_req *r)
{
    rp_thread *t = r->conn->worker->thread;
    rp_thread_busy(t, true);
    r->in_handler = true;
    int rc = pipeline(r);
    r->in_handler = false;
    rp_thread_busy(t, false);
    if (rc == RP_ASYNC) {
        r->async = true;
    } else if (rc >= 100 && !r->started) {
        rp_resp_error(r, rc);
    } else if (rc == RP_ERROR && !r->started) {
        rp_resp_error(r, 500);
    } else if (rc != RP_OK && rc != RP_ASYNC) {
        rp_log(NULL, RP_LOG_ERR, "handler answered %d after the response started; closing", rc);
        r->close_after = true;
    }
    if (rc != RP_ASYNC && !r->finished)
        rp_resp_finish(r);
    else if (r->finished)
        r->tx->done(r); /* finished inside the handler: complete it now */
}

/* ---- streamed request bodies ----------------------------------------------
 * The transports (conn.c, h2.c) parse the body and call deliver/complete;
 * what is common - holding bytes while the consumer is paused, calling
 * on_end once and only after the last byte - lives here. */

RP_API void rp_module_stream_body(rp_server *s, const rp_module *m)
{
    rp_modrec *rec = rp_modrec_of(s, m);
    if (rec)
        rec->stream_body = true;
}

bool rp_req_stream_wanted(rp_req *r)
{
    if (route_request(r) != 0)
        return false; /* the pipeline answers 400/421 after the body */
    return r->route_owner && r->route_owner->stream_body;
}

bool rp_req_body_open(const rp_req *r)
{
    return r->bmode == RP_BODY_READING && !r->finished;
}

/* on_end once every held byte is out (an error ends at once). */
static void body_settle(rp_req *r)
{
    if (r->bmode != RP_BODY_READING || !r->body_ended)
        return;
    if (r->body_status == 0 && r->body_held && evbuffer_get_length(r->body_held) > 0)
        return;
    r->bmode = RP_BODY_DONE;
    if (r->body_end && !r->finished)
        r->body_end(r, r->body_status, r->body_arg);
}

void rp_req_body_deliver(rp_req *r, const char *data, size_t len)
{
    if (!rp_req_body_open(r) || len == 0)
        return; /* an answer that is out needs no more of it */
    if (r->body_paused || (r->body_held && evbuffer_get_length(r->body_held) > 0)) {
        if (!r->body_held)
            r->body_held = evbuffer_new();
        if (r->body_held)
            evbuffer_add(r->body_held, data, len);
        return;
    }
    r->body_given += len;
    r->body_data(r, data, len, r->body_arg);
}

size_t rp_req_body_flush(rp_req *r)
{
    size_t done = 0;
    while (rp_req_body_open(r) && !r->body_paused && r->body_held &&
           evbuffer_get_length(r->body_held) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(r->body_held, -1, NULL, &v, 1) < 1)
            break;
        /* drained after the call: a pause inside it holds what follows */
        r->body_given += v.iov_len;
        r->body_data(r, v.iov_base, v.iov_len, r->body_arg);
        if (r->body_held) /* the request may have finished inside */
            evbuffer_drain(r->body_held, v.iov_len);
        done += v.iov_len;
    }
    body_settle(r);
    return done;
}

void rp_req_body_complete(rp_req *r, int status)
{
    if (r->body_ended)
        return;
    r->body_ended = true;
    r->body_status = status;
    body_settle(r);
}

RP_API int rp_req_body_streamed(const rp_req *r)
{
    return r->bmode != RP_BODY_BUFFERED;
}

RP_API int64_t rp_req_body_length(const rp_req *r)
{
    if (r->bmode == RP_BODY_BUFFERED)
        return (int64_t)r->body_len;
    return r->body_length;
}

RP_API uint64_t rp_req_body_received(const rp_req *r)
{
    return r->body_given;
}

static void body_kick(rp_req *r, bool start)
{
    if (r->tx == &rp_h2_transport)
        rp_h2_body_kick(r, start);
    else
        rp_conn_body_kick(r, start);
}

RP_API int rp_req_body_stream(rp_req *r, rp_body_data_fn on_data, rp_body_end_fn on_end, void *arg)
{
    if (r->bmode != RP_BODY_WAIT || !on_data || !on_end)
        return -1;
    r->bmode = RP_BODY_READING;
    r->body_data = on_data;
    r->body_end = on_end;
    r->body_arg = arg;
    body_kick(r, true);
    return 0;
}

RP_API void rp_req_body_pause(rp_req *r)
{
    r->body_paused = true;
}

RP_API void rp_req_body_resume(rp_req *r)
{
    if (!r->body_paused)
        return;
    r->body_paused = false;
    if (rp_req_body_open(r))
        body_kick(r, false);
}

/* ---- accessors ---------------------------------------------------------- */

RP_API rp_pool *rp_req_pool(rp_req *r) { return r->pool; }
RP_API rp_server *rp_req_server(rp_req *r) { return r->server; }
RP_API rp_worker *rp_req_worker(rp_req *r) { return r->conn->worker; }
RP_API const char *rp_req_method(const rp_req *r) { return r->method; }
RP_API int rp_req_is_head(const rp_req *r) { return r->head; }
RP_API const char *rp_req_uri(const rp_req *r) { return r->uri; }
RP_API const char *rp_req_path(const rp_req *r) { return r->path; }
RP_API const char *rp_req_query(const rp_req *r) { return r->query; }
RP_API int rp_req_http_minor(const rp_req *r) { return r->http_minor; }
RP_API const char *rp_req_protocol(const rp_req *r)
{
    return r->http_major == 2 ? "HTTP/2.0" : r->http_minor ? "HTTP/1.1" : "HTTP/1.0";
}
RP_API int rp_req_is_tls(const rp_req *r) { return r->conn->tls; }
RP_API const char *rp_req_remote_ip(const rp_req *r)
{
    return r->client_ip ? r->client_ip : r->conn->remote_ip;
}
RP_API int rp_req_remote_port(const rp_req *r) { return r->conn->remote_port; }
RP_API const char *rp_req_local_ip(const rp_req *r) { return r->conn->local_ip; }
RP_API int rp_req_local_port(const rp_req *r) { return r->conn->local_port; }
RP_API unsigned rp_req_keepalive_count(const rp_req *r) { return r->seq; }

/* Length first: most names are ruled out by one byte comparison. */
#define KH(s) {s, sizeof(s) - 1}
static const struct {
    const char *name;
    size_t len;
} known_headers[RP_HDR_KNOWN] = {
    KH("Host"),          KH("Connection"),        KH("Upgrade"),         KH("Expect"),
    KH("If-None-Match"), KH("If-Modified-Since"), KH("Range"),           KH("If-Range"),
    KH("Referer"),       KH("User-Agent"),        KH("Accept-Encoding"), KH("Cookie"),
    KH("Content-Type"),  KH("Content-Length"),    KH("Authorization"),   KH("Accept"),
    KH("X-Request-Id"), /* rp_req_id, asked on every JavaScript request */
};
#undef KH

/* Which known_headers entries have each length (at most three do); built
 * once as the library loads, not on the request path. */
static signed char by_len[32][3];

__attribute__((constructor)) static void by_len_init(void)
{
    memset(by_len, -1, sizeof by_len);
    for (int i = 0; i < RP_HDR_KNOWN; i++) {
        signed char *slot = by_len[known_headers[i].len];
        while (*slot >= 0)
            slot++;
        if (slot >= by_len[known_headers[i].len] + 3)
            abort(); /* a fourth name of one length: widen by_len */
        *slot = (signed char)i;
    }
}

/* Whether name (len bytes) is the known name kn of the same length, in any
 * case.  Folding with | 0x20 is exact here: known names are letters and
 * '-', and the only other byte that folds to '-' (0x2d) is CR, which no
 * header name holds.  Inline: every header of every request comes here. */
static inline bool known_is(const char *kn, const char *name, size_t len)
{
    /* whole words, the last one overlapping (memcpy: no alignment needed);
     * every known name has 4 bytes or more */
    if (len >= 8) {
        const uint64_t fold = 0x2020202020202020u;
        uint64_t a, b;
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&a, name + i, 8);
            memcpy(&b, kn + i, 8);
            if ((a | fold) != (b | fold))
                return false;
        }
        memcpy(&a, name + len - 8, 8);
        memcpy(&b, kn + len - 8, 8);
        return (a | fold) == (b | fold);
    }
    if (len < 4)
        return false;
    const uint32_t fold = 0x20202020u;
    uint32_t a, b, c, d;
    memcpy(&a, name, 4);
    memcpy(&b, kn, 4);
    memcpy(&c, name + len - 4, 4);
    memcpy(&d, kn + len - 4, 4);
    return (a | fold) == (b | fold) && (c | fold) == (d | fold);
}

static int known_index(const char *name, size_t len)
{
    if (len >= 32)
        return -1;
    for (const signed char *k = by_len[len]; k < by_len[len] + 3 && *k >= 0; k++)
        if (known_is(known_headers[*k].name, name, len))
            return *k;
    return -1;
}

void rp_req_add_header(rp_req *r, const char *name, const char *value)
{
    rp_kv_add(r->pool, &r->headers, name, value);
    int k = known_index(name, strlen(name));
    if (k >= 0 && !r->known[k])
        r->known[k] = value;
}

RP_API const char *rp_req_header(const rp_req *r, const char *name)
{
    int k = known_index(name, strlen(name));
    return k >= 0 ? r->known[k] : rp_kv_get(&r->headers, name);
}

RP_API size_t rp_req_header_count(const rp_req *r)
{
    return r->headers.n;
}

RP_API int rp_req_header_at(const rp_req *r, size_t i, const char **name, const char **value)
{
    if (i >= r->headers.n)
        return -1;
    *name = r->headers.names[i];
    *value = r->headers.values[i];
    return 0;
}

RP_API const void *rp_req_body(const rp_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len ? r->body : NULL;
}

RP_API const char *rp_req_route_key(const rp_req *r) { return r->route_key; }
RP_API const rp_module *rp_req_route_owner(const rp_req *r)
{
    const rp_modrec *m = r->route_owner;
    return !m ? NULL : m->self ? m->self : m->desc; /* never the loader's copy */
}
RP_API void *rp_req_route_target(const rp_req *r) { return r->route_target; }
RP_API const char *rp_req_route_rest(const rp_req *r) { return r->route_rest ? r->route_rest : ""; }

RP_API void rp_req_set_route(rp_req *r, const rp_module *owner, void *target, const char *rest)
{
    r->route_owner = rp_modrec_of(r->server, owner);
    r->route_target = target;
    r->route_rest = rest ? rp_pstrdup(r->pool, rest) : "";
}

RP_API void *rp_req_ctx(const rp_req *r, const rp_module *m)
{
    rp_modrec *rec = rp_modrec_of(r->server, m);
    return rec ? r->ctx[rec->index] : NULL;
}

RP_API void rp_req_set_ctx(rp_req *r, const rp_module *m, void *ctx)
{
    rp_modrec *rec = rp_modrec_of(r->server, m);
    if (rec)
        r->ctx[rec->index] = ctx;
}

RP_API void rp_req_note_set(rp_req *r, const char *key, const char *value)
{
    rp_kv_unset(&r->notes, key);
    if (value)
        rp_kv_add(r->pool, &r->notes, rp_pstrdup(r->pool, key), rp_pstrdup(r->pool, value));
}

RP_API const char *rp_req_note_get(const rp_req *r, const char *key)
{
    return rp_kv_get(&r->notes, key);
}

RP_API void *rp_req_conf(const rp_req *r, const rp_module *m)
{
    rp_modrec *rec = rp_modrec_of(r->server, m);
    return rec ? rec->conf : NULL;
}

void rp_req_log_phase(rp_req *r)
{
    if (r->logged)
        return;
    r->logged = true;
    run_all(r, RP_PHASE_LOG);
}

/* ---- the authenticated user ---------------------------------------------- */

RP_API void rp_resp_set_compress(rp_req *r, int level)
{
    r->compress1 = (signed char)(level >= RP_COMPRESS_DEFAULT && level <= RP_COMPRESS_ON ? level + 1
                                                                                           : 0);
}

RP_API int rp_resp_compress(const rp_req *r) { return r->compress1 - 1; }

RP_API void rp_req_set_user(rp_req *r, const char *user)
{
    r->user = user ? rp_pstrdup(r->pool, user) : NULL;
}

RP_API const char *rp_req_user(const rp_req *r) { return r->user; }

RP_API void rp_resp_abort(rp_req *r)
{
    r->close_after = true;
    r->keepalive = false;
    r->chunked = false; /* no last chunk: the client must not take the body as whole */
}
