/* copy.c - the structured copy of mod_js: snapshots of the main heap's
 * globals for worker heaps, and (data-only mode) the values rampart.event
 * carries between heaps.
 *
 * js_snapshot_take serializes the globals into a self-contained byte string
 * (no Duktape pointers), which js_snapshot_apply decodes in any heap, in any
 * thread.  The encoding is a tree of tagged values; every object gets an id
 * in visiting order so shared references and cycles come back as T_REF.
 * The data-only mode (js_event_encode) writes one value with the same
 * encoder but carries no code: functions become undefined (and are left out
 * of objects), RegExps are plain objects, arrays are dense lists (T_LIST),
 * buffer objects arrive as plain buffers; too deep or too long values throw
 * instead of being cut.  What is copied how is documented in js_int.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "js_int.h"

enum {
    T_UNDEF = 1,
    T_NULL,
    T_TRUE,
    T_FALSE,
    T_NUM,    /* f64 */
    T_STR,    /* str */
    T_REF,    /* u32 id */
    T_OBJ,    /* id, u32 n, n x (str key, value) */
    T_ARR,    /* id, u32 length, u32 n, n x (str key, value) */
    T_DATE,   /* id, f64 */
    T_REGEXP, /* id, str source, str flags */
    T_PBUF,   /* str bytes: a plain buffer */
    T_BUFOBJ, /* id, u8 type, str bytes */
    T_FUNC,   /* id, str bytecode, u32 n, n x (str key, value) */
    T_NATIVE, /* str path: a runtime native, resolved in the target heap */
    T_MODULE, /* str id: module exports, re-required in the target heap */
    T_LIST,   /* id, u32 n, n x value: a dense array (data-only mode) */
};
enum { R_GLOBAL = 1, R_EXTRA };

#define MAX_DEPTH 1000
#define MAX_LIST (1 << 24) /* elements of one array in a data-only copy */

/* ---- pointer map (open addressing) ------------------------------------------ */

typedef struct ptrmap {
    const void **keys;
    uint32_t *vals;
    size_t cap, n;
} ptrmap;

