/* vec.c - growable pointer arrays for configuration-time lists. */
#include <string.h>
#include "core.h"

/* Pool memory cannot be resized, so growth copies into a block twice the
 * size and abandons the old one; the lists are short and built once. */
void rp_vec_push(rp_pool *p, rp_vec *vec, void *item)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        void **v = rp_palloc(p, cap * sizeof(*v));
        if (vec->n)
            memcpy(v, vec->v, vec->n * sizeof(*v));
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = item;
}
