/* mime.c - extension to mime type, from the MimeTypes file plus MimeMap.
 *
 * Built once at finalize, then only read (from every worker, without locks):
 * an open-addressing hash table keyed by the lower-cased extension.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "core.h"

#ifndef RP_INSTALL_CONFDIR
#define RP_INSTALL_CONFDIR "/usr/local/etc/rampart"
#endif

typedef struct mime_entry {
    const char *ext; /* lower case; NULL = empty slot */
    const char *type;
} mime_entry;

struct rp_mime_table {
    mime_entry *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
};

/* FNV-1a over the lower-cased bytes, so lookups need no copy. */
static size_t hash_ci(const char *s)
{
    size_t h = 1469598103934665603ull & SIZE_MAX;
    for (; *s; s++)
        h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211ull;
    return h;
}

/* Later pairs replace earlier ones: MimeMap overrides the file. */
static void table_put(rp_pool *p, rp_mime_table *t, const char *ext, const char *type)
{
    size_t i = hash_ci(ext) & t->mask;
    while (t->slots[i].ext && strcasecmp(t->slots[i].ext, ext) != 0)
        i = (i + 1) & t->mask;
    if (!t->slots[i].ext) {
        char *e = rp_pstrdup(p, ext);
        for (char *c = e; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        t->slots[i].ext = e;
    }
    t->slots[i].type = type;
}

static const char *table_get(const rp_mime_table *t, const char *ext)
{
    size_t i = hash_ci(ext) & t->mask;
    for (; t->slots[i].ext; i = (i + 1) & t->mask)
        if (strcasecmp(t->slots[i].ext, ext) == 0)
            return t->slots[i].type;
    return NULL;
}

/* ---- reading the file ------------------------------------------------------ */

/* Pairs collected before the table is sized: ext, type, ext, type... */
static int add_line(rp_server *s, rp_vec *pairs, char **w, int n)
{
    if (n == 3 && strcmp(w[1], "->") == 0) /* the spec's table: "ext" -> "type" */
        w[1] = w[2], n = 2;
    if (n == 2 && !strchr(w[0], '/') && strchr(w[1], '/')) {
        rp_vec_push(s->pool, pairs, w[0] + (w[0][0] == '.'));
        rp_vec_push(s->pool, pairs, w[1]);
        return 0;
    }
    if (n == 1 && strchr(w[0], '/') && w[0][0] != '/')
        return 0; /* a type with no extension (Debian's /etc/mime.types has many) */
    if (n >= 2 && strchr(w[0], '/')) { /* the Apache layout: type ext ext... */
        for (int i = 1; i < n; i++) {
            rp_vec_push(s->pool, pairs, w[i] + (w[i][0] == '.'));
            rp_vec_push(s->pool, pairs, w[0]);
        }
        return 0;
    }
    return -1;
}

static int read_mime_file(rp_server *s, const char *path, rp_vec *pairs, const char **err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = rp_psprintf(s->pool, "cannot read the mime table %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        char **w;
        const char *e;
        int n = rp_conf_split(s->pool, line, &w, &e);
        lineno++;
        if (n < 0)
            *err = rp_psprintf(s->pool, "%s:%d: %s", path, lineno, e), rc = -1;
        else if (n > 0 && add_line(s, pairs, w, n) < 0)
            *err = rp_psprintf(s->pool,
                               "%s:%d: expected 'extension type', such as "
                               "'html text/html'",
                               path, lineno),
            rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The configured file, or the first default that exists (NULL: none). */
static const char *mime_file(const rp_server *s, char *buf, size_t n)
{
    if (s->core->mime_types)
        return s->core->mime_types;
    snprintf(buf, n, "%s/../conf/mime.types", rp_exe_dir());
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, n, "%s/mime.types", RP_INSTALL_CONFDIR);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

int rp_mime_finalize(rp_server *s, const char **err)
{
    char buf[PATH_MAX + 32];
    rp_vec pairs = {0};
    const char *file = mime_file(s, buf, sizeof(buf));
    if (!file)
        rp_log(NULL, RP_LOG_WARN,
               "no mime table found (looked for %s/../conf/mime.types and "
               "%s/mime.types); only MimeMap types are known",
               rp_exe_dir(), RP_INSTALL_CONFDIR);
    else if (read_mime_file(s, file, &pairs, err) < 0)
        return -1;
    for (char **m = s->core->mime_map; m && m[0] && m[1]; m += 2) {
        rp_vec_push(s->pool, &pairs, m[0]);
        rp_vec_push(s->pool, &pairs, m[1]);
    }
    rp_mime_table *t = rp_pcalloc(s->pool, sizeof(*t));
    size_t slots = 16;
    while (slots < pairs.n) /* pairs.n / 2 entries: load stays under one half */
        slots *= 2;
    t->slots = rp_pcalloc(s->pool, slots * sizeof(*t->slots));
    t->mask = slots - 1;
    for (size_t i = 0; i + 1 < pairs.n; i += 2)
        table_put(s->pool, t, pairs.v[i], pairs.v[i + 1]);
    s->mime = t;
    return 0;
}

/* The extension is what follows the last '.' of the last path segment; a
 * string with neither '.' nor '/' is taken as a bare extension. */
RP_API const char *rp_mime_type(const rp_server *s, const char *name_or_ext)
{
    if (!s || !s->mime || !name_or_ext)
        return NULL;
    const char *ext = name_or_ext;
    const char *slash = strrchr(name_or_ext, '/');
    const char *dot = strrchr(name_or_ext, '.');
    if (slash || dot) {
        if (!dot || (slash && dot < slash))
            return NULL;
        ext = dot + 1;
    }
    return *ext ? table_get(s->mime, ext) : NULL;
}
