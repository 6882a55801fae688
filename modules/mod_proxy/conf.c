/* conf.c - mod_proxy's directives and its Map targets.
 *
 *   Map /api/ proxy:http://127.0.0.1:9000/base/ [more URLs]
 *   <Route /api/>
 *       ProxyReadTimeout 5
 *       ProxyHeader X-Api-Key "secret"
 *   </Route>
 *
 * URLs may also be joined by commas in one word.  The Map line names the
 * upstreams only: how a request goes to them (timeouts, certificate check,
 * Host, added headers, balancing) is a route setting, written at the top
 * level, in <Host> or in <Route> and merged once here; the words the Map
 * line once took after the URLs are refused with their replacement.  The
 * pools and health records are per worker and upstream, so their settings
 * stay module-wide.  Host names are resolved once, here, so no request
 * ever waits for DNS.
 */
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include "proxy_int.h"

#define EXAMPLE "e.g. proxy:http://127.0.0.1:9000/base/"

void *px_create_conf(rp_pool *p)
{
    px_conf *c = rp_pcalloc(p, sizeof *c);
    c->pool = p;
    c->max_fails = 3;
    c->fail_timeout = 10;
    c->keepalive = 32;
    c->keepalive_timeout = 30;
    return c;
}

void *px_create_route_conf(rp_pool *p)
{
    px_rconf *c = rp_pcalloc(p, sizeof *c);
    c->connect_timeout = 10;
    c->read_timeout = 60;
    c->send_timeout = 60;
    c->balance = PX_RR;
    return c;
}

/* The child's settings over the parent's; ProxyHeader lines add up, the
 * enclosing scope's first. */
void *px_merge_route_conf(rp_pool *p, void *parent, void *child)
{
    const px_rconf *a = parent, *b = child;
    px_rconf *m = rp_palloc(p, sizeof *m);
    *m = *a;
    if (b->set & PX_SET_CONNECT)
        m->connect_timeout = b->connect_timeout;
    if (b->set & PX_SET_READ)
        m->read_timeout = b->read_timeout;
    if (b->set & PX_SET_SEND)
        m->send_timeout = b->send_timeout;
    if (b->set & PX_SET_INSECURE)
        m->insecure = b->insecure;
    if (b->set & PX_SET_PRESERVE)
        m->preserve_host = b->preserve_host;
    if (b->set & PX_SET_BALANCE)
        m->balance = b->balance;
    m->set = a->set | b->set;
    if (b->nheaders) {
        m->nheaders = a->nheaders + b->nheaders;
        m->headers = rp_palloc(p, (m->nheaders + 1) * sizeof *m->headers);
        if (a->nheaders)
            memcpy(m->headers, a->headers, a->nheaders * sizeof *m->headers);
        memcpy(m->headers + a->nheaders, b->headers, (b->nheaders + 1) * sizeof *m->headers);
    }
    return m;
}

/* ---- directives ---------------------------------------------------------- */

/* The PX_SET_* bit of the route setting stored at offset. */
static unsigned set_bit(size_t offset)
{
    switch (offset) {
    case offsetof(px_rconf, connect_timeout):
        return PX_SET_CONNECT;
    case offsetof(px_rconf, read_timeout):
        return PX_SET_READ;
    case offsetof(px_rconf, send_timeout):
        return PX_SET_SEND;
    case offsetof(px_rconf, insecure):
        return PX_SET_INSECURE;
    case offsetof(px_rconf, preserve_host):
        return PX_SET_PRESERVE;
    default:
        return 0;
    }
}

/* Seconds and flags of a scope, marked as written there (merging keeps
 * what a scope did not write from the enclosing one). */
static const char *set_route_seconds(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_seconds(cmd, conf, argc, argv);
    if (!e)
        ((px_rconf *)conf)->set |= set_bit(rp_cmd_offset(cmd));
    return e;
}

static const char *set_route_flag(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_flag(cmd, conf, argc, argv);
    if (!e)
        ((px_rconf *)conf)->set |= set_bit(rp_cmd_offset(cmd));
    return e;
}

/* ProxyInsecure on anywhere: the routes need their lax upstreams, which
 * the module-wide conf makes in post_config. */
