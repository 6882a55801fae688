/* directives.c - the core pseudo-module: its settings, directives and hooks. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include "core.h"
#include "listen.h"
#include "runtime.h"

/* The core's conf with bookkeeping the public struct has no room for. */
typedef struct core_priv {
    rp_core_conf pub; /* first: a core_priv * is an rp_core_conf * */
    int bind_seen;    /* the first Bind replaces the default list */
} core_priv;

#define OFF(field) offsetof(rp_core_conf, field)

static void *core_create_conf(rp_pool *p)
{
    core_priv *cp = rp_pcalloc(p, sizeof(*cp));
    rp_core_conf *c = &cp->pub;
    c->binds = rp_pcalloc(p, 3 * sizeof(char *));
    c->binds[0] = rp_pstrdup(p, "[::1]:8088");
    c->binds[1] = rp_pstrdup(p, "127.0.0.1:8088");
    c->max_read = 65536;
    c->max_write = 65536;
    c->max_header_size = 8192;
    c->max_headers = 100;
    c->max_uri = 8192;
    c->max_body = 32u << 20;
    c->map_sort = 1;
    c->log = -1; /* unset: on when AccessLog names a file */
    c->graceful_timeout = 10;
    c->file_cache_valid = 1;
    c->file_cache_entries = 1000;
    c->default_range = 8u << 20;
    /* Safe by default (nginx: 60 s header and body, 75 s keep-alive); -1 =
     * not set, resolved in core_post_config. */
    c->connect_timeout = -1;
    c->keepalive_timeout = -1;
    c->header_timeout = 60;
    c->body_timeout = 60;
    c->send_timeout = 60;
    c->handshake_timeout = -1;
    c->log_level = RP_LOG_NOTICE;
    c->h2_max_streams = 128;
    c->h2_max_header_list = 65536;
    c->h2_max_resets = 200;
    c->h2_idle_timeout = -1;  /* KeepAliveTimeout */
    c->h2_stall_timeout = -1; /* SendTimeout */
    return c;
}

/* ---- Bind ----------------------------------------------------------------- */

static int valid_port(const char *s)
{
    long port;
    if (!*s || strspn(s, "0123456789") != strlen(s) || rp_parse_long(s, &port) < 0)
        return 0;
    return port >= 1 && port <= 65535;
}

/* A host name (letters, digits, '.', '-') as "name:port" becomes the
 * numeric address it resolves to, IPv4 first, when the configuration is
 * read: "localhost:8090" -> "127.0.0.1:8090".  NULL if it is no such name
 * or resolves to nothing. */
static const char *resolve_bind(rp_pool *p, const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || !valid_port(colon + 1))
        return NULL;
    char *host = rp_pstrndup(p, a, (size_t)(colon - a));
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            strlen(host) ||
        strspn(host, "0123456789.") == strlen(host))
        return NULL; /* not a name (a malformed IPv4 address stays an error) */
    static const int families[] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2; i++) {
        struct addrinfo hints = {.ai_family = families[i], .ai_socktype = SOCK_STREAM}, *res;
        if (getaddrinfo(host, NULL, &hints, &res) != 0)
            continue;
        char ip[INET6_ADDRSTRLEN];
        const void *addr = families[i] == AF_INET
                               ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                               : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
        const char *ok = inet_ntop(families[i], addr, ip, sizeof ip);
        freeaddrinfo(res);
        if (ok)
            return rp_psprintf(p, families[i] == AF_INET ? "%s:%s" : "[%s]:%s", ip, colon + 1);
    }
    return NULL;
}

/* "1.2.3.4:80", "[::1]:80" (blanks already removed) or a host name, as
 * the numeric address to listen on; NULL if it is none. */
static const char *check_bind(rp_pool *p, const char *a)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (rp_bind_parse(a, &ss, &len) == 0)
        return a; /* the one parser of the numeric forms (listen.c) */
    return resolve_bind(p, a);
}

/* "file:line" of the directive being applied, kept for errors found later. */
static const char *where(rp_cmd *cmd)
{
    return rp_psprintf(rp_cmd_pool(cmd), "%s:%d", rp_cmd_file(cmd), rp_cmd_line(cmd));
}

static const char *bind_error(rp_cmd *cmd, const char *got)
{
    return rp_cmd_error(cmd,
                        "Bind: expected IPv4:port such as 127.0.0.1:8088, [IPv6]:port "
                        "such as [::1]:8088 or host:port such as localhost:8088 (a name that "
                        "resolves) with a port from 1 to 65535, got '%s'",
                        got);
}

/* Words (quoted or not) are split at blanks and glued back together until
 * they form an address, so blanks inside one are tolerated:
 * "Bind [::1] : 8088 127.0.0.1:8088".  A word "tls" (or "ssl") after an
 * address makes that address speak TLS; it is stored as "tls:addr". */
