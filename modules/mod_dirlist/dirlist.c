/* dirlist.c - mod_dirlist: listings of mapped directories without index.html.
 *
 *   LoadModule dirlist mod_dirlist.so
 *   DirectoryFunc on | off       (default off: such directories answer 403)
 *
 * mod_static answers a directory without index.html with 403 and the request
 * note "static.dir" (the directory's real path).  Our ERROR hook (the ERROR
 * phase produces the body of an error response, first wins) turns that 403
 * into a 200 listing: first by asking the providers registered through the
 * "dirlist" service (rp_dirlist.h; mod_js's directoryFunc is one), then with
 * the built-in page below when DirectoryFunc is on.
 *
 * The page follows the spec's "Built-in Directory Function": a table with
 * one row per entry (name linked, directories with a trailing '/', last
 * modification time, size as hsize() prints it), a Parent Directory link
 * except at "/", directories first and then names in byte order.  Names are
 * HTML-escaped in text and URL-encoded in links; ".gzipcache" (mod_gzip's
 * cache) is hidden.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rp_dirlist.h"

RP_MODULE_DECLARE(dirlist);
#define SELF (&rp_module_dirlist)

typedef struct dl_conf {
    int on; /* DirectoryFunc */
} dl_conf;

static void *dl_create_conf(rp_pool *p)
{
    return rp_pcalloc(p, sizeof(dl_conf));
}

static const rp_directive dl_directives[] = {
    {"DirectoryFunc", 1, 1, rp_set_flag, offsetof(dl_conf, on),
     "DirectoryFunc on|off: list directories that have no index.html (default off: 403)"},
    RP_DIRECTIVES_END,
};

/* ---- providers (the "dirlist" service) ------------------------------------ */

#define DL_MAX_PROVIDERS 16

typedef struct dl_provider {
    rp_dirlist_provider fn;
    void *arg;
} dl_provider;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dl_provider g_providers[DL_MAX_PROVIDERS];
static size_t g_nproviders;

