/* format.c - the printf engine (rampart.utils.printf's formats, also
 * behind req.printf), JSON and console-style text of values, and
 * rampart.utils' sprintf, printf, fprintf (with the standard and log
 * handles), bufferToString, stringToBuffer and trim. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "js_int.h"
#include "rt.h"

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
        const char *s = isnan(v) ? "NaN"
                        : v > 0  ? (sp->plus ? "+Infinity" : "Infinity")
                                 : "-Infinity";
        spec s2 = *sp;
        emit_padded(o, &s2, s, strlen(s));
        return;
    }
    int n;
    switch (conv) {
    case 'd':
    case 'i': {
        double t = trunc(v);
        long long ll = t >= 9.2e18    ? (long long)9.2e18
                       : t <= -9.2e18 ? (long long)-9.2e18
                                      : (long long)t;
        c_format(f, sizeof f, sp, "ll", 'd');
        n = snprintf(out, sizeof out, f, w, p, ll);
        break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        double t = trunc(v);
        long long ll = t >= 9.2e18    ? (long long)9.2e18
                       : t <= -9.2e18 ? (long long)-9.2e18
                                      : (long long)t;
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
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "printf: no argument left for %%%c in format",
                        conv);
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
            js_json_push(ctx, NEXT_ARG('J'),
                         sp.width > 0 ? (int)(sp.width > 10 ? 10 : sp.width) : 0);
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
        default: (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "printf: unknown format '%%%c'", sp.conv);
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
 * configured logs, written raw in one write: NEWER.md's logFunc) or a file name (truncated, or
 * appended to when append is true).  Returns the number of bytes written. */
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

const js_fn js_format_fns[] = {{"sprintf", u_sprintf, DUK_VARARGS, "rampart.utils.sprintf"},
                               {"printf", u_printf, DUK_VARARGS, "rampart.utils.printf"},
                               {"fprintf", u_fprintf, DUK_VARARGS, "rampart.utils.fprintf"},
                               {NULL, NULL, 0, NULL}};

const js_fn js_text_fns[] = {
    {"bufferToString", u_buffer_to_string, 1, "rampart.utils.bufferToString"},
    {"stringToBuffer", u_string_to_buffer, 1, "rampart.utils.stringToBuffer"},
    {"trim", u_trim, 1, "rampart.utils.trim"},
    {NULL, NULL, 0, NULL}};

void js_put_std_handles(duk_context *ctx, duk_idx_t utils_idx)
{
    utils_idx = duk_normalize_index(ctx, utils_idx);
    static const char *const names[] = {"stdout", "stderr", "accessLog", "errorLog"};
    char path[64];
    for (int k = 0; k < 4; k++) {
        duk_push_object(ctx);
        duk_push_int(ctx, k + 1); /* H_STDOUT ... H_ERROR_LOG */
        duk_put_prop_string(ctx, -2, FD_KEY);
        snprintf(path, sizeof path, "rampart.utils.%s", names[k]);
        js_register_native(ctx, -1, path);
        duk_put_prop_string(ctx, utils_idx, names[k]);
    }
}