static const char *set_bind(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    core_priv *cp = conf;
    rp_pool *p = rp_cmd_pool(cmd);
    size_t have = 0, words = 0;
    if (cp->bind_seen)
        while (cp->pub.binds[have])
            have++;
    for (int i = 0; i < argc; i++)
        words += strlen(argv[i]) / 2 + 1;
    char **list = rp_pcalloc(p, (have + words + 1) * sizeof(char *));
    memcpy(list, cp->pub.binds, have * sizeof(char *));
    size_t first_new = have;
    const char *cur = NULL;
    for (int i = 0; i < argc; i++) {
        char *copy = rp_pstrdup(p, argv[i]), *save = NULL;
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
            if (!cur && have > first_new && (!strcasecmp(w, "tls") || !strcasecmp(w, "ssl"))) {
                if (strncmp(list[have - 1], "tls:", 4) != 0)
                    list[have - 1] = rp_psprintf(p, "tls:%s", list[have - 1]);
                cp->pub.tls_at = where(cmd);
                continue;
            }
            cur = cur ? rp_psprintf(p, "%s%s", cur, w) : w;
            const char *addr = check_bind(p, cur);
            if (addr) {
                list[have++] = (char *)addr;
                cur = NULL;
            }
        }
    }
    if (cur)
        return bind_error(cmd, cur);
    if (have == first_new)
        return bind_error(cmd, argv[0]);
    cp->pub.binds = list;
    cp->bind_seen = 1;
    return NULL;
}

/* ---- small custom setters ----------------------------------------------- */

static const char *set_https_redirect(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    rp_core_conf *c = conf;
    int on;
    if (strcasecmp(argv[0], "permanent") == 0 || strcmp(argv[0], "301") == 0)
        c->https_redirect = 301;
    else if (strcasecmp(argv[0], "temporary") == 0 || strcmp(argv[0], "302") == 0)
        c->https_redirect = 302;
    else if (rp_parse_flag(argv[0], &on) == 0)
        c->https_redirect = on ? 301 : 0;
    else
        return rp_cmd_error(cmd, "HttpsRedirect: expected off, permanent (301) or temporary (302), "
                                 "got '%s'", argv[0]);
    return NULL;
}

static const char *set_ssl_min(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    static const char *const ok[] = {"ssl3", "tls1", "tls1.1", "tls1.2", "tls1.3"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcasecmp(argv[0], ok[i]) == 0)
            return rp_set_string(cmd, conf, argc, argv);
    return rp_cmd_error(cmd, "SslMinVersion: expected ssl3, tls1, tls1.1, tls1.2 or tls1.3, got '%s'",
                        argv[0]);
}

/* Protocols h2 h2c http/1.1: which protocols the binds speak.  HTTP/1.1
 * stays the fallback (a client that offers nothing else still gets it), so
 * it must be listed. */
static const char *set_protocols(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    int bits = 0;
    for (int i = 0; i < argc; i++) {
        if (strcasecmp(argv[i], "h2") == 0)
            bits |= RP_PROTO_H2;
        else if (strcasecmp(argv[i], "h2c") == 0)
            bits |= RP_PROTO_H2C;
        else if (strcasecmp(argv[i], "http/1.1") == 0)
            bits |= RP_PROTO_H1;
        else
            return rp_cmd_error(cmd, "Protocols: expected h2, h2c or http/1.1, got '%s'", argv[i]);
    }
    if (!(bits & RP_PROTO_H1))
        return rp_cmd_error(cmd, "Protocols: http/1.1 must be listed (it is the fallback for "
                                 "clients that offer nothing else)");
    ((rp_core_conf *)conf)->protocols = bits;
    return NULL;
}

static const char *set_h2_streams(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) < 0 || n < 1 || n > 100000)
        return rp_cmd_error(cmd, "H2MaxConcurrentStreams: expected a number from 1 to 100000, "
                                 "got '%s'", argv[0]);
    ((rp_core_conf *)conf)->h2_max_streams = n;
    return NULL;
}

static const char *set_h2_resets(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) < 0 || n < 0)
        return rp_cmd_error(cmd, "H2MaxResets: expected a number >= 0 (0 = no limit), got '%s'",
                            argv[0]);
    ((rp_core_conf *)conf)->h2_max_resets = n;
    return NULL;
}

/* An account that does not exist is a configuration error, found by -t. */
static const char *set_user(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    if (!getpwnam(argv[0]))
        return rp_cmd_error(cmd, "User '%s': no such account on this system", argv[0]);
    return rp_set_string(cmd, conf, argc, argv);
}

static const char *set_threads(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) < 0 || n < 0 || n > 1024)
        return rp_cmd_error(cmd,
                            "Threads: expected a number from 0 to 1024 (0 = one per CPU), "
                            "got '%s'",
                            argv[0]);
    ((rp_core_conf *)conf)->threads = n;
    return NULL;
}

/* UseThreads off is the start() option useThreads:false, i.e. one thread. */
static const char *set_use_threads(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    int on;
    if (rp_parse_flag(argv[0], &on) < 0)
        return rp_cmd_error(cmd, "UseThreads: expected on or off, got '%s'", argv[0]);
    if (!on)
        ((rp_core_conf *)conf)->threads = 1;
    return NULL;
}

static const char *set_max_headers(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) < 0 || n < 1)
        return rp_cmd_error(cmd, "MaxHeaders: expected a number >= 1, got '%s'", argv[0]);
    ((rp_core_conf *)conf)->max_headers = n;
    return NULL;
}

static const char *set_file_cache_entries(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    long n;
    if (rp_parse_long(argv[0], &n) < 0 || n < 0 || n > 1000000)
        return rp_cmd_error(cmd, "FileCacheEntries: expected a number from 0 to 1000000, got '%s'",
                            argv[0]);
    ((rp_core_conf *)conf)->file_cache_entries = n;
    return NULL;
}

