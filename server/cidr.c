/* cidr.c - addresses and networks: the one parser and matcher every module
 * (mod_access's Allow/Deny) and the core (TrustedProxies) use. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

static void mask_bits(uint8_t *a, int bytes, int bits)
{
    for (int i = 0; i < bytes; i++) {
        int keep = bits - i * 8;
        a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

/* An IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96) is an IPv4 one:
 * clients arriving on a dual-stack socket are compared as IPv4. */
static void unmap_v4(rp_cidr *c)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c->family == 6 && c->bits >= 96 && memcmp(c->addr, mapped, 12) == 0) {
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        c->family = 4;
        c->bits -= 96;
    }
}

RP_API int rp_cidr_parse(const char *s, rp_cidr *out, const char **why)
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

RP_API int rp_addr_parse(const char *ip, rp_cidr *out)
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

RP_API int rp_cidr_contains(const rp_cidr *net, const rp_cidr *a)
{
    if (net->family == 0)
        return 1; /* all */
    if (net->family != a->family)
        return 0;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a->addr[full] & m) == net->addr[full];
}
