/* The reader: line numbers, continuation, Include, and every error naming
 * file:line. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fake.h"
#include "ut.h"

static char tmpdir[] = "/tmp/rp_unit_conf_XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *read_file_err(rp_server *s, const char *name)
{
    char path[4096];
    const char *err = NULL;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return rp_conf_read_file(s, path, &err) == 0 ? NULL : err;
}

static void messages(void)
{
    rp_server *s = rp_server_new();
    CHECK_STR(conf_err(s, "# comment\n\nFrobnicate 1\n"),
              "test.conf:3: unknown directive 'Frobnicate'");
    CHECK_STR(conf_err(s, "Threads 1 2"), "test.conf:1: Threads takes 1 argument but 2 were given "
                                          "(usage: Threads N: worker threads, 0 = one per CPU)");
    CHECK_HAS(conf_err(s, "Bind"), "test.conf:1: Bind takes at least 1 argument but 0 were given");
    CHECK_HAS(conf_err(s, "LoadModule static"), "LoadModule takes 2 arguments but 1 was given");
    CHECK_HAS(conf_err(s, "Threads many"), "test.conf:1: Threads: expected a number");
    CHECK_HAS(conf_err(s, "Threads \"2"), "test.conf:1: missing closing \"");
    /* names are case-insensitive */
    CHECK_STR(conf_err(s, "threads 2\nTHREADS 3"), NULL);
    CHECK(s->core->threads == 3);
    /* continuation: the directive's line is its first line */
    CHECK_STR(conf_err(s, "Bind 127.0.0.1:1 \\\n   127.0.0.1:2\\\n 127.0.0.1:3\nThreads 4"), NULL);
    CHECK_STR(s->core->binds[2], "127.0.0.1:3");
    CHECK(s->core->threads == 4);
    CHECK_STR(conf_err(s, "\nBind 127.0.0.1:1 \\\n  bogus\nThreads 4"),
              "test.conf:2: Bind: expected IPv4:port such as 127.0.0.1:8088, [IPv6]:port such "
              "as [::1]:8088 or host:port such as localhost:8088 (a name that resolves) with a "
              "port from 1 to 65535, got 'bogus'");

    CHECK_STR(conf_err(s, "Threads 1 \\\n\nNope"), "test.conf:3: unknown directive 'Nope'");
    /* CRLF line ends */
    CHECK_STR(conf_err(s, "Threads 5\r\nLog on\r\n"), NULL);
    CHECK(s->core->threads == 5 && s->core->log == 1);
    /* Map with nothing that takes targets */
    CHECK_HAS(conf_err(s, "Map / /srv/www"),
              "test.conf:1: no loaded module accepts 'Map' target '/srv/www'");
    CHECK_HAS(conf_err(s, "Map / /srv/www"), "LoadModule static mod_static.so");
    CHECK_HAS(conf_err(s, "MimeTypes /nonexistent/mime.types"),
              "test.conf:1: MimeTypes: cannot read '/nonexistent/mime.types'");
    CHECK_HAS(conf_err(s, "ModuleDir /nonexistent"), "ModuleDir: '/nonexistent' is not a dir");
    CHECK_HAS(conf_err(s, "MimeMap m4v"), "MimeMap takes at least 2 arguments");
    CHECK_HAS(conf_err(s, "MimeMap m4v video/mp4 mov"), "MimeMap: expected pairs");
    CHECK_HAS(conf_err(s, "LoadModule nope mod_nope_does_not_exist.so"),
              "test.conf:1: cannot load ");
    CHECK_HAS(conf_err(s, "LoadModule nope mod_nope_does_not_exist.so"),
              "mod_nope_does_not_exist.so: No such file or directory");
    rp_server_free(s);
}

static void bind_forms(void)
{
    rp_server *s = rp_server_new();
    CHECK_STR(conf_err(s, "Bind \" [ 2001:db8::1111:2222 ] : 80 \" 0.0.0.0:8088"), NULL);
    CHECK_STR(s->core->binds[0], "[2001:db8::1111:2222]:80");
    CHECK_STR(s->core->binds[1], "0.0.0.0:8088");
    CHECK(s->core->binds[2] == NULL);                /* the first Bind replaced the defaults */
    CHECK_STR(conf_err(s, "Bind [::]:65535"), NULL); /* later ones append */
    CHECK_STR(s->core->binds[2], "[::]:65535");
    CHECK(s->core->binds[3] == NULL);
    const char *bad[] = {"127.0.0.1",    "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
                         "nosuch.invalid:80", "1.2.3:80",    "256.1.1.1:80",    "::1:80",
                         "[::1]80",      "[::1:80",     "[nothex]:80",     "[::1]:",
                         "127.0.0.1:-1", "\"\"",        "[127.0.0.1]:80",  "1.2.3.4:+80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "Bind %s", bad[i]);
        const char *e = conf_err(s, line);
        CHECK_HAS(e, "test.conf:1: Bind: expected IPv4:port");
        if (!e)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
    }
    CHECK(s->core->binds[3] == NULL);
    rp_server_free(s);
}

