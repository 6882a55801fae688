/* test_rl_table.c - the rate counters: windows, refusals, eviction, and
 * exact counting when threads hit one key at once. */
#include <pthread.h>
#include <stdint.h>
#include "table.h"
#include "ut.h"

static uint64_t key_of(rl_table *t, const char *s)
{
    return rl_key_mix(rl_key_start(t), s, strlen(s));
}

static void test_window(void)
{
    rl_table *t = rl_table_new(100);
    CHECK(t && rl_table_capacity(t) >= 100);
    uint64_t a = key_of(t, "10.0.0.1"), b = key_of(t, "10.0.0.2");
    for (int i = 0; i < 3; i++)
        CHECK(rl_table_hit(t, a, 3, 60000, 1000 + (uint64_t)i) == 0);
    CHECK(rl_table_hit(t, a, 3, 60000, 2000) == 59000); /* window began at 1000 */
    CHECK(rl_table_hit(t, b, 3, 60000, 2000) == 0);     /* another client */
    CHECK(rl_table_hit(t, a, 3, 60000, 60999) == 1);
    CHECK(rl_table_hit(t, a, 3, 60000, 61000) == 0); /* a new window */
    uint64_t ev, re;
    rl_table_stats(t, &ev, &re);
    CHECK(ev == 0 && re == 2);
    rl_table_free(t);
}

static void test_keys_differ(void)
{
    rl_table *t = rl_table_new(64);
    uint64_t h = rl_key_start(t);
    CHECK(rl_key_mix(rl_key_mix(h, "ab", 2), "c", 1) != rl_key_mix(rl_key_mix(h, "a", 1), "bc", 2));
    CHECK(rl_key_mix_u64(h, 1) != rl_key_mix_u64(h, 2));
    rl_table_free(t);
}

/* A flood of distinct keys stays within the table and pushes out the least
 * recently counted. */
static void test_eviction(void)
{
    rl_table *t = rl_table_new(64);
    CHECK(rl_table_capacity(t) == 64);
    uint64_t first = key_of(t, "first");
    CHECK(rl_table_hit(t, first, 1, 60000, 5) == 0);
    CHECK(rl_table_hit(t, first, 1, 60000, 6) > 0);
    char buf[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, sizeof buf, "k%d", i);
        CHECK(rl_table_hit(t, key_of(t, buf), 1, 60000, 10) == 0);
    }
    uint64_t ev, re;
    rl_table_stats(t, &ev, &re);
    CHECK(ev >= 10000 - 64);
    CHECK(rl_table_hit(t, first, 1, 60000, 11) == 0); /* forgotten: a new window */
    rl_table_free(t);
}

typedef struct {
    rl_table *t;
    uint64_t key;
    int allowed;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    for (int i = 0; i < 20000; i++)
        a->allowed += rl_table_hit(a->t, a->key, 50000, 60000, 100) == 0;
    return NULL;
}

static void test_threads(void)
{
    rl_table *t = rl_table_new(1000);
    uint64_t k = key_of(t, "shared");
    hammer_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (hammer_arg){t, k, 0};
        CHECK(pthread_create(&th[i], NULL, hammer, &args[i]) == 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += args[i].allowed;
    }
    CHECK(total == 50000); /* 80000 tries, exactly the rate let through */
    rl_table_free(t);
}

/* Shared counting: one update on its way per entry, answers folded in,
 * the window aligned to Redis's, failures keeping the count for later,
 * answers for an older window ignored. */
static void test_shared(void)
{
    rl_table *t = rl_table_new(64);
    uint64_t a = key_of(t, "10.0.0.1");
    rl_sync s1, s2, next;
    int need;
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1000, &s1, &need) == 0 && need == 1);
    CHECK(s1.delta == 1 && s1.window_ms == 10000);
    /* two more while the first update is on its way: no second update */
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1001, &s2, &need) == 0 && need == 0);
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1002, &s2, &need) == 0 && need == 0);
    /* Redis: 3 in the cluster now (another server counted 2), 9000 ms left:
     * the two counted meanwhile go next */
    CHECK(rl_table_synced(t, &s1, 1, 3, 9000, 1100, &next) == 1 && next.delta == 2);
    /* remote 3 + 2 counted here = 5: the limit */
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1200, &s2, &need) == 8900 && need == 0);
    /* that update fails: the two stay counted here and go with the next one */
    CHECK(rl_table_synced(t, &next, 0, 0, 0, 1300, &s2) == 0);
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1400, &s2, &need) == 8700 && need == 1);
    CHECK(s2.delta == 2);
    /* Redis's total went down (its key expired meanwhile): remote = 2 */
    CHECK(rl_table_synced(t, &s2, 1, 2, 10000, 1500, &next) == 0);
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 1600, &s2, &need) == 0 && need == 1);
    /* a new window before the answer: the answer is ignored */
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 11500, &next, &need) == 0 && need == 1);
    CHECK(next.gen != s2.gen && next.delta == 1);
    CHECK(rl_table_synced(t, &s2, 1, 100, 5000, 11600, &s1) == 0);
    CHECK(rl_table_hit_shared(t, a, 5, 10000, 11700, &s1, &need) == 0 && need == 0);
    rl_table_free(t);
}

int main(void)
{
    test_shared();
    test_window();
    test_keys_differ();
    test_eviction();
    test_threads();
    UT_DONE();
}
