/* replay.c - a main() for the fuzz targets where libFuzzer is not there
 * (gcc: the normal and the ASan+UBSan builds of `make test`).
 *
 *   fuzz_x [-m N] [-s SEED] PATH...
 *
 * Feeds every file named (or every regular file of every directory named)
 * to LLVMFuzzerTestOneInput once, then, with -m N, N variants of each made by
 * a small deterministic mutator (bit flips, byte changes, cuts, copies,
 * insertions, splices with another input), so the smoke run reaches more
 * than the seeds.  Prints the number of executions; a crash or sanitizer
 * report fails the run as it would under libFuzzer.  A crash (a failed
 * check aborts; ASan aborts with abort_on_error=1) writes the input that
 * was running to fuzz-replay-crash.bin in the current directory. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT ((size_t)1 << 20)

typedef struct input {
    uint8_t *data;
    size_t len;
    char *name;
} input;

static input *g_in;
static size_t g_n, g_cap;
static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static int add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    if (g_n == g_cap) {
        size_t nc = g_cap ? g_cap * 2 : 64;
        input *ni = realloc(g_in, nc * sizeof *ni);
        if (!ni) {
            free(buf);
            return -1;
        }
        g_in = ni;
        g_cap = nc;
    }
    g_in[g_n].data = buf;
    g_in[g_n].len = n;
    g_in[g_n].name = strdup(path);
    g_n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const input *)a)->name, ((const input *)b)->name);
}

static int add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(path);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t first = g_n;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, l, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_file(p);
        free(p);
    }
    closedir(d);
    qsort(g_in + first, g_n - first, sizeof *g_in, by_name); /* a stable order */
    return rc;
}

/* One mutation of buf[0..*len) in place (cap bytes available). */
static void mutate_once(uint8_t *buf, size_t *len, size_t cap)
{
    size_t n = *len;
    switch (rnd_below(n ? 8 : 1)) {
    case 0: /* insert a random byte */
        if (n < cap) {
            size_t at = rnd_below(n + 1);
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (uint8_t)rnd();
            n++;
        }
        break;
    case 1: /* flip a bit */
        buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
        break;
    case 2: /* an interesting byte */ {
        static const uint8_t special[] = {0, 1, 0x7f, 0x80, 0xff, '\r', '\n', '"', '%', '&',
                                          ';', '=', '-', '\\', ' ', 0xc0, 0xed, 0xf4};
        buf[rnd_below(n)] = special[rnd_below(sizeof special)];
        break;
    }
    case 3: /* cut the tail */
        n = rnd_below(n + 1);
        break;
    case 4: /* erase a range */ {
        size_t at = rnd_below(n), l = 1 + rnd_below(n - at < 16 ? n - at : 16);
        memmove(buf + at, buf + at + l, n - at - l);
        n -= l;
        break;
    }
    case 5: /* duplicate a range */ {
        size_t at = rnd_below(n), l = 1 + rnd_below(n - at < 32 ? n - at : 32);
        if (n + l <= cap) {
            size_t to = rnd_below(n + 1);
            uint8_t tmp[32];
            memcpy(tmp, buf + at, l);
            memmove(buf + to + l, buf + to, n - to);
            memcpy(buf + to, tmp, l);
            n += l;
        }
        break;
    }
    case 6: /* splice in a piece of another input */ {
        const input *o = &g_in[rnd_below(g_n)];
        if (o->len) {
            size_t at = rnd_below(o->len), l = 1 + rnd_below(o->len - at < 64 ? o->len - at : 64);
            size_t to = rnd_below(n + 1);
            if (to + l > cap)
                break;
            memcpy(buf + to, o->data + at, l);
            if (to + l > n)
                n = to + l;
        }
        break;
    }
    default: /* a random byte */
        buf[rnd_below(n)] = (uint8_t)rnd();
        break;
    }
    *len = n;
}

static const uint8_t *volatile g_cur;
static volatile size_t g_cur_len;

static void on_crash(int sig)
{
    static const char msg[] = "replay: crashed; input saved as fuzz-replay-crash.bin\n";
    int fd = open("fuzz-replay-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && g_cur) {
        ssize_t w = write(fd, (const void *)g_cur, g_cur_len);
        (void)w;
        close(fd);
        w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_one(const uint8_t *data, size_t len)
{
    /* Exactly len bytes of heap memory, as libFuzzer passes them, so ASan
     * sees a read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    g_cur = data;
    g_cur_len = len;
    LLVMFuzzerTestOneInput(copy, len);
    g_cur = NULL;
    free(copy);
}

int main(int argc, char **argv)
{
    unsigned long variants = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            variants = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            g_rng = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: %s [-m VARIANTS] [-s SEED] PATH...\n", argv[0]);
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "usage: %s [-m VARIANTS] [-s SEED] PATH...\n", argv[0]);
        return 2;
    }
    for (; i < argc; i++)
        if (add_path(argv[i]) != 0)
            return 2;
    if (g_n == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 2;
    }
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
        signal(sigs[k], on_crash);
    unsigned long runs = 0;
    for (size_t k = 0; k < g_n; k++) {
        run_one(g_in[k].data, g_in[k].len);
        runs++;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf)
        return 2;
    for (unsigned long v = 0; v < variants; v++) {
        const input *in = &g_in[v % g_n];
        size_t len = in->len;
        memcpy(buf, in->data, len);
        for (size_t m = 1 + rnd_below(4); m > 0; m--)
            mutate_once(buf, &len, REPLAY_MAX_INPUT);
        run_one(buf, len);
        runs++;
    }
    printf("replay: %zu inputs, %lu executions\n", g_n, runs);
    for (size_t k = 0; k < g_n; k++) {
        free(g_in[k].data);
        free(g_in[k].name);
    }
    free(g_in);
    free(buf);
    return 0;
}
