/* rp_filter.h - output filters and the buckets they stream.
 *
 * A response body flows as brigades (lists of buckets) from the handler,
 * through every joined filter in order, to the network.  Filter classes run
 * in the order CONTENT (change the body: compression), TRANSFER, NETWORK;
 * within a class by `order`, then registration order.
 *
 * When a response starts, each registered filter's setup() is called and
 * decides for this response: RP_OK joins (it may still change headers now),
 * RP_DECLINED stays out.  A joined filter's fn() gets each brigade, may
 * transform it, and hands the result on with rp_filter_pass().  Buckets of
 * type FLUSH and EOS must be passed on; after EOS no more data comes.
 * Nothing here requires holding the whole body.
 */
#ifndef RP_FILTER_H
#define RP_FILTER_H

#include "rp_common.h"

typedef enum { RP_FILTER_CONTENT = 0, RP_FILTER_TRANSFER, RP_FILTER_NETWORK } rp_filter_class;

typedef int (*rp_filter_setup_fn)(rp_filter *f, rp_req *r);
typedef int (*rp_filter_fn)(rp_filter *f, rp_brigade *bb);

RP_API void rp_filter_register(rp_hooks *h, const char *name, rp_filter_class cls, int order,
                               rp_filter_setup_fn setup, rp_filter_fn fn);

RP_API rp_req *rp_filter_req(const rp_filter *f);
RP_API const char *rp_filter_name(const rp_filter *f);
RP_API void *rp_filter_ctx(const rp_filter *f);
RP_API void rp_filter_set_ctx(rp_filter *f, void *ctx);
/* Hand bb to the next filter (or the network).  bb is emptied. */
RP_API int rp_filter_pass(rp_filter *f, rp_brigade *bb);
/* Take this filter out of the chain; later brigades skip it. */
RP_API void rp_filter_remove(rp_filter *f);

/* ---- brigades and buckets --------------------------------------------- */

typedef enum { RP_BUCKET_MEM = 0, RP_BUCKET_FILE, RP_BUCKET_FLUSH, RP_BUCKET_EOS } rp_bucket_type;

RP_API rp_brigade *rp_brigade_create(rp_pool *p);
RP_API int rp_brigade_empty(const rp_brigade *bb);
RP_API void rp_brigade_clear(rp_brigade *bb);           /* drop and release all */
RP_API void rp_brigade_concat(rp_brigade *dst, rp_brigade *src); /* move all of src */
RP_API rp_bucket *rp_brigade_first(const rp_brigade *bb);
RP_API rp_bucket *rp_bucket_next(const rp_bucket *b);
/* Unlink b from its brigade and release it. Returns the bucket after b. */
RP_API rp_bucket *rp_bucket_delete(rp_brigade *bb, rp_bucket *b);

RP_API void rp_brigade_add_mem(rp_brigade *bb, const void *data, size_t len); /* copies */
RP_API void rp_brigade_add_ref(rp_brigade *bb, const void *data, size_t len,
                               void (*release)(void *arg), void *arg);
/* fd is shared by reference count among buckets made from it; the last
 * release closes it. */
RP_API void rp_brigade_add_file(rp_brigade *bb, int fd, int64_t off, int64_t len);
RP_API void rp_brigade_add_flush(rp_brigade *bb);
RP_API void rp_brigade_add_eos(rp_brigade *bb);

RP_API rp_bucket_type rp_bucket_kind(const rp_bucket *b);
RP_API size_t rp_bucket_length(const rp_bucket *b);
/* The bucket's bytes.  A FILE bucket is read into memory on first call (in
 * pieces of at most 64 KiB: the bucket is split so the rest follows it).
 * 0 on success, -1 on a read error. */
RP_API int rp_bucket_read(rp_bucket *b, const char **data, size_t *len);

#endif