static const char *set_insecure(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = set_route_flag(cmd, conf, argc, argv);
    px_conf *mc = rp_server_conf(rp_cmd_server(cmd), &rp_module_proxy);
    if (!e && mc && ((px_rconf *)conf)->insecure)
        mc->any_insecure = 1;
    return e;
}

static const char *set_balance_word(const char *w, int *out)
{
    if (strcasecmp(w, "roundrobin") == 0)
        *out = PX_RR;
    else if (strcasecmp(w, "leastconn") == 0)
        *out = PX_LEASTCONN;
    else
        return "roundrobin or leastconn";
    return NULL;
}

static const char *set_balance(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    px_rconf *c = conf;
    (void)argc;
    const char *want = set_balance_word(argv[0], &c->balance);
    if (want)
        return rp_cmd_error(cmd, "%s takes %s, not \"%s\"", rp_cmd_name(cmd), want, argv[0]);
    c->set |= PX_SET_BALANCE;
    return NULL;
}

static int header_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("!#$%&'*+-.^_`|~", s[i]) && !((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') &&
            !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    return 1;
}

static int header_value_ok(const char *v)
{
    return strpbrk(v, "\r\n") == NULL;
}

static const char *set_header(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    px_rconf *c = conf;
    (void)argc;
    if (!header_name_ok(argv[0], strlen(argv[0])) || !header_value_ok(argv[1]))
        return rp_cmd_error(cmd,
                            "%s needs a header name and a value on one line "
                            "(ProxyHeader X-Api-Key \"secret\")",
                            rp_cmd_name(cmd));
    const char **n = rp_palloc(rp_cmd_pool(cmd), (c->nheaders + 2) * sizeof *n);
    if (c->nheaders)
        memcpy(n, c->headers, c->nheaders * sizeof *n);
    n[c->nheaders++] = rp_psprintf(rp_cmd_pool(cmd), "%s: %s", argv[0], argv[1]);
    n[c->nheaders] = NULL;
    c->headers = n;
    return NULL;
}

static const char *set_count(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    long v;
    (void)argc;
    if (rp_parse_long(argv[0], &v) != 0 || v < 0 || v > 1000000)
        return rp_cmd_error(cmd, "%s needs a whole number from 0 up", rp_cmd_name(cmd));
    *(long *)((char *)conf + rp_cmd_offset(cmd)) = v;
    return NULL;
}

/* How a request goes up: top level, <Host> or <Route>. */
const rp_directive px_route_directives[] = {
    {"ProxyConnectTimeout", 1, 1, set_route_seconds, offsetof(px_rconf, connect_timeout),
     "ProxyConnectTimeout seconds: connecting to an upstream (TLS handshake included), "
     "over it 504 (default 10)"},
    {"ProxyReadTimeout", 1, 1, set_route_seconds, offsetof(px_rconf, read_timeout),
     "ProxyReadTimeout seconds: longest silence of an upstream while its answer is awaited "
     "or read, over it 504; a websocket's idle limit (default 60)"},
    {"ProxySendTimeout", 1, 1, set_route_seconds, offsetof(px_rconf, send_timeout),
     "ProxySendTimeout seconds: longest time an upstream may take no byte of a request "
     "(default 60)"},
    {"ProxyPreserveHost", 1, 1, set_route_flag, offsetof(px_rconf, preserve_host),
     "ProxyPreserveHost on|off: send the client's Host instead of the upstream's "
     "(default off)"},
    {"ProxyInsecure", 1, 1, set_insecure, offsetof(px_rconf, insecure),
     "ProxyInsecure on|off: accept any certificate from https upstreams (default off)"},
    {"ProxyHeader", 2, 2, set_header, 0,
     "ProxyHeader name value: a header added to upstream requests; a block's lines add "
     "to the enclosing scope's"},
    {"ProxyBalance", 1, 1, set_balance, 0,
     "ProxyBalance roundrobin|leastconn: how a route picks among its upstreams "
     "(default roundrobin)"},
    RP_DIRECTIVES_END,
};

/* The per-worker pools and health records: top level only. */
const rp_directive px_directives[] = {
    {"ProxyMaxFails", 1, 1, set_count, offsetof(px_conf, max_fails),
     "ProxyMaxFails N: connect failures in a row that mark an upstream down, 0 = never "
     "(default 3)"},
    {"ProxyFailTimeout", 1, 1, rp_set_seconds, offsetof(px_conf, fail_timeout),
     "ProxyFailTimeout seconds: how long an upstream marked down is skipped (default 10)"},
    {"ProxyKeepAlive", 1, 1, set_count, offsetof(px_conf, keepalive),
     "ProxyKeepAlive N: idle upstream connections kept per upstream and worker thread, "
     "0 = none (default 32)"},
    {"ProxyKeepAliveTimeout", 1, 1, rp_set_seconds, offsetof(px_conf, keepalive_timeout),
     "ProxyKeepAliveTimeout seconds: an idle upstream connection is closed after it "
     "(default 30)"},
    RP_DIRECTIVES_END,
};

/* ---- URLs ---------------------------------------------------------------- */

typedef struct {
    int tls;
    char *host;
    int port;
    char *path;
} px_url;

/* scheme://host[:port][/path]; ws and wss are http and https (the
 * upgrade is the client's to ask for). */
static const char *parse_url(rp_pool *p, const char *s, px_url *u)
{
    static const struct {
        const char *scheme;
        int tls;
    } schemes[] = {{"http://", 0}, {"https://", 1}, {"ws://", 0}, {"wss://", 1}};
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (strncasecmp(s, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
            rest = s + strlen(schemes[i].scheme);
            u->tls = schemes[i].tls;
        }
    if (!rest)
        return "is not an http://, https://, ws:// or wss:// URL";
    if (strpbrk(rest, "?#"))
        return "may not hold a query or fragment";
    const char *slash = strchr(rest, '/');
    size_t hlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (memchr(rest, '@', hlen))
        return "may not hold user:password@";
    const char *h = rest, *colon;
    size_t namelen;
    if (*h == '[') {
        const char *close = memchr(h, ']', hlen);
        if (!close)
            return "has an unclosed [ in its IPv6 address";
        namelen = (size_t)(close - h - 1);
        u->host = rp_pstrndup(p, h + 1, namelen);
        colon = close + 1 < h + hlen && close[1] == ':' ? close + 1 : NULL;
        if (!colon && close + 1 != h + hlen)
            return "has something after its IPv6 address";
    } else {
        colon = memchr(h, ':', hlen);
        namelen = colon ? (size_t)(colon - h) : hlen;
        u->host = rp_pstrndup(p, h, namelen);
    }
    if (!*u->host)
        return "has no host";
    u->port = u->tls ? 443 : 80;
    if (colon) {
        long port;
        char *ps = rp_pstrndup(p, colon + 1, (size_t)(h + hlen - colon - 1));
        if (rp_parse_long(ps, &port) != 0 || port < 1 || port > 65535)
            return "has a port that is not a number from 1 to 65535";
        u->port = (int)port;
    }
    u->path = rp_pstrdup(p, slash ? slash : ""); /* "": pass the client's path */
    return NULL;
}

static const char *resolve(rp_pool *p, px_upstream *up, const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char ps[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res)
        return rp_psprintf(p, "cannot resolve the host \"%s\" (%s)", host, gai_strerror(rc));
    memcpy(&up->addr, res->ai_addr, res->ai_addrlen);
    up->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return NULL;
}

static void add_upstream(px_conf *c, px_upstream *up)
{
    up->index = c->nups;
    if (c->nups == c->cap_ups) {
        int cap = c->cap_ups ? c->cap_ups * 2 : 8;
        px_upstream **n = rp_palloc(c->pool, (size_t)cap * sizeof *n);
        if (c->nups)
            memcpy(n, c->ups, (size_t)c->nups * sizeof *n);
        c->ups = n;
        c->cap_ups = cap;
    }
    c->ups[c->nups++] = up;
}

static px_upstream *find_upstream(const px_conf *c, const char *url, int insecure)
{
    for (int i = 0; i < c->nups; i++)
        if (strcmp(c->ups[i]->url, url) == 0 && c->ups[i]->insecure == insecure)
            return c->ups[i];
    return NULL;
}

/* The upstream with this scheme, host and port, its certificate checked
 * (https), shared by every route naming it: one pool and one health
 * record. */
static px_upstream *find_or_add(rp_cmd *cmd, px_conf *c, const px_url *u, const char **err)
{
    rp_pool *p = rp_cmd_pool(cmd);
    int v6 = strchr(u->host, ':') != NULL;
    int dflt = u->port == (u->tls ? 443 : 80);
    const char *hostport = rp_psprintf(p, "%s%s%s%s%.0d", v6 ? "[" : "", u->host, v6 ? "]" : "",
                                       dflt ? "" : ":", dflt ? 0 : u->port);
    const char *url = rp_psprintf(p, "%s://%s", u->tls ? "https" : "http", hostport);
    px_upstream *up = find_upstream(c, url, 0);
    if (up)
        return up;
    up = rp_pcalloc(p, sizeof *up);
    if ((*err = resolve(p, up, u->host, u->port)) != NULL)
        return NULL;
    up->url = url;
    up->host = u->host;
    up->hostport = hostport;
    up->port = u->port;
    up->tls = u->tls;
    add_upstream(c, up);
    return up;
}

/* The https upstream up with its certificate unchecked: a record of its
 * own (pool, health), shared by the routes naming it.  Plain http has
 * nothing to check: the same record. */
static px_upstream *lax_twin(px_conf *c, px_upstream *up)
{
    if (!up->tls)
        return up;
    px_upstream *t = find_upstream(c, up->url, 1);
    if (t)
        return t;
    t = rp_palloc(c->pool, sizeof *t);
    *t = *up;
    t->insecure = 1;
    add_upstream(c, t);
    return t;
}

/* ---- Map targets ----------------------------------------------------------- */

typedef struct {
    const char **urls;
    int nurls;
} map_words;

static void push(rp_pool *p, const char ***v, int *n, const char *s)
{
    const char **nv = rp_palloc(p, (size_t)(*n + 2) * sizeof *nv);
    if (*n)
        memcpy(nv, *v, (size_t)*n * sizeof *nv);
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
}

static void split_urls(rp_pool *p, map_words *mw, const char *word)
{
    const char *s = word;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n)
            push(p, &mw->urls, &mw->nurls, rp_pstrndup(p, s, n));
        s += n + (comma ? 1 : 0);
    }
}

