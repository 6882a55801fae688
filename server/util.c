/* util.c - HTTP dates, status reasons, escaping. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>
#include "core.h"

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

RP_API void rp_http_date(time_t t, char *buf)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[64]; /* roomier than needed: the compiler cannot bound tm's fields */
    snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(buf, tmp, 29);
    buf[29] = '\0';
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(m, months[i], 3) == 0)
            return i;
    return -1;
}

/* IMF-fixdate, RFC 850 and asctime forms (RFC 9110, 5.6.7). */
RP_API int rp_http_date_parse(const char *s, time_t *out)
{
    struct tm tm;
    char mon[4] = {0};
    int d, y, H, M, S;
    memset(&tm, 0, sizeof tm);
    const char *p = strchr(s, ',');
    if (p) {
        p++;
        if (sscanf(p, " %d %3s %d %d:%d:%d GMT", &d, mon, &y, &H, &M, &S) == 6) {
        } else if (sscanf(p, " %d-%3s-%d %d:%d:%d GMT", &d, mon, &y, &H, &M, &S) == 6) {
            y += y < 70 ? 2000 : 1900;
        } else {
            return -1;
        }
    } else if (sscanf(s, "%*3s %3s %d %d:%d:%d %d", mon, &d, &H, &M, &S, &y) != 6) {
        return -1;
    }
    int mi = month_index(mon);
    if (mi < 0 || d < 1 || d > 31 || H > 23 || M > 59 || S > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mi;
    tm.tm_mday = d;
    tm.tm_hour = H;
    tm.tm_min = M;
    tm.tm_sec = S;
    *out = timegm(&tm);
    return 0;
}

RP_API const char *rp_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 200 ? "Informational" : status < 300 ? "Success"
                  : status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error";
    }
}

RP_API char *rp_html_escape(rp_pool *p, const char *s)
{
    size_t n = 0;
    for (const char *q = s; *q; q++)
        n += *q == '&' ? 5 : *q == '<' || *q == '>' ? 4 : *q == '"' || *q == '\'' ? 6 : 1;
    char *r = rp_palloc(p, n + 1), *o = r;
    for (const char *q = s; *q; q++) {
        switch (*q) {
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '"': memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#039;", 6); o += 6; break;
        default: *o++ = *q;
        }
    }
    *o = '\0';
    return r;
}

static int keep_unescaped(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
}

RP_API char *rp_url_encode(rp_pool *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        n += keep_unescaped(*q) ? 1 : 3;
    char *r = rp_palloc(p, n + 1), *o = r;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (keep_unescaped(*q)) {
            *o++ = (char)*q;
        } else {
            *o++ = '%';
            *o++ = hex[*q >> 4];
            *o++ = hex[*q & 15];
        }
    }
    *o = '\0';
    return r;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

RP_API char *rp_url_decode(rp_pool *p, const char *s, size_t n, int plus_space, size_t *len)
{
    char *r = rp_palloc(p, n + 1), *o = r;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return NULL;
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else if (plus_space && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    if (len)
        *len = (size_t)(o - r);
    return r;
}

RP_API const char *rp_version(void)
{
    return "rampart/" RP_VERSION;
}

RP_API int rp_path_within(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int cookie_blank(char c)
{
    return c == ' ' || c == '\t';
}

RP_API int rp_cookie_next(const char **cur, const char *end, const char **name, size_t *nlen,
                          const char **val, size_t *vlen)
{
    const char *p = *cur;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end, *a = p, *b = stop;
        p = semi ? semi + 1 : end;
        while (a < b && cookie_blank(*a))
            a++;
        while (b > a && cookie_blank(b[-1]))
            b--;
        const char *eq = memchr(a, '=', (size_t)(b - a));
        const char *k_end = eq ? eq : b, *v = eq ? eq + 1 : b;
        while (k_end > a && cookie_blank(k_end[-1]))
            k_end--;
        while (v < b && cookie_blank(*v))
            v++;
        if (k_end == a)
            continue;
        if (b - v >= 2 && *v == '"' && b[-1] == '"') {
            v++;
            b--;
        }
        *name = a;
        *nlen = (size_t)(k_end - a);
        *val = v;
        *vlen = (size_t)(b - v);
        *cur = p;
        return 1;
    }
    *cur = end;
    return 0;
}

/* Damerau-Levenshtein (optimal string alignment) over three rows: short
 * words only, so the table lives on the stack. */
#define EDIT_MAX 64
RP_API unsigned rp_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n >= EDIT_MAX || m >= EDIT_MAX)
        return 1000;
    unsigned rows[3][EDIT_MAX];
    unsigned *two = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (unsigned)i;
        int ca = tolower((unsigned char)a[i - 1]);
        for (size_t j = 1; j <= m; j++) {
            int cb = tolower((unsigned char)b[j - 1]);
            unsigned d = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && two[j - 2] + 1 < d)
                d = two[j - 2] + 1;
            cur[j] = d;
        }
        unsigned *t = two;
        two = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

RP_API void rp_suggest(const char *word, const char *candidate, const char **best)
{
    size_t len = strlen(word);
    unsigned limit = 1 + (unsigned)(len / 4);
    if (limit > 3)
        limit = 3;
    unsigned d = rp_edit_distance(word, candidate);
    if (d > limit || d >= len)
        return;
    if (!*best || d < rp_edit_distance(word, *best))
        *best = candidate;
}

RP_API int rp_addr_is_loopback(const char *ip)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, ip, &a6) != 1)
        return 0;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
        return 1;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

RP_API int rp_token_listed(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *s = list; s && *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == n && strncasecmp(s, token, n) == 0)
            return 1;
        s = e;
    }
    return 0;
}
