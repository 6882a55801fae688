/* The Map table: key kinds, ordering with and without MapSort, matching. */
#include "fake.h"
#include "ut.h"

static const rp_module fmod;

/* Takes every Map target, except "refuse" (declines) and "fail" (errors). */
static int fake_map(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                    const char **err)
{
    (void)conf;
    (void)argc;
    if (strcmp(argv[0], "refuse") == 0)
        return RP_DECLINED;
    if (strcmp(argv[0], "fail") == 0) {
        *err = rp_cmd_error(cmd, "Map: fake cannot serve '%s'", key);
        return RP_ERROR;
    }
    *err = rp_route_add(cmd, key, &fmod, rp_pstrdup(rp_cmd_pool(cmd), argv[0]));
    return *err ? RP_ERROR : RP_OK;
}

static const rp_module fmod = {RP_MODULE_HEADER, .name = "fake", .map_target = fake_map};

static rp_server *setup(const char *text)
{
    rp_server *s = rp_server_new();
    fake_module(s, &fmod);
    const char *e = conf_err(s, text);
    if (!e && rp_routes_finalize(s, &e) < 0)
        e = "finalize failed";
    if (e) {
        fprintf(stderr, "setup failed: %s\n", e);
        ut_failures++;
    }
    return s;
}

/* "target|rest" for path, or "-" when nothing matches. */
static const char *match(rp_server *s, const char *path, bool ws)
{
    rp_route_match m;
    if (rp_routes_match(s, path, ws, &m) < 0)
        return "-";
    return rp_psprintf(s->pool, "%s|%s", (char *)m.route->target, m.rest);
}

/* The keys in table order, joined with ' '. */
static const char *order(rp_server *s)
{
    char *out = "";
    for (size_t i = 0; i < s->routes.n; i++)
        out = rp_psprintf(s->pool, "%s%s%s", out, i ? " " : "", ((rp_route *)s->routes.v[i])->key);
    return out;
}

static void kinds_and_errors(void)
{
    rp_server *s = setup("Map /a.html A\nMap /d/ D\nMap ~^/r[0-9]$ R\nMap /g/*.txt G\n"
                         "Map /esc\\*aped E\nMap ws:/chat C\nMap \"~ ^/sp\" SP\n");
    rp_route **r = (rp_route **)s->routes.v;
    CHECK(s->routes.n == 7);
    CHECK(r[0]->kind == RP_ROUTE_EXACT && !r[0]->ws);
    for (size_t i = 0; i < s->routes.n; i++) {
        if (strcmp(r[i]->key, "/g/*.txt") == 0)
            CHECK(r[i]->kind == RP_ROUTE_GLOB);
        if (strcmp(r[i]->key, "/esc\\*aped") == 0)
            CHECK(r[i]->kind == RP_ROUTE_EXACT && !strcmp(r[i]->pattern, "/esc*aped"));
        if (strcmp(r[i]->key, "ws:/chat") == 0)
            CHECK(r[i]->ws && r[i]->kind == RP_ROUTE_EXACT && !strcmp(r[i]->pattern, "/chat"));
        if (strcmp(r[i]->key, "~^/r[0-9]$") == 0)
            CHECK(r[i]->kind == RP_ROUTE_REGEX && !strcmp(r[i]->pattern, "^/r[0-9]$"));
    }
    CHECK_STR(match(s, "/a.html", false), "A|");
    CHECK_STR(match(s, "/a.htm", false), "-");
    CHECK_STR(match(s, "/d/x/y", false), "D|x/y");
    CHECK_STR(match(s, "/d/", false), "D|");
    CHECK_STR(match(s, "/d", false), "-"); /* "/d/" is a directory key only */
    CHECK_STR(match(s, "/dx", false), "-");
    CHECK_STR(match(s, "/r5", false), "R|");
    CHECK_STR(match(s, "/esc*aped", false), "E|");
    CHECK_STR(match(s, "/r55", false), "-");
    CHECK_STR(match(s, "/sp", false), "SP|");
    CHECK_STR(match(s, "/g/a.txt", false), "G|");
    CHECK_STR(match(s, "/g/sub/a.txt", false), "G|"); /* no FNM_PATHNAME */
    CHECK_STR(match(s, "/chat", false), "-");
    CHECK_STR(match(s, "/chat", true), "C|");
    CHECK_STR(match(s, "/a.html", true), "-"); /* websocket requests match ws: keys only */

    CHECK_STR(conf_err(s, "Map /a.html X"),
              "test.conf:1: Map: the key '/a.html' is already mapped (to module 'fake')");
    CHECK_STR(conf_err(s, "Map ws:/a.html X"), NULL); /* a ws: key is another key */
    CHECK_HAS(conf_err(s, "Map relative X"), "test.conf:1: Map: the key 'relative' must start "
                                             "with '/' (a path) or '~'");
    CHECK_HAS(conf_err(s, "Map ~^(/bad X"), "test.conf:1: Map: bad regular expression '^(/bad'");
    CHECK_HAS(conf_err(s, "Map ~ X"), "has no regular expression after '~'");
    CHECK_STR(conf_err(s, "Map /f fail"), "test.conf:1: Map: fake cannot serve '/f'");
    CHECK_STR(conf_err(s, "Map /f refuse"),
              "test.conf:1: no loaded module accepts 'Map' target 'refuse' (asked: fake)");
    rp_server_free(s);
}

