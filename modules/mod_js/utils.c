/* utils.c - rampart.utils (printf family, files, processes), console and
 * rampart.globalize. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "js_int.h"

#define FD_KEY DUK_HIDDEN_SYMBOL("rp_fd")

/* ==== the printf engine =================================================== */

typedef struct fmt_out {
    js_out_fn out;
    void *arg;
    size_t n;
} fmt_out;

static void emit(fmt_out *o, const char *s, size_t n)
{
    if (n) {
        o->out(o->arg, s, n);
        o->n += n;
    }
}

static void emit_pad(fmt_out *o, char c, long n)
{
    char buf[64];
    memset(buf, c, sizeof buf);
    while (n > 0) {
        size_t k = n > (long)sizeof buf ? sizeof buf : (size_t)n;
        emit(o, buf, k);
        n -= (long)k;
    }
}

/* Characters (not bytes) in UTF-8 text, for padding. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* Byte length of the first `chars` characters of s. */
static size_t utf8_prefix(const char *s, size_t n, size_t chars)
{
    size_t c = 0, i = 0;
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == chars)
                break;
            c++;
        }
    }
    return i;
}

typedef struct spec {
    int minus, plus, space, zero, hash, bang;
    long width;     /* -1: none */
    long precision; /* -1: none */
    char conv;
} spec;

static void emit_padded(fmt_out *o, const spec *sp, const char *s, size_t n)
{
    long pad = sp->width > 0 ? sp->width - (long)utf8_chars(s, n) : 0;
    if (!sp->minus && pad > 0)
        emit_pad(o, ' ', pad);
    emit(o, s, n);
    if (sp->minus && pad > 0)
        emit_pad(o, ' ', pad);
}

/* Bytes of the value at idx: a buffer's contents or ToString.  Pushes
 * nothing extra beyond a coerced copy on top (caller pops 1). */
static const char *arg_bytes(duk_context *ctx, duk_idx_t idx, size_t *n)
{
    duk_dup(ctx, idx);
    if (duk_is_buffer_data(ctx, -1)) {
        duk_size_t sz;
        const char *p = duk_get_buffer_data(ctx, -1, &sz);
        *n = sz;
        return p ? p : "";
    }
    duk_size_t sz;
    const char *p = duk_to_lstring(ctx, -1, &sz);
    *n = sz;
    return p;
}

static void c_format(char *buf, size_t len, const spec *sp, const char *lenmod, char conv)
{
    char f[32];
    size_t k = 0;
    f[k++] = '%';
    if (sp->minus)
        f[k++] = '-';
    if (sp->plus)
        f[k++] = '+';
    if (sp->space)
        f[k++] = ' ';
    if (sp->zero)
        f[k++] = '0';
    if (sp->hash)
        f[k++] = '#';
    f[k++] = '*';
    f[k++] = '.';
    f[k++] = '*';
    for (const char *m = lenmod; *m; m++)
        f[k++] = *m;
    f[k++] = conv;
    f[k] = '\0';
    (void)len;
    memcpy(buf, f, k + 1);
}

static void emit_number(duk_context *ctx, fmt_out *o, const spec *sp, duk_idx_t idx)
{
    double v = duk_to_number(ctx, idx);
    char f[32], out[512];
    int w = sp->width > 0 ? (int)(sp->width > 400 ? 400 : sp->width) : 0;
    int p = sp->precision >= 0 ? (int)(sp->precision > 300 ? 300 : sp->precision) : -1;
    char conv = sp->conv;
    if (!isfinite(v)) {
        const char *s = isnan(v) ? "NaN" : v > 0 ? (sp->plus ? "+Infinity" : "Infinity") : "-Infinity";
        spec s2 = *sp;
        emit_padded(o, &s2, s, strlen(s));
        return;
    }
    int n;
    switch (conv) {
    case 'd':
    case 'i': {
        double t = trunc(v);
        long long ll = t >= 9.2e18 ? (long long)9.2e18 : t <= -9.2e18 ? (long long)-9.2e18 : (long long)t;
        c_format(f, sizeof f, sp, "ll", 'd');
        n = snprintf(out, sizeof out, f, w, p, ll);
        break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        double t = trunc(v);
        long long ll = t >= 9.2e18 ? (long long)9.2e18 : t <= -9.2e18 ? (long long)-9.2e18 : (long long)t;
        c_format(f, sizeof f, sp, "ll", conv);
        n = snprintf(out, sizeof out, f, w, p, (unsigned long long)ll);
        break;
    }
    default:
        c_format(f, sizeof f, sp, "", conv);
        n = snprintf(out, sizeof out, f, w, p, v);
        break;
    }
    if (n > 0)
        emit(o, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

static void emit_char(duk_context *ctx, fmt_out *o, const spec *sp, duk_idx_t idx)
{
    if (duk_is_number(ctx, idx)) {
        char u[8];
        size_t n = 0;
        double d = duk_get_number(ctx, idx);
        unsigned long c = (d >= 0 && d <= 0x10FFFF) ? (unsigned long)d : 0xFFFD;
        if (c < 0x80) {
            u[n++] = (char)c;
        } else if (c < 0x800) {
            u[n++] = (char)(0xC0 | (c >> 6));
            u[n++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            u[n++] = (char)(0xE0 | (c >> 12));
            u[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            u[n++] = (char)(0x80 | (c & 0x3F));
        } else {
            u[n++] = (char)(0xF0 | (c >> 18));
            u[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
            u[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            u[n++] = (char)(0x80 | (c & 0x3F));
        }
        emit_padded(o, sp, u, n);
        return;
    }
    size_t len;
    const char *s = arg_bytes(ctx, idx, &len);
    emit_padded(o, sp, s, utf8_prefix(s, len, 1));
    duk_pop(ctx);
}

static int url_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void emit_url(fmt_out *o, const char *s, size_t n, int decode)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (k > sizeof buf - 4) {
            emit(o, buf, k);
            k = 0;
        }
        if (decode) {
            if (c == '+') {
                buf[k++] = ' ';
            } else if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                       isxdigit((unsigned char)s[i + 2])) {
                char h[3] = {s[i + 1], s[i + 2], 0};
                buf[k++] = (char)strtol(h, NULL, 16);
                i += 2;
            } else {
                buf[k++] = (char)c;
            }
        } else if (url_unreserved(c)) {
            buf[k++] = (char)c;
        } else {
            buf[k++] = '%';
            buf[k++] = hex[c >> 4];
            buf[k++] = hex[c & 15];
        }
    }
    emit(o, buf, k);
}

static void emit_html(fmt_out *o, const char *s, size_t n, int decode)
{
    static const struct {
        char c;
        const char *ent;
    } ents[] = {{'&', "&amp;"}, {'<', "&lt;"}, {'>', "&gt;"}, {'"', "&quot;"}, {'\'', "&#39;"}};
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (decode) {
            if (s[i] != '&')
                continue;
            for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
                size_t el = strlen(ents[e].ent);
                if (i + el <= n && memcmp(s + i, ents[e].ent, el) == 0) {
                    emit(o, s + start, i - start);
                    emit(o, &ents[e].c, 1);
                    start = i + el;
                    i += el - 1;
                    break;
                }
            }
            continue;
        }
        for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
            if (s[i] == ents[e].c) {
                emit(o, s + start, i - start);
                emit(o, ents[e].ent, strlen(ents[e].ent));
                start = i + 1;
                break;
            }
        }
    }
    emit(o, s + start, n - start);
}