static size_t ptr_hash(const void *p, size_t cap)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static int ptrmap_get(const ptrmap *m, const void *k, uint32_t *out)
{
    if (!m->cap)
        return 0;
    for (size_t i = ptr_hash(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return 0;
        if (m->keys[i] == k) {
            *out = m->vals[i];
            return 1;
        }
    }
}

static int ptrmap_put(ptrmap *m, const void *k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        const void **nk = calloc(nc, sizeof *nk);
        uint32_t *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = ptr_hash(m->keys[i], nc);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = nc;
    }
    size_t i = ptr_hash(k, m->cap);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

static void ptrmap_free(ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- the snapshot ---------------------------------------------------------------- */

struct js_snapshot {
    unsigned char *buf;
    size_t len, cap;
    int oom;
    /* encoding state, kept between take and add */
    ptrmap seen;      /* heapptr -> object id */
    uint32_t next_id;
    ptrmap special;   /* heapptr -> index into names (natives and modules) */
    char **names;     /* "N<path>" runtime native, "M<id>" module exports */
    size_t nnames;
    int depth;
    int data;      /* data-only mode (rampart.event) */
    int too_large; /* a string over 4 GiB: the data-only mode refuses it */
};

static void put(js_snapshot *s, const void *p, size_t n)
{
    if (s->oom || n == 0)
        return;
    if (s->len + n > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4096;
        while (nc < s->len + n)
            nc *= 2;
        unsigned char *nb = realloc(s->buf, nc);
        if (!nb) {
            s->oom = 1;
            return;
        }
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_u8(js_snapshot *s, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(s, &c, 1);
}

static void put_u32(js_snapshot *s, uint32_t v)
{
    put(s, &v, sizeof v);
}

static void put_f64(js_snapshot *s, double v)
{
    put(s, &v, sizeof v);
}

static void put_str(js_snapshot *s, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        s->too_large = 1;
        n = 0;
    }
    put_u32(s, (uint32_t)n);
    put(s, p, n);
}

/* ---- encoding ----------------------------------------------------------------- */

typedef struct enc {
    js_snapshot *s;
    duk_idx_t keep;     /* stash array keeping every visited object alive */
    duk_idx_t tostring; /* Object.prototype.toString */
    duk_idx_t nodebuf;  /* the Buffer constructor, or undefined */
} enc;

static const struct {
    const char *cls;
    duk_uint_t flags;
} buftypes[] = {
    {"[object ArrayBuffer]", DUK_BUFOBJ_ARRAYBUFFER},
    {"[object DataView]", DUK_BUFOBJ_DATAVIEW},
    {"[object Int8Array]", DUK_BUFOBJ_INT8ARRAY},
    {"[object Uint8Array]", DUK_BUFOBJ_UINT8ARRAY},
    {"[object Uint8ClampedArray]", DUK_BUFOBJ_UINT8CLAMPEDARRAY},
    {"[object Int16Array]", DUK_BUFOBJ_INT16ARRAY},
    {"[object Uint16Array]", DUK_BUFOBJ_UINT16ARRAY},
    {"[object Int32Array]", DUK_BUFOBJ_INT32ARRAY},
    {"[object Uint32Array]", DUK_BUFOBJ_UINT32ARRAY},
    {"[object Float32Array]", DUK_BUFOBJ_FLOAT32ARRAY},
    {"[object Float64Array]", DUK_BUFOBJ_FLOAT64ARRAY},
    {"nodejs Buffer", DUK_BUFOBJ_NODEJS_BUFFER},
};

static void encode_value(duk_context *ctx, enc *e, duk_idx_t idx);

/* Own enumerable string-keyed properties: u32 n, then (key, value) pairs. */
static void encode_props(duk_context *ctx, enc *e, duk_idx_t idx)
{
    js_snapshot *s = e->s;
    size_t count_at = s->len;
    uint32_t n = 0;
    put_u32(s, 0);
    duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        if (s->data && duk_is_function(ctx, -1)) { /* data carries no code */
            duk_pop_2(ctx);
            continue;
        }
        duk_size_t kl;
        const char *k = duk_get_lstring(ctx, -2, &kl);
        put_str(s, k, kl);
        encode_value(ctx, e, duk_get_top_index(ctx));
        duk_pop_2(ctx);
        n++;
    }
    duk_pop(ctx);
    if (!s->oom)
        memcpy(s->buf + count_at, &n, sizeof n);
}

static uint32_t new_id(duk_context *ctx, enc *e, duk_idx_t idx)
{
    js_snapshot *s = e->s;
    uint32_t id = s->next_id++;
    if (ptrmap_put(&s->seen, duk_get_heapptr(ctx, idx), id) != 0)
        s->oom = 1;
    duk_dup(ctx, idx);
    duk_put_prop_index(ctx, e->keep, id);
    return id;
}

static duk_ret_t dump_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_dump_function(ctx);
    return 1;
}

/* Data-only mode: every element 0..length-1, holes too (as undefined),
 * nothing else of the array; a length over MAX_LIST throws (a sparse
 * a.length = 4e9 would mean billions of steps and bytes). */
static void encode_list(duk_context *ctx, enc *e, duk_idx_t idx)
{
    js_snapshot *s = e->s;
    duk_size_t n = duk_get_length(ctx, idx);
    if (n > MAX_LIST)
        (void)duk_error(ctx, DUK_ERR_RANGE_ERROR,
                        "rampart.event.trigger: array longer than %d elements", MAX_LIST);
    put_u8(s, T_LIST);
    put_u32(s, new_id(ctx, e, idx));
    put_u32(s, (uint32_t)n);
    for (duk_size_t i = 0; i < n; i++) {
        duk_get_prop_index(ctx, idx, (duk_uarridx_t)i);
        encode_value(ctx, e, -1);
        duk_pop(ctx);
    }
}

static void encode_object(duk_context *ctx, enc *e, duk_idx_t idx)
{
    js_snapshot *s = e->s;
    uint32_t v;
    void *hp = duk_get_heapptr(ctx, idx);
    if (s->data && duk_is_function(ctx, idx)) {
        put_u8(s, T_UNDEF);
        return;
    }
    if (ptrmap_get(&s->special, hp, &v)) {
        const char *nm = s->names[v];
        put_u8(s, nm[0] == 'N' ? T_NATIVE : T_MODULE);
        put_str(s, nm + 1, strlen(nm + 1));
        return;
    }
    if (ptrmap_get(&s->seen, hp, &v)) {
        put_u8(s, T_REF);
        put_u32(s, v);
        return;
    }
    if (duk_is_function(ctx, idx)) {
        if (duk_is_c_function(ctx, idx) || duk_is_bound_function(ctx, idx) ||
            duk_is_lightfunc(ctx, idx)) {
            put_u8(s, T_UNDEF);
            return;
        }
        duk_dup(ctx, idx);
        if (duk_safe_call(ctx, dump_safe, NULL, 1, 1) != DUK_EXEC_SUCCESS) {
            duk_pop(ctx);
            put_u8(s, T_UNDEF);
            return;
        }
        duk_size_t bl;
        const void *bc = duk_get_buffer_data(ctx, -1, &bl);
        put_u8(s, T_FUNC);
        put_u32(s, new_id(ctx, e, idx));
        put_str(s, bc, bl);
        duk_pop(ctx);
        encode_props(ctx, e, idx);
        return;
    }
    if (duk_is_array(ctx, idx) && s->data) {
        encode_list(ctx, e, idx);
        return;
    }
    if (duk_is_array(ctx, idx)) {
        put_u8(s, T_ARR);
        put_u32(s, new_id(ctx, e, idx));
        put_u32(s, (uint32_t)duk_get_length(ctx, idx));
        encode_props(ctx, e, idx);
        return;
    }
    /* the class, as Object.prototype.toString tells it */
    duk_dup(ctx, e->tostring);
    duk_dup(ctx, idx);
    duk_call_method(ctx, 0);
    const char *cls = duk_get_string(ctx, -1);
    if (duk_is_buffer_data(ctx, idx)) {
        duk_uint_t flags = DUK_BUFOBJ_UINT8ARRAY;
        if (duk_is_function(ctx, e->nodebuf) && duk_instanceof(ctx, idx, e->nodebuf)) {
            flags = DUK_BUFOBJ_NODEJS_BUFFER;
        } else {
            for (size_t i = 0; i < sizeof buftypes / sizeof buftypes[0]; i++)
                if (cls && strcmp(cls, buftypes[i].cls) == 0)
                    flags = buftypes[i].flags;
        }
        duk_pop(ctx);
        duk_size_t bl;
        const void *bd = duk_get_buffer_data(ctx, idx, &bl);
        put_u8(s, T_BUFOBJ);
        put_u32(s, new_id(ctx, e, idx));
        put_u8(s, (unsigned)(flags & 0xff));
        put_str(s, bd, bd ? bl : 0);
        return;
    }
    if (cls && strcmp(cls, "[object Date]") == 0) {
        duk_pop(ctx);
        duk_get_prop_string(ctx, idx, "getTime");
        duk_dup(ctx, idx);
        duk_call_method(ctx, 0);
        put_u8(s, T_DATE);
        put_u32(s, new_id(ctx, e, idx));
        put_f64(s, duk_to_number(ctx, -1));
        duk_pop(ctx);
        return;
    }
    if (cls && strcmp(cls, "[object RegExp]") == 0 && !s->data) {
        duk_pop(ctx);
        put_u8(s, T_REGEXP);
        put_u32(s, new_id(ctx, e, idx));
        duk_size_t n;
        duk_get_prop_string(ctx, idx, "source");
        const char *src = duk_to_lstring(ctx, -1, &n);
        put_str(s, src, n);
        duk_pop(ctx);
        duk_get_prop_string(ctx, idx, "flags");
        const char *fl = duk_to_lstring(ctx, -1, &n);
        put_str(s, fl, n);
        duk_pop(ctx);
        return;
    }
    duk_pop(ctx);
    put_u8(s, T_OBJ);
    put_u32(s, new_id(ctx, e, idx));
    encode_props(ctx, e, idx);
}

static void encode_value(duk_context *ctx, enc *e, duk_idx_t idx)
{
    js_snapshot *s = e->s;
    idx = duk_normalize_index(ctx, idx);
    if (s->data && s->depth > MAX_DEPTH) /* any value inside the 1001st object */
        (void)duk_error(ctx, DUK_ERR_RANGE_ERROR,
                        "rampart.event.trigger: value nested more than %d levels", MAX_DEPTH);
    switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_NULL: put_u8(s, T_NULL); return;
    case DUK_TYPE_BOOLEAN: put_u8(s, duk_get_boolean(ctx, idx) ? T_TRUE : T_FALSE); return;
    case DUK_TYPE_NUMBER:
        put_u8(s, T_NUM);
        put_f64(s, duk_get_number(ctx, idx));
        return;
    case DUK_TYPE_STRING: {
        duk_size_t n;
        const char *p = duk_get_lstring(ctx, idx, &n);
        put_u8(s, T_STR);
        put_str(s, p, n);
        return;
    }
    case DUK_TYPE_BUFFER: {
        duk_size_t n;
        const void *p = duk_get_buffer(ctx, idx, &n);
        put_u8(s, T_PBUF);
        put_str(s, p, p ? n : 0);
        return;
    }
    case DUK_TYPE_LIGHTFUNC:
    case DUK_TYPE_POINTER:
    case DUK_TYPE_UNDEFINED:
    case DUK_TYPE_NONE: put_u8(s, T_UNDEF); return;
    case DUK_TYPE_OBJECT: break;
    default: put_u8(s, T_UNDEF); return;
    }
    if (s->depth >= MAX_DEPTH && !s->data) { /* the data-only mode threw above */
        put_u8(s, T_UNDEF);
        return;
    }
    duk_require_stack(ctx, 16);
    s->depth++;
    encode_object(ctx, e, idx);
    s->depth--;
}

