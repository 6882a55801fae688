/* mod_ratelimit.c - at most N requests per window per client on a path.
 *
 *   RateLimit /api/ 100 60 [ip|fingerprint|cookie:NAME|header:NAME]
 *   RateLimitEntries 100000
 *
 * An AUTH hook that runs first: a request over its rule's limit gets 429
 * Too Many Requests with Retry-After before any other module (a password
 * check, a script) spends time on it.  Counters are shared by every worker
 * thread (table.c); each key's window starts with its first request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rampart.h>

#include "table.h"

RP_API const rp_module rp_module_ratelimit;

typedef enum { KEY_IP, KEY_FINGERPRINT, KEY_COOKIE, KEY_HEADER } rl_key_kind;

typedef struct {
    const char *path; /* "/api/" matches below it; "/login" only itself */
    size_t plen;
    int prefix;
    uint32_t rate;
    uint64_t window_ms;
    rl_key_kind kind;
    const char *name; /* the cookie or header */
    size_t nlen;
} rl_rule;

typedef struct {
    rp_pool *pool;
    rl_rule *rules;
    size_t nrules, cap;
    long entries;
    rl_table *table; /* made in post_config when there are rules */
} rl_conf;

#define RL_DEFAULT_ENTRIES 100000L

static void *rl_create_conf(rp_pool *p)
{
    rl_conf *c = rp_pcalloc(p, sizeof *c);
    c->pool = p;
    c->entries = RL_DEFAULT_ENTRIES;
    return c;
}

/* ---- directives ----------------------------------------------------------- */

static const char *parse_key_kind(rp_cmd *cmd, rl_rule *r, const char *k)
{
    if (strcmp(k, "ip") == 0)
        r->kind = KEY_IP;
    else if (strcmp(k, "fingerprint") == 0)
        r->kind = KEY_FINGERPRINT;
    else if (strncmp(k, "cookie:", 7) == 0 && k[7])
        r->kind = KEY_COOKIE, r->name = rp_pstrdup(rp_cmd_pool(cmd), k + 7);
    else if (strncmp(k, "header:", 7) == 0 && k[7])
        r->kind = KEY_HEADER, r->name = rp_pstrdup(rp_cmd_pool(cmd), k + 7);
    else
        return rp_cmd_error(cmd,
                            "RateLimit: unknown key '%s' (use ip, fingerprint, cookie:NAME or "
                            "header:NAME)",
                            k);
    r->nlen = r->name ? strlen(r->name) : 0;
    return NULL;
}

static const char *parse_window(rp_cmd *cmd, rl_rule *r, const char *s)
{
    char *end;
    errno = 0;
    double w = strtod(s, &end);
    if (errno || end == s || *end || !(w >= 0.001 && w <= 31536000.0))
        return rp_cmd_error(cmd,
                            "RateLimit: the window '%s' must be seconds from 0.001 to "
                            "31536000 (a year), e.g. 60",
                            s);
    r->window_ms = (uint64_t)(w * 1000.0 + 0.5);
    return NULL;
}

static const char *set_rate_limit(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rl_conf *c = conf;
    rl_rule r = {0};
    if (argv[0][0] != '/')
        return rp_cmd_error(cmd, "RateLimit: the path '%s' must start with '/'", argv[0]);
    long rate;
    if (rp_parse_long(argv[1], &rate) != 0 || rate < 1 || rate > 1000000000L)
        return rp_cmd_error(cmd,
                            "RateLimit: the rate '%s' must be a whole number of requests "
                            "from 1 to 1000000000",
                            argv[1]);
    r.rate = (uint32_t)rate;
    const char *e = parse_window(cmd, &r, argv[2]);
    if (!e)
        e = parse_key_kind(cmd, &r, argc > 3 ? argv[3] : "ip");
    if (e)
        return e;
    for (size_t i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].path, argv[0]) == 0)
            return rp_cmd_error(cmd, "RateLimit: the path '%s' already has a limit", argv[0]);
    r.path = rp_pstrdup(rp_cmd_pool(cmd), argv[0]);
    r.plen = strlen(r.path);
    r.prefix = r.path[r.plen - 1] == '/';
    if (c->nrules == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4;
        rl_rule *n = rp_palloc(rp_cmd_pool(cmd), ncap * sizeof *n);
        if (c->nrules)
            memcpy(n, c->rules, c->nrules * sizeof *n);
        c->rules = n;
        c->cap = ncap;
    }
    c->rules[c->nrules++] = r;
    return NULL;
}

static const char *set_entries(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rl_conf *c = conf;
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) != 0 || n < 64 || n > 100000000L)
        return rp_cmd_error(cmd, "RateLimitEntries: '%s' must be a number from 64 to 100000000",
                            argv[0]);
    c->entries = n;
    return NULL;
}