static duk_idx_t next_arg(duk_context *ctx, duk_idx_t *ai, duk_idx_t top, char conv)
{
    if (*ai >= top)
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "printf: no argument left for %%%c in format", conv);
    return (*ai)++;
}

size_t js_format(duk_context *ctx, duk_idx_t fmt_idx, js_out_fn out, void *arg)
{
    fmt_idx = duk_normalize_index(ctx, fmt_idx);
    duk_idx_t top = duk_get_top(ctx);
    duk_idx_t ai = fmt_idx + 1;
    fmt_out o = {out, arg, 0};
    duk_size_t flen;
    const char *fmt = duk_to_lstring(ctx, fmt_idx, &flen);
    size_t i = 0, lit = 0;

#define NEXT_ARG(conv) next_arg(ctx, &ai, top, (conv))

    while (i < flen) {
        if (fmt[i] != '%') {
            i++;
            continue;
        }
        emit(&o, fmt + lit, i - lit);
        i++;
        spec sp = {0};
        sp.width = -1;
        sp.precision = -1;
        for (; i < flen; i++) {
            char c = fmt[i];
            if (c == '-')
                sp.minus = 1;
            else if (c == '+')
                sp.plus = 1;
            else if (c == ' ')
                sp.space = 1;
            else if (c == '0')
                sp.zero = 1;
            else if (c == '#')
                sp.hash = 1;
            else if (c == '!')
                sp.bang = 1;
            else
                break;
        }
        if (i < flen && fmt[i] == '*') {
            sp.width = duk_to_int(ctx, NEXT_ARG('*'));
            if (sp.width < 0) {
                sp.minus = 1;
                sp.width = -sp.width;
            }
            i++;
        } else {
            while (i < flen && isdigit((unsigned char)fmt[i])) {
                sp.width = (sp.width < 0 ? 0 : sp.width) * 10 + (fmt[i] - '0');
                if (sp.width > 100000)
                    sp.width = 100000;
                i++;
            }
        }
        if (i < flen && fmt[i] == '.') {
            i++;
            sp.precision = 0;
            if (i < flen && fmt[i] == '*') {
                sp.precision = duk_to_int(ctx, NEXT_ARG('*'));
                i++;
            } else {
                while (i < flen && isdigit((unsigned char)fmt[i])) {
                    sp.precision = sp.precision * 10 + (fmt[i] - '0');
                    if (sp.precision > 100000)
                        sp.precision = 100000;
                    i++;
                }
            }
        }
        while (i < flen && (fmt[i] == 'l' || fmt[i] == 'h' || fmt[i] == 'z'))
            i++; /* C length modifiers mean nothing here */
        if (i >= flen)
            (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "printf: format ends inside a %% directive");
        sp.conv = fmt[i++];
        lit = i;
        switch (sp.conv) {
        case '%': emit(&o, "%", 1); break;
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G': emit_number(ctx, &o, &sp, NEXT_ARG(sp.conv)); break;
        case 'c': emit_char(ctx, &o, &sp, NEXT_ARG('c')); break;
        case 's': {
            size_t n;
            const char *s = arg_bytes(ctx, NEXT_ARG('s'), &n);
            if (sp.precision >= 0)
                n = utf8_prefix(s, n, (size_t)sp.precision);
            emit_padded(&o, &sp, s, n);
            duk_pop(ctx);
            break;
        }
        case 'J': {
            js_json_push(ctx, NEXT_ARG('J'), sp.width > 0 ? (int)(sp.width > 10 ? 10 : sp.width) : 0);
            duk_size_t n;
            const char *s = duk_get_lstring(ctx, -1, &n);
            if (s)
                emit(&o, s, n);
            else
                emit(&o, "undefined", 9);
            duk_pop(ctx);
            break;
        }
        case 'U':
        case 'H': {
            size_t n;
            const char *s = arg_bytes(ctx, NEXT_ARG(sp.conv), &n);
            if (sp.conv == 'U')
                emit_url(&o, s, n, sp.bang);
            else
                emit_html(&o, s, n, sp.bang);
            duk_pop(ctx);
            break;
        }
        case 'B': {
            duk_dup(ctx, NEXT_ARG('B'));
            if (sp.bang) {
                duk_base64_decode(ctx, -1);
                duk_size_t n;
                const char *p = duk_get_buffer_data(ctx, -1, &n);
                emit(&o, p ? p : "", n);
            } else {
                if (!duk_is_buffer_data(ctx, -1))
                    duk_to_string(ctx, -1);
                duk_size_t n;
                const char *s = duk_base64_encode(ctx, -1);
                n = strlen(s);
                emit(&o, s, n);
            }
            duk_pop(ctx);
            break;
        }
        default:
            (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "printf: unknown format '%%%c'", sp.conv);
        }
    }
#undef NEXT_ARG
    emit(&o, fmt + lit, flen - lit);
    return o.n;
}

/* Output into a Duktape dynamic buffer at a fixed stack index, so a throw
 * in the middle leaks nothing. */
