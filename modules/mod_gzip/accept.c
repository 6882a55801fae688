/* accept.c - header parsing for mod_gzip: Accept-Encoding with q-values,
 * If-None-Match lists, compressible content types. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "gzip_int.h"

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A qvalue (RFC 9110 12.4.2): "0", "0.xxx", "1", "1.000"; returns it in
 * thousandths, or -1 if malformed. */
static int parse_q(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The q of one list element's parameters ("; q=0.5; foo=bar"), 1000 when
 * absent, -1 if malformed. */
static int element_q(const char *params, const char *end)
{
    int q = 1000;
    const char *s = params;
    while (s < end) {
        if (*s != ';')
            return -1;
        s = skip_ows(s + 1);
        const char *pe = s;
        while (pe < end && *pe != ';')
            pe++;
        if (pe - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            q = parse_q(s + 2, (size_t)(pe - s - 2));
            if (q < 0)
                return -1;
        }
        s = pe;
    }
    return q;
}

int gz_accepts(const char *ae)
{
    if (!ae)
        return 0;
    int q_gzip = -1, q_star = -1;
    const char *s = ae;
    while (*s) {
        s = skip_ows(s);
        const char *e = strchr(s, ',');
        if (!e)
            e = s + strlen(s);
        const char *ne = s;
        while (ne < e && *ne != ';' && *ne != ' ' && *ne != '\t')
            ne++;
        size_t nlen = (size_t)(ne - s);
        const char *params = skip_ows(ne);
        int q = element_q(params, e);
        if (q >= 0) {
            if ((nlen == 4 && strncasecmp(s, "gzip", 4) == 0) ||
                (nlen == 6 && strncasecmp(s, "x-gzip", 6) == 0)) {
                if (q > q_gzip)
                    q_gzip = q;
            } else if (nlen == 1 && *s == '*') {
                q_star = q;
            }
        }
        s = *e ? e + 1 : e;
    }
    if (q_gzip >= 0)
        return q_gzip > 0;
    return q_star > 0;
}

/* Compare two entity tags weakly: W/ prefixes are ignored. */
int gz_type_compressible(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const char *const exact[] = {
        "application/javascript", "application/json", "application/xml",
        "application/x-javascript", "application/ecmascript", "application/xhtml+xml",
        "image/svg+xml", "application/rss+xml", "application/atom+xml",
        "application/ld+json", "application/manifest+json", "application/wasm", NULL};
    if (n >= 5 && strncasecmp(ct, "text/", 5) == 0)
        return 1;
    for (int i = 0; exact[i]; i++)
        if (strlen(exact[i]) == n && strncasecmp(ct, exact[i], n) == 0)
            return 1;
    if (n > 5 && (strncasecmp(ct + n - 5, "+json", 5) == 0 ||
                  strncasecmp(ct + n - 4, "+xml", 4) == 0))
        return 1;
    return 0;
}

int gz_zlib_level(long level)
{
    if (level < 1)
        return 1;
    return level > 9 ? 9 : (int)level;
}