static int add_name(js_snapshot *s, char kind, const char *name, const void *hp)
{
    char **nn = realloc(s->names, (s->nnames + 1) * sizeof *nn);
    if (!nn)
        return -1;
    s->names = nn;
    size_t l = strlen(name);
    char *c = malloc(l + 2);
    if (!c)
        return -1;
    c[0] = kind;
    memcpy(c + 1, name, l + 1);
    s->names[s->nnames] = c;
    if (ptrmap_put(&s->special, hp, (uint32_t)s->nnames) != 0)
        return -1;
    s->nnames++;
    return 0;
}

/* Natives and module exports of this heap, recognized by identity. */
static void collect_specials(duk_context *ctx, js_snapshot *s)
{
    js_push_native_registry(ctx);
    duk_enum(ctx, -1, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        if (duk_is_object(ctx, -1) && add_name(s, 'N', duk_get_string(ctx, -2),
                                               duk_get_heapptr(ctx, -1)) != 0)
            s->oom = 1;
        duk_pop_2(ctx);
    }
    duk_pop_2(ctx);
    js_push_module_cache(ctx);
    duk_enum(ctx, -1, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        duk_get_prop_string(ctx, -1, "module");
        duk_get_prop_string(ctx, -1, "exports");
        const char *key = duk_get_string(ctx, -4);
        if (key && strncmp(key, "builtin:", 8) == 0)
            key += 8;
        if (key && duk_is_object(ctx, -1)) {
            uint32_t dummy;
            void *hp = duk_get_heapptr(ctx, -1);
            if (!ptrmap_get(&s->special, hp, &dummy) && add_name(s, 'M', key, hp) != 0)
                s->oom = 1;
        }
        duk_pop_n(ctx, 4);
    }
    duk_pop_2(ctx);
}

