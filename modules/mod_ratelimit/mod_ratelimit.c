/* mod_ratelimit.c - at most N requests per window per client on a path.
 *
 *   RateLimit /api/ 100 60 [ip|fingerprint|cookie:NAME|header:NAME]
 *   RateLimitEntries 100000
 *   RateLimitShared on        (with mod_cluster's Cluster: counters in Redis)
 *
 * An AUTH hook that runs first: a request over its rule's limit gets 429
 * Too Many Requests with Retry-After before any other module (a password
 * check, a script) spends time on it.  Counters are shared by every worker
 * thread (table.c); each key's window starts with its first request.
 *
 * Shared counting (RateLimitShared on), the way nginx's and Envoy's remote
 * limits keep requests from waiting: this server's table decides every
 * request at once, from the last total Redis gave for the key plus the
 * requests counted here since; each entry sends what it counted to Redis
 * (one script: INCRBY + PEXPIRE on the first, answering the total and the
 * time left, sent by its SHA-1 with EVALSHA, the script itself only when
 * Redis answers NOSCRIPT) through mod_cluster's connection, at most one
 * update on its way per entry, and folds the answer in when it comes (on
 * mod_cluster's thread).  The window is Redis's: it starts with the key's first request
 * anywhere in the cluster.  While Redis cannot be reached the counting is
 * this server's alone (one warning per outage); what was counted meanwhile
 * goes to Redis with the next update once it is back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rampart.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "../mod_cluster/rp_cluster.h"
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

/* Shared counting's state: outlives the configuration while updates are
 * on their way (each holds a reference). */
typedef struct rl_shared {
    atomic_int refs;
    rl_table *table;
    const rp_cluster_service *cl;
    pthread_mutex_t lock; /* closed and the metrics, for answers after a reload */
    int closed;
    atomic_int local; /* 1 while Redis cannot be reached: counting here only */
    rp_metric *m_synced, *m_failed;
} rl_shared;

