/* Generic setters and parse helpers: good values, bad values, messages. */
#include <stddef.h>
#include <stdint.h>
#include "fake.h"
#include "ut.h"

typedef struct tconf {
    char *str;
    int flag;
    long num;
    size_t size;
    double secs;
    char *path;
    char **list;
} tconf;

static void *tcreate(rp_pool *p)
{
    tconf *c = rp_pcalloc(p, sizeof(*c));
    c->flag = -1;
    return c;
}

static const rp_directive tdirs[] = {
    {"TStr", 1, 1, rp_set_string, offsetof(tconf, str), "TStr text"},
    {"TFlag", 1, 1, rp_set_flag, offsetof(tconf, flag), "TFlag on|off"},
    {"TInt", 1, 1, rp_set_int, offsetof(tconf, num), "TInt N"},
    {"TSize", 1, 1, rp_set_size, offsetof(tconf, size), "TSize bytes"},
    {"TSecs", 1, 1, rp_set_seconds, offsetof(tconf, secs), "TSecs seconds"},
    {"TPath", 1, 1, rp_set_path, offsetof(tconf, path), "TPath file"},
    {"TList", 0, -1, rp_set_list, offsetof(tconf, list), "TList words..."},
    RP_DIRECTIVES_END};

static const rp_module tmod = {RP_MODULE_HEADER, .name = "t", .directives = tdirs,
                               .create_conf = tcreate};

static void parse_helpers(void)
{
    int f;
    long l;
    size_t z;
    const char *on[] = {"on", "ON", "true", "Yes", "1"}, *off[] = {"off", "False", "no", "0"};
    for (size_t i = 0; i < 5; i++)
        CHECK(rp_parse_flag(on[i], &f) == 0 && f == 1);
    for (size_t i = 0; i < 4; i++)
        CHECK(rp_parse_flag(off[i], &f) == 0 && f == 0);
    CHECK(rp_parse_flag("2", &f) < 0);
    CHECK(rp_parse_flag("", &f) < 0);
    CHECK(rp_parse_flag("onn", &f) < 0);

    CHECK(rp_parse_long("42", &l) == 0 && l == 42);
    CHECK(rp_parse_long("-7", &l) == 0 && l == -7);
    CHECK(rp_parse_long("", &l) < 0);
    CHECK(rp_parse_long("12x", &l) < 0);
    CHECK(rp_parse_long(" 1", &l) < 0);
    CHECK(rp_parse_long("99999999999999999999999", &l) < 0);

    CHECK(rp_parse_size("0", &z) == 0 && z == 0);
    CHECK(rp_parse_size("512", &z) == 0 && z == 512);
    CHECK(rp_parse_size("64k", &z) == 0 && z == 65536);
    CHECK(rp_parse_size("64K", &z) == 0 && z == 65536);
    CHECK(rp_parse_size("32m", &z) == 0 && z == (size_t)32 << 20);
    CHECK(rp_parse_size("2g", &z) == 0 && z == (size_t)2 << 30);
    CHECK(rp_parse_size("1kb", &z) == 0 && z == 1024);
    CHECK(rp_parse_size("1KiB", &z) == 0 && z == 1024);
    CHECK(rp_parse_size("-1", &z) < 0);
    CHECK(rp_parse_size("+1", &z) < 0);
    CHECK(rp_parse_size("1.5m", &z) < 0);
    CHECK(rp_parse_size("1t", &z) < 0);
    CHECK(rp_parse_size("k", &z) < 0);
    CHECK(rp_parse_size("", &z) < 0);
    CHECK(rp_parse_size("18446744073709551615", &z) == 0 && z == SIZE_MAX);
    CHECK(rp_parse_size("18446744073709551616", &z) < 0);
    CHECK(rp_parse_size("17179869184g", &z) < 0); /* 2^34 GiB = 2^64: overflow */
    CHECK(rp_parse_size("17179869183g", &z) == 0);
}

