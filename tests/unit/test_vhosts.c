/* Virtual hosts and scopes: <Host> name lookup (exact, wildcard, default),
 * route settings merged top level -> host -> <Route>, scope errors. */
#include "fake.h"
#include "ut.h"

static const rp_module fmod;

static int fake_map(rp_cmd *cmd, void *conf, const char *key, int argc, char *const argv[],
                    const char **err)
{
    (void)conf;
    (void)argc;
    *err = rp_route_add(cmd, key, &fmod, rp_pstrdup(rp_cmd_pool(cmd), argv[0]));
    return *err ? RP_ERROR : RP_OK;
}

/* A route setting "Tag word": the innermost scope's words, after the
 * enclosing scope's, so the merge order shows. */
typedef struct tag_conf {
    const char *tags;
} tag_conf;

static void *tag_create(rp_pool *p)
{
    tag_conf *c = rp_pcalloc(p, sizeof *c);
    c->tags = "";
    return c;
}

static void *tag_merge(rp_pool *p, void *parent, void *child)
{
    tag_conf *m = rp_pcalloc(p, sizeof *m);
    m->tags = rp_psprintf(p, "%s%s", ((tag_conf *)parent)->tags, ((tag_conf *)child)->tags);
    return m;
}

static const char *set_tag(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    tag_conf *c = conf;
    c->tags = rp_psprintf(rp_cmd_pool(cmd), "%s%s.", c->tags, argv[0]);
    return NULL;
}

/* "Both" is in both tables: the top level's line sets the module conf, a
 * block's the route conf (as mod_js's ScriptTimeout). */
static const rp_directive tag_directives[] = {{"Tag", 1, 1, set_tag, 0, "Tag word"},
                                              {"Both", 1, 1, set_tag, 0, "Both word"},
                                              RP_DIRECTIVES_END};
static const rp_directive srv_directives[] = {{"ServerOnly", 1, 1, rp_set_string, 0, "x"},
                                              {"Both", 1, 1, set_tag, 0, "Both word"},
                                              RP_DIRECTIVES_END};

static const rp_module fmod = {RP_MODULE_HEADER,
                               .name = "fake",
                               .map_target = fake_map,
                               .directives = srv_directives,
                               .create_conf = tag_create,
                               .route_directives = tag_directives,
                               .create_route_conf = tag_create,
                               .merge_route_conf = tag_merge};

static rp_server *setup(const char *text, const char **err)
{
    rp_server *s = rp_server_new();
    fake_module(s, &fmod);
    const char *e = conf_err(s, text);
    if (!e && rp_routes_finalize(s, &e) < 0 && !e)
        e = "finalize failed";
    *err = e;
    return s;
}

/* The names of the host a Host value selects: its first name, or "top". */
static const char *host_of(rp_server *s, const char *name)
{
    bool known;
    const rp_host *h = rp_host_lookup(s, name, strlen(name), &known);
    return h->names ? h->names[0] : "top";
}

/* The Tag settings a path gets in host h. */
static const char *tags_at(rp_server *s, const rp_host *h, const char *path)
{
    const rp_scope *sc = &h->scope;
    for (size_t i = 0; i < h->blocks.n; i++) {
        const rp_route *r = h->blocks.v[i];
        size_t n = strlen(r->pattern);
        if (r->kind == RP_ROUTE_PREFIX ? strncmp(path, r->pattern, n) == 0
                                       : strcmp(path, r->pattern) == 0) {
            sc = r->target;
            break;
        }
    }
    (void)s;
    return ((tag_conf *)sc->merged[1])->tags;
}