/* Sizes that must not be zero: a zero read or write cap would stall. */
static const char *set_size_nonzero(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_size(cmd, conf, argc, argv);
    if (!e && *(size_t *)((char *)conf + rp_cmd_offset(cmd)) == 0)
        return rp_cmd_error(cmd, "%s: must be greater than 0", rp_cmd_name(cmd));
    return e;
}

static const char *set_log_level(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    static const char *const names[] = {"err", "warn", "notice", "info", "debug"};
    (void)argc;
    const char *v = argv[0];
    if (strcasecmp(v, "error") == 0)
        v = "err";
    else if (strcasecmp(v, "warning") == 0)
        v = "warn";
    for (long i = 0; i < 5; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            ((rp_core_conf *)conf)->log_level = i;
            return NULL;
        }
    }
    return rp_cmd_error(cmd, "LogLevel: expected err, warn, notice, info or debug, got '%s'",
                        argv[0]);
}

static const char *set_module_dir(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_path(cmd, conf, argc, argv);
    struct stat st;
    const char *dir = ((rp_core_conf *)conf)->module_dir;
    if (!e && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return rp_cmd_error(cmd, "ModuleDir: '%s' is not a directory", dir);
    return e;
}

/* An explicitly named mime table must exist: say so at its line. */
static const char *set_mime_types(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    const char *e = rp_set_path(cmd, conf, argc, argv);
    const char *f = ((rp_core_conf *)conf)->mime_types;
    if (!e && access(f, R_OK) != 0)
        return rp_cmd_error(cmd, "MimeTypes: cannot read '%s'", f);
    return e;
}

/* MimeMap ext type [ext type ...]: appends, so later pairs override. */
static const char *set_mime_map(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_core_conf *c = conf;
    rp_pool *p = rp_cmd_pool(cmd);
    if (argc % 2)
        return rp_cmd_error(cmd,
                            "MimeMap: expected pairs of extension and type, such as "
                            "'MimeMap m4v video/mp4', got %d words",
                            argc);
    size_t have = 0;
    while (c->mime_map && c->mime_map[have])
        have++;
    char **list = rp_pcalloc(p, (have + (size_t)argc + 1) * sizeof(char *));
    if (have)
        memcpy(list, c->mime_map, have * sizeof(char *));
    for (int i = 0; i < argc; i++) {
        if (i % 2 == 1 && !strchr(argv[i], '/'))
            return rp_cmd_error(cmd, "MimeMap: '%s' is not a mime type such as text/html", argv[i]);
        list[have + (size_t)i] = rp_pstrdup(p, argv[i] + (i % 2 == 0 && argv[i][0] == '.'));
    }
    c->mime_map = list;
    return NULL;
}

static const char *set_load_module(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    (void)argc;
    const char *err = NULL;
    if (rp_module_load(rp_cmd_server(cmd), cmd, argv[0], argv[1], &err) < 0)
        return err;
    return NULL;
}

/* ---- Map ------------------------------------------------------------------- */

static const char *map_refused(rp_cmd *cmd, const char *target)
{
    rp_server *s = rp_cmd_server(cmd);
    char *names = NULL;
    for (size_t i = 0; i < s->mods.n; i++) {
        const rp_module *d = ((rp_modrec *)s->mods.v[i])->desc;
        if (d->map_target)
            names = names ? rp_psprintf(s->pool, "%s, %s", names, d->name)
                          : rp_pstrdup(s->pool, d->name);
    }
    if (!names)
        return rp_cmd_error(cmd,
                            "no loaded module accepts 'Map' target '%s' (no module with Map "
                            "targets is loaded; 'LoadModule static mod_static.so' serves "
                            "directories)",
                            target);
    return rp_cmd_error(cmd, "no loaded module accepts 'Map' target '%s' (asked: %s)", target,
                        names);
}

/* The module a "name:..." target names, if one is loaded with Map targets. */
static rp_modrec *named_owner(rp_server *s, const char *target)
{
    size_t n = strspn(target, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (n == 0 || target[n] != ':')
        return NULL;
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (m->desc->map_target && strlen(m->desc->name) == n &&
            strncmp(m->desc->name, target, n) == 0)
            return m;
    }
    return NULL;
}

/* 1: taken, 0: declined, -1: refused with *msg set. */
static int offer(rp_cmd *cmd, rp_modrec *m, int argc, char *const argv[], const char **msg)
{
    const char *err = NULL;
    int rc = m->desc->map_target(cmd, m->conf, argv[0], argc - 1, argv + 1, &err);
    if (rc == RP_OK)
        return 1;
    if (rc == RP_DECLINED)
        return 0;
    *msg = err ? err
               : rp_cmd_error(cmd, "Map: module '%s' refused target '%s'", m->desc->name, argv[1]);
    return -1;
}

/* Offer "Map key target [args]" first to the module a "name:" target names,
 * then to each module in load order. */
static const char *set_map(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    rp_server *s = rp_cmd_server(cmd);
    const char *msg = NULL;
    rp_modrec *first = named_owner(s, argv[1]);
    int rc = first ? offer(cmd, first, argc, argv, &msg) : 0;
    for (size_t i = 0; rc == 0 && i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (m != first && m->desc->map_target)
            rc = offer(cmd, m, argc, argv, &msg);
    }
    return rc == 1 ? NULL : rc < 0 ? msg : map_refused(cmd, argv[1]);
}

/* ---- the table and the descriptor --------------------------------------- */

/* A name given by LogFormat "..." name, or a builtin one; NULL if neither. */
static const rp_logfmt *named_format(rp_cmd *cmd, rp_core_conf *c, const char *name)
{
    for (size_t i = 0; i + 1 < c->log_formats.n; i += 2)
        if (strcmp(c->log_formats.v[i], name) == 0)
            return c->log_formats.v[i + 1];
    for (size_t i = 0; rp_logfmt_builtin[i][0]; i++) {
        const rp_logfmt *f;
        if (strcmp(rp_logfmt_builtin[i][0], name) == 0 &&
            !rp_logfmt_compile(rp_cmd_pool(cmd), rp_logfmt_builtin[i][1], &f))
            return f;
    }
    return NULL;
}

/* Inside <Host>: that host's format only (names are defined at the top). */
static const char *host_log_format(rp_cmd *cmd, rp_core_conf *c, rp_host *h, int argc,
                                   char *const argv[])
{
    const rp_logfmt *f = NULL;
    if (argc != 1)
        return rp_cmd_error(cmd, "LogFormat: inside <Host> give one format or name (define "
                                 "named formats at the top level)");
    if (!strchr(argv[0], '%') && (f = named_format(cmd, c, argv[0]))) {
        h->log_fmt = f;
        return NULL;
    }
    const char *e = rp_logfmt_compile(rp_cmd_pool(cmd), argv[0], &f);
    if (e)
        return rp_cmd_error(cmd, "LogFormat: %s", e);
    h->log_fmt = f;
    return NULL;
}

static const char *set_log_format(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_core_conf *c = conf;
    const rp_logfmt *f = NULL;
    if (rp_cmd_host(cmd)->index > 0)
        return host_log_format(cmd, c, rp_cmd_host(cmd), argc, argv);
    if (argc == 1 && !strchr(argv[0], '%')) {
        if (!(f = named_format(cmd, c, argv[0])))
            return rp_cmd_error(cmd,
                                "LogFormat: no format named '%s' (common, combined, json, or one "
                                "defined earlier with LogFormat \"...\" %s)",
                                argv[0], argv[0]);
        c->log_fmt = f;
        return NULL;
    }
    const char *e = rp_logfmt_compile(rp_cmd_pool(cmd), argv[0], &f);
    if (e)
        return rp_cmd_error(cmd, "LogFormat: %s", e);
    if (argc == 1) {
        c->log_fmt = f;
        return NULL;
    }
    rp_vec_push(rp_cmd_pool(cmd), &c->log_formats, rp_pstrdup(rp_cmd_pool(cmd), argv[1]));
    rp_vec_push(rp_cmd_pool(cmd), &c->log_formats, (void *)f);
    return NULL;
}

static const char *set_default_range(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)argc;
    char *end;
    double mb = strtod(argv[0], &end);
    if (end == argv[0] || *end || !(mb >= 0.01 && mb <= 1000))
        return rp_cmd_error(cmd, "DefaultRangeMBytes: '%s' must be megabytes from 0.01 to 1000",
                            argv[0]);
    ((rp_core_conf *)conf)->default_range = (size_t)(mb * 1048576.0 + 0.5);
    return NULL;
}