/* Where the encoder keeps the objects it visited alive (a getter could
 * otherwise free one and a new object reuse its address): a new array in
 * the stash (js_snapshot_take), the one there (js_snapshot_add, the same
 * snapshot), or an array on the stack only (a data-only copy). */
enum { KEEP_FRESH, KEEP_REUSE, KEEP_LOCAL };

/* Sets up the encoder's helper values on the stack: [keep tostring nodebuf]. */
static void enc_setup(duk_context *ctx, enc *e, int keep)
{
    if (keep == KEEP_LOCAL) {
        duk_push_array(ctx);
    } else {
        duk_push_heap_stash(ctx);
        if (keep == KEEP_FRESH || !duk_get_prop_literal(ctx, -1, JS_STASH_SNAPKEEP)) {
            if (keep != KEEP_FRESH)
                duk_pop(ctx);
            duk_push_array(ctx);
            duk_dup_top(ctx);
            duk_put_prop_literal(ctx, -3, JS_STASH_SNAPKEEP);
        }
        duk_remove(ctx, -2);
    }
    e->keep = duk_get_top_index(ctx);
    duk_get_global_string(ctx, "Object");
    duk_get_prop_string(ctx, -1, "prototype");
    duk_get_prop_string(ctx, -1, "toString");
    duk_remove(ctx, -2);
    duk_remove(ctx, -2);
    e->tostring = duk_get_top_index(ctx);
    duk_get_global_string(ctx, "Buffer");
    e->nodebuf = duk_get_top_index(ctx);
}