static void sorted(void)
{
    rp_server *s = setup("Map / ROOT\nMap /*.x GLOB\nMap /search.html S\nMap ~/.*/f\\.html RE\n"
                         "Map /a/ A\nMap /a/b/ AB\nMap ~/a RE2\nMap /a/b/*.x GLOB2\n"
                         "Map /zz/ Z1\nMap /yy/ Y1\n");
    CHECK_STR(order(s), "/search.html /a/b/ /zz/ /yy/ /a/ / ~/.*/f\\.html ~/a /a/b/*.x /*.x");
    CHECK_STR(match(s, "/search.html", false), "S|");
    CHECK_STR(match(s, "/a/b/c", false), "AB|c");
    CHECK_STR(match(s, "/a/c", false), "A|c");
    CHECK_STR(match(s, "/other", false), "ROOT|other");
    /* exact and prefix before regex before glob, whatever the length */
    CHECK_STR(match(s, "/a/b/f.html", false), "AB|f.html");
    rp_server_free(s);

    s = setup("Map ~/.*/f\\.html RE\nMap /*/f.html GLOB\nMap /x/ X\n");
    CHECK_STR(match(s, "/q/f.html", false), "RE|");
    CHECK_STR(match(s, "/x/f.html", false), "X|f.html");
    rp_server_free(s);
}

static void unsorted(void)
{
    rp_server *s = setup("MapSort off\nMap / ROOT\nMap /*.x GLOB\nMap /search.html S\n"
                         "Map ~/b RE\nMap /a/ A\nMap ~/a RE2\n");
    CHECK_STR(order(s), "/ /search.html /a/ ~/b ~/a /*.x");
    CHECK_STR(match(s, "/search.html", false), "ROOT|search.html"); /* "/" comes first */
    rp_server_free(s);
}

static void dir_without_slash(void)
{
    /* "/d" and "/d/" are different keys, in either order. */
    const char *confs[] = {"Map /d/ PREFIX\nMap /d EXACT\n", "MapSort off\nMap /d/ PREFIX\n"
                                                             "Map /d EXACT\n"};
    for (int i = 0; i < 2; i++) {
        rp_server *s = setup(confs[i]);
        CHECK_STR(match(s, "/d", false), "EXACT|");
        CHECK_STR(match(s, "/d/", false), "PREFIX|");
        CHECK_STR(match(s, "/d/e", false), "PREFIX|e");
        rp_server_free(s);
    }
    rp_server *s = setup("Map /d/ PREFIX\nMap / ROOT\n");
    CHECK_STR(match(s, "/d", false), "ROOT|d"); /* the spec's "/file.html" example */
    CHECK_STR(match(s, "/", false), "ROOT|");
    CHECK_STR(match(s, "", false), "-"); /* the core never asks for an empty path */
    rp_server_free(s);
}

static void ws_routes(void)
{
    rp_server *s = setup("Map ws:/chat/ WSC\nMap /chat/ HTTP\nMap ws:~^/live WSL\n"
                         "Map ws:/any* WSG\n");
    CHECK_STR(match(s, "/chat/room", true), "WSC|room");
    CHECK_STR(match(s, "/chat/room", false), "HTTP|room");
    CHECK_STR(match(s, "/live/1", true), "WSL|");
    CHECK_STR(match(s, "/live/1", false), "-");
    CHECK_STR(match(s, "/anything", true), "WSG|");
    rp_server_free(s);
}

int main(void)
{
    kinds_and_errors();
    sorted();
    unsorted();
    dir_without_slash();
    ws_routes();
    UT_DONE();
}
