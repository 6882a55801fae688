/* gzip.c - mod_gzip: gzip compression of responses, with a .gzipcache/ for
 * files.
 *
 *   LoadModule gzip mod_gzip.so
 *   CompressFiles on | off | ext...     (default off; on = html css js json xml txt text htm)
 *   CompressScripts on | off            (default off)
 *   CompressLevel 1-10                  (default 1; 10 = zlib level 9)
 *   CompressMinSize bytes               (default 1000)
 *
 * The descriptor, the directives and the filter's setup (does it join this
 * response, and how) live here; header parsing is in accept.c, the
 * streaming filter in filter.c, the cache in cache.c.  See README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "gzip_int.h"

static const char *const default_exts[] = {"html", "css", "js", "json", "xml",
                                           "txt", "text", "htm", NULL};

/* ---- configuration ------------------------------------------------------ */

static void *gz_create_conf(rp_pool *p)
{
    gz_conf *c = rp_pcalloc(p, sizeof *c);
    c->exts = default_exts;
    c->level = GZ_LEVEL_DEFAULT;
    c->min_size = GZ_MIN_SIZE_DEFAULT;
    c->warned = gz_warned_create(p);
    return c;
}

static void *gz_create_route_conf(rp_pool *p)
{
    gz_conf *c = rp_pcalloc(p, sizeof *c);
    c->exts = default_exts;
    c->level = GZ_LEVEL_DEFAULT;
    c->min_size = GZ_MIN_SIZE_DEFAULT;
    return c;
}

/* The enclosing scope's settings with those this scope set on top. */
static void *gz_merge_route_conf(rp_pool *p, void *parent, void *child)
{
    const gz_conf *b = child;
    gz_conf *m = rp_palloc(p, sizeof *m);
    *m = *(const gz_conf *)parent;
    if (b->set & GZ_SET_FILES) {
        m->files = b->files;
        m->exts = b->exts;
    }
    if (b->set & GZ_SET_SCRIPTS)
        m->scripts = b->scripts;
    if (b->set & GZ_SET_LEVEL)
        m->level = b->level;
    if (b->set & GZ_SET_MIN_SIZE)
        m->min_size = b->min_size;
    m->set |= b->set;
    return m;
}

static const char *set_files(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    gz_conf *c = conf;
    int on;
    c->set |= GZ_SET_FILES;
    if (argc == 1 && rp_parse_flag(argv[0], &on) == 0) {
        c->files = on;
        c->exts = default_exts;
        return NULL;
    }
    const char **list = rp_pcalloc(rp_cmd_pool(cmd), ((size_t)argc + 1) * sizeof *list);
    for (int i = 0; i < argc; i++) {
        const char *e = argv[i];
        if (*e == '.')
            e++;
        if (!*e || strchr(e, '/') || rp_parse_flag(e, &on) == 0)
            return rp_cmd_error(cmd, "CompressFiles: '%s' is not a file extension (give on, "
                                     "off, or a list of extensions such as: html css js)",
                                argv[i]);
        char *x = rp_pstrdup(rp_cmd_pool(cmd), e);
        for (char *s = x; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s - 'A' + 'a');
        list[i] = x;
    }
    c->files = 1;
    c->exts = list;
    return NULL;
}

static const char *set_level(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    gz_conf *c = conf;
    long v;
    (void)argc;
    if (rp_parse_long(argv[0], &v) != 0 || v < GZ_LEVEL_MIN || v > GZ_LEVEL_MAX)
        return rp_cmd_error(cmd, "CompressLevel: '%s' is not an integer from 1 to 10", argv[0]);
    c->level = v;
    c->set |= GZ_SET_LEVEL;
    return NULL;
}

static const char *set_min_size(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    gz_conf *c = conf;
    size_t v;
    (void)argc;
    if (argv[0][0] == '-' || rp_parse_size(argv[0], &v) != 0)
        return rp_cmd_error(cmd, "CompressMinSize: '%s' is not a size in bytes (e.g. 1000, 4k)",
                            argv[0]);
    c->min_size = v;
    c->set |= GZ_SET_MIN_SIZE;
    return NULL;
}

