/* mod_access - who may see what: address rules, hidden files, HTTP Basic.
 *
 *   Allow [/prefix/] 127.0.0.0/8 ::1       first Allow/Deny that matches decides
 *   Deny  [/prefix/] all                   ... with 403
 *   DenyHidden on|off                      404 for "/.x" segments (default on)
 *   AuthBasic [/prefix/] "Realm" htpasswd  401 until a user of the file logs in
 *
 * All four are route settings (top level, <Host>, <Route>); without a
 * prefix a rule covers the whole scope it is written in.  A <Route>'s
 * address rules are tried before those of its host and the top level.
 *
 * One AUTH hook, first in the phase, checks them in that order: a refused
 * address learns nothing more, a hidden path answers 404 whether or not it
 * is protected, and only then is a password asked for.  Every check works
 * on the decoded, dot-segment-free path (rp_req_path), so /%2eenv is /.env.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "access_int.h"

typedef struct {
    acc_addr_list addr;
    acc_auth_list auth;
    int deny_hidden; /* -1: not set here (on unless an enclosing scope says off) */
} acc_conf;

static void *acc_create_conf(rp_pool *p)
{
    acc_conf *c = rp_pcalloc(p, sizeof *c);
    c->deny_hidden = -1;
    return c;
}

/* Copies of the rules of from, appended to to (rules are linked in place,
 * so a list shared by two scopes cannot simply be chained). */
static void addr_append(rp_pool *p, acc_addr_list *to, const acc_addr_list *from)
{
    for (const acc_addr_rule *r = from->first; r; r = r->next) {
        acc_addr_rule *c = rp_palloc(p, sizeof *c);
        *c = *r;
        c->next = NULL;
        if (to->last)
            to->last->next = c;
        else
            to->first = c;
        to->last = c;
    }
}

/* Inner address rules first, then the enclosing ones; an inner AuthBasic
 * replaces the enclosing ones; DenyHidden as set nearest. */
static void *acc_merge_conf(rp_pool *p, void *parent, void *child)
{
    const acc_conf *a = parent, *b = child;
    acc_conf *m = rp_pcalloc(p, sizeof *m);
    addr_append(p, &m->addr, &b->addr);
    addr_append(p, &m->addr, &a->addr);
    m->auth = b->auth.first ? b->auth : a->auth;
    m->deny_hidden = b->deny_hidden >= 0 ? b->deny_hidden : a->deny_hidden;
    return m;
}

/* The whole scope the rule is written in: "/" covers every path. */
static const acc_scope k_everything = {"", 0};

/* ---- helpers ---------------------------------------------------------------- */

