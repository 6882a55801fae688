/* rp_pool.h - region allocator.
 *
 * Each connection owns a pool; each request owns a child of it.  All memory
 * taken from a pool is released at once when the pool is destroyed, after its
 * cleanups have run in reverse order of registration.
 */
#ifndef RP_POOL_H
#define RP_POOL_H

#include "rp_common.h"

RP_API rp_pool *rp_pool_create(rp_pool *parent);
RP_API void rp_pool_destroy(rp_pool *p);

RP_API void *rp_palloc(rp_pool *p, size_t n);
RP_API void *rp_pcalloc(rp_pool *p, size_t n);
RP_API char *rp_pstrdup(rp_pool *p, const char *s);
RP_API char *rp_pstrndup(rp_pool *p, const char *s, size_t n);
/* The concatenation of the strings up to a NULL argument (no format: the
 * cheap way to build keys and header values on a hot path). */
RP_API char *rp_pstrcat(rp_pool *p, ...);
RP_API char *rp_psprintf(rp_pool *p, const char *fmt, ...) RP_PRINTF(2, 3);
RP_API char *rp_pvsprintf(rp_pool *p, const char *fmt, va_list ap);

/* Run fn(arg) when p is destroyed.  Cleanups run last-in, first-out. */
RP_API void rp_pool_cleanup_add(rp_pool *p, void (*fn)(void *), void *arg);

#endif
