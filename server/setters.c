/* setters.c - generic directive setters and the parsers custom setters share.
 *
 * Each setter stores into (char *)conf + rp_cmd_offset(cmd) and explains a
 * bad value in one sentence that starts with the directive's name.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core.h"

static void *slot(rp_cmd *cmd, void *conf)
{
    return (char *)conf + rp_cmd_offset(cmd);
}

/* A generic setter on a module without create_conf has nowhere to store. */
#define NEED_CONF(cmd, conf)                                                                       \
    do {                                                                                           \
        if (!(conf))                                                                               \
            return rp_cmd_error(cmd, "%s: its module has no configuration object (create_conf)",   \
                                rp_cmd_name(cmd));                                                 \
    } while (0)

RP_API int rp_parse_flag(const char *s, int *out)
{
    static const char *const on[] = {"on", "true", "yes", "1"};
    static const char *const off[] = {"off", "false", "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, on[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, off[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

RP_API int rp_parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || *s == ' ' || *s == '\t')
        return -1;
    *out = v;
    return 0;
}

/* Digits, then an optional k, m or g (1024-based), optionally followed by
 * "b" or "ib": "512", "64k", "32m", "1gb", "2KiB". */
RP_API int rp_parse_size(const char *s, size_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1; /* refuses signs and blanks that strtoull would accept */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default: break;
    }
    if (shift && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end || v > (unsigned long long)SIZE_MAX >> shift)
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

RP_API const char *rp_set_string(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    *(char **)slot(cmd, conf) = rp_pstrdup(rp_cmd_pool(cmd), argv[0]);
    return NULL;
}

RP_API const char *rp_set_flag(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    if (rp_parse_flag(argv[0], (int *)slot(cmd, conf)) < 0)
        return rp_cmd_error(cmd, "%s: expected on or off, got '%s'", rp_cmd_name(cmd), argv[0]);
    return NULL;
}

RP_API const char *rp_set_int(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    if (rp_parse_long(argv[0], (long *)slot(cmd, conf)) < 0)
        return rp_cmd_error(cmd, "%s: expected an integer, got '%s'", rp_cmd_name(cmd), argv[0]);
    return NULL;
}

RP_API const char *rp_set_size(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    if (rp_parse_size(argv[0], (size_t *)slot(cmd, conf)) < 0)
        return rp_cmd_error(cmd,
                            "%s: expected a size in bytes with an optional k, m or g suffix "
                            "(such as 64k), got '%s'",
                            rp_cmd_name(cmd), argv[0]);
    return NULL;
}

RP_API const char *rp_set_seconds(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    char *end;
    errno = 0;
    double v = strtod(argv[0], &end);
    if (end == argv[0] || *end || errno == ERANGE || !isfinite(v) || v < 0)
        return rp_cmd_error(cmd, "%s: expected seconds (a number >= 0), got '%s'", rp_cmd_name(cmd),
                            argv[0]);
    *(double *)slot(cmd, conf) = v;
    return NULL;
}

RP_API const char *rp_set_path(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    (void)argc;
    if (!argv[0][0])
        return rp_cmd_error(cmd, "%s: expected a path, got an empty string", rp_cmd_name(cmd));
    *(char **)slot(cmd, conf) = rp_cmd_resolve_path(cmd, argv[0]);
    return NULL;
}

RP_API const char *rp_set_list(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    NEED_CONF(cmd, conf);
    rp_pool *p = rp_cmd_pool(cmd);
    char **list = rp_palloc(p, ((size_t)argc + 1) * sizeof(*list));
    for (int i = 0; i < argc; i++)
        list[i] = rp_pstrdup(p, argv[i]);
    list[argc] = NULL;
    *(char ***)slot(cmd, conf) = list;
    return NULL;
}
