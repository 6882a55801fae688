/* rp_util.h - helpers the core shares with plugins. */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <time.h>
#include "rp_common.h"

/* Mime type for a file name or bare extension ("a/b.html", "html"),
 * from conf/mime.types plus MimeMap; NULL if unknown. */
RP_API const char *rp_mime_type(const rp_server *s, const char *name_or_ext);

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"; buf must hold 30 bytes. */
RP_API void rp_http_date(time_t t, char *buf);
/* Parse the three HTTP date forms; 0 on success. */
RP_API int rp_http_date_parse(const char *s, time_t *out);

RP_API const char *rp_status_reason(int status);

/* Escaped copies in pool p. */
RP_API char *rp_html_escape(rp_pool *p, const char *s);
RP_API char *rp_url_encode(rp_pool *p, const char *s); /* keeps unreserved and '/' */
/* Percent-decode; plus_space turns '+' into ' '. Returns NULL if s holds a
 * malformed escape. *len gets the decoded length (it may contain NUL). */
RP_API char *rp_url_decode(rp_pool *p, const char *s, size_t n, int plus_space, size_t *len);

/* 1 if the absolute, resolved path `path` is `root` (also resolved, no
 * trailing '/' unless it is "/") or lies below it.  The one containment
 * rule every module that maps a root uses after realpath(). */
RP_API int rp_path_within(const char *root, const char *path);

/* 1 if token is one of the comma-separated elements of an HTTP list value
 * such as "keep-alive, Upgrade" (case-insensitive, blanks around elements
 * ignored); 0 otherwise or for a NULL list. */
RP_API int rp_token_listed(const char *list, const char *token);

/* Walks a Cookie header value "a=1; b=\"two\"; c": each call gives the
 * next pair (name and value trimmed of blanks, one pair of double quotes
 * removed from the value, nothing percent-decoded; pairs without a name
 * skipped) and returns 1, or returns 0 at the end.  *cur starts at the
 * value and moves on; end is where the value ends.  The one cookie syntax
 * every module reads through. */
RP_API int rp_cookie_next(const char **cur, const char *end, const char **name, size_t *nlen,
                          const char **val, size_t *vlen);

/* 1 for a loopback address in text form: 127.0.0.0/8, ::1, and
 * ::ffff:127.x.y.z (IPv4 clients of an IPv6 socket). */
RP_API int rp_addr_is_loopback(const char *ip);

/* An address or a network: "10.0.0.0/8", "::1", "2001:db8::/32", "all".
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is kept as IPv4, so clients of a
 * dual-stack socket match IPv4 rules. */
typedef struct rp_cidr {
    int family;       /* 4 or 6; 0 for "all" */
    uint8_t addr[16]; /* network, host bits cleared; IPv4 in the first 4 */
    int bits;
} rp_cidr;
/* 0, or -1 with a reason in *why (a static string). */
RP_API int rp_cidr_parse(const char *s, rp_cidr *out, const char **why);
/* A client address in text form as a match key; -1 if it is none. */
RP_API int rp_addr_parse(const char *ip, rp_cidr *out);
/* 1 if the network net holds the address a. */
RP_API int rp_cidr_contains(const rp_cidr *net, const rp_cidr *a);

RP_API const char *rp_version(void); /* "rampart/0.1.0" */

/* Edit distance between a and b with ASCII case ignored: an insertion,
 * deletion, substitution or swap of two neighbours costs 1.  Words longer
 * than 63 bytes are never close: the result is then a large number. */
RP_API unsigned rp_edit_distance(const char *a, const char *b);

/* "Did you mean": offer each candidate in turn, *best starting at NULL; *best
 * keeps the closest candidate near enough to word to be a typo of it (at most
 * 1 + strlen(word) / 4 edits, capped at 3, and fewer than strlen(word)), the
 * first of equals.  Case alone counts as a typo ("maxbodysize"). */
RP_API void rp_suggest(const char *word, const char *candidate, const char **best);

#endif
