/* metrics.c - the series plugins publish (api/rp_metrics.h).
 *
 * Made at configuration time into a list; rp_metrics_freeze (the end of
 * rp_server_finalize) gives every series its slots and allocates one row of
 * slots per worker thread plus one shared row, each row on cache lines of
 * its own.  A worker adds into its row with relaxed atomics nobody else
 * writes; a scrape sums the rows. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core.h"
#include "runtime.h"

typedef enum { M_COUNTER, M_GAUGE, M_GAUGE_FN, M_HISTOGRAM } m_kind;

typedef struct m_family {
    const char *name, *help;
    m_kind kind;
} m_family;

struct rp_metric {
    rp_server *server;
    const m_family *fam;
    const char *name;   /* full name, labels included */
    const char *labels; /* inside the braces, or "" */
    size_t slot;        /* first slot; histogram: buckets, +Inf, sum */
    double *bounds;
    size_t nbounds;
    double (*fn)(void *);
    void *arg;
};

struct rp_metrics {
    rp_core_metrics core; /* the core's own counters (core.h) */
    rp_vec families, series;
    size_t nslots, nrows;
    _Atomic int64_t **rows; /* [nrows], the last shared by non-workers */
    bool frozen;
};

static rp_metrics *registry(rp_server *s)
{
    if (!s->metrics)
        s->metrics = rp_pcalloc(s->pool, sizeof *s->metrics);
    return s->metrics;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* "fam{labels}" -> family length, or 0 when malformed. */
static size_t family_len(const char *name)
{
    size_t n = 0;
    while (name[n] && name[n] != '{') {
        if (!name_char(name[n], n == 0))
            return 0;
        n++;
    }
    if (name[n] == '{' && (strlen(name + n) < 2 || name[strlen(name) - 1] != '}'))
        return 0;
    return n;
}

static rp_metric *make(rp_server *s, const char *name, const char *help, m_kind kind)
{
    rp_metrics *reg = registry(s);
    size_t flen = family_len(name);
    if (reg->frozen || !flen) {
        rp_log(NULL, RP_LOG_ERR, "metric '%s': %s", name,
               reg->frozen ? "made after the server started" : "not a Prometheus name");
        return NULL;
    }
    for (size_t i = 0; i < reg->series.n; i++) {
        rp_metric *m = reg->series.v[i];
        if (strcmp(m->name, name) == 0)
            return m->fam->kind == kind ? m : NULL;
    }
    const m_family *fam = NULL;
    for (size_t i = 0; i < reg->families.n && !fam; i++) {
        const m_family *f = reg->families.v[i];
        if (strlen(f->name) == flen && strncmp(f->name, name, flen) == 0)
            fam = f;
    }
    if (fam && fam->kind != kind) {
        rp_log(NULL, RP_LOG_ERR, "metric '%s': the family has another kind", name);
        return NULL;
    }
    if (!fam) {
        m_family *f = rp_pcalloc(s->pool, sizeof *f);
        f->name = rp_pstrndup(s->pool, name, flen);
        f->help = rp_pstrdup(s->pool, help ? help : "");
        f->kind = kind;
        rp_vec_push(s->pool, &reg->families, f);
        fam = f;
    }
    rp_metric *m = rp_pcalloc(s->pool, sizeof *m);
    m->server = s;
    m->fam = fam;
    m->name = rp_pstrdup(s->pool, name);
    m->labels = name[flen] ? rp_pstrndup(s->pool, name + flen + 1, strlen(name + flen) - 2) : "";
    rp_vec_push(s->pool, &reg->series, m);
    return m;
}

RP_API rp_metric *rp_metric_counter(rp_server *s, const char *name, const char *help)
{
    return make(s, name, help, M_COUNTER);
}

RP_API rp_metric *rp_metric_gauge(rp_server *s, const char *name, const char *help)
{
    return make(s, name, help, M_GAUGE);
}

RP_API rp_metric *rp_metric_gauge_fn(rp_server *s, const char *name, const char *help,
                                     double (*fn)(void *arg), void *arg)
{
    rp_metric *m = make(s, name, help, M_GAUGE_FN);
    if (m) {
        m->fn = fn;
        m->arg = arg;
    }
    return m;
}

RP_API rp_metric *rp_metric_histogram(rp_server *s, const char *name, const char *help,
                                      const double *bounds, size_t nbounds)
{
    rp_metric *m = make(s, name, help, M_HISTOGRAM);
    if (m && !m->bounds) {
        m->bounds = rp_palloc(s->pool, (nbounds ? nbounds : 1) * sizeof *m->bounds);
        memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
        m->nbounds = nbounds;
    }
    return m;
}

static size_t slots_of(const rp_metric *m)
{
    switch (m->fam->kind) {
    case M_HISTOGRAM: return m->nbounds + 2; /* buckets, +Inf, sum */
    case M_GAUGE_FN: return 0;
    default: return 1;
    }
}

/* ---- the core's own series: each worker thread's load ------------------- */

/* The thread of that index, NULL until the workers run (rampart-httpd -t,
 * unit tests). */
static rp_thread *thread_at(void *arg)
{
    int i = *(const int *)arg;
    return i < rp_workers_count() ? rp_workers_thread(i) : NULL;
}

static double worker_conns(void *arg)
{
    rp_thread *t = thread_at(arg);
    return t ? atomic_load_explicit(&t->nconns, memory_order_relaxed) : 0;
}

static double worker_busy(void *arg)
{
    rp_thread *t = thread_at(arg);
    long long since = t ? atomic_load_explicit(&t->busy_since, memory_order_relaxed) : 0;
    if (!since)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return now > since ? (double)(now - since) / 1000.0 : 0;
}

static void core_series(rp_server *s, int threads)
{
    rp_core_metrics *m = &s->metrics->core;
    m->tls_ok = rp_metric_counter(s, "rampart_tls_handshakes_total{result=\"new\"}",
                                  "TLS handshakes: completed with a new session, resumed, or "
                                  "failed (error, timeout, client gone)");
    m->tls_resumed = rp_metric_counter(s, "rampart_tls_handshakes_total{result=\"resumed\"}", NULL);
    m->tls_failed = rp_metric_counter(s, "rampart_tls_handshakes_total{result=\"failed\"}", NULL);
    int *index = rp_palloc(s->pool, (size_t)(threads > 0 ? threads : 1) * sizeof *index);
    for (int i = 0; i < threads; i++) {
        char name[96];
        index[i] = i;
        snprintf(name, sizeof name, "rampart_worker_connections{worker=\"%d\"}", i);
        rp_metric_gauge_fn(s, name, "Open connections of each worker thread", worker_conns,
                           &index[i]);
        snprintf(name, sizeof name, "rampart_worker_busy_seconds{worker=\"%d\"}", i);
        rp_metric_gauge_fn(s, name,
                           "How long the request now running on each worker thread's stack has "
                           "held it (0: the thread's loop is free)",
                           worker_busy, &index[i]);
    }
}

const rp_core_metrics *rp_core_metrics_of(const rp_server *s)
{
    static const rp_core_metrics none;
    return s->metrics ? &s->metrics->core : &none;
}

int rp_metrics_freeze(rp_server *s, int threads)
{
    rp_metrics *reg = registry(s);
    core_series(s, threads);
    for (size_t i = 0; i < reg->series.n; i++) {
        rp_metric *m = reg->series.v[i];
        m->slot = reg->nslots;
        reg->nslots += slots_of(m);
    }
    reg->nrows = (size_t)threads + 1;
    reg->rows = rp_pcalloc(s->pool, reg->nrows * sizeof *reg->rows);
    size_t bytes = ((reg->nslots * sizeof(int64_t) + 63) / 64 + 1) * 64; /* whole lines, never 0 */
    for (size_t r = 0; r < reg->nrows; r++) {
        reg->rows[r] = aligned_alloc(64, bytes);
        if (!reg->rows[r])
            return -1;
        memset(reg->rows[r], 0, bytes);
        rp_pool_cleanup_add(s->pool, free, reg->rows[r]);
    }
    reg->frozen = true;
    return 0;
}

static _Atomic int64_t *row_of(const rp_metric *m, rp_worker *w)
{
    const rp_metrics *reg = m->server->metrics;
    size_t r = w ? (size_t)rp_worker_index(w) : reg->nrows - 1;
    return reg->rows[r < reg->nrows ? r : reg->nrows - 1];
}

RP_API void rp_metric_add(rp_metric *m, rp_worker *w, int64_t n)
{
    if (!m || m->fam->kind > M_GAUGE || !m->server->metrics->frozen)
        return;
    atomic_fetch_add_explicit(&row_of(m, w)[m->slot], n, memory_order_relaxed);
}

RP_API void rp_metric_observe(rp_metric *m, rp_worker *w, double v)
{
    if (!m || m->fam->kind != M_HISTOGRAM || !m->server->metrics->frozen)
        return;
    _Atomic int64_t *row = row_of(m, w);
    size_t b = 0;
    while (b < m->nbounds && v > m->bounds[b])
        b++;
    atomic_fetch_add_explicit(&row[m->slot + b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&row[m->slot + m->nbounds + 1],
                              (int64_t)(v * 1e6 + (v < 0 ? -0.5 : 0.5)), memory_order_relaxed);
}

static int64_t sum_slot(const rp_metrics *reg, size_t slot)
{
    int64_t v = 0;
    for (size_t r = 0; r < reg->nrows; r++)
        v += atomic_load_explicit(&reg->rows[r][slot], memory_order_relaxed);
    return v;
}

RP_API double rp_metric_value(const rp_metric *m)
{
    if (!m || !m->server->metrics->frozen)
        return 0;
    if (m->fam->kind == M_GAUGE_FN)
        return m->fn(m->arg);
    if (m->fam->kind != M_HISTOGRAM)
        return (double)sum_slot(m->server->metrics, m->slot);
    int64_t n = 0;
    for (size_t b = 0; b <= m->nbounds; b++)
        n += sum_slot(m->server->metrics, m->slot + b);
    return (double)n;
}

/* ---- the text format ------------------------------------------------------ */

typedef struct {
    rp_pool *pool;
    char *b;
    size_t n, cap;
} out_buf;

static void out(out_buf *o, const char *fmt, ...) RP_PRINTF(2, 3);
static void out(out_buf *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->b + o->n, o->cap - o->n, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if ((size_t)k < o->cap - o->n) {
            o->n += (size_t)k;
            return;
        }
        size_t ncap = (o->cap + (size_t)k) * 2;
        char *nb = rp_palloc(o->pool, ncap);
        memcpy(nb, o->b, o->n);
        o->b = nb;
        o->cap = ncap;
    }
}

/* Help text escaping per the format: backslash and newline. */
static void out_help(out_buf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            out(o, "\\\\");
        else if (*s == '\n')
            out(o, "\\n");
        else
            out(o, "%c", *s);
    }
}

