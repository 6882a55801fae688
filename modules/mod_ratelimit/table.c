/* table.c - see table.h.
 *
 * Each shard: a mutex, a hash index (chains through the entries), and an
 * LRU list through the same entries, all as 32-bit indexes into one array
 * allocated up front.  A hit is one lock, one chain walk and a few stores. */
#include "table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#define RL_SHARDS 64u
#define NIL UINT32_MAX

typedef struct {
    uint64_t key;
    uint64_t start_ms;     /* when this key's window began */
    uint32_t count;        /* requests counted here in that window (and not yet in remote) */
    uint32_t chain;        /* next entry in the same hash bucket */
    uint32_t newer, older; /* LRU neighbours */
    uint32_t remote;       /* shared counting: Redis's last total for the window */
    uint32_t sync;         /* shared counting: SYNC_BUSY | the window's generation */
} rl_entry;

#define SYNC_BUSY 0x80000000u /* an update is on its way */
#define SYNC_GEN 0x7fffffffu

typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    rl_entry *e;      /* cap entries */
    uint32_t *bucket; /* nbucket heads */
    uint32_t cap, used, nbucket;
    uint32_t newest, oldest;
    uint64_t evicted, refused;
} rl_shard;

struct rl_table {
    uint64_t seed;
    size_t cap;
    rl_shard shard[RL_SHARDS];
};

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* early boot: weaker, still per process */
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&s;
    }
    return s;
}

static int shard_init(rl_shard *s, uint32_t cap)
{
    s->nbucket = 1;
    while (s->nbucket < cap)
        s->nbucket <<= 1;
    s->e = calloc(cap, sizeof *s->e);
    s->bucket = malloc(s->nbucket * sizeof *s->bucket);
    if (!s->e || !s->bucket)
        return -1;
    memset(s->bucket, 0xff, s->nbucket * sizeof *s->bucket); /* all NIL */
    s->cap = cap;
    s->newest = s->oldest = NIL;
    return pthread_mutex_init(&s->lock, NULL) == 0 ? 0 : -1;
}

rl_table *rl_table_new(size_t entries)
{
    if (entries < RL_SHARDS)
        entries = RL_SHARDS;
    if (entries > (size_t)UINT32_MAX / 2)
        return NULL;
    rl_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uint32_t per = (uint32_t)((entries + RL_SHARDS - 1) / RL_SHARDS);
    t->cap = (size_t)per * RL_SHARDS;
    t->seed = random_seed();
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        if (shard_init(&t->shard[i], per) != 0) {
            rl_table_free(t);
            return NULL;
        }
    }
    return t;
}

void rl_table_free(rl_table *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        rl_shard *s = &t->shard[i];
        if (s->cap)
            pthread_mutex_destroy(&s->lock);
        free(s->e);
        free(s->bucket);
    }
    free(t);
}

size_t rl_table_capacity(const rl_table *t)
{
    return t->cap;
}

/* ---- keys: FNV-1a over the bytes, finished with a 64-bit mixer ---------- */

uint64_t rl_key_start(const rl_table *t)
{
    return t->seed ^ 0xcbf29ce484222325ull;
}

uint64_t rl_key_mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return (h ^ n) * 0x100000001b3ull; /* "ab"+"c" differs from "a"+"bc" */
}

uint64_t rl_key_mix_u64(uint64_t h, uint64_t v)
{
    return rl_key_mix(h, &v, sizeof v);
}

static uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* ---- the LRU list and the chains ---------------------------------------- */

static void lru_unlink(rl_shard *s, uint32_t i)
{
    rl_entry *e = &s->e[i];
    if (e->newer != NIL)
        s->e[e->newer].older = e->older;
    else
        s->newest = e->older;
    if (e->older != NIL)
        s->e[e->older].newer = e->newer;
    else
        s->oldest = e->newer;
}

static void lru_push(rl_shard *s, uint32_t i)
{
    rl_entry *e = &s->e[i];
    e->newer = NIL;
    e->older = s->newest;
    if (s->newest != NIL)
        s->e[s->newest].newer = i;
    s->newest = i;
    if (s->oldest == NIL)
        s->oldest = i;
}

