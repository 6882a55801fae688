/* The loader against real plugins: success, every refusal, the hint. */
#include "fake.h"
#include "ut.h"

#ifndef UNIT_PLUGIN_DIR
#error UNIT_PLUGIN_DIR must name the directory of the test plugins
#endif

static rp_server *fresh(void)
{
    rp_server *s = rp_server_new();
    const char *e = conf_err(s, "ModuleDir " UNIT_PLUGIN_DIR);
    CHECK_STR(e, NULL);
    return s;
}

static void hint_and_load(void)
{
    rp_server *s = fresh();
    CHECK_STR(conf_err(s, "\n\ngoodthing 1"),
              "test.conf:3: unknown directive 'goodthing'; it is provided by module 'good' "
              "(mod_good.so), which is not loaded: add 'LoadModule good mod_good.so' before "
              "this line");
    /* a plugin the loader would refuse gives no hint */
    CHECK_STR(conf_err(s, "BadMagicThing 1"), "test.conf:1: unknown directive 'BadMagicThing'");
    CHECK_STR(conf_err(s, "NothingAnywhere 1"), "test.conf:1: unknown directive "
                                                "'NothingAnywhere'");

    CHECK_STR(conf_err(s, "LoadModule good mod_good.so\nGoodThing 1"), NULL);
    rp_modrec *m = rp_module_find(s, "good");
    CHECK(m && m->index == 1 && m->handle && m->conf);
    CHECK(m && m->conf && *(int *)m->conf == 1);
    CHECK_HAS(m ? m->file : NULL, "/mod_good.so");
    CHECK(rp_module_find(s, "core") && rp_module_find(s, "core")->index == 0);
    CHECK(rp_module_find(s, "nope") == NULL);

    const char *e = conf_err(s, "LoadModule good " UNIT_PLUGIN_DIR "/mod_good.so");
    CHECK_HAS(e, "test.conf:1: cannot load " UNIT_PLUGIN_DIR "/mod_good.so: module 'good' is "
                 "already loaded from ");
    rp_server_free(s);
}

static void refusals(void)
{
    rp_server *s = fresh();
    const char *dir = UNIT_PLUGIN_DIR;
    CHECK_HAS(conf_err(s, "LoadModule badmagic mod_badmagic.so"),
              rp_psprintf(s->pool,
                          "test.conf:1: %s/mod_badmagic.so is not a rampart plugin: "
                          "its descriptor has magic 0x12345678 instead of 0x52414d50",
                          dir));
    CHECK_STR(conf_err(s, "LoadModule major mod_major.so"),
              rp_psprintf(s->pool,
                          "test.conf:1: %s/mod_major.so was built for ABI 2.%d, this "
                          "server is ABI 1.%d: rebuild it against this server's headers",
                          dir, RP_ABI_MINOR, RP_ABI_MINOR));
    CHECK_HAS(conf_err(s, "LoadModule minor mod_minor.so"),
              rp_psprintf(s->pool,
                          "%s/mod_minor.so was built for ABI 1.5, newer than this "
                          "server's ABI 1.%d",
                          dir, RP_ABI_MINOR));
    CHECK_HAS(conf_err(s, "LoadModule small mod_small.so"),
              rp_psprintf(s->pool,
                          "%s/mod_small.so has a descriptor of 8 bytes, too small "
                          "for ABI 1.0",
                          dir));
    CHECK_STR(conf_err(s, "LoadModule nosym mod_nosym.so"),
              rp_psprintf(s->pool,
                          "test.conf:1: %s/mod_nosym.so does not export "
                          "rp_module_nosym: is it a rampart plugin, and is 'nosym' its name?",
                          dir));
    CHECK_HAS(conf_err(s, "LoadModule misnamed mod_misnamed.so"),
              rp_psprintf(s->pool,
                          "%s/mod_misnamed.so calls itself 'other' in its descriptor, "
                          "not 'misnamed'",
                          dir));
    CHECK_HAS(conf_err(s, "LoadModule gone mod_gone.so"),
              rp_psprintf(s->pool, "cannot load %s/mod_gone.so: No such file or directory", dir));
    CHECK_HAS(conf_err(s, "LoadModule notelf mod_notelf.so"),
              rp_psprintf(s->pool, "cannot load %s/mod_notelf.so: ", dir));
    CHECK(s->mods.n == 1); /* nothing was kept */
    rp_server_free(s);
}

/* rp_modrec_of: by the plugin's own address and the loader's descriptor, for
 * many modules (the table grows), NULL for one that is not loaded. */
static void lookup(void)
{
    rp_server *s = fresh();
    CHECK_STR(conf_err(s, "LoadModule good mod_good.so"), NULL);
    rp_modrec *good = rp_module_find(s, "good");
    CHECK(good && good->self);
    CHECK(good && rp_modrec_of(s, good->self) == good);
    CHECK(good && rp_modrec_of(s, good->desc) == good);
    CHECK(rp_modrec_of(s, &rp_module_core) == s->mods.v[0]);

    enum { N = 40 };
    static rp_module descs[N];
    rp_modrec *recs[N];
    for (int i = 0; i < N; i++) {
        descs[i] = (rp_module){RP_MODULE_HEADER, .name = rp_psprintf(s->pool, "fake%d", i)};
        recs[i] = fake_module(s, &descs[i]);
        rp_modtab_add(s, &descs[i], recs[i]);
    }
    for (int i = 0; i < N; i++)
        CHECK(rp_modrec_of(s, &descs[i]) == recs[i] && recs[i]->index == i + 2);
    CHECK(good && rp_modrec_of(s, good->self) == good);
    static const rp_module stranger = {RP_MODULE_HEADER, .name = "stranger"};
    CHECK(rp_modrec_of(s, &stranger) == NULL);
    CHECK(rp_modrec_of(s, NULL) == NULL);
    rp_server_free(s);
}

int main(void)
{
    hint_and_load();
    refusals();
    lookup();
    UT_DONE();
}
