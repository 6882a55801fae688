/* rp_cluster.h - the "cluster" service of mod_cluster: pub/sub between the
 * servers of a cluster, through Redis.
 *
 * mod_cluster publishes this function table as service "cluster" version 3
 * (versions 1 and 2 are its prefixes).  A plugin looks it up (no linking
 * against mod_cluster):
 *
 *     const rp_cluster_service_v1 *cl = rp_service_get("cluster", 1);
 *
 * and then, from any thread:
 *
 *     cl->publish("chat", buf, len);
 *
 * and, on a worker thread (a worker_init, or later: a request or websocket
 * handler):
 *
 *     cl->subscribe(w, "chat", RP_CLUSTER_OTHERS_ONLY, on_chat, state);
 *
 * Delivery: every message published on a channel reaches every subscribed
 * worker thread of every server of the cluster (this one included, unless
 * RP_CLUSTER_OTHERS_ONLY), at most once.  Messages of one publishing server
 * keep their order; messages of different servers are not ordered.  While
 * Redis is unreachable, publish() drops (and counts) what it is given.
 *
 * Threads: callbacks run on the subscribing worker's own event loop; the
 * data they get is valid only during the call.  Nothing here blocks.
 */
#ifndef RP_CLUSTER_H
#define RP_CLUSTER_H

#include <stddef.h>
#include <rampart.h>

#define RP_CLUSTER_SERVICE "cluster"
/* 2 added call(), 3 eval(); a table of a version starts with the one
 * before's. */
#define RP_CLUSTER_SERVICE_VERSION 3

/* Longest channel name (without the ClusterPrefix) publish/subscribe take. */
#define RP_CLUSTER_CHANNEL_MAX 256

/* subscribe() flags */
enum {
    /* Skip messages this server published: the caller delivered them
     * locally already (e.g. across its own threads). */
    RP_CLUSTER_OTHERS_ONLY = 1
};

/* A message on a subscribed channel, on worker w's thread.  channel has the
 * ClusterPrefix removed and is NUL-terminated; data is len bytes, followed
 * by a NUL that is not counted. */
typedef void (*rp_cluster_fn)(rp_worker *w, const char *channel, const void *data, size_t len,
                              void *arg);

/* The answer to call(): ok = 1 with Redis's reply as integers (an integer
 * reply is one value, an array of integers n values, an OK or other status
 * reply n = 0); ok = 0 when there is no answer to give: an error reply,
 * another kind of reply, Redis unreachable or lost before it answered, the
 * call dropped from a full queue, or the cluster stopping.  Called exactly
 * once per accepted call, on mod_cluster's thread or, for a call dropped
 * from a full queue, on the thread whose call pushed it out: be quick,
 * never block, and take only locks that are never held around call(). */
typedef void (*rp_cluster_reply_fn)(int ok, const long long *v, size_t n, void *arg);

/* Most arguments of one call(). */
#define RP_CLUSTER_CALL_ARGS 8

typedef struct rp_cluster_service_v1 {
    /* 1 when this process runs a cluster (a `Cluster` directive and a
     * started worker), 0 otherwise: then publish fails (subscriptions are
     * kept, and simply see no message). */
    int (*enabled)(void);
    /* This process's id: 16 hex digits, random, fixed for the process's
     * life; every message carries its sender's. */
    const char *(*server_id)(void);
    /* Queue a message for every server of the cluster.  Any thread.  0: on
     * its way (it may still be dropped, oldest first, if Redis is too slow
     * for ClusterQueue); -1: dropped now (no cluster, Redis unreachable, a
     * channel that is empty or longer than RP_CLUSTER_CHANNEL_MAX).
     * Messages are binary; data is copied. */
    int (*publish)(const char *channel, const void *data, size_t len);
    /* Call fn(w, channel, data, len, arg) on w's thread for every message on
     * channel ("name", or "prefix*" for every channel starting with prefix,
     * or "*").  Call on w's thread, in any module's worker_init (before or
     * after mod_cluster's) or later.  Returns an id > 0 for unsubscribe, or
     * -1 (channel empty or too long, no memory).  The subscription lasts
     * until unsubscribe or the end of w (a reload's new workers subscribe
     * anew in their worker_init). */
    int (*subscribe)(rp_worker *w, const char *channel, unsigned flags, rp_cluster_fn fn,
                     void *arg);
    /* Stop a subscription; on w's thread, callbacks included.  fn is not
     * called for it again. */
    void (*unsubscribe)(rp_worker *w, int id);
    /* During a callback on w: the sender's server_id, "" when the message
     * was published by something else than mod_cluster (redis-cli). */
    const char *(*origin)(rp_worker *w);

    /* Version 2. */
    /* Send one Redis command (argv[0] the command, binary arguments, at most
     * RP_CLUSTER_CALL_ARGS) on the publishing connection, in order with
     * publish(), from any thread, without waiting; fn(ok, ...) gets the
     * answer later.  key_arg is the index of the argument that names a key:
     * it gets ClusterPrefix and ':' put before it, so that applications
     * sharing one Redis keep apart (-1: no argument is a key).  0: on its
     * way, fn will be called; -1: refused now (no cluster, Redis
     * unreachable, bad arguments, no memory), fn will not be called. */
    int (*call)(int argc, const char *const *argv, const size_t *lens, int key_arg,
                rp_cluster_reply_fn fn, void *arg);

    /* Version 3. */
    /* Run a Lua script like call() runs a command: EVALSHA sha1 (the 40 hex
     * digits of the script's SHA-1, computed once by the caller), so that
     * the script itself crosses the network only when Redis does not know
     * it: on a NOSCRIPT answer (a restarted Redis, SCRIPT FLUSH) it is sent
     * once with EVAL, which also caches it again, and that answer is fn's.
     * argv holds nkeys keys (each gets ClusterPrefix and ':' first) then
     * the other arguments, argc in all, at most RP_CLUSTER_CALL_ARGS - 3.
     * script is NUL-terminated and must stay valid until fn is called (a
     * string constant).  0 / -1 as call(). */
    int (*eval)(const char *script, const char *sha1, int nkeys, int argc, const char *const *argv,
                const size_t *lens, rp_cluster_reply_fn fn, void *arg);
} rp_cluster_service_v1;

/* The same table, named for what it is now. */
typedef rp_cluster_service_v1 rp_cluster_service;

#endif
