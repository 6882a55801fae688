/* Hook ordering: FIRST/MIDDLE/LAST, before/after, stability, cycles, and
 * the filter sort, on hand-made modules. */
#include <stdlib.h>
#include "fake.h"
#include "ut.h"

static const rp_module ma = {RP_MODULE_HEADER, .name = "a"};
static const rp_module mb = {RP_MODULE_HEADER, .name = "b"};
static const rp_module mc = {RP_MODULE_HEADER, .name = "c"};
static const rp_module md = {RP_MODULE_HEADER, .name = "d"};

/* Distinct hook functions; the tests print hooks by module name and number. */
#define HOOK(n)                                                                                    \
    static int h##n(rp_req *r)                                                                     \
    {                                                                                              \
        (void)r;                                                                                   \
        return n;                                                                                  \
    }
HOOK(1)
HOOK(2) HOOK(3) HOOK(4) HOOK(5) HOOK(6)

    static rp_server *s;
static rp_modrec *ra, *rb, *rc, *rd;

static void fresh(void)
{
    if (s)
        rp_server_free(s);
    s = rp_server_new();
    ra = fake_module(s, &ma);
    rb = fake_module(s, &mb);
    rc = fake_module(s, &mc);
    rd = fake_module(s, &md);
}

static void add(rp_modrec *m, rp_phase ph, rp_hook_fn fn, int order, const char *const *before,
                const char *const *after)
{
    struct rp_hooks h = {s, m};
    rp_hook_add(&h, ph, fn, order, before, after);
}

/* "a1 b2 ..." - module name and hook number, in run order. */
static const char *phase(rp_phase ph)
{
    char *out = "";
    for (size_t i = 0; i < s->hooks[ph].n; i++) {
        rp_hook_rec *h = s->hooks[ph].v[i];
        out = rp_psprintf(s->pool, "%s%s%s%d", out, i ? " " : "", h->mod->desc->name, h->fn(NULL));
    }
    return out;
}

static const char *sort_err(void)
{
    const char *err = NULL;
    return rp_hooks_sort(s, &err) == 0 ? NULL : err;
}

static void orders(void)
{
    fresh();
    add(ra, RP_PHASE_HANDLER, h1, RP_HOOK_LAST, NULL, NULL);
    add(rb, RP_PHASE_HANDLER, h2, RP_HOOK_MIDDLE, NULL, NULL);
    add(rc, RP_PHASE_HANDLER, h3, RP_HOOK_FIRST, NULL, NULL);
    add(rd, RP_PHASE_HANDLER, h4, RP_HOOK_MIDDLE, NULL, NULL);
    add(ra, RP_PHASE_HANDLER, h5, RP_HOOK_FIRST, NULL, NULL);
    add(rb, RP_PHASE_HANDLER, h6, 3, NULL, NULL);
    CHECK_STR(sort_err(), NULL);
    /* by order, then registration order */
    CHECK_STR(phase(RP_PHASE_HANDLER), "c3 a5 b2 d4 b6 a1");
    CHECK_STR(phase(RP_PHASE_MAP), "");
}

static void constraints(void)
{
    static const char *const before_a[] = {"a", NULL};
    static const char *const after_c[] = {"c", NULL};
    static const char *const after_nobody[] = {"not-loaded", NULL};
    static const char *const before_self[] = {"b", NULL};

    fresh();
    add(ra, RP_PHASE_MAP, h1, RP_HOOK_MIDDLE, NULL, NULL);
    add(rb, RP_PHASE_MAP, h2, RP_HOOK_MIDDLE, NULL, NULL);
    add(rc, RP_PHASE_MAP, h3, RP_HOOK_MIDDLE, before_a, NULL);
    add(rd, RP_PHASE_MAP, h4, RP_HOOK_MIDDLE, NULL, NULL);
    CHECK_STR(sort_err(), NULL);
    CHECK_STR(phase(RP_PHASE_MAP), "c3 a1 b2 d4"); /* c moves only as far as it must */

    fresh();
    add(ra, RP_PHASE_AUTH, h1, RP_HOOK_FIRST, NULL, after_c);
    add(rb, RP_PHASE_AUTH, h2, RP_HOOK_MIDDLE, NULL, after_nobody);
    add(rc, RP_PHASE_AUTH, h3, RP_HOOK_MIDDLE, NULL, NULL);
    add(rb, RP_PHASE_AUTH, h4, RP_HOOK_LAST, before_self, NULL); /* own module: ignored */
    CHECK_STR(sort_err(), NULL);
    CHECK_STR(phase(RP_PHASE_AUTH), "c3 a1 b2 b4"); /* a is FIRST: c is pulled forward */

    /* a constraint is per phase: c's hook in LOG does not constrain MAP */
    fresh();
    add(rc, RP_PHASE_LOG, h3, RP_HOOK_MIDDLE, before_a, NULL);
    add(ra, RP_PHASE_MAP, h1, RP_HOOK_MIDDLE, NULL, NULL);
    add(rc, RP_PHASE_MAP, h2, RP_HOOK_MIDDLE, NULL, NULL);
    CHECK_STR(sort_err(), NULL);
    CHECK_STR(phase(RP_PHASE_MAP), "a1 c2");
}

