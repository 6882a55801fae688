/* mod_skeleton.c - a template plugin: copy this directory, rename, edit.
 *
 * It shows every part of the plugin API (api/, installed as
 * <prefix>/include/rampart/) in one small working module:
 *
 *   SkeletonGreeting "text"   a directive with its own setter
 *   Map /hello skeleton:      a route this module owns (map_target)
 *   Map /hi skeleton:Hiya     the same, with a per-route greeting
 *
 * GET /hello answers the greeting as text/plain.  Along the way it uses a
 * route handler, an AUTH hook, a content filter, a LOG hook, per-worker and
 * per-request state, notes, the error log and a service.
 *
 * Build in the tree:   rp_add_module(skeleton mod_skeleton.c) (CMakeLists.txt)
 * Build out of tree:   see README.md (cc + pkg-config rampart)
 * Use:                 LoadModule skeleton mod_skeleton.so
 */
#include <stdlib.h>
#include <string.h>
#include <rampart.h> /* the whole public API; nothing else from the server */

/* The descriptor is defined at the bottom; hooks need its address first:
 * &rp_module_skeleton is this module's identity in every per-module call. */
RP_API const rp_module rp_module_skeleton;

/* ---- configuration ------------------------------------------------------- */

/* One object per configuration, made by create_conf, filled by directives.
 * Only read it once the server runs: it is shared by all worker threads. */
typedef struct {
    const char *greeting;
} skel_conf;

static void *skel_create_conf(rp_pool *p) {
    skel_conf *c = rp_pcalloc(p, sizeof *c); /* lives as long as the config */
    c->greeting = "Hello from mod_skeleton!";  /* the default */
    return c;
}

/* A custom setter; for a plain string the generic rp_set_string with
 * offsetof(skel_conf, greeting) in the table would do (see rp_module.h for
 * rp_set_flag/int/size/seconds/path/list).  Return NULL or an error, which
 * the core prints as "file:line: message". */
static const char *set_greeting(rp_cmd *cmd, void *conf, int argc, char *const argv[]) {
    skel_conf *c = conf;
    (void)argc; /* the core enforced min_args/max_args already */
    if (argv[0][0] == '\0')
        return rp_cmd_error(cmd, "%s needs a non-empty text", rp_cmd_name(cmd));
    c->greeting = rp_pstrdup(rp_cmd_pool(cmd), argv[0]); /* copy: argv is temporary */
    return NULL;
}

static const rp_directive skel_directives[] = {
    {"SkeletonGreeting", 1, 1, set_greeting, 0, "SkeletonGreeting \"text\": what /hello answers"},
    RP_DIRECTIVES_END
};

/* ---- routes: "Map /key skeleton:[greeting]" ------------------------------ */

/* The core offers every Map line to each loaded module in load order.
 * Decline what is not ours; claim ours with rp_route_add().  The target is
 * opaque to the core and comes back per request from rp_req_route_target(). */
typedef struct {
    const char *greeting; /* NULL: use SkeletonGreeting */
} skel_target;

static int skel_map_target(rp_cmd *cmd, void *conf, const char *key, int argc,
                           char *const argv[], const char **err) {
    (void)conf;
    if (argc != 1 || strncmp(argv[0], "skeleton:", 9) != 0)
        return RP_DECLINED;
    skel_target *t = rp_pcalloc(rp_cmd_pool(cmd), sizeof *t);
    if (argv[0][9] != '\0')
        t->greeting = rp_pstrdup(rp_cmd_pool(cmd), argv[0] + 9);
    if ((*err = rp_route_add(cmd, key, &rp_module_skeleton, t)) != NULL)
        return RP_ERROR;
    return RP_OK;
}

/* Hooks and filters see every request; they ask this.  The route handler
 * (skel_handler) never needs to: the core calls it only for our routes. */
static int is_ours(rp_req *r) {
    return rp_req_route_owner(r) == &rp_module_skeleton;
}

/* ---- per-worker state --------------------------------------------------- */

/* Each worker thread runs its own event loop; state kept per worker needs no
 * locks.  rp_worker_base(w) is that thread's libevent base, for timers. */
typedef struct {
    unsigned long served;
} skel_worker;

static int skel_worker_init(rp_worker *w, void *conf) {
    (void)conf;
    skel_worker *sw = calloc(1, sizeof *sw);
    if (!sw)
        return RP_ERROR;
    rp_worker_set_ctx(w, &rp_module_skeleton, sw);
    return RP_OK;
}

static void skel_worker_exit(rp_worker *w, void *conf) {
    (void)conf;
    skel_worker *sw = rp_worker_ctx(w, &rp_module_skeleton);
    rp_log(&rp_module_skeleton, RP_LOG_INFO, "worker %d served %lu greetings",
           rp_worker_index(w), sw ? sw->served : 0UL);
    free(sw);
}

/* ---- hooks -------------------------------------------------------------- */

/* AUTH (run-all): return RP_DECLINED/RP_OK to let the request go on, or a
 * status to stop it.  This one only refuses requests that ask for it. */
static int skel_auth(rp_req *r) {
    if (!is_ours(r))
        return RP_DECLINED;
    if (rp_req_header(r, "X-Skeleton-Deny"))
        return 403; /* the core sends the error page */
    return RP_DECLINED;
}

/* The route handler (the descriptor's .handler): after MAP and AUTH the core
 * calls it for every request whose route this module owns, before any
 * HANDLER hook, so it needs no "is this my route?" test.  Produce the
 * response, or RP_DECLINED to let the HANDLER hooks try (all declining means
 * 404).  A HANDLER hook (rp_hook_add(h, RP_PHASE_HANDLER, ...)) is only for
 * requests no route claims. */