static duk_ret_t take_safe(duk_context *ctx, void *udata)
{
    js_snapshot *s = udata;
    enc e = {s, 0, 0, 0};
    collect_specials(ctx, s);
    enc_setup(ctx, &e, KEEP_FRESH);
    duk_push_global_object(ctx);
    duk_idx_t g = duk_get_top_index(ctx);
    duk_enum(ctx, g, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 1)) {
        duk_size_t kl;
        const char *k = duk_get_lstring(ctx, -2, &kl);
        put_u8(s, R_GLOBAL);
        put_str(s, k, kl);
        encode_value(ctx, &e, -1);
        duk_pop_2(ctx);
    }
    if (s->oom)
        return duk_error(ctx, DUK_ERR_ERROR, "snapshot of the globals: out of memory");
    return 0;
}

js_snapshot *js_snapshot_take(duk_context *main_ctx)
{
    js_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        (void)duk_error(main_ctx, DUK_ERR_ERROR, "snapshot of the globals: out of memory");
        return NULL;
    }
    if (duk_safe_call(main_ctx, take_safe, s, 0, 1) != DUK_EXEC_SUCCESS) {
        js_snapshot_free(s);
        (void)duk_throw(main_ctx);
    }
    duk_pop(main_ctx);
    return s;
}

typedef struct add_args {
    js_snapshot *s;
    const char *name;
} add_args;

static duk_ret_t add_safe(duk_context *ctx, void *udata)
{
    const add_args *a = udata;
    js_snapshot *s = a->s;
    enc e = {s, 0, 0, 0};
    duk_idx_t v = duk_get_top_index(ctx); /* [ ... value ]: safe calls share the frame */
    enc_setup(ctx, &e, KEEP_REUSE);
    put_u8(s, R_EXTRA);
    put_str(s, a->name, strlen(a->name));
    encode_value(ctx, &e, v);
    if (s->oom)
        return duk_error(ctx, DUK_ERR_ERROR, "snapshot of '%s': out of memory", a->name);
    return 0;
}