static void stability(void)
{
    fresh();
    rp_modrec *mods[4] = {ra, rb, rc, rd};
    rp_hook_fn fns[6] = {h1, h2, h3, h4, h5, h6};
    for (int i = 0; i < 6; i++)
        add(mods[(i * 3) % 4], RP_PHASE_ERROR, fns[i], RP_HOOK_MIDDLE, NULL, NULL);
    CHECK_STR(sort_err(), NULL);
    CHECK_STR(phase(RP_PHASE_ERROR), "a1 d2 c3 b4 a5 d6");
    CHECK_STR(sort_err(), NULL); /* sorting again changes nothing */
    CHECK_STR(phase(RP_PHASE_ERROR), "a1 d2 c3 b4 a5 d6");
}

static void cycles(void)
{
    static const char *const before_b[] = {"b", NULL};
    static const char *const before_c[] = {"c", NULL};
    static const char *const before_a[] = {"a", NULL};
    fresh();
    add(rd, RP_PHASE_HANDLER, h4, RP_HOOK_MIDDLE, NULL, NULL);
    add(ra, RP_PHASE_HANDLER, h1, RP_HOOK_MIDDLE, before_b, NULL);
    add(rb, RP_PHASE_HANDLER, h2, RP_HOOK_MIDDLE, before_c, NULL);
    add(rc, RP_PHASE_HANDLER, h3, RP_HOOK_MIDDLE, before_a, NULL);
    const char *e = sort_err();
    CHECK_HAS(e, "hook order cycle in phase HANDLER: ");
    CHECK(e && (strstr(e, "a -> b -> c -> a") || strstr(e, "b -> c -> a -> b") ||
                strstr(e, "c -> a -> b -> c")));
    CHECK(e && !strstr(e, "d ->"));

    static const char *const after_a[] = {"a", NULL};
    static const char *const after_b[] = {"b", NULL};
    fresh();
    add(ra, RP_PHASE_LOG, h1, RP_HOOK_MIDDLE, NULL, after_b);
    add(rb, RP_PHASE_LOG, h2, RP_HOOK_FIRST, NULL, after_a);
    CHECK_HAS(sort_err(), "hook order cycle in phase LOG: ");
}

static int fsetup(rp_filter *f, rp_req *r)
{
    (void)f;
    (void)r;
    return RP_DECLINED;
}
static int ffn(rp_filter *f, rp_brigade *bb)
{
    (void)f;
    (void)bb;
    return RP_OK;
}

static void filters_and_dump(void)
{
    fresh();
    struct rp_hooks ha = {s, ra}, hb = {s, rb};
    rp_filter_register(&ha, "net", RP_FILTER_NETWORK, RP_HOOK_FIRST, fsetup, ffn);
    rp_filter_register(&hb, "gzip", RP_FILTER_CONTENT, RP_HOOK_MIDDLE, fsetup, ffn);
    rp_filter_register(&ha, "chunk", RP_FILTER_TRANSFER, RP_HOOK_MIDDLE, fsetup, ffn);
    rp_filter_register(&hb, "first", RP_FILTER_CONTENT, RP_HOOK_FIRST, fsetup, ffn);
    rp_filter_register(&ha, "second", RP_FILTER_CONTENT, RP_HOOK_MIDDLE, fsetup, ffn);
    add(rb, RP_PHASE_HANDLER, h2, RP_HOOK_LAST, NULL, NULL);
    CHECK(rp_hooks_module(&hb) == &mb && rp_hooks_server(&hb) == s);
    CHECK_STR(sort_err(), NULL);
    char *names = "";
    for (size_t i = 0; i < s->filters.n; i++)
        names = rp_psprintf(s->pool, "%s %s", names, ((rp_filter_def *)s->filters.v[i])->name);
    CHECK_STR(names, " first gzip second chunk net");

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    rp_hooks_dump(s, out);
    fclose(out);
    CHECK_HAS(buf, "HANDLER (first-wins)\n  1. b (order LAST)\n");
    CHECK_HAS(buf, "MAP (first-wins)\n  (none)\n");
    CHECK_HAS(buf, "AUTH (run-all)");
    CHECK_HAS(buf, "  2. gzip [content] (module b, order MIDDLE)\n");
    CHECK_HAS(buf, "  5. net [network] (module a, order FIRST)\n");
    free(buf);
}

/* The core registers its access-log hook LAST in the LOG phase. */
static void finalize(void)
{
    fresh();
    const char *err = NULL;
    CHECK_STR(conf_err(s, "MimeTypes /dev/null"), NULL);
    CHECK(rp_server_finalize(s, &err) == 0);
    CHECK_STR(err, NULL);
    CHECK(s->hooks[RP_PHASE_LOG].n == 1);
    CHECK(s->hooks[RP_PHASE_LOG].n == 1 &&
          ((rp_hook_rec *)s->hooks[RP_PHASE_LOG].v[0])->fn == rp_access_log_hook);
    rp_server_free(s);
    s = NULL;
}

int main(void)
{
    orders();
    constraints();
    stability();
    cycles();
    filters_and_dump();
    finalize();
    UT_DONE();
}
