/* rp_metrics.h - counters, gauges and histograms any plugin can publish.
 *
 * Series are made while the configuration is built (create_conf,
 * directives, register_hooks or post_config); once the server serves, the
 * set is fixed and updates are lock-free: each worker thread adds into a
 * row of its own (no cache line shared between workers), threads that are
 * not workers into one shared row with atomic adds.  A reload makes a new
 * set, so counters restart from zero then (Prometheus handles resets).
 *
 * A name is a Prometheus metric name, optionally with labels written out:
 *   rampart_http_requests_total{method="GET",code="2xx"}
 * Series with the same name before '{' form one family, which has one help
 * text and one kind.  mod_metrics serves them all at a `Map`ped path.
 */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "rp_common.h"

typedef struct rp_metric rp_metric;

/* A new series, or the existing one of that exact name.  NULL when the
 * name is malformed, the family has another kind, or the server already
 * runs (the error log says which). */
RP_API rp_metric *rp_metric_counter(rp_server *s, const char *name, const char *help);
RP_API rp_metric *rp_metric_gauge(rp_server *s, const char *name, const char *help);
/* A gauge read when scraped, by the scraping thread: fn must only read
 * state that is safe to read from any thread (atomics, or a word that may
 * be a moment old). */
RP_API rp_metric *rp_metric_gauge_fn(rp_server *s, const char *name, const char *help,
                                     double (*fn)(void *arg), void *arg);
/* Upper bounds, ascending (le="+Inf" is added).  The sum is kept in
 * millionths of the observed unit. */
RP_API rp_metric *rp_metric_histogram(rp_server *s, const char *name, const char *help,
                                      const double *bounds, size_t nbounds);

/* Updates, from any thread; w is the calling worker thread, or NULL.
 * A metric may be NULL (its creation failed): then nothing happens. */
RP_API void rp_metric_add(rp_metric *m, rp_worker *w, int64_t n); /* counter (n >= 0), gauge */
RP_API void rp_metric_observe(rp_metric *m, rp_worker *w, double v); /* histogram */

/* The current value summed over all threads (a histogram: its count). */
RP_API double rp_metric_value(const rp_metric *m);

/* Every series in the Prometheus text format (version 0.0.4), in pool p. */
RP_API char *rp_metrics_render(rp_server *s, rp_pool *p, size_t *len);

#endif