void js_snapshot_add(js_snapshot *snap, duk_context *main_ctx, const char *name, duk_idx_t idx)
{
    add_args a = {snap, name};
    duk_dup(main_ctx, idx);
    if (duk_safe_call(main_ctx, add_safe, &a, 1, 1) != DUK_EXEC_SUCCESS)
        (void)duk_throw(main_ctx);
    duk_pop(main_ctx);
}

void js_snapshot_free(js_snapshot *snap)
{
    if (!snap)
        return;
    free(snap->buf);
    ptrmap_free(&snap->seen);
    ptrmap_free(&snap->special);
    for (size_t i = 0; i < snap->nnames; i++)
        free(snap->names[i]);
    free(snap->names);
    free(snap);
}

js_snapshot *js_snapshot_from_bytes(const void *data, size_t len)
{
    js_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    put(s, data, len);
    if (s->oom) {
        js_snapshot_free(s);
        return NULL;
    }
    return s;
}

const void *js_snapshot_bytes(const js_snapshot *snap, size_t *len)
{
    *len = snap->len;
    return snap->buf;
}

/* ---- decoding ----------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p, *end;
    duk_idx_t refs;
    duk_uarridx_t nrefs;
    int depth;
    int data; /* a data-only copy: only the tags its encoder writes */
} rd;

static duk_ret_t bad(duk_context *ctx, const rd *r)
{
    return duk_error(ctx, DUK_ERR_ERROR,
                     r->data ? "rampart.event: corrupt trigger value" : "corrupt snapshot");
}

static const void *get(duk_context *ctx, rd *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        bad(ctx, r);
    const void *p = r->p;
    r->p += n;
    return p;
}

static unsigned get_u8(duk_context *ctx, rd *r)
{
    return *(const unsigned char *)get(ctx, r, 1);
}

static uint32_t get_u32(duk_context *ctx, rd *r)
{
    uint32_t v;
    memcpy(&v, get(ctx, r, sizeof v), sizeof v);
    return v;
}

static double get_f64(duk_context *ctx, rd *r)
{
    double v;
    memcpy(&v, get(ctx, r, sizeof v), sizeof v);
    return v;
}

static const char *get_str(duk_context *ctx, rd *r, size_t *n)
{
    *n = get_u32(ctx, r);
    return get(ctx, r, *n);
}

static void decode_value(duk_context *ctx, rd *r);

static void register_ref(duk_context *ctx, rd *r, uint32_t id)
{
    if (id != r->nrefs)
        bad(ctx, r);
    duk_dup_top(ctx);
    duk_put_prop_index(ctx, r->refs, r->nrefs++);
}