typedef struct buf_out {
    duk_context *ctx;
    duk_idx_t idx;
    size_t len, cap;
    char *p;
} buf_out;

static void buf_write(void *arg, const char *data, size_t len)
{
    buf_out *b = arg;
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + len)
            nc *= 2;
        b->p = duk_resize_buffer(b->ctx, b->idx, nc);
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* Formats into a buffer pushed on the stack; returns its data and length. */
static const char *format_to_buffer(duk_context *ctx, duk_idx_t fmt_idx, size_t *len)
{
    fmt_idx = duk_normalize_index(ctx, fmt_idx);
    /* the arguments must stay at the top for js_format: copy them above the buffer */
    duk_idx_t top = duk_get_top(ctx);
    duk_push_dynamic_buffer(ctx, 0);
    buf_out b = {ctx, duk_get_top_index(ctx), 0, 0, NULL};
    for (duk_idx_t i = fmt_idx; i < top; i++)
        duk_dup(ctx, i);
    js_format(ctx, b.idx + 1, buf_write, &b);
    duk_set_top(ctx, b.idx + 1);
    duk_resize_buffer(ctx, b.idx, b.len);
    *len = b.len;
    duk_size_t sz;
    const char *p = duk_get_buffer_data(ctx, b.idx, &sz);
    return p ? p : "";
}

void js_sprintf_push(duk_context *ctx, duk_idx_t fmt_idx)
{
    size_t len;
    format_to_buffer(ctx, fmt_idx, &len);
    duk_buffer_to_string(ctx, -1);
}

/* ==== JSON and inspection ================================================= */

void js_json_push(duk_context *ctx, duk_idx_t idx, int indent)
{
    idx = duk_normalize_index(ctx, idx);
    if (indent <= 0) {
        duk_dup(ctx, idx);
        duk_json_encode(ctx, -1);
        return;
    }
    duk_get_global_string(ctx, "JSON");
    duk_get_prop_string(ctx, -1, "stringify");
    duk_remove(ctx, -2);
    duk_dup(ctx, idx);
    duk_push_null(ctx);
    duk_push_int(ctx, indent);
    duk_call(ctx, 3);
}

static duk_ret_t inspect_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_idx_t v = duk_get_top_index(ctx); /* safe calls share the caller's frame */
    if (duk_is_string(ctx, v))
        return 1;
    if (duk_is_function(ctx, v)) {
        duk_get_prop_string(ctx, v, "name");
        const char *n = duk_get_string(ctx, -1);
        duk_push_sprintf(ctx, "[Function%s%s]", n && *n ? ": " : "", n && *n ? n : "");
        return 1;
    }
    if (duk_is_error(ctx, v)) {
        if (js_push_error_stack(ctx, v))
            return 1;
        duk_dup(ctx, v);
        duk_to_string(ctx, -1);
        return 1;
    }
    if (duk_is_object(ctx, v) || duk_is_buffer_data(ctx, v)) {
        js_json_push(ctx, v, 0);
        if (duk_is_string(ctx, -1))
            return 1;
    }
    duk_dup(ctx, v);
    duk_to_string(ctx, -1);
    return 1;
}

void js_inspect_push(duk_context *ctx, duk_idx_t idx)
{
    duk_dup(ctx, idx);
    if (duk_safe_call(ctx, inspect_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
        /* e.g. a cyclic object */
        duk_pop(ctx);
        if (duk_is_array(ctx, idx))
            duk_push_string(ctx, "[Array (circular)]");
        else
            duk_push_string(ctx, "[Object (circular)]");
    }
}

/* ==== printf, sprintf, fprintf ============================================== */

static void write_all(FILE *f, const char *p, size_t n)
{
    if (n)
        fwrite(p, 1, n, f);
}

static duk_ret_t u_sprintf(duk_context *ctx)
{
    js_sprintf_push(ctx, 0);
    return 1;
}

static duk_ret_t u_printf(duk_context *ctx)
{
    size_t len;
    const char *p = format_to_buffer(ctx, 0, &len);
    write_all(stdout, p, len);
    duk_push_uint(ctx, (duk_uint_t)len);
    return 1;
}

/* The handles' numbers: 1 stdout, 2 stderr, and the server's logs. */
enum { H_STDOUT = 1, H_STDERR = 2, H_ACCESS_LOG = 3, H_ERROR_LOG = 4 };

static int handle_of(duk_context *ctx, duk_idx_t idx)
{
    if (!duk_is_object(ctx, idx))
        return 0;
    if (!duk_get_prop_string(ctx, idx, FD_KEY)) {
        duk_pop(ctx);
        return 0;
    }
    int h = duk_get_int(ctx, -1);
    duk_pop(ctx);
    return h;
}

static FILE *std_handle(duk_context *ctx, duk_idx_t idx)
{
    int h = handle_of(ctx, idx);
    return h == H_STDERR ? stderr : h == H_STDOUT ? stdout : NULL;
}

/* fprintf(target, [append,] fmt, ...): target is rampart.utils.stdout,
 * rampart.utils.stderr, rampart.utils.accessLog / errorLog (the server's
 * configured logs, written raw in one write: NEWER.md's logFunc) or a file name (truncated, or appended to when
 * append is true).  Returns the number of bytes written. */
static duk_ret_t u_fprintf(duk_context *ctx)
{
    int append = 0;
    duk_idx_t fmt_idx = 1;
    if (duk_is_boolean(ctx, 1)) {
        append = duk_get_boolean(ctx, 1);
        fmt_idx = 2;
    }
    int h = handle_of(ctx, 0);
    FILE *std = std_handle(ctx, 0);
    const char *fname = NULL;
    if (h == H_ACCESS_LOG || h == H_ERROR_LOG) {
        /* the server's own log files: one write each, as the core's lines */
        if (!duk_is_string(ctx, fmt_idx))
            return duk_error(ctx, DUK_ERR_TYPE_ERROR, "fprintf: the format must be a string");
        size_t n;
        const char *text = format_to_buffer(ctx, fmt_idx, &n);
        if (h == H_ACCESS_LOG)
            rp_access_log_write(text, n);
        else
            rp_error_log_write(text, n);
        duk_push_uint(ctx, (duk_uint_t)n);
        return 1;
    }
    if (!std) {
        if (!duk_is_string(ctx, 0))
            return duk_error(ctx, DUK_ERR_TYPE_ERROR,
                             "fprintf: the first argument must be a file name, "
                             "rampart.utils.stdout or rampart.utils.stderr");
        fname = duk_get_string(ctx, 0);
    }
    if (!duk_is_string(ctx, fmt_idx))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "fprintf: the format must be a string");
    size_t len;
    const char *p = format_to_buffer(ctx, fmt_idx, &len);
    if (std) {
        if (std == stderr)
            fflush(stdout);
        write_all(std, p, len);
        if (std == stderr)
            fflush(stderr);
    } else {
        FILE *f = fopen(fname, append ? "ae" : "we");
        if (!f)
            return duk_error(ctx, DUK_ERR_ERROR, "fprintf: cannot open '%s': %s", fname,
                             strerror(errno));
        write_all(f, p, len);
        if (fclose(f) != 0)
            return duk_error(ctx, DUK_ERR_ERROR, "fprintf: cannot write '%s': %s", fname,
                             strerror(errno));
    }
    duk_push_uint(ctx, (duk_uint_t)len);
    return 1;
}

