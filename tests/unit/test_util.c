/* Small core helpers: loopback addresses, the Cookie walker, and the
 * metrics registry (series, freeze, updates, the text format). */
#include <stdlib.h>
#include "fake.h"
#include "ut.h"

static void test_loopback(void)
{
    CHECK(rp_addr_is_loopback("127.0.0.1"));
    CHECK(rp_addr_is_loopback("127.255.0.9"));
    CHECK(rp_addr_is_loopback("::1"));
    CHECK(rp_addr_is_loopback("::ffff:127.0.0.1"));
    CHECK(!rp_addr_is_loopback("128.0.0.1"));
    CHECK(!rp_addr_is_loopback("10.0.0.1"));
    CHECK(!rp_addr_is_loopback("::2"));
    CHECK(!rp_addr_is_loopback("::ffff:10.0.0.1"));
    CHECK(!rp_addr_is_loopback("localhost"));
    CHECK(!rp_addr_is_loopback(""));
}

static void test_tokens(void)
{
    CHECK(rp_token_listed("keep-alive, Upgrade", "upgrade"));
    CHECK(rp_token_listed(" websocket ", "WebSocket"));
    CHECK(rp_token_listed("a,,b ,\tc", "c"));
    CHECK(!rp_token_listed("upgrades, x", "upgrade"));
    CHECK(!rp_token_listed("", "x"));
    CHECK(!rp_token_listed(NULL, "x"));
}

static void test_cookies(void)
{
    const char *h = " a=1; b = \"two words\" ;;c; =skip; d=", *end = h + strlen(h);
    const char *k, *v;
    size_t kl, vl;
    char got[256] = "";
    while (rp_cookie_next(&h, end, &k, &kl, &v, &vl)) {
        char one[64];
        snprintf(one, sizeof one, "[%.*s=%.*s]", (int)kl, k, (int)vl, v);
        strcat(got, one);
    }
    CHECK_STR(got, "[a=1][b=two words][c=][d=]");
    CHECK(h == end);
}

static void test_metrics(void)
{
    rp_server *s = rp_server_new();
    rp_metric *a = rp_metric_counter(s, "t_requests_total{code=\"2xx\"}", "Requests\nby code");
    rp_metric *b = rp_metric_counter(s, "t_requests_total{code=\"5xx\"}", "ignored");
    CHECK(a && b && a != b);
    CHECK(rp_metric_counter(s, "t_requests_total{code=\"2xx\"}", NULL) == a); /* same series */
    CHECK(rp_metric_gauge(s, "t_requests_total{code=\"3xx\"}", "x") == NULL); /* other kind */
    CHECK(rp_metric_counter(s, "9bad", "x") == NULL);
    CHECK(rp_metric_counter(s, "bad name", "x") == NULL);
    CHECK(rp_metric_counter(s, "t_x{unclosed", "x") == NULL);
    rp_metric *g = rp_metric_gauge(s, "t_open", "Open things");
    static const double bounds[] = {0.1, 1};
    rp_metric *h = rp_metric_histogram(s, "t_seconds", "Durations", bounds, 2);
    rp_metric_add(a, NULL, 5); /* before the server runs: ignored */
    CHECK(rp_metrics_freeze(s, 2) == 0);
    CHECK(rp_metric_counter(s, "t_late", "x") == NULL); /* after: refused */
    rp_metric_add(a, NULL, 3);
    rp_metric_add(a, NULL, 4);
    rp_metric_add(g, NULL, 10);
    rp_metric_add(g, NULL, -3);
    rp_metric_observe(h, NULL, 0.05);
    rp_metric_observe(h, NULL, 0.5);
    rp_metric_observe(h, NULL, 7);
    rp_metric_add(NULL, NULL, 1); /* a failed creation is harmless */
    CHECK(rp_metric_value(a) == 7 && rp_metric_value(b) == 0 && rp_metric_value(g) == 7);
    CHECK(rp_metric_value(h) == 3);
    size_t len;
    char *text = rp_metrics_render(s, s->pool, &len);
    CHECK(strlen(text) == len);
    CHECK_HAS(text, "# HELP t_requests_total Requests\\nby code\n# TYPE t_requests_total counter\n"
                    "t_requests_total{code=\"2xx\"} 7\nt_requests_total{code=\"5xx\"} 0\n");
    CHECK_HAS(text, "# TYPE t_open gauge\nt_open 7\n");
    CHECK_HAS(text, "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\n"
                    "t_seconds_bucket{le=\"+Inf\"} 3\nt_seconds_sum 7.55\nt_seconds_count 3\n");
    CHECK_HAS(text, "rampart_worker_connections{worker=\"1\"}");
    rp_server_free(s);
}

int main(void)
{
    test_loopback();
    test_tokens();
    test_cookies();
    test_metrics();
    UT_DONE();
}
