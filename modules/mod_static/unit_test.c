/* unit_test.c - mod_static's path and range code without a server.
 *
 * The integration tests can only reach path.c through the core, which
 * already refuses ".." and encoded slashes; but another module's MAP hook can
 * hand any "rest" to mod_static (rp_req_set_route), so the defences here
 * must hold on their own.  Built as build/test-bin/mod_static_unit and run
 * by tests/integration/test_static.py.  Exit status 0 = all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tests/unit/ut.h"
#include "static_int.h"

static void put(const char *dir, const char *name, const char *content)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(content, f);
    fclose(f);
}

static void link_at(const char *dir, const char *name, const char *to)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (symlink(to, path) != 0) {
        perror(path);
        exit(2);
    }
}

/* tmp/secret, tmp/out/s2, tmp/root/{a.txt, sub/b.txt, links, fifo}. */
static void make_tree(const char *tmp, char *root, size_t n)
{
    char p[8192];
    snprintf(root, n, "%s/root", tmp);
    snprintf(p, sizeof p, "%s/out", tmp);
    if (mkdir(root, 0755) || mkdir(p, 0755))
        exit(2);
    put(tmp, "secret", "SECRET");
    put(p, "s2", "SECRET2");
    put(root, "a.txt", "AAA");
    snprintf(p, sizeof p, "%s/sub", root);
    if (mkdir(p, 0755))
        exit(2);
    put(p, "b.txt", "BBB");
    snprintf(p, sizeof p, "%s/secret", tmp);
    link_at(root, "evil_abs", p);
    link_at(root, "evil_rel", "../secret");
    link_at(root, "evil_dir", "../out");
    link_at(root, "evil_root", "/");
    snprintf(p, sizeof p, "%s/a.txt", root);
    link_at(root, "good_abs", p);
    link_at(root, "good_rel", "sub/../a.txt");
    snprintf(p, sizeof p, "%s/fifo", root);
    if (mkfifo(p, 0644))
        exit(2);
}

static void test_rest_is_safe(void)
{
    static const char *bad[] = {"..", "../x", "a/..", "a/../b", "a/b/../../..", "/..", NULL};
    static const char *good[] = {"", "a", "a..b", "..a", "a..", "a/..b/c", "...", "a/.../b", ".x",
                                 NULL};
    for (int i = 0; bad[i]; i++)
        CHECK_MSG(!st_rest_is_safe(bad[i]), "rest '%s' accepted", bad[i]);
    for (int i = 0; good[i]; i++)
        CHECK_MSG(st_rest_is_safe(good[i]), "rest '%s' refused", good[i]);
}

static void expect(const st_target *t, rp_pool *p, const char *rel, int want, const char *mode)
{
    struct stat st;
    const char *used = NULL;
    int got = st_lookup(t, rel, p, &st, &used);
    CHECK_MSG(got == want, "[%s] lookup '%s': %d, want %d", mode, rel, got, want);
}

static void expect_content(const st_target *t, rp_pool *p, const char *rel, const char *want,
                           const char *mode)
{
    struct stat st;
    const char *used = NULL;
    char buf[64] = {0};
    int status = 0;
    if (st_lookup(t, rel, p, &st, &used) != 0) {
        CHECK_MSG(0, "[%s] lookup '%s' failed", mode, rel);
        return;
    }
    int fd = st_open_read(t, used, p, &st, &status);
    CHECK_MSG(fd >= 0, "[%s] open '%s': status %d", mode, rel, status);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK_MSG(n >= 0 && strcmp(buf, want) == 0, "[%s] '%s' read '%s'", mode, rel, buf);
}

static void test_lookup(st_target *t, rp_pool *p, const char *mode)
{
    static const char *outside[] = {"../secret", "sub/../../secret", "evil_abs", "evil_rel",
                                    "evil_dir/s2", "evil_dir", "evil_root/etc/passwd",
                                    "sub/../evil_abs", "nope", "a.txt/x", NULL};
    for (int i = 0; outside[i]; i++)
        expect(t, p, outside[i], 404, mode);
    expect(t, p, "", 0, mode);
    expect(t, p, "sub", 0, mode);
    expect(t, p, "fifo", 0, mode); /* found (O_PATH); the handler refuses it */
    expect_content(t, p, "a.txt", "AAA", mode);
    expect_content(t, p, "sub/b.txt", "BBB", mode);
    expect_content(t, p, "good_abs", "AAA", mode);
    expect_content(t, p, "good_rel", "AAA", mode);
    expect_content(t, p, "sub/../a.txt", "AAA", mode);
    struct stat st;
    int status = 0;
    CHECK_MSG(st_open_read(t, "fifo", p, &st, &status) < 0 && status == 404,
              "[%s] fifo opened for reading", mode);
    CHECK_MSG(st_realpath_inside(t, "evil_dir", p) == NULL, "[%s] realpath escaped", mode);
}

static void test_ranges(void)
{
    static const struct {
        const char *v;
        int64_t size;
        int rc;
        int64_t off, len;
    } c[] = {
        {"bytes=0-9", 100, 206, 0, 10},       {"bytes=10-", 100, 206, 10, 90},
        {"bytes=-10", 100, 206, 90, 10},      {"bytes=-200", 100, 206, 0, 100},
        {"bytes=0-999", 100, 206, 0, 100},    {"bytes=100-", 100, 416, 0, 0},
        {"bytes=-0", 100, 416, 0, 0},         {"bytes=0-1,3-4", 100, 200, 0, 0},
        {"bytes=5-1", 100, 200, 0, 0},        {"items=0-1", 100, 200, 0, 0},
        {"bytes=abc", 100, 200, 0, 0},        {"bytes=0-", 0, 416, 0, 0},
        {"bytes=-5", 0, 416, 0, 0},           {" Bytes = 2-3 ", 100, 206, 2, 2},
        {"bytes=99999999999999999999-", 100, 416, 0, 0},
        {"bytes=0-99999999999999999999", 100, 206, 0, 100},
        {"bytes=1-2x", 100, 200, 0, 0},       {"bytes=-", 100, 200, 0, 0},
        {"bytes=", 100, 200, 0, 0},           {"bytes=99-99", 100, 206, 99, 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t off = -1, len = -1;
        int rc = rp_range_parse(c[i].v, c[i].size, &off, &len);
        CHECK_MSG(rc == c[i].rc && (rc != 206 || (off == c[i].off && len == c[i].len)),
                  "range '%s' size %lld: %d %lld+%lld", c[i].v, (long long)c[i].size, rc,
                  (long long)off, (long long)len);
    }
}

static void cleanup_tree(const char *tmp)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
}

int main(void)
{
    char tmp[] = "/tmp/mod_static_unit.XXXXXX", root[4096];
    if (!mkdtemp(tmp))
        return 2;
    make_tree(tmp, root, sizeof root);
    rp_pool *p = rp_pool_create(NULL);
    st_target t = {0};
    char *real = realpath(root, NULL);
    t.root = real;
    t.root_len = strlen(real);

    test_rest_is_safe();
    test_ranges();
    t.root_fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    test_lookup(&t, p, "openat2");
    close(t.root_fd);
    t.root_fd = -1; /* the realpath fallback on its own */
    test_lookup(&t, p, "realpath");

    rp_pool_destroy(p);
    free(real);
    cleanup_tree(tmp);
    UT_DONE();
}