static int skel_handler(rp_req *r) {
    if (strcmp(rp_req_method(r), "GET") != 0 && !rp_req_is_head(r)) {
        rp_resp_header_set(r, "Allow", "GET, HEAD");
        return 405;
    }
    const skel_target *t = rp_req_route_target(r);
    const skel_conf *c = rp_req_conf(r, &rp_module_skeleton);
    const char *greeting = t->greeting ? t->greeting : c->greeting;

    skel_worker *sw = rp_worker_ctx(rp_req_worker(r), &rp_module_skeleton);
    sw->served++;

    /* Request memory comes from the request pool: no free(). */
    char *body = rp_psprintf(rp_req_pool(r), "%s\n", greeting);
    size_t len = strlen(body);
    rp_resp_set_status(r, 200);
    rp_resp_header_set(r, "Content-Type", "text/plain; charset=utf-8");
    rp_resp_header_set(r, "X-Skeleton-Worker", rp_psprintf(rp_req_pool(r), "%d",
                                                            rp_worker_index(rp_req_worker(r))));
    rp_resp_set_length(r, (int64_t)len);
    if (!rp_req_is_head(r))
        rp_resp_write(r, body, len); /* copies; rp_resp_write_ref/sendfile don't */
    rp_req_note_set(r, "skeleton-greeting", greeting); /* for the LOG hook */
    return RP_OK; /* the core finishes the response (RP_ASYNC: you do, later) */
}

/* LOG (run-all): after the response is complete, before the request pool
 * goes.  Reads what the handler and the filter left behind. */
static int skel_log(rp_req *r) {
    const char *g = rp_req_note_get(r, "skeleton-greeting");
    if (!g)
        return RP_DECLINED;
    const size_t *bytes = rp_req_ctx(r, &rp_module_skeleton);
    rp_log(&rp_module_skeleton, RP_LOG_DEBUG, "%s %s -> %d, %zu body bytes",
           rp_req_method(r), rp_req_uri(r), rp_resp_status(r), bytes ? *bytes : 0);
    return RP_OK;
}

/* ---- a content filter --------------------------------------------------- */

/* setup decides per response whether the filter joins; fn sees the body as
 * brigades of buckets and must pass them on (FLUSH and EOS included).  This
 * one only counts bytes into the per-request slot; a real one (gzip)
 * replaces the buckets with new ones. */
static int skel_filter_setup(rp_filter *f, rp_req *r) {
    if (!is_ours(r))
        return RP_DECLINED;
    size_t *bytes = rp_pcalloc(rp_req_pool(r), sizeof *bytes);
    rp_filter_set_ctx(f, bytes);
    rp_req_set_ctx(r, &rp_module_skeleton, bytes);
    return RP_OK;
}

static int skel_filter(rp_filter *f, rp_brigade *bb) {
    size_t *bytes = rp_filter_ctx(f);
    for (rp_bucket *b = rp_brigade_first(bb); b; b = rp_bucket_next(b))
        if (rp_bucket_kind(b) == RP_BUCKET_MEM || rp_bucket_kind(b) == RP_BUCKET_FILE)
            *bytes += rp_bucket_length(b);
    return rp_filter_pass(f, bb);
}

/* ---- registration ------------------------------------------------------- */

static void skel_register_hooks(rp_hooks *h, void *conf) {
    (void)conf;
    /* order: RP_HOOK_FIRST/MIDDLE/LAST; then before/after other modules by
     * name (NULL-terminated), e.g. check ahead of mod_js's AUTH hooks.  The
     * route handler is not a hook: it is in the descriptor below. */
    static const char *const before[] = {"js", NULL};
    rp_hook_add(h, RP_PHASE_AUTH, skel_auth, RP_HOOK_MIDDLE, before, NULL);
    rp_hook_add(h, RP_PHASE_LOG, skel_log, RP_HOOK_LAST, NULL, NULL);
    rp_filter_register(h, "skeleton-count", RP_FILTER_CONTENT, RP_HOOK_MIDDLE,
                       skel_filter_setup, skel_filter);
}

/* Services: a versioned function table other modules look up with
 * rp_service_get("skeleton", 1) instead of linking against this plugin. */
typedef struct {
    /* read by the plugins that look the service up, not here */
    // cppcheck-suppress unusedStructMember
    const char *(*greeting)(const rp_server *s);
} skel_service_v1;

static const char *svc_greeting(const rp_server *s) {
    const skel_conf *c = rp_server_conf(s, &rp_module_skeleton);
    return c ? c->greeting : NULL;
}
static const skel_service_v1 skel_service = {svc_greeting};

/* Exactly once, after all hooks are registered, before any connection. */
static int skel_post_config(rp_server *s, void *conf) {
    skel_conf *c = conf;
    if (rp_service_version("skeleton") < 1)
        rp_service_register("skeleton", 1, &skel_service);
    rp_log(&rp_module_skeleton, RP_LOG_INFO, "greeting \"%s\", %d worker(s)", c->greeting,
           rp_server_threads(s));
    return RP_OK;
}

/* The one exported symbol: rp_module_<name>, name matching LoadModule. */
RP_MODULE_DECLARE(skeleton) = {
    RP_MODULE_HEADER,
    .name = "skeleton",
    .version = "1.0",
    .directives = skel_directives,
    .create_conf = skel_create_conf,
    .merge_conf = NULL, /* on reload, the new configuration wins whole */
    .map_target = skel_map_target,
    .register_hooks = skel_register_hooks,
    .post_config = skel_post_config,
    .worker_init = skel_worker_init,
    .worker_exit = skel_worker_exit,
    .handler = skel_handler, /* serves the routes map_target claimed */
};
