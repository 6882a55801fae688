/* rp_hooks.h - the request pipeline.
 *
 *   MAP      first-wins  translate the request (the core has already matched
 *                        the route table; a hook may refine or replace it)
 *   AUTH     run-all     any status (>= 100) stops the request with it
 *   (route)              the route owner's rp_module.handler, if it has one
 *   HANDLER  first-wins  produce the response
 *   ERROR    first-wins  produce the body of an error response (status >= 400)
 *   LOG      run-all     after the response is complete
 *
 * Content comes first from the module that owns the request's route (after
 * MAP: rp_req_route_owner): the core calls that module's descriptor field
 * `handler` directly, like nginx's location content handler, whatever
 * HANDLER hooks exist or how they are ordered.  A module serving its own
 * routes needs no HANDLER hook and no "is this my route?" test.  HANDLER
 * hooks answer what remains: requests no route claims, routes whose owner
 * has no handler, and requests the owner's handler declined.  To take a
 * routed request away from its owner, change the route in a MAP hook
 * (rp_req_set_route) or answer it in AUTH.
 *
 * Return values: RP_DECLINED (next hook), RP_OK (first-wins: stop; run-all:
 * go on), RP_ASYNC (route handler and HANDLER only: the response is finished
 * later with rp_resp_finish), or an HTTP status.  When the route handler and
 * every HANDLER hook decline the core answers 404.
 *
 * Order: hooks sort by `order` (RP_HOOK_FIRST < RP_HOOK_MIDDLE <
 * RP_HOOK_LAST), then by the before/after constraints, which name other
 * modules ("this hook runs before module X's hooks in this phase"), keeping
 * registration order otherwise.  A cycle refuses to start.
 * `rampart-httpd -t --dump-hooks` prints the result.
 */
#ifndef RP_HOOKS_H
#define RP_HOOKS_H

#include "rp_common.h"

typedef enum {
    RP_PHASE_MAP = 0,
    RP_PHASE_AUTH,
    RP_PHASE_HANDLER,
    RP_PHASE_ERROR,
    RP_PHASE_LOG,
    RP_PHASE_COUNT
} rp_phase;

enum { RP_HOOK_FIRST = -10, RP_HOOK_MIDDLE = 0, RP_HOOK_LAST = 10 };

typedef int (*rp_hook_fn)(rp_req *r);

/* before / after: NULL-terminated arrays of module names, or NULL. */
RP_API void rp_hook_add(rp_hooks *h, rp_phase phase, rp_hook_fn fn, int order,
                        const char *const *before, const char *const *after);

/* The module registering through h, and the configuration being built. */
RP_API const rp_module *rp_hooks_module(const rp_hooks *h);
RP_API rp_server *rp_hooks_server(const rp_hooks *h);

#endif
