/* rp_common.h - types and conventions shared by every rampart header.
 *
 * Every type a plugin sees is opaque: plugins hold pointers and call the
 * accessor functions.  The one exception is the module descriptor
 * (rp_module.h), which carries its own magic, ABI version and size.
 */
#ifndef RP_COMMON_H
#define RP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
#define RP_EXTERN_C extern "C"
#else
#define RP_EXTERN_C
#endif

/* Marks a symbol exported from librampart or from a plugin. Everything else
 * is built with -fvisibility=hidden. */
#define RP_API RP_EXTERN_C __attribute__((visibility("default")))

#if defined(__GNUC__)
#define RP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define RP_PRINTF(fmt, args)
#endif

typedef struct rp_pool rp_pool;       /* memory pool, see rp_pool.h */
typedef struct rp_server rp_server;   /* one loaded configuration */
typedef struct rp_cmd rp_cmd;         /* a directive being applied */
typedef struct rp_hooks rp_hooks;     /* hook registration handle */
typedef struct rp_module rp_module;   /* plugin descriptor */
typedef struct rp_req rp_req;         /* one HTTP request/response */
typedef struct rp_worker rp_worker;   /* a worker thread */
typedef struct rp_filter rp_filter;   /* a filter joined to one response */
typedef struct rp_brigade rp_brigade; /* a list of buckets */
typedef struct rp_bucket rp_bucket;   /* memory, file segment, FLUSH or EOS */

/* Hook, filter and callback results.  A positive value >= 100 is an HTTP
 * status: the core answers with it (an error page for >= 400). */
enum {
    RP_OK = 0,        /* done; for a first-wins phase, stop here */
    RP_DECLINED = -1, /* not mine; ask the next one */
    RP_ASYNC = -2,    /* handler: the response finishes later */
    RP_ERROR = -3     /* failure; the core answers 500 */
};

#endif