static void includes(void)
{
    rp_server *s = rp_server_new();
    mkdir(rp_psprintf(s->pool, "%s/conf.d", tmpdir), 0700);
    write_file("conf.d/a.conf", "Threads 7\n");
    write_file("conf.d/b.conf", "\n\nLog on\n");
    write_file("main.conf", "# main\nInclude conf.d/*.conf\nInclude nothing/*.conf\nDaemon off\n");
    CHECK_STR(read_file_err(s, "main.conf"), NULL);
    CHECK(s->core->threads == 7 && s->core->log == 1);

    /* errors inside an included file name that file and its line */
    write_file("conf.d/c.conf", "Log on\nBogus 1\n");
    const char *e = read_file_err(s, "main.conf");
    CHECK_HAS(e, "conf.d/c.conf:2: unknown directive 'Bogus'");
    CHECK(e && !strstr(e, "main.conf")); /* not prefixed twice */
    unlink(rp_psprintf(s->pool, "%s/conf.d/c.conf", tmpdir));

    write_file("missing.conf", "Threads 1\n\nInclude does-not-exist.conf\n");
    e = read_file_err(s, "missing.conf");
    CHECK_HAS(e, "missing.conf:3: Include: cannot open '");
    CHECK_HAS(e, "/does-not-exist.conf': No such file or directory");

    write_file("loop1.conf", "Include loop2.conf\n");
    write_file("loop2.conf", "Threads 1\nInclude loop1.conf\n");
    e = read_file_err(s, "loop1.conf");
    CHECK_HAS(e, "loop2.conf:2: Include loop: '");
    CHECK_HAS(e, "loop1.conf' is already being read");

    write_file("self.conf", "Include self.conf\n");
    CHECK_HAS(read_file_err(s, "self.conf"), "self.conf:1: Include loop");

    /* a chain of 18 distinct files: deeper than the limit of 16 */
    for (int i = 0; i < 18; i++) {
        char name[32], text[64];
        snprintf(name, sizeof(name), "deep%d.conf", i);
        snprintf(text, sizeof(text), "Include deep%d.conf\n", i + 1);
        write_file(name, text);
    }
    write_file("deep18.conf", "Threads 1\n");
    e = read_file_err(s, "deep0.conf");
    CHECK_HAS(e, "deep16.conf:1: Include of '");
    CHECK_HAS(e, "deep17.conf' nests deeper than 16 levels");
    write_file("deep16.conf", "Threads 9\n"); /* exactly 16 levels is fine */
    CHECK_STR(read_file_err(s, "deep0.conf"), NULL);
    CHECK(s->core->threads == 9);

    CHECK_HAS(read_file_err(s, "no-such-main.conf"), "cannot read the configuration file '");

    /* Include from a text resolves against its dir */
    CHECK(rp_conf_read_string(s, "Include ../conf.d/a.conf", "<text>",
                              rp_psprintf(s->pool, "%s/conf.d", tmpdir), &e) == 0);
    rp_server_free(s);
}

/* rp_suggest: the "did you mean" of unknown directives (and of start()). */
static void did_you_mean(void)
{
    CHECK(rp_edit_distance("Threads", "threads") == 0);
    CHECK(rp_edit_distance("mpa", "map") == 1); /* a swap is one edit */
    CHECK(rp_edit_distance("", "abc") == 3);
    CHECK(rp_edit_distance("Thraeds", "Threads") == 1);
    CHECK(rp_edit_distance("ScriptTimout", "ScriptTimeout") == 1);

    const char *cands[] = {"Bind", "Threads", "UseThreads", "Log", "Map", NULL};
    const char *best = NULL;
    for (int i = 0; cands[i]; i++)
        rp_suggest("Thredas", cands[i], &best);
    CHECK_STR(best, "Threads");
    best = NULL;
    for (int i = 0; cands[i]; i++)
        rp_suggest("Frobnicate", cands[i], &best);
    CHECK_STR(best, NULL);
    best = NULL;
    for (int i = 0; cands[i]; i++)
        rp_suggest("X", cands[i], &best); /* one letter is too short to guess from */
    CHECK_STR(best, NULL);

    rp_server *s = rp_server_new();
    CHECK_STR(conf_err(s, "Thraeds 2"), "test.conf:1: unknown directive 'Thraeds'; did you mean "
                                        "'Threads'?");
    CHECK_STR(conf_err(s, "KeepAliveTimout 5"), "test.conf:1: unknown directive "
                                                "'KeepAliveTimout'; did you mean "
                                                "'KeepAliveTimeout'?");
    CHECK_STR(conf_err(s, "Frobnicate 1"), "test.conf:1: unknown directive 'Frobnicate'");
    rp_server_free(s);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    messages();
    bind_forms();
    includes();
    did_you_mean();
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    UT_DONE();
}
