/* rules.c - path scopes, address (CIDR) rules and the hidden-file test.
 *
 * Every function here takes the rule list it works on, so the same matching
 * serves the module-wide lists today and per-route lists later.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "access_int.h"

/* ---- scopes --------------------------------------------------------------- */

const char *acc_scope_parse(rp_cmd *cmd, const char *arg, acc_scope *out)
{
    if (arg[0] != '/')
        return rp_cmd_error(cmd,
                            "%s: '%s' is not a path prefix; the first argument is the path the "
                            "rule covers, e.g. / or /admin/",
                            rp_cmd_name(cmd), arg);
    size_t len = strlen(arg);
    while (len > 0 && arg[len - 1] == '/')
        len--;
    out->prefix = rp_pstrndup(rp_cmd_pool(cmd), arg, len);
    out->len = len;
    return NULL;
}

bool acc_scope_covers(const acc_scope *s, const char *path)
{
    if (strncmp(path, s->prefix, s->len) != 0)
        return false;
    char next = path[s->len];
    return next == '\0' || next == '/'; /* whole segments: /admin never covers /administrator */
}

/* ---- addresses ---------------------------------------------------------- */

static void mask_bits(uint8_t *a, int bytes, int bits)
{
    for (int i = 0; i < bytes; i++) {
        int keep = bits - i * 8;
        a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

/* An IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96) is an IPv4 one:
 * clients arriving on a dual-stack socket are compared as IPv4. */
static void unmap_v4(acc_cidr *c)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c->family == 6 && c->bits >= 96 && memcmp(c->addr, mapped, 12) == 0) {
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        c->family = 4;
        c->bits -= 96;
    }
}

int acc_cidr_parse(const char *s, acc_cidr *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "all") == 0)
        return 0;
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
        *why = "not an address";
        return -1;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    int max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = 4;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = 6;
        max = 128;
    } else {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    out->bits = max;
    if (slash) {
        char *end;
        const char *b = slash + 1;
        long n = (*b >= '0' && *b <= '9') ? strtol(b, &end, 10) : -1;
        if (n < 0 || n > max || *end != '\0') {
            *why = max == 32 ? "the prefix length must be 0-32" : "the prefix length must be 0-128";
            return -1;
        }
        out->bits = (int)n;
    }
    mask_bits(out->addr, max / 8, out->bits);
    unmap_v4(out);
    return 0;
}

int acc_addr_key(const char *ip, acc_cidr *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = 4;
        out->bits = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = 6;
        out->bits = 128;
        unmap_v4(out);
        return 0;
    }
    return -1;
}

static bool cidr_holds(const acc_cidr *net, const acc_cidr *a)
{
    if (net->family == 0)
        return true; /* all */
    if (net->family != a->family)
        return false;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a->addr[full] & m) == net->addr[full];
}

int acc_addr_decide(const acc_addr_list *rules, const char *path, const acc_cidr *addr)
{
    for (const acc_addr_rule *r = rules->first; r; r = r->next) {
        if (!acc_scope_covers(&r->scope, path))
            continue;
        for (int i = 0; i < r->ncidr; i++)
            if (addr ? cidr_holds(&r->cidr[i], addr) : r->cidr[i].family == 0)
                return r->allow ? 1 : 0;
    }
    return -1;
}

/* ---- hidden files ----------------------------------------------------------- */

int acc_path_hidden(const char *path)
{
    bool first = true;
    for (const char *p = path; (p = strchr(p, '/')) != NULL; first = false) {
        p++;
        if (*p != '.')
            continue;
        if (first && strncmp(p, ".well-known", 11) == 0 && (p[11] == '/' || p[11] == '\0'))
            continue;
        return 1;
    }
    return 0;
}