static const char *set_trusted_proxies(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_core_conf *c = conf;
    c->trusted = rp_palloc(rp_cmd_pool(cmd), (size_t)argc * sizeof *c->trusted);
    c->ntrusted = (size_t)argc;
    for (int i = 0; i < argc; i++) {
        const char *why = NULL;
        if (rp_cidr_parse(argv[i], &c->trusted[i], &why) != 0)
            return rp_cmd_error(cmd, "TrustedProxies: '%s': %s (e.g. 10.0.0.0/8, ::1)", argv[i],
                                why);
    }
    return NULL;
}

/* TLS settings remember where they were given (where()), so an error found
 * when the certificate is loaded (after the whole conf was read) names the
 * line. */
static const char *set_secure(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_core_conf *c = conf;
    const char *e = rp_set_flag(cmd, conf, argc, argv);
    if (!e && c->secure)
        c->tls_at = where(cmd);
    return e;
}

/* SslCertFile and SslKeyFile build pairs: a line starts a new pair once
 * the last one has both files, so "cert key cert key" is two certificates
 * (RSA + ECDSA) and a repeated line before its partner replaces it. */
static void add_tls_file(rp_cmd *cmd, rp_host *h, bool is_cert, char *path)
{
    rp_pool *p = rp_cmd_pool(cmd);
    rp_tls_pair *last = h->certs.n ? h->certs.v[h->certs.n - 1] : NULL;
    if (!last || (last->cert && last->key)) {
        last = rp_pcalloc(p, sizeof *last);
        rp_vec_push(p, &h->certs, last);
    }
    *(is_cert ? &last->cert : &last->key) = path;
    *(is_cert ? &last->cert_at : &last->key_at) = where(cmd);
}

static const char *set_tls_file(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_core_conf *c = conf;
    rp_host *h = rp_cmd_host(cmd);
    bool is_cert = rp_cmd_offset(cmd) == offsetof(rp_core_conf, ssl_cert);
    if (h->index > 0) {
        add_tls_file(cmd, h, is_cert, rp_cmd_resolve_path(cmd, argv[0]));
        return NULL;
    }
    const char *e = rp_set_path(cmd, conf, argc, argv);
    if (!e) {
        *(is_cert ? &c->cert_at : &c->key_at) = where(cmd);
        add_tls_file(cmd, h, is_cert, is_cert ? c->ssl_cert : c->ssl_key);
    }
    return e;
}

