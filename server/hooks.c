/* hooks.c - hook and filter registration, their sort, and the life of one
 * configuration (rp_server_new, rp_server_finalize, rp_server_free).
 */
#include <ltdl.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "tls.h"

static const char *const phase_names[RP_PHASE_COUNT] = {"MAP", "AUTH", "HANDLER", "ERROR", "LOG"};
static const char *const phase_styles[RP_PHASE_COUNT] = {"first-wins", "run-all", "first-wins",
                                                         "first-wins", "run-all"};

/* ---- registration ------------------------------------------------------- */

/* Constraint lists may live on the caller's stack: keep a copy. */
static const char *const *copy_names(rp_pool *p, const char *const *names)
{
    if (!names)
        return NULL;
    size_t n = 0;
    while (names[n])
        n++;
    const char **out = rp_palloc(p, (n + 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = rp_pstrdup(p, names[i]);
    out[n] = NULL;
    return out;
}

RP_API void rp_hook_add(rp_hooks *h, rp_phase phase, rp_hook_fn fn, int order,
                        const char *const *before, const char *const *after)
{
    if ((int)phase < 0 || phase >= RP_PHASE_COUNT || !fn) {
        rp_log(h->mod->desc, RP_LOG_ERR, "rp_hook_add: invalid phase %d or NULL hook ignored",
               (int)phase);
        return;
    }
    rp_server *s = h->server;
    rp_hook_rec *rec = rp_pcalloc(s->pool, sizeof(*rec));
    rec->fn = fn;
    rec->mod = h->mod;
    rec->order = order;
    rec->before = copy_names(s->pool, before);
    rec->after = copy_names(s->pool, after);
    rec->seq = s->hook_seq++;
    rp_vec_push(s->pool, &s->hooks[phase], rec);
}

RP_API const rp_module *rp_hooks_module(const rp_hooks *h)
{
    return h->mod->self ? h->mod->self : h->mod->desc; /* never the loader's copy */
}
RP_API rp_server *rp_hooks_server(const rp_hooks *h)
{
    return h->server;
}

RP_API void rp_filter_register(rp_hooks *h, const char *name, rp_filter_class cls, int order,
                               rp_filter_setup_fn setup, rp_filter_fn fn)
{
    rp_server *s = h->server;
    rp_filter_def *f = rp_pcalloc(s->pool, sizeof(*f));
    f->name = rp_pstrdup(s->pool, name ? name : h->mod->desc->name);
    f->cls = cls;
    f->order = order;
    f->setup = setup;
    f->fn = fn;
    f->mod = h->mod;
    f->seq = s->hook_seq++;
    rp_vec_push(s->pool, &s->filters, f);
}

/* ---- sorting ------------------------------------------------------------- */

static int names_has(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (strcmp(*names, name) == 0)
            return 1;
    return 0;
}

/* Must a run before b?  Constraints between hooks of one module, and names
 * of modules without hooks here (or not loaded), constrain nothing. */
static int must_precede(const rp_hook_rec *a, const rp_hook_rec *b)
{
    if (a->mod == b->mod)
        return 0;
    return names_has(a->before, b->mod->desc->name) || names_has(b->after, a->mod->desc->name);
}

static int hook_cmp(const void *a, const void *b)
{
    const rp_hook_rec *x = *(rp_hook_rec *const *)a, *y = *(rp_hook_rec *const *)b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct sorter {
    rp_hook_rec **h; /* sorted by (order, seq) */
    size_t n;
    char *state;  /* 0 unvisited, 1 on the path being placed, 2 placed */
    size_t *path; /* hooks being placed: each is a predecessor of the one before */
    size_t depth;
    rp_hook_rec **out;
    size_t done;
    const char *cycle;
    rp_pool *pool;
} sorter;

/* The cycle closed by reaching hook j again, in running order. */
static const char *cycle_text(const sorter *st, size_t j)
{
    const char *txt = st->h[j]->mod->desc->name;
    for (size_t k = st->depth; k-- > 0 && st->path[k] != j;)
        txt = rp_psprintf(st->pool, "%s -> %s", txt, st->h[st->path[k]]->mod->desc->name);
    return rp_psprintf(st->pool, "%s -> %s", txt, st->h[j]->mod->desc->name);
}

/* Place hook i after placing, in priority order, every hook that must run
 * before it: a constraint pulls the hooks it names forward and moves
 * nothing else. */
static int place(sorter *st, size_t i)
{
    if (st->state[i] == 2)
        return 0;
    if (st->state[i] == 1) {
        st->cycle = cycle_text(st, i);
        return -1;
    }
    st->state[i] = 1;
    st->path[st->depth++] = i;
    for (size_t j = 0; j < st->n; j++)
        if (j != i && must_precede(st->h[j], st->h[i]) && place(st, j) < 0)
            return -1;
    st->depth--;
    st->state[i] = 2;
    st->out[st->done++] = st->h[i];
    return 0;
}

static int sort_phase(rp_server *s, rp_phase ph, const char **err)
{
    rp_vec *v = &s->hooks[ph];
    if (v->n < 2)
        return 0;
    qsort(v->v, v->n, sizeof(void *), hook_cmp);
    sorter st = {(rp_hook_rec **)v->v,
                 v->n,
                 calloc(v->n, 1),
                 calloc(v->n, sizeof(size_t)),
                 0,
                 rp_palloc(s->pool, v->n * sizeof(rp_hook_rec *)),
                 0,
                 NULL,
                 s->pool};
    int rc = st.state && st.path ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < st.n; i++)
        rc = place(&st, i);
    if (rc == 0)
        memcpy(v->v, st.out, st.n * sizeof(void *));
    else
        *err = rp_psprintf(s->pool,
                           "hook order cycle in phase %s: %s (their before/after "
                           "constraints contradict each other)",
                           phase_names[ph], st.cycle ? st.cycle : "out of memory");
    free(st.state);
    free(st.path);
    return rc;
}

static int filter_cmp(const void *a, const void *b)
{
    const rp_filter_def *x = *(rp_filter_def *const *)a, *y = *(rp_filter_def *const *)b;
    if (x->cls != y->cls)
        return x->cls < y->cls ? -1 : 1;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int rp_hooks_sort(rp_server *s, const char **err)
{
    for (int ph = 0; ph < RP_PHASE_COUNT; ph++)
        if (sort_phase(s, (rp_phase)ph, err) < 0)
            return -1;
    if (s->filters.n > 1)
        qsort(s->filters.v, s->filters.n, sizeof(void *), filter_cmp);
    return 0;
}

/* ---- printing ------------------------------------------------------------ */

static const char *order_name(char *buf, size_t n, int order)
{
    if (order == RP_HOOK_FIRST)
        return "FIRST";
    if (order == RP_HOOK_MIDDLE)
        return "MIDDLE";
    if (order == RP_HOOK_LAST)
        return "LAST";
    snprintf(buf, n, "%d", order);
    return buf;
}

static void dump_names(FILE *out, const char *label, const char *const *names)
{
    for (int i = 0; names && names[i]; i++)
        fprintf(out, "%s%s", i ? ", " : label, names[i]);
}

void rp_hooks_dump(const rp_server *s, FILE *out)
{
    static const char *const classes[] = {"content", "transfer", "network"};
    char buf[16];
    for (int ph = 0; ph < RP_PHASE_COUNT; ph++) {
        const rp_vec *v = &s->hooks[ph];
        fprintf(out, "%s (%s)\n", phase_names[ph], phase_styles[ph]);
        if (!v->n)
            fprintf(out, "  (none)\n");
        for (size_t i = 0; i < v->n; i++) {
            const rp_hook_rec *h = v->v[i];
            fprintf(out, "  %zu. %s (order %s", i + 1, h->mod->desc->name,
                    order_name(buf, sizeof(buf), h->order));
            dump_names(out, "; before ", h->before);
            dump_names(out, "; after ", h->after);
            fprintf(out, ")\n");
        }
    }
    fprintf(out, "ROUTE HANDLERS (called before the HANDLER hooks for routes they own)\n");
    int owners = 0;
    for (size_t i = 0; i < s->mods.n; i++) {
        const rp_modrec *m = s->mods.v[i];
        if (m->desc->handler)
            fprintf(out, "  %d. %s\n", ++owners, m->desc->name);
    }
    if (!owners)
        fprintf(out, "  (none)\n");
    fprintf(out, "FILTERS (content, transfer, network)\n");
    if (!s->filters.n)
        fprintf(out, "  (none)\n");
    for (size_t i = 0; i < s->filters.n; i++) {
        const rp_filter_def *f = s->filters.v[i];
        fprintf(out, "  %zu. %s [%s] (module %s, order %s)\n", i + 1, f->name,
                (unsigned)f->cls < 3 ? classes[f->cls] : "?", f->mod->desc->name,
                order_name(buf, sizeof(buf), f->order));
    }
}

/* ---- one configuration ---------------------------------------------------- */

rp_server *rp_server_new(void)
{
    rp_pool *p = rp_pool_create(NULL);
    rp_server *s = rp_pcalloc(p, sizeof(*s));
    s->pool = p;
    rp_modrec *core = rp_pcalloc(p, sizeof(*core));
    core->desc = &rp_module_core;
    core->file = "(built in)";
    core->conf = rp_module_core.create_conf(p);
    core->index = 0;
    rp_vec_push(p, &s->mods, core);
    rp_modtab_add(s, core->desc, core);
    s->core = core->conf;
    return s;
}

/* Plugins are closed after the pool: its cleanups may still call into them. */
void rp_server_free(rp_server *s)
{
    if (!s)
        return;
    size_t n = s->mods.n;
    void **handles = calloc(n ? n : 1, sizeof(*handles));
    for (size_t i = 0; handles && i < n; i++)
        handles[i] = ((rp_modrec *)s->mods.v[i])->handle;
    rp_pool_destroy(s->pool);
    for (size_t i = n; handles && i-- > 0;)
        if (handles[i])
            lt_dlclose(handles[i]);
    free(handles);
}

int rp_server_finalize(rp_server *s, const char **err)
{
    rp_log_set_level((int)s->core->log_level); /* post_config may log */
    /* The loader indexed what it loaded; this covers records added by hand
     * (unit tests) before anything reads the table from a worker. */
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (rp_modrec_of(s, m->desc) != m)
            rp_modtab_add(s, m->desc, m);
    }
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        struct rp_hooks h = {s, m};
        if (m->desc->register_hooks)
            m->desc->register_hooks(&h, m->conf);
    }
    if (rp_hooks_sort(s, err) < 0 || rp_routes_finalize(s, err) < 0 ||
        rp_mime_finalize(s, err) < 0 || rp_tls_prepare(s, err) < 0)
        return -1;
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (m->desc->post_config && m->desc->post_config(s, m->conf) != RP_OK) {
            *err = rp_psprintf(s->pool,
                               "module '%s' (%s) refused to start in its post_config "
                               "step; the error log says why",
                               m->desc->name, m->file);
            return -1;
        }
    }
    if (rp_metrics_freeze(s, rp_server_threads(s)) != 0) {
        *err = "not enough memory for the metrics";
        return -1;
    }
    return 0;
}
