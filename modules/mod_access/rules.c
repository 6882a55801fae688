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

/* ---- addresses: rp_cidr_parse / rp_addr_parse / rp_cidr_contains (core) ---- */

int acc_addr_decide(const acc_addr_list *rules, const char *path, const rp_cidr *addr)
{
    for (const acc_addr_rule *r = rules->first; r; r = r->next) {
        if (!acc_scope_covers(&r->scope, path))
            continue;
        for (int i = 0; i < r->ncidr; i++)
            if (addr ? rp_cidr_contains(&r->cidr[i], addr) : r->cidr[i].family == 0)
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