/* SslStaplingFile: the OCSP response of the certificate just named. */
static const char *set_stapling_file(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    (void)argc;
    rp_host *h = rp_cmd_host(cmd);
    rp_tls_pair *last = h->certs.n ? h->certs.v[h->certs.n - 1] : NULL;
    if (!last || !last->cert)
        return rp_cmd_error(cmd, "SslStaplingFile: name the certificate first (it belongs to the "
                                 "SslCertFile before it)");
    if (last->staple)
        return rp_cmd_error(cmd, "SslStaplingFile: the certificate '%s' has one already",
                            last->cert);
    last->staple = rp_cmd_resolve_path(cmd, argv[0]);
    last->staple_at = where(cmd);
    return NULL;
}

static const char *set_access_log(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_host *h = rp_cmd_host(cmd);
    if (h->index > 0) {
        h->access_log = rp_cmd_resolve_path(cmd, argv[0]);
        return NULL;
    }
    return rp_set_path(cmd, conf, argc, argv);
}

/* Log off inside <Host>: none of that host's requests is logged, neither
 * in its own AccessLog nor in the shared one; at the top level, the flag. */
static const char *set_log(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    rp_host *h = rp_cmd_host(cmd);
    int on;
    if (h->index == 0)
        return rp_set_flag(cmd, conf, argc, argv);
    if (rp_parse_flag(argv[0], &on) < 0)
        return rp_cmd_error(cmd, "Log: expected on or off, got '%s'", argv[0]);
    h->log_off = !on;
    return NULL;
}

static const char *set_default_host(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    (void)argc;
    (void)argv;
    rp_cmd_host(cmd)->is_default = true;
    return NULL;
}

static const char *set_strict_sni(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    (void)argc;
    int on;
    if (rp_parse_flag(argv[0], &on) < 0)
        return rp_cmd_error(cmd, "SslStrictSni: expected on or off, got '%s'", argv[0]);
    rp_vhosts_of(rp_cmd_server(cmd))->strict_sni = on;
    return NULL;
}

/* ---- Header: the core's per-route setting --------------------------------- */

typedef enum { HDR_SET, HDR_ADD, HDR_UNSET } hdr_verb;

typedef struct hdr_op {
    hdr_verb verb;
    const char *name, *value;
} hdr_op;

typedef struct core_route_conf {
    rp_vec ops; /* hdr_op *, applied in order */
} core_route_conf;

static void *core_create_route_conf(rp_pool *p)
{
    return rp_pcalloc(p, sizeof(core_route_conf));
}

/* The parent's operations, then the child's: a child's "set" wins. */
static void *core_merge_route_conf(rp_pool *p, void *parent, void *child)
{
    const core_route_conf *a = parent, *b = child;
    core_route_conf *m = rp_pcalloc(p, sizeof *m);
    for (size_t i = 0; i < a->ops.n; i++)
        rp_vec_push(p, &m->ops, a->ops.v[i]);
    for (size_t i = 0; i < b->ops.n; i++)
        rp_vec_push(p, &m->ops, b->ops.v[i]);
    return m;
}

