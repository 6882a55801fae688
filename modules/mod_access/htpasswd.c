/* htpasswd.c - password files for HTTP Basic authentication.
 *
 * Accepted hashes are the ones libxcrypt's crypt_r computes that are still
 * worth having: bcrypt ($2y$, $2b$, $2a$) and SHA-crypt ($5$, $6$).  MD5
 * ($apr1$, $1$), unsalted SHA-1 ({SHA}), DES crypt and plain text refuse to
 * start, naming file:line, because a file that silently never matches is
 * worse than one that does not load.
 *
 * The file is re-read when its inode, size or mtime changes, checked at most
 * once a second by whichever worker thread gets there first; the others
 * carry on with the table they have.  Lookups hold the mutex only while
 * copying one hash out; the expensive crypt_r runs outside it, on the
 * worker thread serving the request.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "access_int.h"

#define MAX_FILE (64u << 20) /* a bigger password file is a mistake */
#define MAX_HASH 255

typedef struct {
    const char *user, *hash;
    int line;
} pwent;

typedef struct {
    char *blob; /* the file's bytes; entries point into it */
    pwent *e;   /* sorted by user */
    size_t n;
} pwtab;

typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

struct acc_pwfile {
    const char *path;
    atomic_llong last_check; /* CLOCK_MONOTONIC second of the last stat */
    pthread_mutex_t lock;    /* guards tab and seen */
    pwtab *tab;
    file_id seen; /* the file as it was when last read (successfully or not) */
};

static const char HINT[] = "re-create the entry with 'htpasswd -B FILE USER' (bcrypt) or "
                           "'openssl passwd -6' (SHA-512 crypt)";

static void pwtab_free(pwtab *t)
{
    if (t) {
        free(t->blob);
        free(t->e);
        free(t);
    }
}

static file_id id_of(const struct stat *st)
{
    file_id id = {st->st_dev, st->st_ino, st->st_size, st->st_mtim};
    return id;
}

static bool id_same(const file_id *a, const file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- hash formats ---------------------------------------------------------- */

static bool b64_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '/'))
            return false;
    }
    return true;
}

/* "$2y$NN$" + 22 salt + 31 hash characters. */
static const char *check_bcrypt(const char *h)
{
    if (strlen(h) != 60 || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$' ||
        !b64_chars(h + 7, 53))
        return "a malformed bcrypt hash (expected $2y$NN$ and 53 characters)";
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return "a bcrypt cost outside 04-31";
    return NULL;
}

/* "$5$[rounds=N$]salt$hash", hash 43 (SHA-256) or 86 (SHA-512) characters. */
static const char *check_shacrypt(const char *h)
{
    const char *p = h + 3;
    if (strncmp(p, "rounds=", 7) == 0) {
        p += 7;
        if (*p < '0' || *p > '9')
            return "a malformed rounds= field";
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p++ != '$')
            return "a malformed rounds= field";
    }
    const char *salt_end = strchr(p, '$');
    if (!salt_end || salt_end - p > 16)
        return "a malformed SHA-crypt hash (salt missing or over 16 characters)";
    size_t want = h[1] == '5' ? 43 : 86;
    if (strlen(salt_end + 1) != want || !b64_chars(salt_end + 1, want))
        return h[1] == '5' ? "a malformed $5$ hash (expected 43 characters after the salt)"
                           : "a malformed $6$ hash (expected 86 characters after the salt)";
    return NULL;
}