/* The route directive line that replaces a word the Map line once took
 * after the URLs ("insecure", "timeout=5", "X-Name: value"...), NULL for a
 * word that never meant anything. */
static const char *replacement(rp_pool *p, const char *a)
{
    const char *colon = strchr(a, ':');
    if (strcasecmp(a, "insecure") == 0)
        return "ProxyInsecure on";
    if (strcasecmp(a, "preserve-host") == 0)
        return "ProxyPreserveHost on";
    if (strncasecmp(a, "timeout=", 8) == 0)
        return rp_psprintf(p, "ProxyReadTimeout %s", a[8] ? a + 8 : "30");
    if (strncasecmp(a, "balance=", 8) == 0)
        return rp_psprintf(p, "ProxyBalance %s", a[8] ? a + 8 : "leastconn");
    if (colon && colon > a) {
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        return rp_psprintf(p, "ProxyHeader %.*s \"%s\"", (int)(colon - a), a, v);
    }
    return NULL;
}

/* A word after the URLs: an error naming the <Route> line to write. */
static const char *refuse_option(rp_cmd *cmd, const char *key, const char *a)
{
    const char *line = replacement(rp_cmd_pool(cmd), a);
    if (line)
        return rp_cmd_error(cmd,
                            "Map %s: proxy: \"%s\" is not read after the URLs; proxy settings "
                            "are route settings: <Route %s> %s </Route>",
                            key, a, key, line);
    return rp_cmd_error(cmd,
                        "Map %s: proxy: \"%s\" is not an upstream URL (%s); settings go in a "
                        "<Route %s> block: ProxyReadTimeout, ProxyConnectTimeout, "
                        "ProxySendTimeout, ProxyInsecure, ProxyPreserveHost, ProxyHeader, "
                        "ProxyBalance",
                        key, a, EXAMPLE, key);
}