static bool header_token(const char *s)
{
    return *s && strspn(s, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(s);
}

static const char *set_header(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    core_route_conf *c = conf;
    rp_pool *p = rp_cmd_pool(cmd);
    hdr_op *op = rp_pcalloc(p, sizeof *op);
    if (strcasecmp(argv[0], "set") == 0)
        op->verb = HDR_SET;
    else if (strcasecmp(argv[0], "add") == 0)
        op->verb = HDR_ADD;
    else if (strcasecmp(argv[0], "unset") == 0)
        op->verb = HDR_UNSET;
    else
        return rp_cmd_error(cmd, "Header: expected set, add or unset, got '%s'", argv[0]);
    if (argc < 2 || !header_token(argv[1]))
        return rp_cmd_error(cmd, "Header %s: '%s' is not a header name", argv[0],
                            argc < 2 ? "" : argv[1]);
    if ((op->verb == HDR_UNSET) != (argc == 2))
        return rp_cmd_error(cmd, "Header: %s takes %s", argv[0],
                            op->verb == HDR_UNSET ? "a name only" : "a name and a value");
    for (const char *v = argc > 2 ? argv[2] : ""; *v; v++)
        if ((unsigned char)*v < 0x20 && *v != '\t')
            return rp_cmd_error(cmd, "Header: the value may not hold control characters");
    op->name = rp_pstrdup(p, argv[1]);
    op->value = argc > 2 ? rp_pstrdup(p, argv[2]) : NULL;
    rp_vec_push(p, &c->ops, op);
    rp_vhosts_of(rp_cmd_server(cmd))->any_headers = true;
    return NULL;
}

/* Applied when the response starts; never joins the chain. */
static int header_setup(rp_filter *f, rp_req *r)
{
    (void)f;
    const core_route_conf *c = rp_req_route_conf(r, &rp_module_core);
    for (size_t i = 0; c && i < c->ops.n; i++) {
        const hdr_op *op = c->ops.v[i];
        if (op->verb == HDR_SET)
            rp_resp_header_set(r, op->name, op->value);
        else if (op->verb == HDR_ADD)
            rp_resp_header_add(r, op->name, op->value);
        else
            rp_resp_header_unset(r, op->name);
    }
    return RP_DECLINED;
}

static int header_pass(rp_filter *f, rp_brigade *bb)
{
    return rp_filter_pass(f, bb);
}

/* ---- per-host access logs ---------------------------------------------- */

static void close_fd(void *arg)
{
    close((int)(intptr_t)arg);
}

int rp_hosts_open_logs(rp_server *s, const char **err)
{
    rp_vhosts *vh = rp_vhosts_of(s);
    for (size_t i = 1; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        if (!h->access_log || h->log_fd >= 0)
            continue;
        h->log_fd = open(h->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (h->log_fd < 0) {
            *err = rp_psprintf(s->pool, "%s: cannot open the AccessLog '%s' of this <Host>: %s",
                               h->at, h->access_log, strerror(errno));
            return -1;
        }
        rp_pool_cleanup_add(s->pool, close_fd, (void *)(intptr_t)h->log_fd);
        /* as log.c does for the shared logs: User can reopen it after rotation */
        struct passwd *pw = s->core->user && geteuid() == 0 ? getpwnam(s->core->user) : NULL;
        if (pw && fchown(h->log_fd, pw->pw_uid, pw->pw_gid) != 0)
            rp_log(NULL, RP_LOG_WARN, "cannot chown AccessLog '%s': %s", h->access_log,
                   strerror(errno));
    }
    return 0;
}

/* SIGUSR1 after rotation: the same descriptor, a new file (writers never
 * see it closed, as for the shared logs in log.c). */
int rp_hosts_reopen_logs(rp_server *s)
{
    int rc = 0;
    for (size_t i = 1; s->vh && i < s->vh->hosts.n; i++) {
        rp_host *h = s->vh->hosts.v[i];
        if (h->log_fd < 0)
            continue;
        int fd = open(h->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            rp_log(NULL, RP_LOG_ERR, "cannot reopen '%s': %s", h->access_log, strerror(errno));
            rc = -1;
            continue;
        }
        dup2(fd, h->log_fd);
        close(fd);
    }
    return rc;
}

/* Before the core's own log hook: a host with its own AccessLog gets the
 * line there, and the shared log does not. */
static int host_log_hook(rp_req *r)
{
    const rp_host *h = r->host;
    if (r->log_skip || !h || h->log_fd < 0 || h->log_off)
        return RP_OK;
    char line[16384];
    size_t n = rp_access_log_format(r, h->log_fmt ? h->log_fmt : r->server->core->log_fmt, line,
                                    sizeof line);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(h->log_fd, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    r->log_skip = true;
    return RP_OK;
}

/* Where each core directive may be written (RP_SCOPE_*). */
RP_EXPORT int rp_core_directive_scope(const rp_directive *d)
{
    static const char *const host_ok[] = {"Map",       "SslCertFile",     "SslKeyFile", "AccessLog",
                                          "LogFormat", "SslStaplingFile", "Log",        NULL};
    if (d->set == rp_conf_include)
        return RP_SCOPE_ALL;
    if (d->set == set_default_host)
        return RP_SCOPE_HOST;
    for (size_t i = 0; host_ok[i]; i++)
        if (strcmp(d->name, host_ok[i]) == 0)
            return RP_SCOPE_SERVER | RP_SCOPE_HOST;
    return RP_SCOPE_SERVER;
}

static const rp_directive core_directives[] = {
    {"Bind", 1, -1, set_bind, 0, "Bind addr:port...: listen on 127.0.0.1:8088, [::1]:8088, ..."},
    {"Threads", 1, 1, set_threads, 0, "Threads N: worker threads, 0 = one per CPU"},
    {"UseThreads", 1, 1, set_use_threads, 0, "UseThreads on|off: off = one worker thread"},
    {"ConnectTimeout", 1, 1, rp_set_seconds, OFF(connect_timeout),
     "ConnectTimeout seconds: a new connection's first request head must arrive within it, "
     "0 = never (default 60)"},
    {"KeepAliveTimeout", 1, 1, rp_set_seconds, OFF(keepalive_timeout),
     "KeepAliveTimeout seconds: idle time between requests, 0 = ConnectTimeout "
     "(default ConnectTimeout if set, else 75)"},
    {"HeaderTimeout", 1, 1, rp_set_seconds, OFF(header_timeout),
     "HeaderTimeout seconds: a request head must be complete this long after its first byte, "
     "0 = never (default 60)"},
    {"BodyTimeout", 1, 1, rp_set_seconds, OFF(body_timeout),
     "BodyTimeout seconds: longest pause while a request body arrives, 0 = never (default 60)"},
    {"SendTimeout", 1, 1, rp_set_seconds, OFF(send_timeout),
     "SendTimeout seconds: longest time the client may take no byte of a response, "
     "0 = never (default 60)"},
    {"HandshakeTimeout", 1, 1, rp_set_seconds, OFF(handshake_timeout),
     "HandshakeTimeout seconds: a TLS handshake must end within it, 0 = never "
     "(default HeaderTimeout)"},
    {"GracefulTimeout", 1, 1, rp_set_seconds, OFF(graceful_timeout),
     "GracefulTimeout seconds: how long a stop waits for requests in flight"},
    {"FileCacheValid", 1, 1, rp_set_seconds, OFF(file_cache_valid),
     "FileCacheValid seconds: how long an open file, its stat and ETag are reused before the "
     "file is checked again, 0 = no cache (default 1)"},
    {"DefaultRangeMBytes", 1, 1, set_default_range, 0,
     "DefaultRangeMBytes n: an open-ended Range (bytes=N-) of a file gets at most n MB, 0.01 to "
     "1000 (default 8)"},
    {"FileCacheEntries", 1, 1, set_file_cache_entries, 0,
     "FileCacheEntries N: open files remembered per worker thread (default 1000)"},
    {"MaxRead", 1, 1, set_size_nonzero, OFF(max_read), "MaxRead size: bytes read per cycle"},
    {"MaxWrite", 1, 1, set_size_nonzero, OFF(max_write),
     "MaxWrite size: bytes of memory written per cycle (files: one sendfile each)"},
    {"MaxHeaderSize", 1, 1, set_size_nonzero, OFF(max_header_size),
     "MaxHeaderSize size: request line and headers"},
    {"MaxUriLength", 1, 1, set_size_nonzero, OFF(max_uri), "MaxUriLength size: request target"},
    {"MaxBodySize", 1, 1, rp_set_size, OFF(max_body), "MaxBodySize size: request body"},
    {"MaxHeaders", 1, 1, set_max_headers, 0, "MaxHeaders N: header lines per request"},
    {"Log", 1, 1, set_log, OFF(log),
     "Log on|off: access logging; inside <Host>, off leaves that host's requests unlogged"},
    {"AccessLog", 1, 1, set_access_log, OFF(access_log),
     "AccessLog file: instead of stdout; inside <Host>, that host's own log"},
    {"ErrorLog", 1, 1, rp_set_path, OFF(error_log), "ErrorLog file: instead of stderr"},
    {"LogLevel", 1, 1, set_log_level, 0, "LogLevel err|warn|notice|info|debug"},
    {"LogFormat", 1, 2, set_log_format, 0,
     "LogFormat format|name [name]: the access log's line (Apache % directives; common, combined "
     "or json by name), or with a second argument define a name (default combined)"},
    {"RequestId", 1, 1, rp_set_flag, OFF(request_id),
     "RequestId on|off: echo each request's id (its valid X-Request-Id, else a new one) as "
     "X-Request-Id in the response (default off)"},
    {"PidFile", 1, 1, rp_set_path, OFF(pid_file), "PidFile file: where Daemon writes its pid"},
    {"Daemon", 1, 1, rp_set_flag, OFF(daemon), "Daemon on|off: fork and detach"},
    {"LogIpFromHeader", 1, 1, rp_set_string, OFF(log_ip_header),
     "LogIpFromHeader name: behind a proxy in TrustedProxies, the client is the rightmost "
     "address of this header (e.g. X-Forwarded-For) that is no trusted proxy: logged, req.ip, "
     "rate limits, Allow/Deny"},
    {"TrustedProxies", 1, -1, set_trusted_proxies, 0,
     "TrustedProxies address|network...: peers whose LogIpFromHeader header is believed "
     "(default 127.0.0.0/8 ::1)"},
    {"AppendProcTitle", 1, 1, rp_set_flag, OFF(append_proc_title),
     "AppendProcTitle on|off: add the listening addresses to the command line ps shows "
     "(default off)"},
    {"User", 1, 1, set_user, OFF(user), "User name: run as this user after binding"},
    {"MapSort", 1, 1, rp_set_flag, OFF(map_sort), "MapSort on|off: longest Map key first"},
    {"ModuleDir", 1, 1, set_module_dir, OFF(module_dir),
     "ModuleDir dir: where LoadModule finds bare file names"},
    {"MimeTypes", 1, 1, set_mime_types, OFF(mime_types), "MimeTypes file: 'ext type' lines"},
    {"MimeMap", 2, -1, set_mime_map, 0, "MimeMap ext type...: add or change mime types"},
    {"LoadModule", 2, 2, set_load_module, 0, "LoadModule name file: load a plugin"},
    {"Include", 1, -1, rp_conf_include, 0, "Include file-or-glob...: read more directives"},
    {"Map", 2, -1, set_map, 0, "Map /key target [args...]: route a path to a module"},
    {"Secure", 1, 1, set_secure, OFF(secure), "Secure on|off: every Bind speaks TLS (https)"},
    {"SslCertFile", 1, 1, set_tls_file, OFF(ssl_cert),
     "SslCertFile file: PEM certificate chain, leaf first (e.g. fullchain.pem)"},
    {"SslKeyFile", 1, 1, set_tls_file, OFF(ssl_key), "SslKeyFile file: PEM private key"},
    {"SslStaplingFile", 1, 1, set_stapling_file, 0,
     "SslStaplingFile file: a DER OCSP response for the SslCertFile before it, sent to clients "
     "that ask (OCSP stapling); read again on reload (default none)"},
    {"SslStrictSni", 1, 1, set_strict_sni, 0,
     "SslStrictSni on|off: refuse TLS handshakes whose server name is no <Host>'s, instead of "
     "answering with the default host's certificate (default off)"},
    {"Default", 0, 0, set_default_host, 0,
     "Default: inside <Host>, requests for names no host claims go to this one (default: the "
     "top-level settings)"},
    {"HttpsRedirect", 1, 1, set_https_redirect, 0,
     "HttpsRedirect off|permanent|temporary: send plain-HTTP requests to the TLS Bind (301/302)"},
    {"SslMinVersion", 1, 1, set_ssl_min, OFF(ssl_min),
     "SslMinVersion ssl3|tls1|tls1.1|tls1.2|tls1.3: oldest protocol accepted (default tls1.2)"},
    {"Protocols", 1, -1, set_protocols, 0,
     "Protocols h2|h2c|http/1.1...: h2 by ALPN on TLS binds, h2c (prior knowledge or Upgrade) "
     "on plain ones (default h2 http/1.1 on TLS, h2c http/1.1 on plain)"},
    {"H2MaxConcurrentStreams", 1, 1, set_h2_streams, 0,
     "H2MaxConcurrentStreams N: streams a client may open at once; more are refused with "
     "REFUSED_STREAM (default 128)"},
    {"H2MaxHeaderListSize", 1, 1, set_size_nonzero, OFF(h2_max_header_list),
     "H2MaxHeaderListSize size: a request's headers as HTTP/2 counts them; more is answered "
     "431 (default 64k)"},
    {"H2MaxResets", 1, 1, set_h2_resets, 0,
     "H2MaxResets N: stream resets a client may send in 10 s before GOAWAY "
     "ENHANCE_YOUR_CALM (Rapid Reset), 0 = no limit (default 200)"},
    {"H2IdleTimeout", 1, 1, rp_set_seconds, OFF(h2_idle_timeout),
     "H2IdleTimeout seconds: an HTTP/2 connection with no stream gets GOAWAY, 0 = never "
     "(default KeepAliveTimeout)"},
    {"H2StallTimeout", 1, 1, rp_set_seconds, OFF(h2_stall_timeout),
     "H2StallTimeout seconds: a response whose flow-control window stays closed is reset, "
     "0 = never (default SendTimeout)"},
    RP_DIRECTIVES_END};

static const rp_directive core_route_directives[] = {
    {"Header", 2, 3, set_header, 0,
     "Header set|add|unset name [value]: change a response header (like httpd's mod_headers); "
     "a <Route> or <Host> adds its lines after those of the enclosing scope"},
    RP_DIRECTIVES_END};

static bool any_host_log(rp_server *s)
{
    for (size_t i = 1; s->vh && i < s->vh->hosts.n; i++)
        if (((rp_host *)s->vh->hosts.v[i])->access_log)
            return true;
    return false;
}

static void core_register_hooks(rp_hooks *h, void *conf)
{
    rp_hook_add(h, RP_PHASE_LOG, rp_access_log_hook, RP_HOOK_LAST, NULL, NULL);
    if (any_host_log(h->server))
        rp_hook_add(h, RP_PHASE_LOG, host_log_hook, RP_HOOK_LAST - 1, NULL, NULL);
    if (h->server->vh && h->server->vh->any_headers)
        rp_filter_register(h, "header", RP_FILTER_CONTENT, RP_HOOK_FIRST, header_setup,
                           header_pass);
    if (((rp_core_conf *)conf)->request_id)
        rp_hook_add(h, RP_PHASE_MAP, rp_request_id_hook, RP_HOOK_FIRST, NULL, NULL);
    if (((rp_core_conf *)conf)->https_redirect)
        rp_hook_add(h, RP_PHASE_MAP, rp_https_redirect_hook, RP_HOOK_FIRST, NULL, NULL);
}

/* Timeouts whose default depends on another setting. */
static int core_post_config(rp_server *s, void *conf)
{
    rp_core_conf *c = conf;
    bool connect_set = c->connect_timeout >= 0;
    if (!connect_set)
        c->connect_timeout = 60;
    if (c->keepalive_timeout < 0)
        c->keepalive_timeout = connect_set ? c->connect_timeout : 75;
    else if (c->keepalive_timeout == 0) /* documented: 0 = ConnectTimeout */
        c->keepalive_timeout = c->connect_timeout;
    if (c->handshake_timeout < 0)
        c->handshake_timeout = c->header_timeout;
    if (c->h2_idle_timeout < 0)
        c->h2_idle_timeout = c->keepalive_timeout;
    if (c->h2_stall_timeout < 0)
        c->h2_stall_timeout = c->send_timeout;
    if (!c->trusted) { /* a proxy on this machine */
        static const char *const lo[] = {"127.0.0.0/8", "::1"};
        c->trusted = rp_palloc(s->pool, 2 * sizeof *c->trusted);
        for (int i = 0; i < 2; i++) {
            const char *why;
            rp_cidr_parse(lo[i], &c->trusted[i], &why);
        }
        c->ntrusted = 2;
    }
    if (!c->log_fmt && rp_logfmt_compile(s->pool, rp_logfmt_builtin[1][1], &c->log_fmt) != NULL)
        return RP_ERROR; /* the builtin combined format always compiles */
    return RP_OK;
}

const rp_module rp_module_core = {
    RP_MODULE_HEADER,
    .name = "core",
    .version = RP_VERSION,
    .directives = core_directives,
    .create_conf = core_create_conf,
    .register_hooks = core_register_hooks,
    .post_config = core_post_config,
    .route_directives = core_route_directives,
    .create_route_conf = core_create_route_conf,
    .merge_route_conf = core_merge_route_conf,
};

RP_API void *rp_server_conf(const rp_server *s, const rp_module *m)
{
    rp_modrec *r = rp_modrec_of(s, m);
    return r ? r->conf : NULL;
}

RP_API int rp_server_threads(const rp_server *s)
{
    if (s->core->threads > 0)
        return (int)s->core->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