/* ==== files ================================================================= */

/* readFile(path [, offset [, length]] [, returnString]) or
 * readFile({file, offset, length, returnString}).  offset < 0 counts from
 * the end; length <= 0 stops that many bytes before the end (0: to the end).
 * Returns a Buffer, or a string with returnString true. */
static duk_ret_t u_readfile(duk_context *ctx)
{
    const char *path;
    double offset = 0, length = 0;
    int have_len = 0, as_string = 0;
    duk_idx_t nargs = duk_get_top(ctx);
    if (duk_is_object(ctx, 0) && !duk_is_buffer_data(ctx, 0)) {
        duk_get_prop_string(ctx, 0, "file");
        if (!duk_is_string(ctx, -1)) {
            duk_pop(ctx);
            duk_get_prop_string(ctx, 0, "path");
        }
        path = duk_require_string(ctx, -1);
        if (duk_get_prop_string(ctx, 0, "offset"))
            offset = duk_to_number(ctx, -1);
        if (duk_get_prop_string(ctx, 0, "length")) {
            length = duk_to_number(ctx, -1);
            have_len = 1;
        }
        duk_get_prop_string(ctx, 0, "returnString");
        as_string = duk_to_boolean(ctx, -1);
    } else {
        if (!duk_is_string(ctx, 0))
            return duk_error(ctx, DUK_ERR_TYPE_ERROR, "readFile: the file name must be a string");
        path = duk_get_string(ctx, 0);
        int nums = 0;
        for (duk_idx_t i = 1; i < nargs; i++) {
            if (duk_is_boolean(ctx, i)) {
                as_string = duk_get_boolean(ctx, i);
            } else if (duk_is_number(ctx, i)) {
                if (nums == 0)
                    offset = duk_get_number(ctx, i);
                else if (nums == 1) {
                    length = duk_get_number(ctx, i);
                    have_len = 1;
                }
                nums++;
            } else if (!duk_is_undefined(ctx, i) && !duk_is_null(ctx, i)) {
                return duk_error(ctx, DUK_ERR_TYPE_ERROR,
                                 "readFile: unexpected argument %d (numbers offset, length and a "
                                 "boolean returnString are accepted)",
                                 (int)i + 1);
            }
        }
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        close(fd);
        return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        /* a pipe, /proc file...: read to the end, then cut */
        size_t n;
        close(fd);
        char *all = js_read_file(path, &n);
        if (!all)
            return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(errno));
        double off = offset < 0 ? (double)n + offset : offset;
        if (off < 0)
            off = 0;
        if (off > (double)n)
            off = (double)n;
        double end = !have_len || length == 0 ? (double)n
                     : length < 0             ? (double)n + length
                                              : off + length;
        if (end > (double)n)
            end = (double)n;
        size_t cnt = end > off ? (size_t)(end - off) : 0;
        void *b = duk_push_fixed_buffer(ctx, cnt);
        memcpy(b, all + (size_t)off, cnt);
        free(all);
    } else {
        double size = (double)st.st_size;
        double off = offset < 0 ? size + offset : offset;
        if (off < 0)
            off = 0;
        if (off > size)
            off = size;
        double end = !have_len || length == 0 ? size
                     : length < 0             ? size + length
                                              : off + length;
        if (end > size)
            end = size;
        size_t cnt = end > off ? (size_t)(end - off) : 0;
        char *b = duk_push_fixed_buffer(ctx, cnt);
        size_t got = 0;
        while (got < cnt) {
            ssize_t r = pread(fd, b + got, cnt - got, (off_t)off + (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
        if (got < cnt) {
            /* the file shrank meanwhile */
            void *nb = duk_push_fixed_buffer(ctx, got);
            memcpy(nb, b, got);
            duk_remove(ctx, -2);
        }
    }
    if (as_string)
        duk_buffer_to_string(ctx, -1);
    return 1;
}

static duk_ret_t stat_is(duk_context *ctx, mode_t type)
{
    duk_push_this(ctx);
    duk_get_prop_string(ctx, -1, "mode");
    mode_t m = (mode_t)duk_to_uint32(ctx, -1);
    duk_push_boolean(ctx, (m & S_IFMT) == type);
    return 1;
}
static duk_ret_t st_isdir(duk_context *ctx) { return stat_is(ctx, S_IFDIR); }
static duk_ret_t st_isfile(duk_context *ctx) { return stat_is(ctx, S_IFREG); }
static duk_ret_t st_islink(duk_context *ctx) { return stat_is(ctx, S_IFLNK); }
static duk_ret_t st_isblock(duk_context *ctx) { return stat_is(ctx, S_IFBLK); }
static duk_ret_t st_ischar(duk_context *ctx) { return stat_is(ctx, S_IFCHR); }
static duk_ret_t st_isfifo(duk_context *ctx) { return stat_is(ctx, S_IFIFO); }
static duk_ret_t st_issock(duk_context *ctx) { return stat_is(ctx, S_IFSOCK); }

static void push_date(duk_context *ctx, const struct timespec *ts)
{
    duk_get_global_string(ctx, "Date");
    duk_push_number(ctx, (double)ts->tv_sec * 1000.0 + floor((double)ts->tv_nsec / 1e6));
    duk_new(ctx, 1);
}

/* isDirectory() & co on the stat object at the top: made once per heap and
 * registered (snapshots re-resolve them), then shared by every stat. */
static void put_stat_methods(duk_context *ctx)
{
    static const js_fn fns[] = {
        {"isDirectory", st_isdir, 0, "rampart.utils.stat.isDirectory"},
        {"isFile", st_isfile, 0, "rampart.utils.stat.isFile"},
        {"isSymbolicLink", st_islink, 0, "rampart.utils.stat.isSymbolicLink"},
        {"isBlockDevice", st_isblock, 0, "rampart.utils.stat.isBlockDevice"},
        {"isCharacterDevice", st_ischar, 0, "rampart.utils.stat.isCharacterDevice"},
        {"isFIFO", st_isfifo, 0, "rampart.utils.stat.isFIFO"},
        {"isSocket", st_issock, 0, "rampart.utils.stat.isSocket"},
        {NULL, NULL, 0, NULL}};
    js_push_native(ctx, fns[0].path);
    int made = duk_is_function(ctx, -1);
    duk_pop(ctx);
    if (!made) {
        js_put_functions(ctx, -1, fns, 0);
        return;
    }
    for (const js_fn *f = fns; f->name; f++) {
        js_push_native(ctx, f->path);
        duk_put_prop_string(ctx, -2, f->name);
    }
}

static duk_ret_t do_stat(duk_context *ctx, int link)
{
    const char *path = duk_require_string(ctx, 0);
    struct stat st;
    if ((link ? lstat(path, &st) : stat(path, &st)) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            duk_push_false(ctx);
            return 1;
        }
        return duk_error(ctx, DUK_ERR_ERROR, "%s('%s'): %s", link ? "lstat" : "stat", path,
                         strerror(errno));
    }
    duk_push_object(ctx);
    const struct {
        const char *k;
        double v;
    } nums[] = {{"dev", (double)st.st_dev},         {"ino", (double)st.st_ino},
                {"nlink", (double)st.st_nlink},     {"rdev", (double)st.st_rdev},
                {"size", (double)st.st_size},       {"blksize", (double)st.st_blksize},
                {"blocks", (double)st.st_blocks},   {"uid", (double)st.st_uid},
                {"gid", (double)st.st_gid},         {"mode", (double)st.st_mode},
                {"permissions", (double)(st.st_mode & 07777)}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        duk_push_number(ctx, nums[i].v);
        duk_put_prop_string(ctx, -2, nums[i].k);
    }
    push_date(ctx, &st.st_atim);
    duk_put_prop_string(ctx, -2, "atime");
    push_date(ctx, &st.st_mtim);
    duk_put_prop_string(ctx, -2, "mtime");
    push_date(ctx, &st.st_ctim);
    duk_put_prop_string(ctx, -2, "ctime");
    put_stat_methods(ctx);
    return 1;
}
static duk_ret_t u_stat(duk_context *ctx) { return do_stat(ctx, 0); }
static duk_ret_t u_lstat(duk_context *ctx) { return do_stat(ctx, 1); }

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* readdir(path [, showHidden]): sorted names without . and .. (nor other
 * dot files unless showHidden). */
static duk_ret_t u_readdir(duk_context *ctx)
{
    const char *path = duk_require_string(ctx, 0);
    int hidden = duk_to_boolean(ctx, 1);
    DIR *d = opendir(path);
    if (!d)
        return duk_error(ctx, DUK_ERR_ERROR, "readdir('%s'): %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    const struct dirent *de;
    int oom = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (!hidden || nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                oom = 1;
                break;
            }
            names = nn;
            cap = nc;
        }
        names[n] = strdup(nm);
        if (!names[n]) {
            oom = 1;
            break;
        }
        n++;
    }
    closedir(d);
    if (!oom && n)
        qsort(names, n, sizeof *names, cmp_str);
    if (!oom)
        duk_push_array(ctx);
    for (size_t i = 0; i < n; i++) {
        if (!oom) {
            duk_push_string(ctx, names[i]);
            duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
        }
        free(names[i]);
    }
    free(names);
    if (oom)
        return duk_error(ctx, DUK_ERR_ERROR, "readdir('%s'): out of memory", path);
    return 1;
}

