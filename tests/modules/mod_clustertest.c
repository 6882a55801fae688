/* mod_clustertest.c - drives mod_cluster's "cluster" service over HTTP, for
 * tests/integration/test_cluster.py.  Load it after mod_cluster.
 *
 *   Map /cl/pub  clustertest:pub    POST: publish the body on ?ch=NAME
 *                                   (default "test"); ?n=N publishes N
 *                                   messages "<body>-<i>", i from 0
 *   Map /cl/recv clustertest:recv   every message any worker received, one
 *                                   line each, in delivery order:
 *                                   "<sub> <worker> <channel> <own> <data>"
 *   Map /cl/id   clustertest:id     "<server id> <enabled>"
 *
 * Each worker subscribes twice in worker_init: to "*" (sub "all") and to
 * "others" with RP_CLUSTER_OTHERS_ONLY (sub "others").
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rampart.h>

#include "../../modules/mod_cluster/rp_cluster.h"

RP_API const rp_module rp_module_clustertest;
#define SELF (&rp_module_clustertest)
#define LOG_MAX (8u << 20)

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_log;
static size_t g_len, g_cap;

/* The server closes its plugins at exit: free the log then, or LeakSanitizer
 * sees it unreachable. */
__attribute__((destructor)) static void free_log(void)
{
    free(g_log);
    g_log = NULL;
    g_len = g_cap = 0;
}

static const rp_cluster_service_v1 *svc(void)
{
    return rp_service_get(RP_CLUSTER_SERVICE, RP_CLUSTER_SERVICE_VERSION);
}

static void log_line(const char *line, size_t n)
{
    pthread_mutex_lock(&g_lock);
    if (g_len + n <= LOG_MAX) {
        if (g_len + n > g_cap) {
            size_t cap = g_cap ? g_cap * 2 : 4096;
            while (cap < g_len + n)
                cap *= 2;
            char *p = realloc(g_log, cap);
            if (p) {
                g_log = p;
                g_cap = cap;
            }
        }
        if (g_len + n <= g_cap) {
            memcpy(g_log + g_len, line, n);
            g_len += n;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

static void on_message(rp_worker *w, const char *channel, const void *data, size_t len, void *arg)
{
    const rp_cluster_service_v1 *cl = svc();
    int own = strcmp(cl->origin(w), cl->server_id()) == 0;
    char head[400];
    int n = snprintf(head, sizeof head, "%s %d %s %d ", (const char *)arg, rp_worker_index(w),
                     channel, own);
    char *line = malloc((size_t)n + len + 1);
    if (!line)
        return;
    memcpy(line, head, (size_t)n);
    memcpy(line + n, data, len);
    line[(size_t)n + len] = '\n';
    log_line(line, (size_t)n + len + 1);
    free(line);
}

static int ct_worker_init(rp_worker *w, void *conf)
{
    (void)conf;
    const rp_cluster_service_v1 *cl = svc();
    if (!cl)
        return RP_OK;
    if (cl->subscribe(w, "*", 0, on_message, "all") < 0 ||
        cl->subscribe(w, "others", RP_CLUSTER_OTHERS_ONLY, on_message, "others") < 0)
        rp_log(SELF, RP_LOG_ERR, "subscribe failed");
    return RP_OK;
}

static int ct_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                         const char **err)
{
    (void)conf;
    if (argc != 1 || strncmp(argv[0], "clustertest:", 12) != 0)
        return RP_DECLINED;
    const char *e = rp_route_add(cmd, key, SELF, rp_pstrdup(rp_cmd_pool(cmd), argv[0] + 12));
    if (e) {
        *err = e;
        return RP_ERROR;
    }
    return RP_OK;
}

/* The value of name=... in the query, or def. */
static const char *query_arg(rp_req *r, const char *name, const char *def)
{
    const char *q = rp_req_query(r);
    size_t n = strlen(name);
    while (q && *q) {
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            const char *v = q + n + 1;
            return rp_pstrndup(rp_req_pool(r), v, strcspn(v, "&"));
        }
        q = strchr(q, '&');
        q = q ? q + 1 : NULL;
    }
    return def;
}

static int do_pub(rp_req *r)
{
    const rp_cluster_service_v1 *cl = svc();
    size_t len;
    const char *body = rp_req_body(r, &len);
    const char *ch = query_arg(r, "ch", "test");
    long count = atol(query_arg(r, "n", "0"));
    int ok = 0, bad = 0;
    if (count <= 0) {
        *(cl->publish(ch, body, len) == 0 ? &ok : &bad) += 1;
    } else {
        for (long i = 0; i < count && i < 1000000; i++) {
            char *m = rp_psprintf(rp_req_pool(r), "%.*s-%ld", (int)len, body ? body : "", i);
            *(cl->publish(ch, m, strlen(m)) == 0 ? &ok : &bad) += 1;
        }
    }
    rp_resp_printf(r, "ok %d %d\n", ok, bad);
    return RP_OK;
}

static int ct_handler(rp_req *r)
{
    const char *mode = rp_req_route_target(r);
    const rp_cluster_service_v1 *cl = svc();
    rp_resp_header_set(r, "Content-Type", "text/plain");
    if (!cl)
        return 503;
    if (strcmp(mode, "pub") == 0)
        return do_pub(r);
    if (strcmp(mode, "id") == 0) {
        rp_resp_printf(r, "%s %d\n", cl->server_id(), cl->enabled());
        return RP_OK;
    }
    if (strcmp(mode, "recv") == 0) {
        pthread_mutex_lock(&g_lock);
        rp_resp_write(r, g_log ? g_log : "", g_len);
        pthread_mutex_unlock(&g_lock);
        return RP_OK;
    }
    return 404;
}

RP_MODULE_DECLARE(clustertest) = {
    RP_MODULE_HEADER,
    .name = "clustertest",
    .version = "1.0",
    .map_target = ct_map_target,
    .worker_init = ct_worker_init,
    .handler = ct_handler,
};