static const char *set_scripts(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    ((gz_conf *)conf)->set |= GZ_SET_SCRIPTS;
    return rp_set_flag(cmd, conf, argc, argv);
}

static const rp_directive gz_directives[] = {
    {"CompressFiles", 1, -1, set_files, 0,
     "CompressFiles on|off|ext...: gzip files with these extensions (on: html css js json "
     "xml txt text htm; default off)"},
    {"CompressScripts", 1, 1, set_scripts, offsetof(gz_conf, scripts),
     "CompressScripts on|off: gzip script output by default (default off)"},
    {"CompressLevel", 1, 1, set_level, 0, "CompressLevel 1-10: gzip effort, 10 = best (default 1)"},
    {"CompressMinSize", 1, 1, set_min_size, 0,
     "CompressMinSize bytes: smaller bodies are sent as they are (default 1000)"},
    RP_DIRECTIVES_END,
};

/* ---- the setup: does the filter join this response? ---------------------- */

static int ext_listed(const gz_conf *c, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1])
        return 0;
    for (const char *const *e = c->exts; e && *e; e++)
        if (strcasecmp(*e, dot + 1) == 0)
            return 1;
    return 0;
}

/* The handler's say (rp_resp_set_compress): -1 none, 0 off, 1..10 a level,
 * RP_COMPRESS_ON the configured level. */
static long asked_level(const gz_conf *c, rp_req *r)
{
    int v = rp_resp_compress(r);
    return v == RP_COMPRESS_ON ? c->level : v;
}

/* Add "Accept-Encoding" to Vary unless it is there (or Vary is "*"). */
static void add_vary(rp_req *r)
{
    const char *v = rp_resp_header_get(r, "Vary");
    if (!v) {
        rp_resp_header_set(r, "Vary", "Accept-Encoding");
        return;
    }
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        size_t n = strcspn(s, ", \t");
        if ((n == 1 && *s == '*') || (n == 15 && strncasecmp(s, "Accept-Encoding", 15) == 0))
            return;
        s += n;
    }
    rp_resp_header_set(r, "Vary", rp_psprintf(rp_req_pool(r), "%s, Accept-Encoding", v));
}

static int has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *s = list; s && *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(s, tok, tl) == 0)
            return 1;
        s += n;
    }
    return 0;
}

/* A response whose body is the whole file rf. */
static int whole_file(rp_req *r, const rp_file *rf)
{
    const struct stat *st = rp_file_stat(rf);
    return rp_resp_status(r) == 200 && !rp_resp_header_get(r, "Content-Range") &&
           S_ISREG(st->st_mode) && rp_resp_length(r) == st->st_size && rp_file_path(rf);
}

/* Compress on the fly, nothing cached. */
static int stream_plain(rp_filter *f, rp_req *r, long level)
{
    if (!gz_ctx_stream(r, f, level, NULL, NULL))
        return RP_DECLINED;
    gz_set_headers(r, -1);
    return RP_OK;
}

/* c: the route's settings; srv: the module conf (metrics, warnings). */
static int join_file(rp_filter *f, rp_req *r, const gz_conf *c, const gz_conf *srv,
                     const rp_file *rf, long level)
{
    if (level != c->level || !whole_file(r, rf)) {
        /* Not the cacheable whole file (or another level): on the fly. */
        return stream_plain(f, r, level);
    }
    gz_orig o = {.path = rp_file_path(rf), .st = *rp_file_stat(rf), .level = level};
    const char *identity_etag = rp_resp_header_get(r, "ETag");
    rp_file *copy = gz_cache_get(r, &o);
    rp_metric_add(copy ? srv->cache_hits : srv->cache_misses, rp_req_worker(r), 1);
    if (copy) {
        int64_t clen = (int64_t)rp_file_stat(copy)->st_size;
        gz_set_headers(r, clen);
        const char *et = rp_resp_header_get(r, "ETag");
        if (identity_etag && et && rp_etag_listed(rp_req_header(r, "If-None-Match"), et)) {
            /* The client holds this gzip variant already. */
            rp_resp_set_status(r, 304);
            rp_resp_header_unset(r, "Content-Type");
            rp_resp_header_unset(r, "Content-Encoding");
            rp_resp_set_length(r, -1);
            gz_ctx_drop(r, f);
            return RP_OK;
        }
        gz_ctx_cached(r, f, copy, clen);
        return RP_OK;
    }
    gz_tee *tee = gz_tee_begin(r, srv, &o);
    if (!gz_ctx_stream(r, f, level, &o, tee)) {
        gz_tee_abort(tee);
        return RP_DECLINED;
    }
    gz_set_headers(r, -1);
    return RP_OK;
}