static void setters(void)
{
    rp_server *s = rp_server_new();
    rp_modrec *m = fake_module(s, &tmod);
    tconf *c = m->conf;

    CHECK_STR(conf_err(s, "TStr \"hello world\"\n"
                          "tflag Yes\n"
                          "TINT -12\n"
                          "TSize 8k\n"
                          "TSecs 2.5\n"
                          "TPath logs/access.log\n"
                          "TList a 'b c' d\n"),
              NULL);
    CHECK_STR(c->str, "hello world");
    CHECK(c->flag == 1);
    CHECK(c->num == -12);
    CHECK(c->size == 8192);
    CHECK(c->secs == 2.5);
    CHECK_STR(c->path, "/etc/rp/logs/access.log");
    CHECK(c->list && c->list[3] == NULL);
    CHECK_STR(c->list ? c->list[1] : NULL, "b c");
    CHECK_STR(conf_err(s, "TPath /abs/file\nTList\n"), NULL);
    CHECK_STR(c->path, "/abs/file");
    CHECK(c->list && c->list[0] == NULL);

    CHECK_STR(conf_err(s, "TFlag maybe"), "test.conf:1: TFlag: expected on or off, got 'maybe'");
    CHECK_STR(conf_err(s, "TInt 1.5"), "test.conf:1: TInt: expected an integer, got '1.5'");
    CHECK_HAS(conf_err(s, "\nTSize 10q"), "test.conf:2: TSize: expected a size in bytes");
    CHECK_HAS(conf_err(s, "TSize 10q"), "got '10q'");
    CHECK_STR(conf_err(s, "TSecs abc"), "test.conf:1: TSecs: expected seconds (a number >= 0), "
                                        "got 'abc'");
    CHECK_HAS(conf_err(s, "TSecs -1"), "expected seconds");
    CHECK_HAS(conf_err(s, "TSecs nan"), "expected seconds");
    CHECK_HAS(conf_err(s, "TSecs inf"), "expected seconds");
    CHECK_HAS(conf_err(s, "TPath ''"), "TPath: expected a path");
    /* a failed setter leaves the old value */
    CHECK(c->num == -12 && c->flag == 1 && c->secs == 2.5);

    /* core directives through the same setters */
    CHECK_STR(conf_err(s, "ConnectTimeout 1.25\nMaxBodySize 1m\nMaxRead 4k\nLog on\n"), NULL);
    CHECK(s->core->connect_timeout == 1.25);
    CHECK(s->core->max_body == 1 << 20);
    CHECK(s->core->max_read == 4096 && s->core->log == 1);
    CHECK_STR(conf_err(s, "ConnectTimeout abc"),
              "test.conf:1: ConnectTimeout: expected seconds (a number >= 0), got 'abc'");
    CHECK_HAS(conf_err(s, "MaxRead 0"), "MaxRead: must be greater than 0");
    CHECK_HAS(conf_err(s, "Threads 5000"), "Threads: expected a number from 0 to 1024");
    CHECK_HAS(conf_err(s, "LogLevel loud"), "LogLevel: expected err, warn, notice, info or debug");
    CHECK_STR(conf_err(s, "LogLevel debug\nThreads 3"), NULL);
    CHECK(s->core->log_level == RP_LOG_DEBUG && s->core->threads == 3);
    CHECK(rp_server_threads(s) == 3);
    CHECK_STR(conf_err(s, "Threads 0"), NULL);
    CHECK(rp_server_threads(s) >= 1);
    CHECK_STR(conf_err(s, "UseThreads off"), NULL);
    CHECK(rp_server_threads(s) == 1);
    CHECK(rp_server_conf(s, &tmod) == c);
    CHECK(rp_server_conf(s, &rp_module_core) == s->core);
    rp_server_free(s);
}

static void defaults(void)
{
    rp_server *s = rp_server_new();
    rp_core_conf *c = s->core;
    CHECK_STR(c->binds[0], "[::1]:8088");
    CHECK_STR(c->binds[1], "127.0.0.1:8088");
    CHECK(c->binds[2] == NULL);
    CHECK(c->threads == 0 && c->max_read == 65536 && c->max_write == 65536);
    CHECK(c->max_header_size == 8192 && c->max_headers == 100 && c->max_uri == 8192);
    CHECK(c->max_body == 32 << 20 && c->map_sort == 1 && c->graceful_timeout == 10);
    CHECK(c->log_level == RP_LOG_NOTICE);
    rp_server_free(s);
}

int main(void)
{
    parse_helpers();
    setters();
    defaults();
    UT_DONE();
}
