/* recycle.c - per-thread free lists for the allocations a request makes and
 * drops every time (pool blocks, buckets).  A list belongs to one thread
 * (its rp_freelist is _Thread_local at the user), so there is no locking;
 * what a thread still holds when it ends is freed then. */
#include <pthread.h>
#include <stdlib.h>

#include "core.h"

#define RP_FREELISTS 4 /* users per thread */

static _Thread_local rp_freelist *lists[RP_FREELISTS];
static _Thread_local int nlists;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void free_lists(void *unused)
{
    (void)unused;
    for (int i = 0; i < nlists; i++) {
        for (void *it; (it = rp_freelist_get(lists[i])) != NULL;)
            free(it);
        lists[i]->registered = false;
    }
    nlists = 0;
}

static void exit_key_init(void)
{
    pthread_key_create(&exit_key, free_lists);
}

void *rp_freelist_get(rp_freelist *fl)
{
    void **it = fl->head;
    if (!it)
        return NULL;
    fl->head = *it;
    fl->n--;
    return it;
}

bool rp_freelist_put(rp_freelist *fl, void *item)
{
    if (!RP_RECYCLE || fl->n >= fl->max)
        return false;
    if (!fl->registered) {
        if (nlists == RP_FREELISTS)
            return false;
        pthread_once(&exit_once, exit_key_init);
        pthread_setspecific(exit_key, lists); /* non-NULL: the destructor runs */
        lists[nlists++] = fl;
        fl->registered = true;
    }
    *(void **)item = fl->head;
    fl->head = item;
    fl->n++;
    return true;
}
