/* route.c - the Map table: exact and prefix keys, PCRE2 regexes, globs.
 *
 * Built at configuration time, then read concurrently by every worker; the
 * only per-thread state is PCRE2 match data.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <fnmatch.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

/* ---- adding ------------------------------------------------------------- */

/* Glob when a *, ? or [ appears that is not escaped with a backslash. */
static int is_glob(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' && s[1])
            s++;
        else if (*s == '*' || *s == '?' || *s == '[')
            return 1;
    }
    return 0;
}

/* An exact or prefix key may escape glob characters: "/a\*b" means "/a*b". */
static char *unescape(rp_pool *p, const char *s)
{
    char *out = rp_palloc(p, strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\\' && s[1])
            s++;
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static void free_code(void *code)
{
    pcre2_code_free(code);
}

static const char *compile_regex(rp_cmd *cmd, rp_route *r)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return rp_cmd_error(cmd, "Map: bad regular expression '%s' at offset %zu: %s", r->pattern,
                            (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter still works if JIT fails */
    rp_pool_cleanup_add(rp_cmd_pool(cmd), free_code, re);
    r->re = re;
    return NULL;
}

/* Fill kind and pattern from the key after its "ws:" prefix. */
static const char *parse_key(rp_cmd *cmd, rp_route *r, const char *k)
{
    rp_pool *p = rp_cmd_pool(cmd);
    if (k[0] == '~') {
        k++;
        while (*k == ' ' || *k == '\t')
            k++;
        if (!*k)
            return rp_cmd_error(cmd, "Map: the key '%s' has no regular expression after '~'",
                                r->key);
        r->kind = RP_ROUTE_REGEX;
        r->pattern = rp_pstrdup(p, k);
        return compile_regex(cmd, r);
    }
    if (k[0] != '/')
        return rp_cmd_error(cmd,
                            "Map: the key '%s' must start with '/' (a path) or '~' "
                            "(a regular expression)",
                            r->key);
    if (is_glob(k)) {
        r->kind = RP_ROUTE_GLOB;
        r->pattern = rp_pstrdup(p, k); /* fnmatch understands the escapes */
        return NULL;
    }
    r->pattern = unescape(p, k);
    r->kind = k[strlen(k) - 1] == '/' ? RP_ROUTE_PREFIX : RP_ROUTE_EXACT;
    return NULL;
}

RP_API const char *rp_route_add(rp_cmd *cmd, const char *key, const rp_module *owner, void *target)
{
    rp_server *s = rp_cmd_server(cmd);
    rp_modrec *m = rp_modrec_of(s, owner);
    if (!m)
        return rp_cmd_error(cmd, "Map: the owner of route '%s' is not a loaded module", key);
    for (size_t i = 0; i < s->routes.n; i++) {
        const rp_route *o = s->routes.v[i];
        if (strcmp(o->key, key) == 0)
            return rp_cmd_error(cmd, "Map: the key '%s' is already mapped (to module '%s')", key,
                                o->owner->desc->name);
    }
    rp_route *r = rp_pcalloc(s->pool, sizeof(*r));
    r->key = rp_pstrdup(s->pool, key);
    r->ws = strncmp(key, "ws:", 3) == 0;
    const char *e = parse_key(cmd, r, key + (r->ws ? 3 : 0));
    if (e)
        return e;
    r->owner = m;
    r->target = target;
    r->seq = (int)s->routes.n;
    rp_vec_push(s->pool, &s->routes, r);
    return NULL;
}

/* ---- ordering ------------------------------------------------------------ */

static int group_of(const rp_route *r)
{
    return r->kind == RP_ROUTE_REGEX ? 1 : r->kind == RP_ROUTE_GLOB ? 2 : 0;
}

static int cmp_sorted(const void *a, const void *b)
{
    const rp_route *x = *(rp_route *const *)a, *y = *(rp_route *const *)b;
    if (group_of(x) != group_of(y))
        return group_of(x) - group_of(y);
    size_t lx = strlen(x->pattern), ly = strlen(y->pattern);
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x->seq - y->seq;
}

static int cmp_config(const void *a, const void *b)
{
    const rp_route *x = *(rp_route *const *)a, *y = *(rp_route *const *)b;
    if (group_of(x) != group_of(y))
        return group_of(x) - group_of(y);
    return x->seq - y->seq;
}

int rp_routes_finalize(rp_server *s, const char **err)
{
    (void)err;
    if (s->routes.n > 1)
        qsort(s->routes.v, s->routes.n, sizeof(void *),
              s->core->map_sort ? cmp_sorted : cmp_config);
    return 0;
}

/* ---- matching ------------------------------------------------------------- */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}
static void md_key_init(void)
{
    pthread_key_create(&md_key, md_free);
}

/* Match data for this thread; only whether it matched is used, so one pair. */
static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        pthread_setspecific(md_key, md);
    }
    return md;
}

/* A prefix key "/dir/" does not match "/dir" itself: the spec maps
 * {"/file.html": dir} as "/file.html/" and answers /file.html with 404. */
static bool match_one(const rp_route *r, const char *path, size_t plen, const char **rest)
{
    size_t n = strlen(r->pattern);
    *rest = "";
    switch (r->kind) {
    case RP_ROUTE_EXACT: return strcmp(r->pattern, path) == 0;
    case RP_ROUTE_PREFIX:
        if (strncmp(r->pattern, path, n) != 0)
            return false;
        *rest = path + n;
        return true;
    case RP_ROUTE_REGEX: {
        pcre2_match_data *md = thread_match_data();
        return md && pcre2_match(r->re, (PCRE2_SPTR)path, plen, 0, 0, md, NULL) >= 0;
    }
    case RP_ROUTE_GLOB: return fnmatch(r->pattern, path, 0) == 0;
    }
    return false;
}

/* Routes are sorted into match order; the first match wins. */
int rp_routes_match(const rp_server *s, const char *path, bool websocket, rp_route_match *m)
{
    size_t plen = strlen(path);
    for (size_t i = 0; i < s->routes.n; i++) {
        const rp_route *r = s->routes.v[i];
        const char *rest;
        if (r->ws == websocket && match_one(r, path, plen, &rest)) {
            m->route = r;
            m->rest = rest;
            return 0;
        }
    }
    return -1;
}