typedef struct {
    rp_pool *pool;
    rl_rule *rules;
    size_t nrules, cap;
    long entries;
    int shared;      /* RateLimitShared on */
    rl_table *table; /* made in post_config when there are rules */
    rl_shared *sh;   /* when shared */
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

static const char *set_shared(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    int on = strcmp(argv[0], "on") == 0;
    if (!on && strcmp(argv[0], "off") != 0)
        return rp_cmd_error(cmd, "RateLimitShared: '%s' must be on or off", argv[0]);
    ((rl_conf *)conf)->shared = on;
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
    {"RateLimitShared", 1, 1, set_shared, 0,
     "RateLimitShared on|off: keep the RateLimit counters in the cluster's Redis (mod_cluster's "
     "Cluster), so the limits hold across the servers; decided without waiting, counted here "
     "alone while Redis is unreachable (default off)"},
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

/* ---- shared counting ------------------------------------------------------ */

static uint64_t now_ms(void);

/* One update on its way: the entry, and its key in Redis (without the
 * ClusterPrefix mod_cluster puts first). */
typedef struct rl_call {
    rl_shared *sh;
    rl_sync sync;
    size_t klen;
    char key[];
} rl_call;

/* INCRBY the window's total; the first request of a window sets its
 * expiry (also when an expiry was lost); answer {total, ms left}. */
static const char rl_script[] =
    "local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "local t = redis.call('PTTL', KEYS[1]) "
    "if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) t = tonumber(ARGV[2]) end "
    "return {n, t}";

/* The script's SHA-1 in hex, for EVALSHA: computed once per process. */
static char rl_script_sha1[2 * SHA_DIGEST_LENGTH + 1];
static pthread_once_t rl_sha1_once = PTHREAD_ONCE_INIT;

static void make_script_sha1(void)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    EVP_Digest(rl_script, sizeof rl_script - 1, md, &mdlen, EVP_sha1(), NULL);
    for (unsigned i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(rl_script_sha1 + 2 * i, 3, "%02x", md[i]);
}

static void shared_unref(rl_shared *sh)
{
    if (atomic_fetch_sub(&sh->refs, 1) != 1)
        return;
    rl_table_free(sh->table);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

/* Outage edges: one warning when counting falls back to this server, one
 * notice when Redis answers again. */
static void shared_outcome(rl_shared *sh, int ok)
{
    pthread_mutex_lock(&sh->lock);
    if (!sh->closed) {
        rp_metric_add(ok ? sh->m_synced : sh->m_failed, NULL, 1);
        if (atomic_exchange(&sh->local, !ok) != !ok) {
            if (ok)
                rp_log(&rp_module_ratelimit, RP_LOG_NOTICE,
                       "RateLimitShared: Redis answers again; counters are shared again");
            else
                rp_log(&rp_module_ratelimit, RP_LOG_WARN,
                       "RateLimitShared: cannot update the counters in Redis (no Cluster "
                       "connection); counting on this server only until it is back");
        }
    }
    pthread_mutex_unlock(&sh->lock);
}

static void shared_reply(int ok, const long long *v, size_t n, void *arg);

/* Send call's update; on a refusal the entry keeps its count for later. */
static void shared_send(rl_call *call)
{
    char delta[24], win[24];
    int dl = snprintf(delta, sizeof delta, "%u", call->sync.delta);
    int wl = snprintf(win, sizeof win, "%llu", (unsigned long long)call->sync.window_ms);
    const char *argv[3] = {call->key, delta, win};
    size_t lens[3] = {call->klen, (size_t)dl, (size_t)wl};
    /* mod_cluster sends EVAL instead on NOSCRIPT (a restarted Redis, SCRIPT FLUSH) */
    if (call->sh->cl->eval(rl_script, rl_script_sha1, 1, 3, argv, lens, shared_reply, call) == 0)
        return;
    shared_reply(0, NULL, 0, call);
}

/* The answer (mod_cluster's thread, or ours when refused at once). */
static void shared_reply(int ok, const long long *v, size_t n, void *arg)
{
    rl_call *call = arg;
    rl_shared *sh = call->sh;
    ok = ok && n == 2 && v[0] >= 0;
    rl_sync next;
    int more = rl_table_synced(sh->table, &call->sync, ok, ok ? (uint64_t)v[0] : 0,
                               ok && v[1] > 0 ? (uint64_t)v[1] : 0, now_ms(), &next);
    shared_outcome(sh, ok);
    if (more) {
        call->sync = next;
        shared_send(call);
        return;
    }
    free(call);
    shared_unref(sh);
}

static void hex_sha256(const char *v, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(v, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The key in Redis: the rule's path, then how the client is known, the
 * same on every server.  Cookie, header and User-Agent values go in as
 * SHA-256 (they may be secrets, and they are of any length); addresses as
 * they are. */
static rl_call *shared_call(rp_req *r, const rl_rule *ru, rl_shared *sh)
{
    const char *v = NULL, *tag;
    size_t vlen = 0;
    char hex[65], buf[64 + 80];
    if (ru->kind == KEY_COOKIE)
        v = cookie_value(r, ru->name, ru->nlen, &vlen);
    else if (ru->kind == KEY_HEADER && (v = rp_req_header(r, ru->name)) != NULL)
        vlen = strlen(v);
    if (v) {
        tag = ru->kind == KEY_COOKIE ? "cookie" : "header";
        hex_sha256(v, vlen, hex);
        snprintf(buf, sizeof buf, "%s", hex);
    } else if (ru->kind == KEY_FINGERPRINT) {
        const char *ua = rp_req_header(r, "User-Agent");
        tag = "fp";
        hex_sha256(ua ? ua : "", ua ? strlen(ua) : 0, hex);
        snprintf(buf, sizeof buf, "%s %s", rp_req_remote_ip(r), hex);
    } else {
        tag = "ip";
        snprintf(buf, sizeof buf, "%s", rp_req_remote_ip(r));
    }
    size_t cap = 3 + ru->plen + 1 + strlen(tag) + 1 + strlen(buf) + 1;
    rl_call *call = malloc(sizeof *call + cap);
    if (!call)
        return NULL;
    call->sh = sh;
    call->klen = (size_t)snprintf(call->key, cap, "rl:%s %s %s", ru->path, tag, buf);
    return call;
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
    rl_sync sync;
    int need = 0;
    uint64_t wait = rl_table_hit_shared(c->table, client_key(c, r, ru), ru->rate, ru->window_ms,
                                        now_ms(), c->sh ? &sync : NULL, &need);
    if (need) {
        rl_call *call = shared_call(r, ru, c->sh);
        if (call) {
            call->sync = sync;
            atomic_fetch_add(&c->sh->refs, 1);
            shared_send(call);
        } else {
            rl_table_synced(c->table, &sync, 0, 0, 0, 0, &sync);
        }
    }
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

static void close_shared(void *arg)
{
    rl_shared *sh = arg;
    pthread_mutex_lock(&sh->lock);
    sh->closed = 1; /* answers still on their way touch no metric or log */
    pthread_mutex_unlock(&sh->lock);
    shared_unref(sh);
}

static double stat_local(void *arg)
{
    return atomic_load(&((rl_shared *)arg)->local);
}

static int make_shared(rp_server *s, rl_conf *c)
{
    const rp_cluster_service *cl = rp_service_get(RP_CLUSTER_SERVICE, 3); /* eval() */
    if (!cl) {
        rp_log(&rp_module_ratelimit, RP_LOG_ERR,
               "RateLimitShared on needs mod_cluster (LoadModule cluster mod_cluster.so) and "
               "a Cluster directive naming the Redis");
        return RP_ERROR;
    }
    pthread_once(&rl_sha1_once, make_script_sha1);
    rl_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return RP_ERROR;
    atomic_init(&sh->refs, 1);
    atomic_init(&sh->local, 0);
    pthread_mutex_init(&sh->lock, NULL);
    sh->table = c->table;
    sh->cl = cl;
    sh->m_synced = rp_metric_counter(s, "rampart_ratelimit_shared_synced_total",
                                     "Counter updates Redis answered (RateLimitShared)");
    sh->m_failed = rp_metric_counter(
        s, "rampart_ratelimit_shared_failed_total",
        "Counter updates Redis did not answer: counted on this server until the next one");
    rp_metric_gauge_fn(s, "rampart_ratelimit_shared_local",
                       "1 while Redis cannot be reached and limits are counted per server",
                       stat_local, sh);
    c->sh = sh;
    rp_pool_cleanup_add(c->pool, close_shared, sh); /* frees the table with the last update */
    return RP_OK;
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
    if (c->shared) {
        if (make_shared(s, c) != RP_OK) {
            rl_table_free(c->table);
            c->table = NULL;
            return RP_ERROR;
        }
    } else {
        rp_pool_cleanup_add(c->pool, free_table, c->table);
    }
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