/* NULL if crypt_r can check the hash and we accept it; else why not. */
static const char *check_hash(const char *h)
{
    if (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2a$", 4) == 0)
        return check_bcrypt(h);
    if (strncmp(h, "$5$", 3) == 0 || strncmp(h, "$6$", 3) == 0)
        return check_shacrypt(h);
    if (strncmp(h, "$apr1$", 6) == 0)
        return "an Apache MD5 ($apr1$) hash, which is refused as too weak";
    if (strncmp(h, "$1$", 3) == 0)
        return "an MD5-crypt ($1$) hash, which is refused as too weak";
    if (strncmp(h, "{SHA}", 5) == 0)
        return "an unsalted SHA-1 ({SHA}) hash, which is refused as too weak";
    if (h[0] == '$')
        return "a hash format that is not supported (only bcrypt $2y$/$2b$ and SHA-crypt "
               "$5$/$6$ are)";
    if (strlen(h) == 13 && b64_chars(h, 13))
        return "a DES crypt hash, which is refused as too weak";
    return "not a password hash (plain text?), which is refused";
}

/* ---- reading a file ------------------------------------------------------ */

static int cmp_user(const void *a, const void *b)
{
    return strcmp(((const pwent *)a)->user, ((const pwent *)b)->user);
}

/* The whole file into a NUL-terminated buffer; *id describes what was read. */
static char *slurp(const char *path, file_id *id, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot read '%s': %s%s", path, strerror(e),
                 e == ENOENT ? " (create it with 'htpasswd -c -B FILE USER')" : "");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (unsigned long long)st.st_size > MAX_FILE) {
        snprintf(err, errlen, "'%s' is not a regular file of at most 64 MiB", path);
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* shrank while reading: take what is there */
        got += (size_t)k;
    }
    close(fd);
    if (!buf) {
        snprintf(err, errlen, "'%s': out of memory", path);
        return NULL;
    }
    buf[got] = '\0';
    *id = id_of(&st);
    return buf;
}

/* Parse "user:hash" lines; blank lines and '#' comments are skipped, fields
 * after a second ':' ignored.  NULL and "path:line: why" in err on a line
 * we cannot use. */
static pwtab *load(const char *path, file_id *id, char *err, size_t errlen)
{
    pwtab *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (!(t->blob = slurp(path, id, err, errlen))) {
        free(t);
        return NULL;
    }
    size_t cap = 0;
    int lineno = 0;
    for (char *line = t->blob, *next; line && *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            snprintf(err, errlen, "%s:%d: expected user:hash", path, lineno);
            goto bad;
        }
        *colon = '\0';
        char *hash = colon + 1, *more = strchr(hash, ':');
        if (more)
            *more = '\0';
        const char *why = strlen(hash) > MAX_HASH ? "a hash that is too long" : check_hash(hash);
        if (why) {
            snprintf(err, errlen, "%s:%d: user '%.64s' has %s; %s", path, lineno, line, why, HINT);
            goto bad;
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 16;
            pwent *e = realloc(t->e, cap * sizeof *e);
            if (!e) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto bad;
            }
            t->e = e;
        }
        t->e[t->n++] = (pwent){line, hash, lineno};
    }
    if (t->n)
        qsort(t->e, t->n, sizeof *t->e, cmp_user);
    for (size_t i = 1; i < t->n; i++)
        if (strcmp(t->e[i - 1].user, t->e[i].user) == 0) {
            const pwent *a = &t->e[i - 1], *b = &t->e[i];
            snprintf(err, errlen, "%s:%d: user '%.64s' is already on line %d", path,
                     a->line > b->line ? a->line : b->line, a->user,
                     a->line < b->line ? a->line : b->line);
            goto bad;
        }
    return t;
bad:
    pwtab_free(t);
    return NULL;
}

/* ---- configuration time ------------------------------------------------------ */

static void pwfile_cleanup(void *arg)
{
    acc_pwfile *f = arg;
    pwtab_free(f->tab);
    pthread_mutex_destroy(&f->lock);
}