static const rp_directive rl_directives[] = {
    {"RateLimit", 3, 4, set_rate_limit, 0,
     "RateLimit /path/ requests seconds [ip|fingerprint|cookie:NAME|header:NAME]: at most that "
     "many requests per window per client on the path (a trailing '/' covers everything below; "
     "over it: 429 with Retry-After)"},
    {"RateLimitEntries", 1, 1, set_entries, 0,
     "RateLimitEntries n: clients counted at once, about 40 bytes each; beyond it the least "
     "recently seen are forgotten (default 100000)"},
    RP_DIRECTIVES_END};

/* ---- per request ---------------------------------------------------------- */

/* The rule for path: the longest matching one. */
static const rl_rule *rule_for(const rl_conf *c, const char *path)
{
    const rl_rule *best = NULL;
    size_t n = strlen(path);
    for (size_t i = 0; i < c->nrules; i++) {
        const rl_rule *r = &c->rules[i];
        int hit = r->prefix ? n >= r->plen && memcmp(path, r->path, r->plen) == 0
                            : n == r->plen && memcmp(path, r->path, n) == 0;
        if (hit && (!best || r->plen > best->plen))
            best = r;
    }
    return best;
}

static const char *cookie_value(rp_req *r, const char *name, size_t nlen, size_t *vlen)
{
    const char *h = rp_req_header(r, "Cookie"), *k, *v;
    size_t klen;
    if (!h)
        return NULL;
    const char *end = h + strlen(h);
    while (rp_cookie_next(&h, end, &k, &klen, &v, vlen))
        if (klen == nlen && memcmp(k, name, nlen) == 0)
            return v;
    return NULL;
}

/* The client's identity under rule ru, hashed with the rule's place.  A
 * request without the cookie or header its rule names is counted by its
 * address (its own class of keys), so leaving the cookie out is no way
 * around the limit. */
static uint64_t client_key(const rl_conf *c, rp_req *r, const rl_rule *ru)
{
    uint64_t h = rl_key_mix_u64(rl_key_start(c->table), (uint64_t)(ru - c->rules));
    const char *v = NULL;
    size_t vlen = 0;
    if (ru->kind == KEY_COOKIE)
        v = cookie_value(r, ru->name, ru->nlen, &vlen);
    else if (ru->kind == KEY_HEADER && (v = rp_req_header(r, ru->name)) != NULL)
        vlen = strlen(v);
    if (v)
        return rl_key_mix(rl_key_mix_u64(h, 1), v, vlen);
    const char *ip = rp_req_remote_ip(r);
    h = rl_key_mix(rl_key_mix_u64(h, 2), ip, strlen(ip));
    if (ru->kind == KEY_FINGERPRINT) {
        const char *ua = rp_req_header(r, "User-Agent");
        h = rl_key_mix(h, ua ? ua : "", ua ? strlen(ua) : 0);
    }
    return h;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int rl_auth(rp_req *r)
{
    const rl_conf *c = rp_req_conf(r, &rp_module_ratelimit);
    if (!c->table)
        return RP_DECLINED;
    const rl_rule *ru = rule_for(c, rp_req_path(r));
    if (!ru)
        return RP_DECLINED;
    uint64_t wait = rl_table_hit(c->table, client_key(c, r, ru), ru->rate, ru->window_ms, now_ms());
    if (!wait)
        return RP_DECLINED;
    char secs[24];
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)((wait + 999) / 1000));
    rp_resp_header_set(r, "Retry-After", secs);
    return 429;
}

/* ---- registration ------------------------------------------------------- */

static void rl_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_AUTH, rl_auth, RP_HOOK_FIRST, NULL, NULL);
}

static void free_table(void *t)
{
    rl_table_free(t);
}

static double stat_refused(void *t)
{
    uint64_t ev, re;
    rl_table_stats(t, &ev, &re);
    return (double)re;
}

static double stat_evicted(void *t)
{
    uint64_t ev, re;
    rl_table_stats(t, &ev, &re);
    return (double)ev;
}

static int rl_post_config(rp_server *s, void *conf)
{
    rl_conf *c = conf;
    if (!c->nrules)
        return RP_OK;
    c->table = rl_table_new((size_t)c->entries);
    if (!c->table) {
        rp_log(&rp_module_ratelimit, RP_LOG_ERR,
               "RateLimitEntries %ld: not enough memory for the counters", c->entries);
        return RP_ERROR;
    }
    rp_pool_cleanup_add(c->pool, free_table, c->table);
    /* counters kept by the table itself: read when scraped */
    rp_metric_gauge_fn(s, "rampart_ratelimit_refused", "Requests refused with 429 (since start)",
                       stat_refused, c->table);
    rp_metric_gauge_fn(s, "rampart_ratelimit_evicted",
                       "Clients forgotten to make room (raise RateLimitEntries if this grows)",
                       stat_evicted, c->table);
    return RP_OK;
}

RP_MODULE_DECLARE(ratelimit) = {
    RP_MODULE_HEADER,
    .name = "ratelimit",
    .version = "1.0",
    .directives = rl_directives,
    .create_conf = rl_create_conf,
    .register_hooks = rl_register_hooks,
    .post_config = rl_post_config,
};