char *acc_log_escape(rp_pool *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char *out = rp_palloc(p, strlen(s) * 4 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

/* RFC 7617 Basic challenge; the realm is a quoted-string. */
static const char *make_challenge(rp_cmd *cmd, const char *realm)
{
    char *v = rp_palloc(rp_cmd_pool(cmd), strlen(realm) * 2 + 32), *o = v;
    o += sprintf(o, "Basic realm=\"");
    for (const char *s = realm; *s; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    strcpy(o, "\", charset=\"UTF-8\"");
    return v;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (padding required) into a NUL-terminated pool string;
 * NULL if malformed or if it decodes to a NUL byte. */
static char *b64_decode(rp_pool *p, const char *s, size_t n)
{
    if (n == 0 || n % 4 != 0)
        return NULL;
    char *out = rp_palloc(p, n / 4 * 3 + 1), *o = out;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool pad = s[i + k] == '=' && i + 4 == n && k >= 2;
            v[k] = pad ? -2 : b64_value((unsigned char)s[i + k]);
            if (v[k] == -1 || (k == 3 && v[2] == -2 && v[3] != -2))
                return NULL;
        }
        *o++ = (char)(v[0] << 2 | v[1] >> 4);
        if (v[2] >= 0)
            *o++ = (char)((v[1] & 15) << 4 | v[2] >> 2);
        if (v[3] >= 0)
            *o++ = (char)((v[2] & 3) << 6 | v[3]);
    }
    *o = '\0';
    return strlen(out) == (size_t)(o - out) ? out : NULL;
}

/* ---- directives ------------------------------------------------------------- */

static const char *set_addr_rule(rp_cmd *cmd, acc_conf *c, bool allow, int argc, char *const argv[])
{
    acc_addr_rule *r = rp_pcalloc(rp_cmd_pool(cmd), sizeof *r);
    int first = argv[0][0] == '/' ? 1 : 0; /* "Allow /prefix/ addr..." */
    r->scope = k_everything;
    if (first && argc < 2)
        return rp_cmd_error(cmd, "%s: give the addresses after the prefix '%s'", rp_cmd_name(cmd),
                            argv[0]);
    const char *err = first ? acc_scope_parse(cmd, argv[0], &r->scope) : NULL;
    if (err)
        return err;
    r->allow = allow;
    r->ncidr = argc - first;
    r->cidr = rp_pcalloc(rp_cmd_pool(cmd), sizeof *r->cidr * (size_t)r->ncidr);
    for (int i = first; i < argc; i++) {
        const char *why;
        if (rp_cidr_parse(argv[i], &r->cidr[i - first], &why) != 0)
            return rp_cmd_error(cmd,
                                "%s: '%s': %s; write an address (10.1.2.3, ::1), a network "
                                "(10.0.0.0/8, fd00::/8) or all",
                                rp_cmd_name(cmd), argv[i], why);
    }
    if (c->addr.last)
        c->addr.last->next = r;
    else
        c->addr.first = r;
    c->addr.last = r;
    return NULL;
}

static const char *set_allow(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    return set_addr_rule(cmd, conf, true, argc, argv);
}

static const char *set_deny(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    return set_addr_rule(cmd, conf, false, argc, argv);
}

static const char *set_auth_basic(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    acc_conf *c = conf;
    acc_auth_rule *r = rp_pcalloc(rp_cmd_pool(cmd), sizeof *r);
    r->scope = k_everything;
    const char *err = argc == 3 ? acc_scope_parse(cmd, argv[0], &r->scope) : NULL;
    if (err)
        return err;
    argv += argc - 2; /* realm, file */
    for (const char *s = argv[0]; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return rp_cmd_error(cmd, "%s: the realm may not hold control characters",
                                rp_cmd_name(cmd));
    for (const acc_auth_rule *o = c->auth.first; o; o = o->next)
        if (o->scope.len == r->scope.len && strcmp(o->scope.prefix, r->scope.prefix) == 0)
            return rp_cmd_error(cmd, "%s: %s/ is protected already by an earlier AuthBasic",
                                rp_cmd_name(cmd), r->scope.prefix);
    r->realm = rp_pstrdup(rp_cmd_pool(cmd), argv[0]);
    r->challenge = make_challenge(cmd, argv[0]);
    r->file = acc_pwfile_open(cmd, rp_cmd_resolve_path(cmd, argv[1]), &err);
    if (!r->file)
        return err;
    if (c->auth.last)
        c->auth.last->next = r;
    else
        c->auth.first = r;
    c->auth.last = r;
    return NULL;
}

static const rp_directive acc_directives[] = {
    {"Allow", 1, -1, set_allow, 0,
     "Allow [/prefix/] address...: let these clients (10.0.0.0/8, ::1, all) in below the prefix "
     "(none: the whole scope); the first Allow or Deny line matching path and client decides, "
     "a <Route>'s before its host's (default everyone is let in)"},
    {"Deny", 1, -1, set_deny, 0,
     "Deny [/prefix/] address...: answer 403 to these clients below the prefix (none: the whole "
     "scope); IPv4-mapped IPv6 clients match IPv4 networks"},
    {"DenyHidden", 1, 1, rp_set_flag, offsetof(acc_conf, deny_hidden),
     "DenyHidden on|off: answer 404 for paths with a segment starting with '.', except "
     "/.well-known/ (default on)"},
    {"AuthBasic", 2, 3, set_auth_basic, 0,
     "AuthBasic [/prefix/] realm file: HTTP Basic login below the prefix (none: the whole "
     "scope) against an htpasswd file of bcrypt or SHA-crypt hashes, re-read when it changes; "
     "the longest prefix wins, and a <Route>'s replace its host's"},
    RP_DIRECTIVES_END};

/* ---- matching -------------------------------------------------------------- */

const acc_auth_rule *acc_auth_find(const acc_auth_list *rules, const char *path)
{
    const acc_auth_rule *best = NULL;
    for (const acc_auth_rule *r = rules->first; r; r = r->next)
        if (acc_scope_covers(&r->scope, path) && (!best || r->scope.len > best->scope.len))
            best = r;
    return best;
}

/* ---- per-worker scratch for crypt_r ------------------------------------------ */

static int acc_worker_init(rp_worker *w, void *conf)
{
    (void)conf;
    void *buf = calloc(1, acc_crypt_buf_size());
    if (!buf)
        return RP_ERROR;
    rp_worker_set_ctx(w, &rp_module_access, buf);
    return RP_OK;
}

static void acc_worker_exit(rp_worker *w, void *conf)
{
    (void)conf;
    free(rp_worker_ctx(w, &rp_module_access));
    rp_worker_set_ctx(w, &rp_module_access, NULL);
}

/* ---- the AUTH hook ------------------------------------------------------------ */

static int challenge(rp_req *r, const acc_auth_rule *rule)
{
    rp_resp_header_set(r, "WWW-Authenticate", rule->challenge);
    return 401;
}

static int refuse(rp_req *r, const acc_auth_rule *rule, const char *user, const char *why)
{
    rp_pool *p = rp_req_pool(r);
    rp_log(&rp_module_access, RP_LOG_WARN, "%s: Basic login for %s%s%s refused from %s: %s",
           acc_log_escape(p, rp_req_path(r)), user ? "user \"" : "realm \"",
           acc_log_escape(p, user ? user : rule->realm), "\"", rp_req_remote_ip(r), why);
    return challenge(r, rule);
}

static int basic_auth(rp_req *r, const acc_auth_rule *rule)
{
    const char *h = rp_req_header(r, "Authorization");
    if (!h)
        return challenge(r, rule); /* the usual first request of a browser */
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t'))
        return refuse(r, rule, NULL, "not a Basic Authorization header");
    const char *b = h + 6;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t n = strlen(b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    char *cred = b64_decode(rp_req_pool(r), b, n);
    char *colon = cred ? strchr(cred, ':') : NULL;
    if (!colon)
        return refuse(r, rule, NULL, "malformed Basic credentials");
    *colon = '\0';
    if (cred[0] == '\0')
        return refuse(r, rule, NULL, "empty user name");

    void *scratch = rp_worker_ctx(rp_req_worker(r), &rp_module_access);
    void *own = scratch ? NULL : calloc(1, acc_crypt_buf_size());
    if (!scratch && !own)
        return 503;
    acc_pw_result res = acc_pwfile_check(rule->file, cred, colon + 1, scratch ? scratch : own);
    free(own);
    switch (res) {
    case ACC_PW_OK: rp_req_set_user(r, cred); return RP_DECLINED;
    case ACC_PW_UNKNOWN_USER: return refuse(r, rule, cred, "no such user");
    case ACC_PW_MISMATCH: return refuse(r, rule, cred, "wrong password");
    default: return refuse(r, rule, cred, "crypt_r could not check the stored hash");
    }
}

static int acc_auth(rp_req *r)
{
    const acc_conf *c = rp_req_route_conf(r, &rp_module_access);
    const char *path = rp_req_path(r);
    if (c->addr.first) {
        rp_cidr a;
        int have = rp_addr_parse(rp_req_remote_ip(r), &a) == 0;
        if (acc_addr_decide(&c->addr, path, have ? &a : NULL) == 0) {
            rp_log(&rp_module_access, RP_LOG_INFO, "%s: address %s denied",
                   acc_log_escape(rp_req_pool(r), path), rp_req_remote_ip(r));
            return 403;
        }
    }
    if (c->deny_hidden != 0 && acc_path_hidden(path))
        return 404;
    const acc_auth_rule *rule = acc_auth_find(&c->auth, path);
    return rule ? basic_auth(r, rule) : RP_DECLINED;
}

static void acc_register_hooks(rp_hooks *h, void *conf)
{
    (void)conf;
    /* First: what a client may not see must be settled before any other
     * module (mod_js's beginFunc included) looks at the request. */
    rp_hook_add(h, RP_PHASE_AUTH, acc_auth, RP_HOOK_FIRST, NULL, NULL);
}

RP_MODULE_DECLARE(access) = {
    RP_MODULE_HEADER,
    .name = "access",
    .version = "0.1.0",
    .register_hooks = acc_register_hooks,
    .worker_init = acc_worker_init,
    .worker_exit = acc_worker_exit,
    .route_directives = acc_directives,
    .create_route_conf = acc_create_conf,
    .merge_route_conf = acc_merge_conf,
};