static void out_number(out_buf *o, double v)
{
    if (isnan(v))
        out(o, "NaN");
    else if (isinf(v))
        out(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        out(o, "%lld", (long long)v);
    else {
        char t[32];
        for (int prec = 15; prec <= 17; prec++) { /* the shortest that reads back the same */
            snprintf(t, sizeof t, "%.*g", prec, v);
            if (strtod(t, NULL) == v)
                break;
        }
        out(o, "%s", t);
    }
}

static void out_histogram(out_buf *o, const rp_metrics *reg, const rp_metric *m)
{
    const char *f = m->fam->name, *sep = *m->labels ? "," : "";
    int64_t cum = 0;
    for (size_t b = 0; b <= m->nbounds; b++) {
        cum += sum_slot(reg, m->slot + b);
        out(o, "%s_bucket{%s%sle=\"", f, m->labels, sep);
        if (b < m->nbounds)
            out_number(o, m->bounds[b]);
        else
            out(o, "+Inf");
        out(o, "\"} %lld\n", (long long)cum);
    }
    const char *lb = *m->labels ? "{" : "", *rb = *m->labels ? "}" : "";
    out(o, "%s_sum%s%s%s ", f, lb, m->labels, rb);
    out_number(o, (double)sum_slot(reg, m->slot + m->nbounds + 1) / 1e6);
    out(o, "\n%s_count%s%s%s %lld\n", f, lb, m->labels, rb, (long long)cum);
}

RP_API char *rp_metrics_render(rp_server *s, rp_pool *p, size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "gauge", "histogram"};
    const rp_metrics *reg = registry(s);
    out_buf o = {p, rp_palloc(p, 4096), 0, 4096};
    o.b[0] = '\0';
    for (size_t i = 0; reg->frozen && i < reg->families.n; i++) {
        const m_family *f = reg->families.v[i];
        out(&o, "# HELP %s ", f->name);
        out_help(&o, f->help);
        out(&o, "\n# TYPE %s %s\n", f->name, types[f->kind]);
        for (size_t j = 0; j < reg->series.n; j++) {
            const rp_metric *m = reg->series.v[j];
            if (m->fam != f)
                continue;
            if (f->kind == M_HISTOGRAM) {
                out_histogram(&o, reg, m);
                continue;
            }
            out(&o, "%s ", m->name);
            out_number(&o, rp_metric_value(m));
            out(&o, "\n");
        }
    }
    if (len)
        *len = o.n;
    return o.b;
}