acc_pwfile *acc_pwfile_open(rp_cmd *cmd, const char *path, const char **err)
{
    char msg[1024] = "";
    file_id id;
    pwtab *t = load(path, &id, msg, sizeof msg);
    if (!t) {
        *err = rp_cmd_error(cmd, "%s: %s", rp_cmd_name(cmd), msg);
        return NULL;
    }
    acc_pwfile *f = rp_pcalloc(rp_cmd_pool(cmd), sizeof *f);
    f->path = rp_pstrdup(rp_cmd_pool(cmd), path);
    pthread_mutex_init(&f->lock, NULL);
    f->tab = t;
    f->seen = id;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    atomic_init(&f->last_check, (long long)now.tv_sec);
    rp_pool_cleanup_add(rp_cmd_pool(cmd), pwfile_cleanup, f);
    return f;
}

const char *acc_pwfile_path(const acc_pwfile *f)
{
    return f->path;
}

/* ---- serving time ------------------------------------------------------------- */

/* One thread a second looks at the file; a changed file that no longer
 * loads keeps the previous entries (logged once per change). */
static void maybe_reload(acc_pwfile *f)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long last = atomic_load_explicit(&f->last_check, memory_order_relaxed);
    if ((long long)now.tv_sec <= last ||
        !atomic_compare_exchange_strong(&f->last_check, &last, (long long)now.tv_sec))
        return;
    struct stat st;
    if (stat(f->path, &st) != 0)
        return; /* gone for a moment (an editor's rename): keep what we have */
    file_id id = id_of(&st);
    pthread_mutex_lock(&f->lock);
    bool same = id_same(&id, &f->seen);
    pthread_mutex_unlock(&f->lock);
    if (same)
        return;
    char msg[1024] = "";
    pwtab *t = load(f->path, &id, msg, sizeof msg);
    pthread_mutex_lock(&f->lock);
    pwtab *old = t ? f->tab : NULL;
    if (t)
        f->tab = t;
    f->seen = id;
    pthread_mutex_unlock(&f->lock);
    pwtab_free(old);
    if (t)
        rp_log(&rp_module_access, RP_LOG_NOTICE, "re-read %s: %zu user(s)", f->path, t->n);
    else
        rp_log(&rp_module_access, RP_LOG_ERR, "%s; keeping the previous entries", msg);
}

/* Equal strings in time that depends only on the length of want. */
static bool same_secret(const char *got, const char *want)
{
    size_t n = strlen(want), g = strlen(got);
    volatile unsigned char diff = (unsigned char)(g != n);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < g ? got[i] : 0));
    return diff == 0;
}

size_t acc_crypt_buf_size(void)
{
    return sizeof(struct crypt_data);
}

acc_pw_result acc_pwfile_check(acc_pwfile *f, const char *user, const char *password,
                               void *crypt_buf)
{
    maybe_reload(f);
    /* A stand-in setting for unknown users when the file is empty; with
     * entries, the first one's, so the cost matches the real ones. */
    char hash[MAX_HASH + 1] = "$6$rampart.absent$";
    bool known = false;
    pthread_mutex_lock(&f->lock);
    const pwtab *t = f->tab;
    pwent key = {user, NULL, 0};
    const pwent *e = t->n ? bsearch(&key, t->e, t->n, sizeof *t->e, cmp_user) : NULL;
    if (e || t->n) {
        snprintf(hash, sizeof hash, "%s", e ? e->hash : t->e[0].hash);
        known = e != NULL;
    }
    pthread_mutex_unlock(&f->lock);

    /* crypt_rn is crypt_r with the buffer size passed and NULL on failure;
     * it also escapes the sanitizers' crypt_r interceptor, which cannot
     * find libcrypt when it arrives with a dlopen()ed plugin and jumps to
     * address 0.  crypt_buf was zeroed once when made. */
    const char *out = crypt_rn(password, hash, crypt_buf, (int)sizeof(struct crypt_data));
    if (!out || out[0] == '*')
        return known ? ACC_PW_ERROR : ACC_PW_UNKNOWN_USER;
    bool match = same_secret(out, hash);
    if (!known)
        return ACC_PW_UNKNOWN_USER;
    return match ? ACC_PW_OK : ACC_PW_MISMATCH;
}
