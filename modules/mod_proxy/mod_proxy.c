/* mod_proxy.c - a reverse proxy: "Map /api/ proxy:http://127.0.0.1:9000/"
 * sends the requests under /api/ to an upstream and streams its answers
 * back (see README.md in this directory; the parts are listed in
 * proxy_int.h). */
#include <stdlib.h>
#include "proxy_int.h"

/* The workers of this thread: rp_worker_on_stop() callbacks belong to the
 * thread and cannot be withdrawn, while a worker retired by a reload goes
 * away, so one callback per thread walks this list. */
static __thread px_worker *tl_workers;
static __thread int tl_stop_hooked;

static void px_on_stop(rp_worker *w, void *arg)
{
    (void)w;
    (void)arg;
    for (px_worker *pw = tl_workers; pw; pw = pw->tnext) {
        px_worker_close_idle(pw);
        px_tunnel_stop_all(pw);
    }
}

static int px_worker_init(rp_worker *w, void *conf)
{
    px_worker *pw = px_worker_new(w, conf);
    if (!pw)
        return RP_ERROR;
    pw->tnext = tl_workers;
    tl_workers = pw;
    rp_worker_set_ctx(w, &rp_module_proxy, pw);
    if (!tl_stop_hooked) {
        rp_worker_on_stop(w, px_on_stop, NULL);
        tl_stop_hooked = 1;
    }
    return RP_OK;
}

static void px_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    px_worker *pw = rp_worker_ctx(w, &rp_module_proxy);
    if (!pw)
        return;
    rp_worker_set_ctx(w, &rp_module_proxy, NULL);
    for (px_worker **pp = &tl_workers; *pp; pp = &(*pp)->tnext)
        if (*pp == pw) {
            *pp = pw->tnext;
            break;
        }
    px_worker_free(pw);
    px_exchange_thread_exit();
}

static int px_post_config(rp_server *s, void *conf)
{
    px_conf *c = conf;
    c->m_reused = rp_metric_counter(s, "rampart_proxy_upstream_connections_total{how=\"reused\"}",
                                    "Upstream connections an exchange used: kept alive or new");
    c->m_opened =
        rp_metric_counter(s, "rampart_proxy_upstream_connections_total{how=\"new\"}", NULL);
    c->m_502 = rp_metric_counter(s, "rampart_proxy_errors_total{code=\"502\"}",
                                 "Proxied requests answered 502 (upstream refused, reset, garbage) "
                                 "or 504 (timeout)");
    c->m_504 = rp_metric_counter(s, "rampart_proxy_errors_total{code=\"504\"}", NULL);
    px_exchange_init();
    rp_module_stream_body(s, &rp_module_proxy); /* request bodies go up as they arrive */
    return px_conf_ssl(conf) == 0 ? RP_OK : RP_ERROR;
}

RP_MODULE_DECLARE(proxy) = {
    RP_MODULE_HEADER,
    .name = "proxy",
    .version = "1.0",
    .directives = px_directives,
    .create_conf = px_create_conf,
    .map_target = px_map_target,
    .post_config = px_post_config,
    .worker_init = px_worker_init,
    .worker_exit = px_worker_exit,
    .handler = px_handler,
    .route_directives = px_route_directives,
    .create_route_conf = px_create_route_conf,
    .merge_route_conf = px_merge_route_conf,
};
