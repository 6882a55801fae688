/* table.h - request counters shared by every worker thread of a process.
 *
 * A fixed-size table of (key -> window start, count), cut into shards that
 * each have their own lock, so worker threads rarely wait on each other.
 * Memory is allocated once, at start-up: a flood of distinct keys evicts the
 * least recently counted entries (a key evicted that way starts a new
 * window, so under such a flood a client may get more than `rate`
 * requests; the count of evictions tells an operator to raise the size).
 *
 * Keys are 64-bit hashes (rl_key_*) seeded at random per table, so no
 * client can choose keys that collide.
 */
#ifndef RL_TABLE_H
#define RL_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl_table rl_table;

/* A table of at least `entries` counters (rounded up to a multiple of the
 * shard count); NULL when memory is short. */
rl_table *rl_table_new(size_t entries);
void rl_table_free(rl_table *t);
size_t rl_table_capacity(const rl_table *t);

/* Building a key: start from the table's seed, mix in what identifies the
 * client and the rule, in any order that is always the same. */
uint64_t rl_key_start(const rl_table *t);
uint64_t rl_key_mix(uint64_t h, const void *data, size_t n);
uint64_t rl_key_mix_u64(uint64_t h, uint64_t v);

/* Count one request for `key` at time now_ms (a monotonic clock) against
 * "at most `rate` requests per `window_ms`, the window starting with the
 * key's first request".  Returns 0 when the request is allowed (and
 * counted), or else the milliseconds until the key's window ends (>= 1;
 * refused requests are not counted). */
uint64_t rl_table_hit(rl_table *t, uint64_t key, uint32_t rate, uint64_t window_ms,
                      uint64_t now_ms);

/* Shared counting (RateLimitShared, mod_ratelimit.c): besides the requests
 * counted here and not yet acknowledged by Redis (`count`), an entry keeps
 * the last total Redis gave for its key (`remote`); a request is allowed
 * while remote + count < rate, so the decision never waits for Redis.  At
 * most one update per entry is on its way at a time; rl_sync says what to
 * send, and rl_table_synced folds the answer in. */
typedef struct rl_sync {
    uint64_t key; /* the entry (the table's own form of the key) */
    uint64_t window_ms;
    uint32_t gen;   /* the entry's window when the update was made */
    uint32_t delta; /* requests to add to the total in Redis */
} rl_sync;

/* rl_table_hit, and when sync is not NULL: *need = 1 when an update should
 * be sent now (described in *sync; the entry counts it as on its way until
 * rl_table_synced is called for it), else 0. */
uint64_t rl_table_hit_shared(rl_table *t, uint64_t key, uint32_t rate, uint64_t window_ms,
                             uint64_t now_ms, rl_sync *sync, int *need);

/* The answer to update s: ok with Redis's total for the key and the
 * milliseconds left in its window (the entry's window is aligned to
 * Redis's), or !ok (no answer: the requests stay counted here and go with
 * the next update).  An answer for an entry evicted or in a newer window
 * since is ignored.  Returns 1 when requests counted meanwhile should be
 * sent now (*next), else 0. */
int rl_table_synced(rl_table *t, const rl_sync *s, int ok, uint64_t total, uint64_t ttl_ms,
                    uint64_t now_ms, rl_sync *next);

/* Totals since the table was made: entries evicted to make room for new
 * keys, and requests refused. */
void rl_table_stats(rl_table *t, uint64_t *evicted, uint64_t *refused);

#endif