static duk_ret_t u_buffer_to_string(duk_context *ctx)
{
    if (duk_is_string(ctx, 0))
        return 1;
    if (!duk_is_buffer_data(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "bufferToString: the argument must be a Buffer");
    duk_dup(ctx, 0);
    duk_buffer_to_string(ctx, -1);
    return 1;
}

static duk_ret_t u_string_to_buffer(duk_context *ctx)
{
    if (duk_is_buffer_data(ctx, 0))
        return 1;
    duk_size_t n;
    const char *s = duk_to_lstring(ctx, 0, &n);
    void *b = duk_push_fixed_buffer(ctx, n);
    if (n)
        memcpy(b, s, n);
    return 1;
}

static duk_ret_t u_trim(duk_context *ctx)
{
    if (!duk_is_string(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "trim: the argument must be a string");
    duk_dup(ctx, 0);
    duk_trim(ctx, -1);
    return 1;
}

/* ==== processes ============================================================= */

static const struct {
    const char *name;
    int sig;
} signames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
                {"CONT", SIGCONT}, {"ALRM", SIGALRM}, {"CHLD", SIGCHLD}, {"PIPE", SIGPIPE}};

static int get_signal(duk_context *ctx, duk_idx_t idx, int def)
{
    if (duk_is_undefined(ctx, idx) || duk_is_null(ctx, idx))
        return def;
    if (duk_is_number(ctx, idx))
        return duk_get_int(ctx, idx);
    const char *s = duk_to_string(ctx, idx);
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
        if (strcmp(s, signames[i].name) == 0)
            return signames[i].sig;
    (void)duk_error(ctx, DUK_ERR_RANGE_ERROR, "unknown signal '%s'", duk_to_string(ctx, idx));
    return 0;
}

/* kill(pid [, signal]): true if the signal was sent. */
static duk_ret_t u_kill(duk_context *ctx)
{
    double pid = duk_require_number(ctx, 0);
    int sig = get_signal(ctx, 1, SIGTERM);
    if (pid <= 0 || pid > 4194304.0)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "kill: bad pid %g", pid);
    duk_push_boolean(ctx, kill((pid_t)pid, sig) == 0);
    return 1;
}