static void lookup(void)
{
    const char *e;
    rp_server *s = setup("Map / TOP\n<Host a.example www.a.example>\nMap / A\n</Host>\n"
                         "<Host *.example>\nMap / W\n</Host>\n<Host *.b.example>\nMap / B\n"
                         "</Host>\n",
                         &e);
    CHECK(e == NULL);
    CHECK_STR(host_of(s, "a.example"), "a.example");
    CHECK_STR(host_of(s, "WWW.A.Example."), "a.example");
    CHECK_STR(host_of(s, "x.example"), "*.example");
    CHECK_STR(host_of(s, "x.b.example"), "*.b.example"); /* longest suffix first */
    CHECK_STR(host_of(s, "b.example"), "*.example");
    CHECK_STR(host_of(s, "example"), "top");
    CHECK_STR(host_of(s, ""), "top");
    rp_route_match m;
    const rp_host *a = rp_host_lookup(s, "a.example", 9, &(bool){0});
    CHECK(rp_host_routes_match(a, "/x", false, &m) == 0 &&
          strcmp((char *)m.route->target, "A") == 0);
    CHECK(rp_routes_match(s, "/x", false, &m) == 0 && strcmp((char *)m.route->target, "TOP") == 0);
    rp_server_free(s);

    s = setup("<Host a.example>\n</Host>\n<Host d.example>\nDefault\n</Host>\n", &e);
    CHECK(e == NULL);
    CHECK_STR(host_of(s, "nowhere"), "d.example");
    rp_server_free(s);
}

static void merging(void)
{
    const char *e;
    rp_server *s = setup("Tag top\n<Route /r/>\nTag r\n</Route>\n<Host a.example>\nTag a\n"
                         "<Route /r/>\nTag ar\n</Route>\n<Route /s/>\n</Route>\n</Host>\n"
                         "<Host b.example>\n</Host>\n",
                         &e);
    CHECK(e == NULL);
    const rp_vhosts *vh = s->vh;
    CHECK_STR(tags_at(s, vh->top, "/x"), "top.");
    CHECK_STR(tags_at(s, vh->top, "/r/x"), "top.r.");
    const rp_host *a = vh->hosts.v[1], *b = vh->hosts.v[2];
    CHECK_STR(tags_at(s, a, "/x"), "top.a.");
    CHECK_STR(tags_at(s, a, "/r/x"), "top.a.ar."); /* not the top level's /r/ */
    CHECK_STR(tags_at(s, a, "/s/x"), "top.a.");    /* a block that sets nothing */
    CHECK_STR(tags_at(s, b, "/r/x"), "top.");
    rp_server_free(s);
}

/* A name in both tables: by scope, the module conf or the route conf. */
static void both_tables(void)
{
    const char *e;
    rp_server *s = setup("Both top\n<Host a.example>\nBoth a\n<Route /r/>\nBoth r\n</Route>\n"
                         "</Host>\n<Route /t/>\nBoth t\n</Route>\n",
                         &e);
    CHECK(e == NULL);
    const rp_vhosts *vh = s->vh;
    CHECK_STR(((tag_conf *)rp_server_conf(s, &fmod))->tags, "top.");
    CHECK_STR(tags_at(s, vh->top, "/x"), ""); /* the top level's line went to the module */
    CHECK_STR(tags_at(s, vh->top, "/t/x"), "t.");
    const rp_host *a = vh->hosts.v[1];
    CHECK_STR(tags_at(s, a, "/x"), "a.");
    CHECK_STR(tags_at(s, a, "/r/x"), "a.r.");
    rp_server_free(s);
}

static void errors(void)
{
    const char *e;
    rp_server *s = setup("<Route /a/>\nServerOnly x\n</Route>\n", &e);
    CHECK_STR(e, "test.conf:2: ServerOnly is not allowed inside <Route> (allowed: server)");
    rp_server_free(s);
    s = setup("<Host a.example>\nTag x\n<Route /a/>\nTag y\n", &e);
    CHECK_STR(e, "test.conf:3: <Route> is not closed (missing </Route>)");
    rp_server_free(s);
    s = setup("<Host a.example>\n<Host b.example>\n", &e);
    CHECK_HAS(e, "test.conf:2: <Host> is not allowed inside <Host>");
    rp_server_free(s);
    s = setup("<Host bad/name>\n</Host>\n", &e);
    CHECK_HAS(e, "test.conf:1: <Host>: 'bad/name' is not a host name");
    rp_server_free(s);
    s = setup("<Route /a/>\n</Route>\n<Route /a/>\n", &e);
    CHECK_STR(e, "test.conf:3: <Route /a/> appears twice in the same host");
    rp_server_free(s);
    s = setup("<Frob>\n", &e);
    CHECK_HAS(e, "test.conf:1: unknown block '<Frob>'");
    rp_server_free(s);
}

int main(void)
{
    lookup();
    merging();
    both_tables();
    errors();
    UT_DONE();
}