static void chain_remove(rl_shard *s, uint32_t i)
{
    uint32_t *link = &s->bucket[s->e[i].key & (s->nbucket - 1)];
    while (*link != i)
        link = &s->e[*link].chain;
    *link = s->e[i].chain;
}

/* A free entry for key, evicting the least recently counted when full. */
static uint32_t take_entry(rl_shard *s, uint64_t key)
{
    uint32_t i;
    if (s->used < s->cap) {
        i = s->used++;
    } else {
        i = s->oldest;
        lru_unlink(s, i);
        chain_remove(s, i);
        s->evicted++;
    }
    uint32_t *head = &s->bucket[key & (s->nbucket - 1)];
    s->e[i] = (rl_entry){.key = key, .chain = *head};
    *head = i;
    lru_push(s, i);
    return i;
}

static uint32_t find(const rl_shard *s, uint64_t key)
{
    uint32_t i = s->bucket[key & (s->nbucket - 1)];
    while (i != NIL && s->e[i].key != key)
        i = s->e[i].chain;
    return i;
}

static rl_shard *shard_of(rl_table *t, uint64_t key)
{
    return &t->shard[(key >> 58) % RL_SHARDS]; /* top bits: the chains use the low ones */
}

uint64_t rl_table_hit_shared(rl_table *t, uint64_t key, uint32_t rate, uint64_t window_ms,
                             uint64_t now_ms, rl_sync *sync, int *need)
{
    key = finish(key);
    rl_shard *s = shard_of(t, key);
    uint64_t wait = 0;
    pthread_mutex_lock(&s->lock);
    uint32_t i = find(s, key);
    if (i == NIL) {
        i = take_entry(s, key);
        s->e[i].start_ms = now_ms;
    } else {
        lru_unlink(s, i);
        lru_push(s, i);
    }
    rl_entry *e = &s->e[i];
    if (now_ms - e->start_ms >= window_ms) { /* a new window: answers for the old are ignored */
        e->start_ms = now_ms;
        e->count = e->remote = 0;
        e->sync = ((e->sync & SYNC_GEN) + 1) & SYNC_GEN;
    }
    if ((uint64_t)e->remote + e->count < rate) {
        e->count++;
    } else {
        wait = e->start_ms + window_ms - now_ms;
        s->refused++;
    }
    if (need)
        *need = 0;
    if (sync && e->count && !(e->sync & SYNC_BUSY)) {
        e->sync |= SYNC_BUSY;
        *sync = (rl_sync){key, window_ms, e->sync & SYNC_GEN, e->count};
        *need = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return wait;
}

uint64_t rl_table_hit(rl_table *t, uint64_t key, uint32_t rate, uint64_t window_ms, uint64_t now_ms)
{
    return rl_table_hit_shared(t, key, rate, window_ms, now_ms, NULL, NULL);
}

int rl_table_synced(rl_table *t, const rl_sync *sy, int ok, uint64_t total, uint64_t ttl_ms,
                    uint64_t now_ms, rl_sync *next)
{
    rl_shard *s = shard_of(t, sy->key);
    int more = 0;
    pthread_mutex_lock(&s->lock);
    uint32_t i = find(s, sy->key);
    rl_entry *e = i == NIL ? NULL : &s->e[i];
    if (!e || (e->sync & SYNC_GEN) != sy->gen) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (ok) {
        e->count -= sy->delta < e->count ? sy->delta : e->count;
        e->remote = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
        if (ttl_ms > 0 && ttl_ms <= sy->window_ms) /* Redis's window is the cluster's */
            e->start_ms = now_ms + ttl_ms - sy->window_ms;
    }
    if (ok && e->count) {
        *next = (rl_sync){sy->key, sy->window_ms, sy->gen, e->count};
        more = 1;
    } else {
        e->sync &= SYNC_GEN;
    }
    pthread_mutex_unlock(&s->lock);
    return more;
}

void rl_table_stats(rl_table *t, uint64_t *evicted, uint64_t *refused)
{
    uint64_t ev = 0, re = 0;
    for (unsigned i = 0; i < RL_SHARDS; i++) {
        rl_shard *s = &t->shard[i];
        pthread_mutex_lock(&s->lock);
        ev += s->evicted;
        re += s->refused;
        pthread_mutex_unlock(&s->lock);
    }
    *evicted = ev;
    *refused = re;
}
