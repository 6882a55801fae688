/* route.c - the Map table: exact and prefix keys, PCRE2 regexes, globs.
 *
 * Built at configuration time, then read concurrently by every worker; the
 * only per-thread state is PCRE2 match data.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core.h"
#include "runtime.h"

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
    rp_vec *table = rp_cmd_host(cmd)->routes; /* the open <Host>'s, else the top level's */
    if (!m)
        return rp_cmd_error(cmd, "Map: the owner of route '%s' is not a loaded module", key);
    for (size_t i = 0; i < table->n; i++) {
        const rp_route *o = table->v[i];
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
    r->seq = (int)table->n;
    rp_vec_push(s->pool, table, r);
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

static void sort_table(const rp_server *s, rp_vec *v)
{
    if (v->n > 1)
        qsort(v->v, v->n, sizeof(void *), s->core->map_sort ? cmp_sorted : cmp_config);
}

static int hosts_finalize(rp_server *s, const char **err);

int rp_routes_finalize(rp_server *s, const char **err)
{
    rp_vhosts *vh = rp_vhosts_of(s);
    if ((*err = rp_blocks_check_closed(s)))
        return -1;
    for (size_t i = 0; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        sort_table(s, h->routes);
        sort_table(s, &h->blocks);
    }
    return hosts_finalize(s, err);
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
static int table_match(const rp_vec *v, const char *path, bool websocket, rp_route_match *m)
{
    size_t plen = strlen(path);
    for (size_t i = 0; i < v->n; i++) {
        const rp_route *r = v->v[i];
        const char *rest;
        if (r->ws == websocket && match_one(r, path, plen, &rest)) {
            m->route = r;
            m->rest = rest;
            return 0;
        }
    }
    return -1;
}

int rp_routes_match(const rp_server *s, const char *path, bool websocket, rp_route_match *m)
{
    return table_match(&s->routes, path, websocket, m);
}

int rp_host_routes_match(const rp_host *h, const char *path, bool websocket, rp_route_match *m)
{
    return table_match(h->routes, path, websocket, m);
}

/* A <Route> block without "ws:" covers websocket requests too: settings
 * such as access rules must not be skipped by asking for an upgrade. */
static const rp_scope *block_match(const rp_host *h, const char *path, bool websocket)
{
    size_t plen = strlen(path);
    for (size_t i = 0; i < h->blocks.n; i++) {
        const rp_route *r = h->blocks.v[i];
        const char *rest;
        if ((!r->ws || websocket) && match_one(r, path, plen, &rest))
            return r->target;
    }
    return &h->scope;
}

/* ==== scopes, <Host> and <Route> blocks ====================================== */

static void scope_init(rp_scope *sc, int kind, rp_scope *parent)
{
    sc->kind = kind;
    sc->parent = parent;
}

static rp_host *host_new(rp_server *s, rp_vhosts *vh)
{
    rp_host *h = rp_pcalloc(s->pool, sizeof *h);
    h->routes = &h->own_routes;
    h->log_fd = -1;
    h->index = (int)vh->hosts.n;
    scope_init(&h->scope, RP_SCOPE_HOST, vh->top ? &vh->top->scope : NULL);
    rp_vec_push(s->pool, &vh->hosts, h);
    return h;
}

rp_vhosts *rp_vhosts_of(rp_server *s)
{
    if (s->vh)
        return s->vh;
    rp_vhosts *vh = rp_pcalloc(s->pool, sizeof *vh);
    s->vh = vh;
    vh->top = host_new(s, vh);
    vh->top->routes = &s->routes; /* Map lines outside any <Host> */
    vh->top->scope.kind = RP_SCOPE_SERVER;
    vh->dflt = vh->top;
    vh->cur = &vh->top->scope;
    return vh;
}

rp_host *rp_cmd_host(rp_cmd *cmd)
{
    rp_vhosts *vh = rp_vhosts_of(rp_cmd_server(cmd));
    return vh->cur_host ? vh->cur_host : vh->top;
}

int rp_scope_now(rp_server *s)
{
    return rp_vhosts_of(s)->cur->kind;
}

RP_EXPORT const char *rp_scope_names(rp_pool *p, int mask)
{
    static const char *const names[] = {"server", "host", "route"};
    const char *out = NULL;
    for (int i = 0; i < 3; i++)
        if (mask & (1 << i))
            out = out ? rp_psprintf(p, "%s, %s", out, names[i]) : names[i];
    return out ? out : "nowhere";
}

void *rp_scope_conf(rp_server *s, rp_modrec *m)
{
    rp_scope *sc = rp_vhosts_of(s)->cur;
    while (sc->own.n <= (size_t)m->index)
        rp_vec_push(s->pool, &sc->own, NULL);
    if (!sc->own.v[m->index] && m->desc->create_route_conf)
        sc->own.v[m->index] = m->desc->create_route_conf(s->pool);
    return sc->own.v[m->index];
}

static const char *here(rp_cmd *cmd)
{
    return rp_psprintf(rp_cmd_pool(cmd), "%s:%d", rp_cmd_file(cmd), rp_cmd_line(cmd));
}

/* The words between "<Name" and ">", however the blanks fell: "<Route
 * /a/>", "<Route /a/ >", "<Host a b>".  NULL when the '>' is missing. */
static char **block_args(rp_pool *p, int argc, char **argv, int *n)
{
    char **out = rp_pcalloc(p, (size_t)argc * sizeof *out);
    int k = 0;
    bool closed = false;
    for (int i = 1; i < argc && !closed; i++) {
        char *w = rp_pstrdup(p, argv[i]);
        size_t len = strlen(w);
        if (len && w[len - 1] == '>') {
            w[--len] = '\0';
            closed = i == argc - 1;
            if (!closed)
                return NULL; /* words after the '>' */
        }
        if (len)
            out[k++] = w;
    }
    /* "<Route>" itself: argv[0] ends in '>' */
    size_t l0 = strlen(argv[0]);
    if (argc == 1 && l0 && argv[0][l0 - 1] == '>')
        closed = true;
    *n = k;
    return closed ? out : NULL;
}

static const char *open_route(rp_cmd *cmd, rp_vhosts *vh, int n, char **args)
{
    rp_pool *p = rp_cmd_pool(cmd);
    if (vh->cur->kind == RP_SCOPE_ROUTE)
        return rp_cmd_error(cmd,
                            "<Route> blocks do not nest (the <Route> opened at %s is still "
                            "open: close it with </Route>)",
                            vh->route_at);
    if (n != 1)
        return rp_cmd_error(cmd,
                            "<Route key>: expected one key such as /admin/, ~regex or "
                            "/*.php, got %d words",
                            n);
    rp_host *h = rp_cmd_host(cmd);
    for (size_t i = 0; i < h->blocks.n; i++)
        if (strcmp(((rp_route *)h->blocks.v[i])->key, args[0]) == 0)
            return rp_cmd_error(cmd, "<Route %s> appears twice in the same host", args[0]);
    rp_route *r = rp_pcalloc(p, sizeof *r);
    r->key = args[0];
    r->ws = strncmp(args[0], "ws:", 3) == 0;
    const char *e = parse_key(cmd, r, args[0] + (r->ws ? 3 : 0));
    if (e)
        return e;
    rp_scope *sc = rp_pcalloc(p, sizeof *sc);
    scope_init(sc, RP_SCOPE_ROUTE, &h->scope);
    r->target = sc;
    r->seq = (int)h->blocks.n;
    rp_vec_push(p, &h->blocks, r);
    vh->cur = sc;
    vh->route_at = here(cmd);
    return NULL;
}

/* A host name as matched: lower-case letters, digits, '-', '.', and a
 * leading "*." for a wildcard. */
static const char *host_name(rp_cmd *cmd, const char *w, char **out)
{
    char *n = rp_pstrdup(rp_cmd_pool(cmd), w);
    size_t len = strlen(n);
    if (len && n[len - 1] == '.')
        n[--len] = '\0';
    for (char *c = n; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    const char *body = strncmp(n, "*.", 2) == 0 ? n + 2 : n;
    if (!*body || strspn(body, "abcdefghijklmnopqrstuvwxyz0123456789-.:[]_") != strlen(body))
        return rp_cmd_error(cmd,
                            "<Host>: '%s' is not a host name (names such as example.com, "
                            "wildcards such as *.example.com)",
                            w);
    *out = n;
    return NULL;
}

static const char *name_taken(rp_cmd *cmd, rp_vhosts *vh, const char *name)
{
    for (size_t i = 1; i < vh->hosts.n; i++) {
        const rp_host *o = vh->hosts.v[i];
        for (char **n = o->names; n && *n; n++)
            if (strcmp(*n, name) == 0)
                return rp_cmd_error(cmd, "<Host>: '%s' is already a name of the <Host> at %s", name,
                                    o->at);
    }
    return NULL;
}

static const char *open_host(rp_cmd *cmd, rp_vhosts *vh, int n, char **args)
{
    rp_server *s = rp_cmd_server(cmd);
    if (vh->cur->kind != RP_SCOPE_SERVER)
        return rp_cmd_error(cmd,
                            "<Host> is not allowed inside <%s> (allowed: server; the block "
                            "opened at %s is still open)",
                            vh->cur->kind == RP_SCOPE_ROUTE ? "Route" : "Host",
                            vh->cur->kind == RP_SCOPE_ROUTE ? vh->route_at : vh->host_at);
    if (n < 1)
        return rp_cmd_error(cmd, "<Host name...>: give at least one name, such as "
                                 "<Host example.com www.example.com>");
    char **names = rp_pcalloc(s->pool, ((size_t)n + 1) * sizeof *names);
    for (int i = 0; i < n; i++) {
        const char *e = host_name(cmd, args[i], &names[i]);
        if (!e)
            e = name_taken(cmd, vh, names[i]);
        for (int j = 0; !e && j < i; j++)
            if (strcmp(names[j], names[i]) == 0)
                e = rp_cmd_error(cmd, "<Host>: '%s' is listed twice", args[i]);
        if (e)
            return e;
    }
    rp_host *h = host_new(s, vh);
    h->names = names;
    h->at = here(cmd);
    vh->cur_host = h;
    vh->cur = &h->scope;
    vh->host_at = h->at;
    return NULL;
}

static const char *close_block(rp_cmd *cmd, rp_vhosts *vh, bool route)
{
    int want = route ? RP_SCOPE_ROUTE : RP_SCOPE_HOST;
    if (vh->cur->kind != want) {
        if (!route && vh->cur->kind == RP_SCOPE_ROUTE)
            return rp_cmd_error(cmd,
                                "</Host> while the <Route> opened at %s is open: close it "
                                "first with </Route>",
                                vh->route_at);
        return rp_cmd_error(cmd, "%s without an open %s", route ? "</Route>" : "</Host>",
                            route ? "<Route>" : "<Host>");
    }
    if (route) {
        vh->cur = vh->cur->parent;
        vh->route_at = NULL;
    } else {
        vh->cur = &vh->top->scope;
        vh->cur_host = NULL;
        vh->host_at = NULL;
    }
    return NULL;
}

const char *rp_block_line(rp_cmd *cmd, int argc, char **argv)
{
    rp_vhosts *vh = rp_vhosts_of(rp_cmd_server(cmd));
    const char *w = argv[0];
    if (strcasecmp(w, "</Route>") == 0 || strcasecmp(w, "</Host>") == 0) {
        if (argc > 1)
            return rp_cmd_error(cmd, "%s takes nothing after it", w);
        return close_block(cmd, vh, w[2] == 'R' || w[2] == 'r');
    }
    bool route = strncasecmp(w, "<Route", 6) == 0 && (w[6] == '\0' || w[6] == '>');
    bool host = strncasecmp(w, "<Host", 5) == 0 && (w[5] == '\0' || w[5] == '>');
    if (!route && !host)
        return rp_cmd_error(cmd, "unknown block '%s' (blocks: <Host name...>, <Route key>)", w);
    int n = 0;
    char **args = block_args(rp_cmd_pool(cmd), argc, argv, &n);
    if (!args)
        return rp_cmd_error(cmd, "%s: the line must end with '>'", route ? "<Route" : "<Host");
    return route ? open_route(cmd, vh, n, args) : open_host(cmd, vh, n, args);
}

const char *rp_blocks_check_closed(rp_server *s)
{
    rp_vhosts *vh = rp_vhosts_of(s);
    if (vh->cur->kind == RP_SCOPE_ROUTE)
        return rp_psprintf(s->pool, "%s: <Route> is not closed (missing </Route>)", vh->route_at);
    if (vh->cur->kind == RP_SCOPE_HOST)
        return rp_psprintf(s->pool, "%s: <Host> is not closed (missing </Host>)", vh->host_at);
    return NULL;
}

/* ---- finalize: merged settings, the name tables ------------------------------ */

/* Once per scope, parents first: a request then reads one pointer. */
static void scope_merge(rp_server *s, rp_scope *sc)
{
    size_t n = s->mods.n;
    sc->merged = rp_pcalloc(s->pool, (n ? n : 1) * sizeof(void *));
    for (size_t i = 0; i < n; i++) {
        const rp_module *d = ((rp_modrec *)s->mods.v[i])->desc;
        void *own = i < sc->own.n ? sc->own.v[i] : NULL;
        void *up = sc->parent ? sc->parent->merged[i] : NULL;
        if (!sc->parent)
            sc->merged[i] = own ? own : d->create_route_conf ? d->create_route_conf(s->pool) : NULL;
        else if (!own)
            sc->merged[i] = up;
        else
            sc->merged[i] = d->merge_route_conf && up ? d->merge_route_conf(s->pool, up, own) : own;
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct name_ent {
    const char *name;
    rp_host *host;
} name_ent;

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const name_ent *)a)->name, ((const name_ent *)b)->name);
}

/* Longest suffix first: *.a.example.com before *.example.com. */
static int cmp_wild(const void *a, const void *b)
{
    size_t la = strlen(((const name_ent *)a)->name), lb = strlen(((const name_ent *)b)->name);
    return la != lb ? (la > lb ? -1 : 1) : cmp_ent(a, b);
}

static void build_names(rp_server *s, rp_vhosts *vh)
{
    size_t total = 0;
    for (size_t i = 1; i < vh->hosts.n; i++)
        for (char **n = ((rp_host *)vh->hosts.v[i])->names; *n; n++)
            total++;
    name_ent *ex = rp_pcalloc(s->pool, (total + 1) * sizeof *ex);
    name_ent *wi = rp_pcalloc(s->pool, (total + 1) * sizeof *wi);
    size_t ne = 0, nw = 0;
    for (size_t i = 1; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        for (char **n = h->names; *n; n++) {
            if (strncmp(*n, "*.", 2) == 0)
                wi[nw++] = (name_ent){*n + 1, h}; /* ".example.com" */
            else
                ex[ne++] = (name_ent){*n, h};
        }
    }
    qsort(ex, ne, sizeof *ex, cmp_ent);
    qsort(wi, nw, sizeof *wi, cmp_wild);
    vh->exact = rp_pcalloc(s->pool, (ne + 1) * sizeof(char *));
    vh->exact_host = rp_pcalloc(s->pool, (ne + 1) * sizeof(rp_host *));
    vh->wild = rp_pcalloc(s->pool, (nw + 1) * sizeof(char *));
    vh->wild_host = rp_pcalloc(s->pool, (nw + 1) * sizeof(rp_host *));
    for (size_t i = 0; i < ne; i++) {
        vh->exact[i] = ex[i].name;
        vh->exact_host[i] = ex[i].host;
    }
    for (size_t i = 0; i < nw; i++) {
        vh->wild[i] = wi[i].name;
        vh->wild_host[i] = wi[i].host;
    }
    vh->nexact = ne;
    vh->nwild = nw;
}

static int hosts_finalize(rp_server *s, const char **err)
{
    rp_vhosts *vh = s->vh;
    rp_host *dflt = NULL;
    for (size_t i = 1; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        if (h->is_default && dflt) {
            *err = rp_psprintf(s->pool, "%s: a second Default <Host> (the first is at %s)", h->at,
                               dflt->at);
            return -1;
        }
        if (h->is_default)
            dflt = h;
    }
    vh->dflt = dflt ? dflt : vh->top;
    build_names(s, vh);
    scope_merge(s, &vh->top->scope);
    for (size_t i = 0; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        if (i > 0)
            scope_merge(s, &h->scope);
        for (size_t k = 0; k < h->blocks.n; k++)
            scope_merge(s, ((rp_route *)h->blocks.v[k])->target);
    }
    return 0;
}

/* ---- per request ------------------------------------------------------------------ */

const rp_host *rp_host_lookup(const rp_server *s, const char *name, size_t len, bool *known)
{
    const rp_vhosts *vh = s->vh;
    char low[256];
    *known = false;
    if (!vh)
        return NULL;
    if (len && name[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof low)
        return vh->dflt;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = '\0';
    const char *key = low;
    const char **hit =
        vh->nexact ? bsearch(&key, vh->exact, vh->nexact, sizeof(char *), cmp_name) : NULL;
    if (hit) {
        *known = true;
        return vh->exact_host[hit - vh->exact];
    }
    for (size_t i = 0; i < vh->nwild; i++) {
        size_t sl = strlen(vh->wild[i]);
        if (len > sl && memcmp(low + len - sl, vh->wild[i], sl) == 0) {
            *known = true;
            return vh->wild_host[i];
        }
    }
    return vh->dflt;
}

/* The host part of a Host header: "[::1]:8080" -> "[::1]", "a.b:80" -> "a.b". */
static size_t host_part(const char *h, const char **start)
{
    while (*h == ' ' || *h == '\t')
        h++;
    *start = h;
    if (*h == '[') {
        const char *e = strchr(h, ']');
        return e ? (size_t)(e - h + 1) : strlen(h);
    }
    size_t n = strcspn(h, ": \t");
    return n;
}

int rp_req_select_host(rp_req *r)
{
    const rp_vhosts *vh = r->server->vh;
    if (!vh)
        return 0;
    const char *hh = rp_req_header(r, "Host"), *name = "";
    size_t len = hh ? host_part(hh, &name) : 0;
    bool known;
    const rp_host *h =
        vh->nexact || vh->nwild ? rp_host_lookup(r->server, name, len, &known) : vh->dflt;
    if (r->conn->tls && vh->hosts.n > 1) {
        /* The certificate the client checked was the SNI host's: another
         * host's content on this connection would not be what it vouched
         * for (RFC 9110 15.5.20).  Without a Host (HTTP/1.0) the server
         * name is all there is to go by. */
        const rp_host *sni = rp_tls_sni_host(r);
        if (sni && !len)
            h = sni;
        else if (sni && sni != h)
            return 421;
    }
    r->host = h;
    r->route_conf = block_match(h, r->path, r->websocket)->merged;
    return 0;
}

RP_API void *rp_req_route_conf(const rp_req *r, const rp_module *m)
{
    const rp_modrec *rec = rp_modrec_of(r->server, m);
    void **v = r->route_conf;
    if (!v && r->server->vh)
        v = r->server->vh->top->scope.merged;
    return rec && v ? v[rec->index] : NULL;
}
