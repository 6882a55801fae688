/* mod_metrics.c - what the server is doing, for Prometheus and for people.
 *
 *   Map /metrics metrics:          every series (rp_metrics.h) in the text format
 *   Map /status  metrics:status    a small HTML page of the same numbers
 *   MetricsRemote on|off           answer clients that are not loopback (off)
 *
 * Its LOG hook counts each request by method and status class, the bytes
 * in and out, and the request's duration; other plugins (gzip, ratelimit,
 * js, ws) and the core publish their own series through the same API.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rampart.h>

RP_API const rp_module rp_module_metrics;

static const char *const methods[] = {"GET",    "HEAD",  "POST",    "PUT",
                                      "DELETE", "PATCH", "OPTIONS", "other"};
#define NMETHODS (sizeof methods / sizeof methods[0])
#define NCLASSES 5 /* 1xx .. 5xx */

static const double duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};

typedef struct {
    int remote;
    rp_metric *requests[NMETHODS][NCLASSES];
    rp_metric *bytes_in, *bytes_out, *duration;
    time_t started;
} mx_conf;

typedef enum { TARGET_METRICS, TARGET_STATUS } mx_target;
static const mx_target target_metrics = TARGET_METRICS, target_status = TARGET_STATUS;

static void *mx_create_conf(rp_pool *p)
{
    mx_conf *c = rp_pcalloc(p, sizeof *c);
    return c;
}

static const rp_directive mx_directives[] = {
    {"MetricsRemote", 1, 1, rp_set_flag, offsetof(mx_conf, remote),
     "MetricsRemote on|off: answer /metrics and the status page to clients that are not on "
     "loopback (default off)"},
    RP_DIRECTIVES_END};

static int mx_map_target(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                         const char **err)
{
    (void)conf;
    if (argc != 1 || strncmp(argv[0], "metrics:", 8) != 0)
        return RP_DECLINED;
    const char *what = argv[0] + 8;
    const mx_target *t;
    if (!*what)
        t = &target_metrics;
    else if (strcmp(what, "status") == 0)
        t = &target_status;
    else {
        *err = rp_cmd_error(cmd, "Map %s %s: use metrics: (Prometheus) or metrics:status (HTML)",
                            key, argv[0]);
        return RP_ERROR;
    }
    if ((*err = rp_route_add(cmd, key, &rp_module_metrics, (void *)t)) != NULL)
        return RP_ERROR;
    return RP_OK;
}

/* ---- the series and the LOG hook ----------------------------------------- */

static int mx_post_config(rp_server *s, void *conf)
{
    mx_conf *c = conf;
    char name[128];
    for (size_t m = 0; m < NMETHODS; m++) {
        for (int k = 0; k < NCLASSES; k++) {
            snprintf(name, sizeof name, "rampart_http_requests_total{method=\"%s\",code=\"%dxx\"}",
                     methods[m], k + 1);
            c->requests[m][k] =
                rp_metric_counter(s, name, "Requests answered, by method and status class");
        }
    }
    c->bytes_in = rp_metric_counter(s, "rampart_http_request_body_bytes_total",
                                    "Request body bytes received");
    c->bytes_out =
        rp_metric_counter(s, "rampart_http_response_body_bytes_total", "Response body bytes sent");
    c->duration =
        rp_metric_histogram(s, "rampart_http_request_duration_seconds",
                            "From a request's first byte to the end of its response",
                            duration_bounds, sizeof duration_bounds / sizeof duration_bounds[0]);
    c->started = time(NULL);
    return RP_OK;
}

static size_t method_index(const char *m)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (strcmp(m, methods[i]) == 0)
            return i;
    return NMETHODS - 1;
}

static int mx_log(rp_req *r)
{
    mx_conf *c = rp_req_conf(r, &rp_module_metrics);
    rp_worker *w = rp_req_worker(r);
    int st = rp_resp_status(r);
    int k = st >= 100 && st < 600 ? st / 100 - 1 : 4;
    rp_metric_add(c->requests[method_index(rp_req_method(r))][k], w, 1);
    size_t in = 0;
    rp_req_body(r, &in);
    if (in)
        rp_metric_add(c->bytes_in, w, (int64_t)in);
    rp_metric_add(c->bytes_out, w, (int64_t)rp_resp_bytes_sent(r));
    rp_metric_observe(c->duration, w, rp_req_age(r));
    return RP_OK;
}

static void mx_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_LOG, mx_log, RP_HOOK_MIDDLE, NULL, NULL);
}

/* ---- the pages -------------------------------------------------------------- */

static void send_text(rp_req *r, const char *ctype, const char *body, size_t len)
{
    rp_resp_set_status(r, 200);
    rp_resp_header_set(r, "Content-Type", ctype);
    rp_resp_header_set(r, "Cache-Control", "no-store");
    rp_resp_set_length(r, (int64_t)len);
    if (!rp_req_is_head(r))
        rp_resp_write(r, body, len);
}

/* The status page: the exposition's sample lines as a table. */
static char *status_page(rp_req *r, const mx_conf *c, const char *text)
{
    rp_pool *p = rp_req_pool(r);
    long up = (long)(time(NULL) - c->started);
    char *out = rp_psprintf(p,
                            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                            "<title>rampart status</title></head><body>\n"
                            "<h1>%s</h1>\n<p>up %ldd %02ld:%02ld:%02ld, %d worker thread(s)</p>\n"
                            "<table>\n<tr><th>series</th><th>value</th></tr>\n",
                            rp_html_escape(p, rp_version()), up / 86400, up / 3600 % 24,
                            up / 60 % 60, up % 60, rp_server_threads(rp_req_server(r)));
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        const char *sp = memrchr(line, ' ', n);
        if (line[0] != '#' && sp) {
            char *series = rp_pstrndup(p, line, (size_t)(sp - line));
            char *value = rp_pstrndup(p, sp + 1, n - (size_t)(sp - line) - 1);
            out = rp_pstrcat(p, out, "<tr><td>", rp_html_escape(p, series), "</td><td>",
                             rp_html_escape(p, value), "</td></tr>\n", NULL);
        }
        line += n + (nl != NULL);
    }
    return rp_pstrcat(p, out, "</table>\n</body></html>\n", NULL);
}

static int mx_handler(rp_req *r)
{
    const mx_conf *c = rp_req_conf(r, &rp_module_metrics);
    if (!c->remote && !rp_addr_is_loopback(rp_req_remote_ip(r)))
        return 403;
    if (strcmp(rp_req_method(r), "GET") != 0 && !rp_req_is_head(r)) {
        rp_resp_header_set(r, "Allow", "GET, HEAD");
        return 405;
    }
    size_t len;
    char *text = rp_metrics_render(rp_req_server(r), rp_req_pool(r), &len);
    if (*(const mx_target *)rp_req_route_target(r) == TARGET_STATUS) {
        char *html = status_page(r, c, text);
        send_text(r, "text/html; charset=utf-8", html, strlen(html));
    } else {
        send_text(r, "text/plain; version=0.0.4; charset=utf-8", text, len);
    }
    return RP_OK;
}

RP_MODULE_DECLARE(metrics) = {
    RP_MODULE_HEADER,
    .name = "metrics",
    .version = "1.0",
    .directives = mx_directives,
    .create_conf = mx_create_conf,
    .map_target = mx_map_target,
    .register_hooks = mx_register_hooks,
    .post_config = mx_post_config,
    .handler = mx_handler,
};