static duk_ret_t u_getpid(duk_context *ctx)
{
    duk_push_int(ctx, (duk_int_t)getpid());
    return 1;
}

static duk_ret_t u_getppid(duk_context *ctx)
{
    duk_push_int(ctx, (duk_int_t)getppid());
    return 1;
}

/* sleep(seconds): fractions allowed. */
static duk_ret_t u_sleep(duk_context *ctx)
{
    double s = duk_to_number(ctx, 0);
    if (s > 0 && isfinite(s)) {
        struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)}, rem;
        while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
            ts = rem;
    }
    return 0;
}

typedef struct growbuf {
    char *p;
    size_t n, cap;
} growbuf;

static int grow_append(growbuf *g, const char *d, size_t n)
{
    if (g->n + n > g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 4096;
        while (nc < g->n + n)
            nc *= 2;
        char *np = realloc(g->p, nc);
        if (!np)
            return -1;
        g->p = np;
        g->cap = nc;
    }
    memcpy(g->p + g->n, d, n);
    g->n += n;
    return 0;
}

typedef struct exec_opts {
    double timeout_ms;
    int kill_sig;
    int background;
    int return_buffer;
    const char *cwd;
    const char *in;
    size_t in_len;
    char **env; /* NULL: inherit */
} exec_opts;

/* argv/env strings point into Duktape strings kept on the stack. */
static void read_opts(duk_context *ctx, duk_idx_t oi, exec_opts *o, duk_idx_t env_arr)
{
    if (duk_get_prop_string(ctx, oi, "timeout"))
        o->timeout_ms = duk_to_number(ctx, -1);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "killSignal");
    o->kill_sig = get_signal(ctx, -1, SIGTERM);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "background");
    o->background = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    duk_get_prop_string(ctx, oi, "returnBuffer");
    o->return_buffer = duk_to_boolean(ctx, -1);
    duk_pop(ctx);
    if (!duk_get_prop_string(ctx, oi, "cd")) {
        duk_pop(ctx);
        duk_get_prop_string(ctx, oi, "cwd");
    }
    if (!duk_is_undefined(ctx, -1))
        o->cwd = duk_to_string(ctx, -1);
    duk_put_prop_string(ctx, env_arr, "cwd"); /* keep it alive */
    if (duk_get_prop_string(ctx, oi, "stdin")) {
        if (!duk_is_buffer_data(ctx, -1))
            duk_to_string(ctx, -1);
        duk_size_t n;
        o->in = duk_is_string(ctx, -1) ? duk_get_lstring(ctx, -1, &n)
                                       : duk_get_buffer_data(ctx, -1, &n);
        o->in_len = n;
    }
    duk_put_prop_string(ctx, env_arr, "stdin");
    if (duk_get_prop_string(ctx, oi, "env") && duk_is_object(ctx, -1)) {
        duk_idx_t eo = duk_get_top_index(ctx);
        duk_get_prop_string(ctx, oi, "appendEnv");
        int append = duk_to_boolean(ctx, -1);
        duk_pop(ctx);
        duk_push_array(ctx); /* the "K=V" strings */
        duk_uarridx_t k = 0;
        if (append) {
            extern char **environ;
            for (char **e = environ; e && *e; e++) {
                duk_push_string(ctx, *e);
                duk_put_prop_index(ctx, -2, k++);
            }
        }
        duk_enum(ctx, eo, DUK_ENUM_OWN_PROPERTIES_ONLY);
        while (duk_next(ctx, -1, 1)) {
            duk_push_sprintf(ctx, "%s=%s", duk_to_string(ctx, -2), duk_to_string(ctx, -1));
            duk_put_prop_index(ctx, -5, k++);
            duk_pop_2(ctx);
        }
        duk_pop(ctx);
        o->env = calloc((size_t)k + 1, sizeof(char *));
        if (o->env)
            for (duk_uarridx_t i = 0; i < k; i++) {
                duk_get_prop_index(ctx, -1, i);
                o->env[i] = (char *)duk_get_string(ctx, -1);
                duk_pop(ctx);
            }
        duk_put_prop_string(ctx, env_arr, "envstrings");
    }
    duk_pop(ctx);
}