static int gz_setup(rp_filter *f, rp_req *r)
{
    const gz_conf *srv = rp_req_conf(r, GZ_SELF), *c = rp_req_route_conf(r, GZ_SELF);
    if (!srv || !c)
        return RP_DECLINED;
    const rp_file *rf = rp_resp_file(r);
    const char *file = rf ? rp_file_path(rf) : NULL;
    long level = asked_level(c, r);
    if (level == 0)
        return RP_DECLINED; /* explicitly off for this response */
    if (level < 0) {
        if (file ? !(c->files && ext_listed(c, file))
                 : !(c->scripts && gz_type_compressible(rp_resp_header_get(r, "Content-Type"))))
            return RP_DECLINED;
        level = c->level;
    }
    int status = rp_resp_status(r);
    if (status < 200 || status == 204)
        return RP_DECLINED;
    const char *ce = rp_resp_header_get(r, "Content-Encoding");
    if (ce && *ce && strcasecmp(ce, "identity") != 0)
        return RP_DECLINED; /* already encoded: its producer owns Vary */
    /* The representation depends on Accept-Encoding from here on, whether
     * or not this particular answer is compressed. */
    add_vary(r);
    if (rp_req_is_head(r) || status == 304 || status == 206 ||
        rp_resp_header_get(r, "Content-Range") ||
        has_token(rp_resp_header_get(r, "Cache-Control"), "no-transform"))
        return RP_DECLINED;
    int64_t len = rp_resp_length(r);
    if (len >= 0 && (uint64_t)len < c->min_size)
        return RP_DECLINED;
    if (!gz_accepts(rp_req_header(r, "Accept-Encoding")))
        return RP_DECLINED;
    if (file)
        return join_file(f, r, c, srv, rf, level);
    if (len < 0 && c->min_size > 0) {
        /* Unknown length: hold up to min_size bytes to find out (filter.c). */
        gz_ctx *x = gz_ctx_stream(r, f, level, NULL, NULL);
        if (!x)
            return RP_DECLINED;
        gz_ctx_defer(x, c->min_size);
        return RP_OK;
    }
    return stream_plain(f, r, level);
}

static void gz_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    rp_filter_register(h, "gzip", RP_FILTER_CONTENT, 0, gz_setup, gz_filter);
}

static int gz_post_config(rp_server *s, void *conf)
{
    gz_conf *c = conf;
    c->cache_hits = rp_metric_counter(s, "rampart_gzip_cache_hits_total",
                                      "Compressed file responses sent from a .gzipcache copy");
    c->cache_misses = rp_metric_counter(s, "rampart_gzip_cache_misses_total",
                                        "Compressed file responses with no .gzipcache copy yet");
    return RP_OK;
}

RP_MODULE_DECLARE(gzip) = {
    RP_MODULE_HEADER,
    .name = "gzip",
    .version = "0.1.0 (zlib " ZLIB_VERSION ")", /* -V shows the library too */
    .create_conf = gz_create_conf,
    .register_hooks = gz_register_hooks,
    .post_config = gz_post_config,
    .route_directives = gz_directives,
    .create_route_conf = gz_create_route_conf,
    .merge_route_conf = gz_merge_route_conf,
};
