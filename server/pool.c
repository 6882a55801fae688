/* pool.c - region allocator with cleanups and child pools.
 *
 * Allocation bumps a pointer in the current block; big requests get a block
 * of their own.  Pools are used by one thread at a time (a connection's
 * pools by its worker, the configuration pool at start-up), so no locking.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "core.h"

#define RP_POOL_BLOCK 4096
#define RP_ALIGN 16

typedef struct rp_block {
    struct rp_block *next;
    size_t used, size;
    _Alignas(RP_ALIGN) char data[];
} rp_block;

typedef struct rp_cleanup {
    struct rp_cleanup *next;
    void (*fn)(void *);
    void *arg;
} rp_cleanup;

struct rp_pool {
    rp_block *blocks;
    rp_cleanup *cleanups;
    rp_pool *parent, *children, *next_sibling;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("rampart: out of memory\n", stderr);
        abort();
    }
    return p;
}

static rp_block *block_new(size_t size)
{
    rp_block *b = xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->used = 0;
    b->size = size;
    return b;
}

/* Standard blocks freed by a thread wait in that thread's list for the next
 * pool it creates: a request pool is made and destroyed for every request,
 * and a 4 KiB malloc/free pair is not cheap. */
static _Thread_local rp_freelist spare_blocks = {.max = 32};

static rp_block *block_get(void)
{
    rp_block *b = rp_freelist_get(&spare_blocks);
    if (!b)
        return block_new(RP_POOL_BLOCK);
    b->next = NULL;
    b->used = 0;
    return b;
}

static void block_put(rp_block *b)
{
    if (b->size != RP_POOL_BLOCK || !rp_freelist_put(&spare_blocks, b))
        free(b);
}

/* The pool itself lives at the start of its first block: one allocation. */
#define RP_POOL_HEAD ((sizeof(rp_pool) + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1))

RP_API rp_pool *rp_pool_create(rp_pool *parent)
{
    rp_block *first = block_get();
    rp_pool *p = (rp_pool *)(void *)first->data;
    first->used = RP_POOL_HEAD;
    p->blocks = first;
    p->cleanups = NULL;
    p->children = NULL;
    p->parent = parent;
    p->next_sibling = NULL;
    if (parent) {
        p->next_sibling = parent->children;
        parent->children = p;
    }
    return p;
}

static void unlink_from_parent(rp_pool *p)
{
    rp_pool **pp = &p->parent->children;
    while (*pp && *pp != p)
        pp = &(*pp)->next_sibling;
    if (*pp)
        *pp = p->next_sibling;
}

RP_API void rp_pool_destroy(rp_pool *p)
{
    if (!p)
        return;
    while (p->children) {
        rp_pool *c = p->children;
        p->children = c->next_sibling;
        c->parent = NULL;
        rp_pool_destroy(c);
    }
    /* Cleanups were pushed on the front: walking the list runs them LIFO. */
    for (rp_cleanup *c = p->cleanups; c; c = c->next)
        c->fn(c->arg);
    if (p->parent)
        unlink_from_parent(p);
    /* p lives in one of these blocks (the last in the list): read nothing
     * of it once they start going back. */
    for (rp_block *b = p->blocks, *n; b; b = n) {
        n = b->next;
        block_put(b);
    }
}

RP_API void *rp_palloc(rp_pool *p, size_t n)
{
    n = (n + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1);
    rp_block *b = p->blocks;
    if (b->size - b->used < n) {
        if (n > RP_POOL_BLOCK / 4) {
            /* A large piece gets its own block, kept behind the current one
             * so the current block's free space is not abandoned. */
            rp_block *big = block_new(n);
            big->used = n;
            big->next = b->next;
            b->next = big;
            return big->data;
        }
        b = block_get();
        b->next = p->blocks;
        p->blocks = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

RP_API void *rp_pcalloc(rp_pool *p, size_t n)
{
    void *r = rp_palloc(p, n);
    memset(r, 0, n);
    return r;
}

RP_API char *rp_pstrndup(rp_pool *p, const char *s, size_t n)
{
    char *r = rp_palloc(p, n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

RP_API char *rp_pstrdup(rp_pool *p, const char *s)
{
    return s ? rp_pstrndup(p, s, strlen(s)) : NULL;
}

RP_API char *rp_pstrcat(rp_pool *p, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, p);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        n += strlen(s);
    va_end(ap);
    char *r = rp_palloc(p, n + 1), *w = r;
    va_start(ap, p);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t l = strlen(s);
        memcpy(w, s, l);
        w += l;
    }
    va_end(ap);
    *w = '\0';
    return r;
}

RP_API char *rp_pvsprintf(rp_pool *p, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return rp_pstrdup(p, "");
    char *r = rp_palloc(p, (size_t)n + 1);
    vsnprintf(r, (size_t)n + 1, fmt, ap);
    return r;
}

RP_API char *rp_psprintf(rp_pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = rp_pvsprintf(p, fmt, ap);
    va_end(ap);
    return r;
}

RP_API void rp_pool_cleanup_add(rp_pool *p, void (*fn)(void *), void *arg)
{
    rp_cleanup *c = rp_palloc(p, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    c->next = p->cleanups;
    p->cleanups = c;
}
