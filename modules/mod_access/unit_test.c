/* unit_test.c - mod_access's rule code (rules.c) without a server.
 *
 * The integration tests reach these functions only through loopback
 * clients, which cannot show an IPv4-mapped client address (the core's
 * IPv6 sockets are IPV6_V6ONLY) or odd networks; here every case is direct.
 * Built as build/test-bin/mod_access_unit and run by
 * tests/integration/test_access.py.  Exit status 0 = all passed.
 */
#include <stdio.h>
#include <string.h>

#include "../../tests/unit/ut.h"
#include "access_int.h"

static rp_cidr net(const char *s)
{
    rp_cidr c;
    const char *why = NULL;
    CHECK_MSG(rp_cidr_parse(s, &c, &why) == 0, "'%s' refused: %s", s, why ? why : "?");
    return c;
}

/* One rule list of single-network rules: "+net" allows, "-net" denies. */
static int decide(const char *scope, const char *const *rules, const char *path, const char *ip)
{
    static acc_addr_rule r[16];
    static rp_cidr c[16];
    acc_addr_list list = {0};
    for (int i = 0; rules[i]; i++) {
        r[i] = (acc_addr_rule){.scope = {scope, strlen(scope)},
                               .allow = rules[i][0] == '+',
                               .ncidr = 1,
                               .cidr = &c[i]};
        c[i] = net(rules[i] + 1);
        if (list.last)
            list.last->next = &r[i];
        else
            list.first = &r[i];
        list.last = &r[i];
    }
    rp_cidr a;
    int have = rp_addr_parse(ip, &a) == 0;
    return acc_addr_decide(&list, path, have ? &a : NULL);
}

static void test_cidr(void)
{
    const char *bad[] = {"",       "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                         "::/129", "1.2.3",       "localhost", "fe80::1%lo",  "/8",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        rp_cidr c;
        const char *why = NULL;
        CHECK_MSG(rp_cidr_parse(bad[i], &c, &why) == -1 && why, "'%s' accepted", bad[i]);
    }
    rp_cidr c = net("10.1.2.3/8");
    CHECK_MSG(c.family == 4 && c.bits == 8 && c.addr[0] == 10 && c.addr[1] == 0,
              "host bits not cleared");
    c = net("::ffff:10.0.0.0/104");
    CHECK_MSG(c.family == 4 && c.bits == 8 && c.addr[0] == 10, "mapped network not made IPv4");
    c = net("::ffff:0:0/95");
    CHECK_MSG(c.family == 6 && c.bits == 95, "a network wider than the mapped block stays IPv6");
    c = net("all");
    CHECK_MSG(c.family == 0, "all");
}

static void test_decide(void)
{
    const char *v4only[] = {"+127.0.0.0/8", "-all", NULL};
    CHECK_MSG(decide("", v4only, "/x", "127.9.9.9") == 1, "v4 in 127/8");
    CHECK_MSG(decide("", v4only, "/x", "::1") == 0, "::1 denied");
    CHECK_MSG(decide("", v4only, "/x", "::ffff:127.0.0.1") == 1, "mapped client is IPv4");
    CHECK_MSG(decide("", v4only, "/x", "128.0.0.1") == 0, "outside 127/8");
    CHECK_MSG(decide("", v4only, "/x", "") == 0, "no address: only 'all' matches");

    const char *first[] = {"-10.0.0.0/8", "+10.1.0.0/16", NULL};
    CHECK_MSG(decide("", first, "/", "10.1.2.3") == 0, "first match wins");
    CHECK_MSG(decide("", first, "/", "11.0.0.1") == -1, "no match: no decision");

    const char *v6[] = {"-2001:db8::/33", NULL};
    CHECK_MSG(decide("", v6, "/", "2001:db8:7fff::1") == 0, "/33 holds :7fff");
    CHECK_MSG(decide("", v6, "/", "2001:db8:8000::1") == -1, "/33 excludes :8000");
    CHECK_MSG(decide("", v6, "/", "32.1.13.184") == -1, "v4 never matches a v6 network");

    const char *scoped[] = {"-all", NULL};
    CHECK_MSG(decide("/admin", scoped, "/admin", "::1") == 0, "scope itself");
    CHECK_MSG(decide("/admin", scoped, "/admin/x", "::1") == 0, "below the scope");
    CHECK_MSG(decide("/admin", scoped, "/administrator", "::1") == -1, "whole segments only");
    CHECK_MSG(decide("/admin", scoped, "/", "::1") == -1, "above the scope");
    CHECK_MSG(decide("", scoped, "/anything", "::1") == 0, "root scope covers all");
}

static void test_hidden(void)
{
    const char *hidden[] = {
        "/.env",         "/.git/config",     "/a/.b", "/a/.b/c", "/.well-known/.x",
        "/.well-knownx", "/x/.well-known/y", "/..x",  NULL};
    const char *shown[] = {
        "/",    "/a.b", "/a/b.", "/.well-known", "/.well-known/", "/.well-known/acme-challenge/t",
        "/a/b", NULL};
    for (int i = 0; hidden[i]; i++)
        CHECK_MSG(acc_path_hidden(hidden[i]), "'%s' not hidden", hidden[i]);
    for (int i = 0; shown[i]; i++)
        CHECK_MSG(!acc_path_hidden(shown[i]), "'%s' hidden", shown[i]);
}

int main(void)
{
    test_cidr();
    test_decide();
    test_hidden();
    UT_DONE();
}