/* The route's upstreams from its URL words. */
static const char *route_upstreams(rp_cmd *cmd, px_conf *c, px_route *rt, const map_words *mw)
{
    rp_pool *p = rp_cmd_pool(cmd);
    rt->ups = rp_palloc(p, (size_t)mw->nurls * sizeof *rt->ups);
    rt->paths = rp_palloc(p, (size_t)mw->nurls * sizeof *rt->paths);
    for (int i = 0; i < mw->nurls; i++) {
        px_url u = {0};
        const char *why = parse_url(p, mw->urls[i], &u);
        if (why)
            return rp_cmd_error(cmd, "proxy: \"%s\" %s (%s)", mw->urls[i], why, EXAMPLE);
        const char *rerr = NULL;
        px_upstream *up = find_or_add(cmd, c, &u, &rerr);
        if (!up)
            return rp_cmd_error(cmd, "proxy: \"%s\": %s", mw->urls[i], rerr);
        rt->ups[rt->nups] = up;
        rt->paths[rt->nups++] = u.path;
    }
    return NULL;
}

int px_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                  const char **err)
{
    px_conf *c = conf;
    if (argc < 1 || strncasecmp(argv[0], "proxy:", 6) != 0)
        return RP_DECLINED;
    rp_pool *p = rp_cmd_pool(cmd);
    px_route *rt = rp_pcalloc(p, sizeof *rt);
    map_words mw = {0};
    split_urls(p, &mw, argv[0] + 6);
    for (int i = 1; i < argc; i++) {
        if (!strstr(argv[i], "://")) {
            *err = refuse_option(cmd, key, argv[i]);
            return RP_ERROR;
        }
        split_urls(p, &mw, argv[i]);
    }
    if (mw.nurls == 0) {
        *err = rp_cmd_error(cmd, "proxy: needs an upstream URL (%s)", EXAMPLE);
        return RP_ERROR;
    }
    if ((*err = route_upstreams(cmd, c, rt, &mw)) != NULL)
        return RP_ERROR;
    const char *k = strncmp(key, "ws:", 3) == 0 ? key + 3 : key;
    rt->key = rp_pstrdup(p, k);
    rt->prefix = k[0] == '/' && k[strlen(k) - 1] == '/';
    rt->index = c->nroutes++;
    if ((*err = rp_route_add(cmd, key, &rp_module_proxy, rt)) != NULL)
        return RP_ERROR;
    rt->next = c->routes;
    c->routes = rt;
    return RP_OK;
}