static int dl_add_provider(rp_dirlist_provider fn, void *arg)
{
    int rc = -1;
    if (!fn)
        return -1;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nproviders; i++)
        if (g_providers[i].fn == fn && g_providers[i].arg == arg)
            rc = 0;
    if (rc != 0 && g_nproviders < DL_MAX_PROVIDERS) {
        g_providers[g_nproviders].fn = fn;
        g_providers[g_nproviders].arg = arg;
        g_nproviders++;
        rc = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static int dl_remove_provider(rp_dirlist_provider fn, const void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nproviders; i++) {
        if (g_providers[i].fn == fn && g_providers[i].arg == arg) {
            memmove(&g_providers[i], &g_providers[i + 1],
                    (g_nproviders - i - 1) * sizeof g_providers[0]);
            g_nproviders--;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* ---- the built-in page ---------------------------------------------------- */

/* Styled like the demo site's pages (examples/www/style.css: palette, type,
 * column), self-contained because the listed site may have no stylesheet.
 * The rows keep the spec's shape (name, date, size cells); every name and
 * the path are HTML-escaped, hrefs URL-encoded first. */
static const char page_css[] =
    ":root{--ink:#1d2430;--muted:#5b6575;--accent:#b5482a;--paper:#fbfaf7;--rule:#e4e0d8}"
    "*{box-sizing:border-box}"
    "body{margin:0 auto;max-width:52rem;padding:2rem 1.25rem 3rem;"
    "font:17px/1.6 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--ink);background:var(--paper)}"
    "h1{margin:0 0 1.5rem;font-size:2rem;letter-spacing:.02em;overflow-wrap:anywhere}"
    "a{color:var(--accent);text-underline-offset:.15em}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{padding:.25rem 1.5rem .25rem 0;text-align:left;vertical-align:top}"
    "th{color:var(--muted);font-weight:600;font-size:.9rem;border-bottom:1px solid var(--rule)}"
    "td{border-bottom:1px solid var(--rule)}"
    "td:first-child{overflow-wrap:anywhere}"
    "td+td{white-space:nowrap;color:var(--muted);"
    "font:.92em/1.6 ui-monospace,\"DejaVu Sans Mono\",monospace}"
    "td:last-child,th:last-child{text-align:right;padding-right:0}"
    "tr:hover td{background:#f0ede6}"
    "footer{margin-top:3rem;padding-top:1rem;border-top:1px solid var(--rule);"
    "color:var(--muted);font-size:.9rem}";

/* printf formats: the path (title), the CSS, the path (heading). */
static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Index of %s</title>\n<style>%s</style>\n</head>\n<body>\n"
    "<h1>Index of %s</h1>\n<table>\n"
    "<thead><tr><th>Name</th><th>Last modified</th><th>Size</th></tr></thead>\n<tbody>\n";
/* the number of entries, and "y" or "ies" */
static const char page_tail[] = "</tbody>\n</table>\n<footer>%zu entr%s &mdash; "
                                "rampart</footer>\n</body>\n</html>\n";

typedef struct dl_entry {
    const char *name;
    int is_dir;
    time_t mtime;
    int64_t size;
} dl_entry;

static int entry_cmp(const void *a, const void *b)
{
    const dl_entry *x = a, *y = b;
    if (x->is_dir != y->is_dir)
        return y->is_dir - x->is_dir;
    return strcmp(x->name, y->name);
}

/* A growing output buffer (malloc'd: it becomes the response body). */
typedef struct dl_buf {
    char *data;
    size_t len, cap;
    int failed;
} dl_buf;

static void buf_add(dl_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

/* The spec's hsize(): bytes, or one decimal with k, M, G (1024-based). */
static void hsize(char *out, size_t n, int64_t size)
{
    double s = (double)size;
    if (size >= 1073741824)
        snprintf(out, n, "%.1fG", s / 1073741824.0);
    else if (size >= 1048576)
        snprintf(out, n, "%.1fM", s / 1048576.0);
    else if (size >= 1024)
        snprintf(out, n, "%.1fk", s / 1024.0);
    else
        snprintf(out, n, "%lld", (long long)size);
}

/* Read the entries of d (minus ".", ".." and ".gzipcache").  Returns a
 * malloc'd array, or NULL with *n 0 when empty or out of memory. */
static dl_entry *read_entries(DIR *d, rp_pool *p, size_t *n)
{
    dl_entry *v = NULL;
    size_t cap = 0;
    *n = 0;
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strcmp(nm, ".gzipcache") == 0)
            continue;
        struct stat st;
        /* Follow symlinks like the spec's stat(); a dangling one shows as
         * itself. */
        if (fstatat(dirfd(d), nm, &st, 0) != 0 &&
            fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            dl_entry *nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
            cap = ncap;
        }
        v[*n].name = rp_pstrdup(p, nm);
        v[*n].is_dir = S_ISDIR(st.st_mode);
        v[*n].mtime = st.st_mtime;
        v[*n].size = (int64_t)st.st_size;
        (*n)++;
    }
    return v;
}

static void add_row(dl_buf *b, rp_pool *p, const dl_entry *e)
{
    char when[64], size[32];
    struct tm tm;
    if (localtime_r(&e->mtime, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf(when, sizeof when, "-");
    hsize(size, sizeof size, e->size);
    const char *slash = e->is_dir ? "/" : "";
    buf_add(b, rp_psprintf(p, "<tr><td><a href=\"%s%s\">%s%s</a></td><td>%s</td><td>%s</td></tr>\n",
                           rp_html_escape(p, rp_url_encode(p, e->name)), slash,
                           rp_html_escape(p, e->name), slash, when, size));
}

static int dl_builtin(rp_req *r, const char *fs_path)
{
    rp_pool *p = rp_req_pool(r);
    int fd = open(fs_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        rp_log_req(r, SELF, RP_LOG_INFO, "cannot list %s: %s", fs_path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? 404 : 403;
    }
    size_t n;
    dl_entry *v = read_entries(d, p, &n);
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, entry_cmp);

    const char *path = rp_html_escape(p, rp_req_path(r));
    dl_buf b = {0};
    buf_add(&b, rp_psprintf(p, page_head, path, page_css, path));
    if (strcmp(rp_req_path(r), "/") != 0)
        buf_add(&b, "<tr><td><a href=\"../\">Parent Directory</a></td><td></td><td>-</td></tr>\n");
    for (size_t i = 0; i < n; i++)
        add_row(&b, p, &v[i]);
    buf_add(&b, rp_psprintf(p, page_tail, n, n == 1 ? "y" : "ies"));
    free(v);
    if (b.failed) {
        free(b.data);
        return 500;
    }
    rp_resp_set_status(r, 200);
    rp_resp_header_set(r, "Content-Type", "text/html; charset=utf-8");
    rp_resp_set_length(r, (int64_t)b.len);
    rp_resp_write_ref(r, b.data, b.len, free, b.data);
    return RP_OK;
}

/* ---- the ERROR hook ------------------------------------------------------- */

static int dl_error(rp_req *r)
{
    if (rp_resp_status(r) != 403)
        return RP_DECLINED;
    const char *dir = rp_req_note_get(r, "static.dir");
    if (!dir)
        return RP_DECLINED;
    dl_provider snap[DL_MAX_PROVIDERS];
    pthread_mutex_lock(&g_lock);
    size_t np = g_nproviders;
    memcpy(snap, g_providers, np * sizeof snap[0]);
    pthread_mutex_unlock(&g_lock);
    for (size_t i = 0; i < np; i++) {
        int rc = snap[i].fn(r, dir, snap[i].arg);
        if (rc == RP_OK || rc == RP_ASYNC)
            return rc;
    }
    const dl_conf *c = rp_req_conf(r, SELF);
    if (!c || !c->on)
        return RP_DECLINED;
    return dl_builtin(r, dir) == RP_OK ? RP_OK : RP_DECLINED;
}

static const rp_dirlist_api dl_api = {
    .add_provider = dl_add_provider,
    .remove_provider = dl_remove_provider,
    .builtin = dl_builtin,
};

static void dl_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_hook_add(h, RP_PHASE_ERROR, dl_error, RP_HOOK_MIDDLE, NULL, NULL);
    /* -1 when already published by an earlier configuration: same table. */
    (void)rp_service_register(RP_DIRLIST_SERVICE, RP_DIRLIST_VERSION, &dl_api);
}

RP_MODULE_DECLARE(dirlist) = {
    RP_MODULE_HEADER,
    .name = "dirlist",
    .version = "0.1.0",
    .directives = dl_directives,
    .create_conf = dl_create_conf,
    .register_hooks = dl_register_hooks,
};