static void child_exec(char **argv, const exec_opts *o, int in_fd, int out_fd, int err_fd,
                       int report_fd)
{
    if (in_fd >= 0)
        dup2(in_fd, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->cwd && chdir(o->cwd) != 0) {
        int e = errno;
        if (write(report_fd, &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    if (o->env)
        execvpe(argv[0], argv, o->env);
    else
        execvp(argv[0], argv);
    int e = errno;
    if (write(report_fd, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Runs argv; fills out/err and *status.  Returns 0, or an errno for a
 * command that could not be started. */
static int run_child(char **argv, const exec_opts *o, growbuf *out, growbuf *err, int *status,
                     int *timed_out, pid_t *pid_out)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, prep[2] = {-1, -1};
    if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || pipe2(prep, O_CLOEXEC) ||
        pipe2(pin, O_CLOEXEC)) {
        int e = errno;
        close_fd(&pin[0]), close_fd(&pin[1]), close_fd(&pout[0]), close_fd(&pout[1]);
        close_fd(&perr[0]), close_fd(&perr[1]), close_fd(&prep[0]), close_fd(&prep[1]);
        return e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close_fd(&pin[0]), close_fd(&pin[1]), close_fd(&pout[0]), close_fd(&pout[1]);
        close_fd(&perr[0]), close_fd(&perr[1]), close_fd(&prep[0]), close_fd(&prep[1]);
        return e;
    }
    if (pid == 0)
        child_exec(argv, o, pin[0], pout[1], perr[1], prep[1]);
    *pid_out = pid;
    close_fd(&pin[0]);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    close_fd(&prep[1]);
    int e = 0;
    ssize_t r;
    while ((r = read(prep[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close_fd(&prep[0]);
    if (r == (ssize_t)sizeof e) {
        close_fd(&pin[1]);
        close_fd(&pout[0]);
        close_fd(&perr[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return e ? e : ENOEXEC;
    }
    if (!o->in || o->in_len == 0)
        close_fd(&pin[1]);
    else
        fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
    size_t in_off = 0;
    double deadline = o->timeout_ms > 0 ? js_now_mono() + o->timeout_ms / 1000.0 : 0;
    char buf[16384];
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd pf[3];
        int np = 0, iout = -1, ierr = -1, iin = -1;
        if (pout[0] >= 0)
            pf[iout = np++] = (struct pollfd){pout[0], POLLIN, 0};
        if (perr[0] >= 0)
            pf[ierr = np++] = (struct pollfd){perr[0], POLLIN, 0};
        if (pin[1] >= 0)
            pf[iin = np++] = (struct pollfd){pin[1], POLLOUT, 0};
        int wait_ms = -1;
        if (deadline > 0) {
            double left = deadline - js_now_mono();
            if (left <= 0) {
                kill(pid, o->kill_sig);
                *timed_out = 1;
                deadline = 0;
                continue;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        int pr = poll(pf, (nfds_t)np, wait_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            break;
        if (iin >= 0 && (pf[iin].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], o->in + in_off, o->in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                in_off = o->in_len;
            if (in_off >= o->in_len)
                close_fd(&pin[1]);
        }
        const int idx[2] = {iout, ierr};
        int *fds[2] = {&pout[0], &perr[0]};
        growbuf *gb[2] = {out, err};
        for (int k = 0; k < 2; k++) {
            if (idx[k] < 0 || !(pf[idx[k]].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(*fds[k], buf, sizeof buf);
            if (n > 0)
                grow_append(gb[k], buf, (size_t)n);
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                close_fd(fds[k]);
        }
    }
    close_fd(&pin[1]);
    close_fd(&pout[0]);
    close_fd(&perr[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    return 0;
}

/* Background: double fork so nothing is left to reap; returns the pid. */
static int run_background(char **argv, const exec_opts *o, pid_t *pid_out)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return errno;
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (c == 0) {
        setsid();
        pid_t g = fork();
        if (g < 0)
            _exit(1);
        if (g > 0) {
            if (write(p[1], &g, sizeof g) < 0)
                _exit(1);
            _exit(0);
        }
        int devnull = open("/dev/null", O_RDWR);
        child_exec(argv, o, devnull, devnull, devnull, p[1]);
    }
    close(p[1]);
    while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
        ;
    pid_t g = -1;
    ssize_t r = read(p[0], &g, sizeof g);
    /* a second message is an exec errno from the grandchild */
    int e = 0;
    ssize_t r2 = read(p[0], &e, sizeof e);
    close(p[0]);
    if (r != (ssize_t)sizeof g)
        return ECHILD;
    if (r2 == (ssize_t)sizeof e && e)
        return e;
    *pid_out = g;
    return 0;
}

/* exec(command [, args...] [, options]) - command is a program name (found
 * in PATH) followed by its arguments, or an array [program, args...].  No
 * shell is involved (see shell()).  options: timeout (ms), killSignal,
 * background, cd, env (object; appendEnv: true keeps the current
 * environment), stdin (string or Buffer), returnBuffer.
 * Returns {stdout, stderr, exitStatus, timedOut, pid}; exitStatus is the
 * exit code, or 128 + signal number when killed.  With background: {pid}. */
static duk_ret_t u_exec(duk_context *ctx)
{
    duk_idx_t nargs = duk_get_top(ctx);
    duk_push_bare_object(ctx); /* keeps strings alive */
    duk_idx_t keep = duk_get_top_index(ctx);
    duk_push_array(ctx);
    duk_idx_t av = duk_get_top_index(ctx);
    duk_uarridx_t ac = 0;
    exec_opts o = {0};
    o.kill_sig = SIGTERM;
    for (duk_idx_t i = 0; i < nargs; i++) {
        if (duk_is_array(ctx, i)) {
            duk_size_t n = duk_get_length(ctx, i);
            for (duk_size_t k = 0; k < n; k++) {
                duk_get_prop_index(ctx, i, (duk_uarridx_t)k);
                duk_to_string(ctx, -1);
                duk_put_prop_index(ctx, av, ac++);
            }
        } else if (duk_is_object(ctx, i) && !duk_is_function(ctx, i) &&
                   !duk_is_buffer_data(ctx, i)) {
            read_opts(ctx, i, &o, keep);
        } else if (!duk_is_undefined(ctx, i)) {
            duk_dup(ctx, i);
            duk_to_string(ctx, -1);
            duk_put_prop_index(ctx, av, ac++);
        }
    }
    if (ac == 0) {
        free(o.env);
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "exec: no command given");
    }
    char **argv = calloc((size_t)ac + 1, sizeof *argv);
    if (!argv) {
        free(o.env);
        return duk_error(ctx, DUK_ERR_ERROR, "exec: out of memory");
    }
    for (duk_uarridx_t i = 0; i < ac; i++) {
        duk_get_prop_index(ctx, av, i);
        argv[i] = (char *)duk_get_string(ctx, -1);
        duk_pop(ctx);
    }
    fflush(stdout);
    fflush(stderr);
    growbuf out = {0}, err = {0};
    int status = -1, timed_out = 0;
    pid_t pid = -1;
    int e = o.background ? run_background(argv, &o, &pid)
                         : run_child(argv, &o, &out, &err, &status, &timed_out, &pid);
    char cmd0[256];
    snprintf(cmd0, sizeof cmd0, "%s", argv[0]);
    free(argv);
    free(o.env);
    if (e) {
        free(out.p);
        free(err.p);
        return duk_error(ctx, DUK_ERR_ERROR, "exec: cannot run '%s': %s", cmd0, strerror(e));
    }
    duk_push_object(ctx);
    if (!o.background) {
        growbuf *gb[2] = {&out, &err};
        const char *names[2] = {"stdout", "stderr"};
        for (int k = 0; k < 2; k++) {
            void *b = duk_push_fixed_buffer(ctx, gb[k]->n);
            if (gb[k]->n)
                memcpy(b, gb[k]->p, gb[k]->n);
            free(gb[k]->p);
            if (!o.return_buffer)
                duk_buffer_to_string(ctx, -1);
            duk_put_prop_string(ctx, -2, names[k]);
        }
        duk_push_int(ctx, status);
        duk_put_prop_string(ctx, -2, "exitStatus");
        duk_push_boolean(ctx, timed_out);
        duk_put_prop_string(ctx, -2, "timedOut");
    }
    duk_push_int(ctx, (duk_int_t)pid);
    duk_put_prop_string(ctx, -2, "pid");
    return 1;
}

/* shell(commandLine [, options]): exec("/bin/sh", "-c", commandLine). */
static duk_ret_t u_shell(duk_context *ctx)
{
    const char *cmd = duk_require_string(ctx, 0);
    duk_idx_t nargs = duk_get_top(ctx);
    duk_push_c_function(ctx, u_exec, DUK_VARARGS);
    duk_push_string(ctx, "/bin/sh");
    duk_push_string(ctx, "-c");
    duk_push_string(ctx, cmd);
    int extra = 0;
    if (nargs > 1 && duk_is_object(ctx, 1)) {
        duk_dup(ctx, 1);
        extra = 1;
    }
    duk_call(ctx, 3 + extra);
    return 1;
}

/* ==== console and globalize ================================================= */

/* One whole line per call, flushed at once: worker threads log concurrently,
 * and a server's console output must reach its log file while it runs. */
static void console_out(duk_context *ctx, FILE *f)
{
    duk_idx_t n = duk_get_top(ctx);
    for (duk_idx_t i = 0; i < n; i++)
        js_inspect_push(ctx, i); /* may call into JS: before taking the lock */
    flockfile(f);
    for (duk_idx_t i = n; i < 2 * n; i++) {
        duk_size_t len;
        const char *s = duk_get_lstring(ctx, i, &len);
        if (i > n)
            fputc(' ', f);
        if (s)
            fwrite(s, 1, len, f);
    }
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
    duk_pop_n(ctx, n);
}

static duk_ret_t c_log(duk_context *ctx)
{
    console_out(ctx, stdout);
    return 0;
}

static duk_ret_t c_error(duk_context *ctx)
{
    fflush(stdout);
    console_out(ctx, stderr);
    fflush(stderr);
    return 0;
}

/* rampart.globalize(obj [, keys]): copy obj's own enumerable properties (or
 * only those named in the array keys) to the global object. */
static duk_ret_t r_globalize(duk_context *ctx)
{
    if (!duk_is_object(ctx, 0))
        return duk_error(ctx, DUK_ERR_TYPE_ERROR, "globalize: the argument must be an object");
    duk_push_global_object(ctx);
    if (duk_is_array(ctx, 1)) {
        duk_size_t n = duk_get_length(ctx, 1);
        for (duk_size_t i = 0; i < n; i++) {
            duk_get_prop_index(ctx, 1, (duk_uarridx_t)i);
            duk_dup_top(ctx);
            duk_get_prop(ctx, 0);
            duk_put_prop(ctx, -3);
        }
    } else {
        duk_enum(ctx, 0, DUK_ENUM_OWN_PROPERTIES_ONLY);
        while (duk_next(ctx, -1, 1))
            duk_put_prop(ctx, -4);
        duk_pop(ctx);
    }
    duk_pop(ctx);
    return 0;
}

void js_utils_install(duk_context *ctx)
{
    static const js_fn fns[] = {
        {"sprintf", u_sprintf, DUK_VARARGS, "rampart.utils.sprintf"},
        {"printf", u_printf, DUK_VARARGS, "rampart.utils.printf"},
        {"fprintf", u_fprintf, DUK_VARARGS, "rampart.utils.fprintf"},
        {"readFile", u_readfile, DUK_VARARGS, "rampart.utils.readFile"},
        {"stat", u_stat, 1, "rampart.utils.stat"},
        {"lstat", u_lstat, 1, "rampart.utils.lstat"},
        {"readdir", u_readdir, 2, "rampart.utils.readdir"},
        {"bufferToString", u_buffer_to_string, 1, "rampart.utils.bufferToString"},
        {"stringToBuffer", u_string_to_buffer, 1, "rampart.utils.stringToBuffer"},
        {"trim", u_trim, 1, "rampart.utils.trim"},
        {"exec", u_exec, DUK_VARARGS, "rampart.utils.exec"},
        {"shell", u_shell, DUK_VARARGS, "rampart.utils.shell"},
        {"kill", u_kill, 2, "rampart.utils.kill"},
        {"getpid", u_getpid, 0, "rampart.utils.getpid"},
        {"getppid", u_getppid, 0, "rampart.utils.getppid"},
        {"sleep", u_sleep, 1, "rampart.utils.sleep"},
        {NULL, NULL, 0, NULL}};
    static const js_fn rampart_fns[] = {{"globalize", r_globalize, 2, "rampart.globalize"},
                                        {NULL, NULL, 0, NULL}};
    static const js_fn console_fns[] = {{"log", c_log, DUK_VARARGS, "console.log"},
                                        {"info", c_log, DUK_VARARGS, "console.info"},
                                        {"error", c_error, DUK_VARARGS, "console.error"},
                                        {"warn", c_error, DUK_VARARGS, "console.warn"},
                                        {NULL, NULL, 0, NULL}};
    duk_push_object(ctx); /* rampart */
    js_register_native(ctx, -1, "rampart");
    duk_push_object(ctx); /* rampart.utils */
    js_register_native(ctx, -1, "rampart.utils");
    js_put_functions(ctx, -1, fns, JS_FN_NAMED);
    char path[64];
    static const char *const stdnames[] = {"stdout", "stderr", "accessLog", "errorLog"};
    for (int k = 0; k < 4; k++) {
        duk_push_object(ctx);
        duk_push_int(ctx, k + 1);
        duk_put_prop_string(ctx, -2, FD_KEY);
        snprintf(path, sizeof path, "rampart.utils.%s", stdnames[k]);
        js_register_native(ctx, -1, path);
        duk_put_prop_string(ctx, -2, stdnames[k]);
    }
    duk_put_prop_string(ctx, -2, "utils");
    js_put_functions(ctx, -1, rampart_fns, JS_FN_NAMED);
    duk_push_string(ctx, rp_version());
    duk_put_prop_string(ctx, -2, "version");
    js_def_global(ctx, "rampart");

    duk_push_object(ctx); /* console */
    js_register_native(ctx, -1, "console");
    js_put_functions(ctx, -1, console_fns, JS_FN_NAMED);
    js_def_global(ctx, "console");
}