/* ---- TLS contexts ---------------------------------------------------------- */

static SSL_CTX *new_ctx(int verify)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    /* session resumption makes reconnecting to an upstream cheap */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
    return ctx;
}

static void free_ctx(void *ctx)
{
    SSL_CTX_free(ctx);
}

/* Every route's lax twins, once the whole configuration is read: which
 * scope says ProxyInsecure on is only known then, and which of them a
 * request reads is its own route settings' business. */
static void make_lax(px_conf *c)
{
    for (px_route *rt = c->routes; rt; rt = rt->next) {
        rt->lax = rp_palloc(c->pool, (size_t)rt->nups * sizeof *rt->lax);
        for (int i = 0; i < rt->nups; i++)
            rt->lax[i] = lax_twin(c, rt->ups[i]);
    }
}

/* Both contexts are made once per configuration when it has an https
 * upstream; SSL_CTX is safe to share between the worker threads. */
int px_conf_ssl(px_conf *c)
{
    if (c->any_insecure)
        make_lax(c);
    int need = 0;
    for (int i = 0; i < c->nups; i++)
        need |= c->ups[i]->tls;
    if (!need)
        return 0;
    c->ssl_verify = new_ctx(1);
    c->ssl_insecure = new_ctx(0);
    if (!c->ssl_verify || !c->ssl_insecure) {
        rp_log(&rp_module_proxy, RP_LOG_ERR, "cannot set up TLS for https upstreams: %s",
               ERR_reason_error_string(ERR_get_error()));
        return -1;
    }
    rp_pool_cleanup_add(c->pool, free_ctx, c->ssl_verify);
    rp_pool_cleanup_add(c->pool, free_ctx, c->ssl_insecure);
    return 0;
}