static void decode_props(duk_context *ctx, rd *r)
{
    uint32_t n = get_u32(ctx, r);
    duk_idx_t obj = duk_get_top_index(ctx);
    for (uint32_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = get_str(ctx, r, &kl);
        duk_push_lstring(ctx, k, kl);
        decode_value(ctx, r);
        if (r->data) /* define, not put: a "__proto__" key stays a plain property */
            duk_def_prop(ctx, obj,
                         DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE |
                             DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
        else
            duk_put_prop(ctx, obj);
    }
}

static duk_ret_t require_safe(duk_context *ctx, void *udata)
{
    js_require_push(ctx, udata, NULL);
    return 1;
}

static void decode_value(duk_context *ctx, rd *r)
{
    duk_require_stack(ctx, 16);
    if (++r->depth > MAX_DEPTH + 8)
        bad(ctx, r);
    unsigned t = get_u8(ctx, r);
    /* what the data-only encoder never writes (code above all) */
    if (r->data ? (t == T_ARR || t == T_REGEXP || t == T_FUNC || t == T_NATIVE || t == T_MODULE)
                : t == T_LIST)
        bad(ctx, r);
    size_t n;
    const char *p;
    switch (t) {
    case T_UNDEF: duk_push_undefined(ctx); break;
    case T_NULL: duk_push_null(ctx); break;
    case T_TRUE: duk_push_true(ctx); break;
    case T_FALSE: duk_push_false(ctx); break;
    case T_NUM: duk_push_number(ctx, get_f64(ctx, r)); break;
    case T_STR:
        p = get_str(ctx, r, &n);
        duk_push_lstring(ctx, p, n);
        break;
    case T_REF: {
        uint32_t id = get_u32(ctx, r);
        if (id >= r->nrefs)
            bad(ctx, r);
        duk_get_prop_index(ctx, r->refs, id);
        break;
    }
    case T_OBJ:
        duk_push_object(ctx);
        register_ref(ctx, r, get_u32(ctx, r));
        decode_props(ctx, r);
        break;
    case T_ARR: {
        duk_push_array(ctx);
        register_ref(ctx, r, get_u32(ctx, r));
        uint32_t len = get_u32(ctx, r);
        decode_props(ctx, r);
        duk_push_uint(ctx, len);
        duk_put_prop_string(ctx, -2, "length");
        break;
    }
    case T_LIST: {
        duk_push_array(ctx);
        register_ref(ctx, r, get_u32(ctx, r));
        uint32_t len = get_u32(ctx, r);
        for (uint32_t i = 0; i < len; i++) {
            decode_value(ctx, r);
            duk_put_prop_index(ctx, -2, i);
        }
        break;
    }
    case T_DATE: {
        uint32_t id = get_u32(ctx, r);
        duk_get_global_string(ctx, "Date");
        duk_push_number(ctx, get_f64(ctx, r));
        duk_new(ctx, 1);
        register_ref(ctx, r, id);
        break;
    }
    case T_REGEXP: {
        uint32_t id = get_u32(ctx, r);
        duk_get_global_string(ctx, "RegExp");
        p = get_str(ctx, r, &n);
        duk_push_lstring(ctx, p, n);
        p = get_str(ctx, r, &n);
        duk_push_lstring(ctx, p, n);
        duk_new(ctx, 2);
        register_ref(ctx, r, id);
        break;
    }
    case T_PBUF: {
        p = get_str(ctx, r, &n);
        void *b = duk_push_fixed_buffer(ctx, n);
        if (n)
            memcpy(b, p, n);
        break;
    }
    case T_BUFOBJ: {
        uint32_t id = get_u32(ctx, r);
        unsigned flags = get_u8(ctx, r);
        p = get_str(ctx, r, &n);
        void *b = duk_push_fixed_buffer(ctx, n);
        if (n)
            memcpy(b, p, n);
        if (!r->data) { /* a data-only copy delivers a plain buffer */
            duk_push_buffer_object(ctx, -1, 0, n, flags);
            duk_remove(ctx, -2);
        }
        register_ref(ctx, r, id);
        break;
    }
    case T_FUNC: {
        uint32_t id = get_u32(ctx, r);
        p = get_str(ctx, r, &n);
        void *b = duk_push_fixed_buffer(ctx, n);
        if (n)
            memcpy(b, p, n);
        duk_load_function(ctx);
        register_ref(ctx, r, id);
        decode_props(ctx, r);
        break;
    }
    case T_NATIVE: {
        p = get_str(ctx, r, &n);
        duk_push_lstring(ctx, p, n);
        js_push_native(ctx, duk_get_string(ctx, -1));
        duk_remove(ctx, -2);
        break;
    }
    case T_MODULE: {
        p = get_str(ctx, r, &n);
        duk_push_lstring(ctx, p, n);
        const char *id = duk_get_string(ctx, -1);
        if (duk_safe_call(ctx, require_safe, (void *)id, 0, 1) != DUK_EXEC_SUCCESS) {
            rp_log(JS_LOG, RP_LOG_WARN, "copying globals: module '%s': %s", id,
                   duk_safe_to_string(ctx, -1));
            duk_pop(ctx);
            duk_push_undefined(ctx);
        }
        duk_remove(ctx, -2);
        break;
    }
    default: bad(ctx, r);
    }
    r->depth--;
}

static duk_ret_t apply_safe(duk_context *ctx, void *udata)
{
    const js_snapshot *s = udata;
    /* an empty snapshot (no globals, nothing added) has no buffer */
    const unsigned char *b = s->buf ? s->buf : (const unsigned char *)"";
    rd r = {b, b + s->len, 0, 0, 0, 0};
    duk_push_array(ctx);
    r.refs = duk_get_top_index(ctx);
    duk_push_bare_object(ctx);
    duk_idx_t extras = duk_get_top_index(ctx);
    duk_push_global_object(ctx);
    duk_idx_t g = duk_get_top_index(ctx);
    while (r.p < r.end) {
        unsigned rec = get_u8(ctx, &r);
        size_t kl;
        const char *k = get_str(ctx, &r, &kl);
        duk_push_lstring(ctx, k, kl);
        decode_value(ctx, &r);
        /* forced: a global the worker heap made read-only is replaced too */
        duk_def_prop(ctx, rec == R_EXTRA ? extras : g,
                     DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_ENUMERABLE |
                         DUK_DEFPROP_SET_CONFIGURABLE | DUK_DEFPROP_FORCE);
    }
    duk_push_heap_stash(ctx);
    duk_dup(ctx, extras);
    duk_put_prop_literal(ctx, -2, JS_STASH_SNAPEXTRAS);
    return 0;
}

int js_snapshot_apply(const js_snapshot *snap, duk_context *ctx)
{
    if (!snap || !ctx || snap->oom)
        return -1;
    if (duk_safe_call(ctx, apply_safe, (void *)snap, 0, 1) != DUK_EXEC_SUCCESS) {
        rp_log(JS_LOG, RP_LOG_ERR, "copying the main script's globals: %s",
               duk_safe_to_string(ctx, -1));
        duk_pop(ctx);
        return -1;
    }
    duk_pop(ctx);
    return 0;
}

void js_snapshot_push(const js_snapshot *snap, duk_context *ctx, const char *name)
{
    (void)snap;
    duk_push_heap_stash(ctx);
    if (duk_get_prop_literal(ctx, -1, JS_STASH_SNAPEXTRAS) && duk_is_object(ctx, -1))
        duk_get_prop_string(ctx, -1, name);
    else
        duk_push_undefined(ctx);
    duk_remove(ctx, -2);
    duk_remove(ctx, -2);
}

/* ---- data-only copies (rampart.event) ------------------------------------------ */

static duk_ret_t data_encode_safe(duk_context *ctx, void *udata)
{
    js_snapshot *s = udata;
    enc e = {s, 0, 0, 0};
    duk_idx_t v = duk_get_top_index(ctx); /* [ ... value ]: safe calls share the frame */
    enc_setup(ctx, &e, KEEP_LOCAL);
    encode_value(ctx, &e, v);
    if (s->oom)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "rampart.event.trigger: out of memory");
    if (s->too_large)
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "rampart.event.trigger: value too large");
    return 0;
}

void js_event_encode(duk_context *ctx, duk_idx_t idx, unsigned char **out, size_t *len)
{
    js_snapshot s;
    memset(&s, 0, sizeof s);
    s.data = 1;
    duk_dup(ctx, idx);
    int rc = duk_safe_call(ctx, data_encode_safe, &s, 1, 1);
    ptrmap_free(&s.seen);
    if (rc != DUK_EXEC_SUCCESS) {
        free(s.buf);
        (void)duk_throw(ctx);
    }
    duk_pop(ctx);
    *out = s.buf; /* the caller's now */
    *len = s.len;
}

void js_event_decode_push(duk_context *ctx, const void *data, size_t len)
{
    const unsigned char *b = len ? data : (const unsigned char *)"";
    rd r = {b, b + len, 0, 0, 0, 1};
    duk_push_bare_array(ctx);
    r.refs = duk_get_top_index(ctx);
    decode_value(ctx, &r);
    duk_remove(ctx, -2);
}
