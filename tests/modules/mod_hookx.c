/* mod_hooka / mod_hookb / mod_hookc - one source, three test plugins
 * (HOOK_ID, HOOK_NAME, HOOK_DIRECTIVE come from the build).
 *
 * Directive:  Hook<X> FIRST|MIDDLE|LAST|<int> [before=m1,m2] [after=m3]
 *   sets the order and the before/after constraints of every hook below.
 *
 * Hooks:
 *   AUTH (run-all)      appends "<name>" to the request note "order" and
 *                       answers 403 if the request has "X-Hook-Deny: <name>"
 *   HANDLER (first-wins) with a request header "X-Hook-Claim", or with
 *                       "X-Hook-Grab: <name>", answers "handled by <name>\n"
 *                       (so the first in order wins) whatever the route
 *   LOG (run-all)       logs "hook-log <name> <uri>" at notice level
 * mod_hooka also publishes the service "testsvc" version 1 in post_config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rampart.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define MODSYM CAT(rp_module_, HOOK_ID)
#define DECLARE(id) RP_MODULE_DECLARE(id)

DECLARE(HOOK_ID);
#define SELF (&MODSYM)

typedef struct {
    int order;
    const char **before;
    const char **after;
} hx_conf;

static void *hx_create_conf(rp_pool *p)
{
    hx_conf *c = rp_pcalloc(p, sizeof *c);
    c->order = RP_HOOK_MIDDLE;
    return c;
}

static const char **split_names(rp_pool *p, const char *s)
{
    size_t n = 1;
    for (const char *q = s; *q; q++)
        n += *q == ',';
    const char **v = rp_pcalloc(p, (n + 1) * sizeof *v);
    size_t i = 0;
    const char *start = s;
    for (const char *q = s;; q++) {
        if (*q == ',' || *q == 0) {
            if (q > start)
                v[i++] = rp_pstrndup(p, start, (size_t)(q - start));
            if (*q == 0)
                break;
            start = q + 1;
        }
    }
    v[i] = NULL;
    return v;
}

static const char *hx_set(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    hx_conf *c = conf;
    rp_pool *p = rp_cmd_pool(cmd);
    long n;
    if (strcmp(argv[0], "FIRST") == 0)
        c->order = RP_HOOK_FIRST;
    else if (strcmp(argv[0], "MIDDLE") == 0)
        c->order = RP_HOOK_MIDDLE;
    else if (strcmp(argv[0], "LAST") == 0)
        c->order = RP_HOOK_LAST;
    else if (rp_parse_long(argv[0], &n) == 0)
        c->order = (int)n;
    else
        return rp_cmd_error(cmd, "%s: order must be FIRST, MIDDLE, LAST or a number, not '%s'",
                            rp_cmd_name(cmd), argv[0]);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "before=", 7) == 0)
            c->before = split_names(p, argv[i] + 7);
        else if (strncmp(argv[i], "after=", 6) == 0)
            c->after = split_names(p, argv[i] + 6);
        else
            return rp_cmd_error(cmd, "%s: expected before=... or after=..., not '%s'",
                                rp_cmd_name(cmd), argv[i]);
    }
    return NULL;
}

static const rp_directive hx_directives[] = {
    {HOOK_DIRECTIVE, 1, 3, hx_set, 0, HOOK_DIRECTIVE " FIRST|MIDDLE|LAST [before=a,b] [after=c]"},
    RP_DIRECTIVES_END};

static int hx_auth(rp_req *r)
{
    const char *old = rp_req_note_get(r, "order");
    if (old && *old)
        rp_req_note_set(r, "order", rp_psprintf(rp_req_pool(r), "%s,%s", old, HOOK_NAME));
    else
        rp_req_note_set(r, "order", HOOK_NAME);
    const char *deny = rp_req_header(r, "X-Hook-Deny");
    if (deny && strcmp(deny, HOOK_NAME) == 0)
        return 403;
    return RP_OK;
}

static int hx_handler(rp_req *r)
{
    const char *grab = rp_req_header(r, "X-Hook-Grab");
    if (!rp_req_header(r, "X-Hook-Claim") && !(grab && strcmp(grab, HOOK_NAME) == 0))
        return RP_DECLINED;
    const char *o = rp_req_note_get(r, "order");
    rp_resp_header_set(r, "Content-Type", "text/plain");
    rp_resp_printf(r, "handled by %s\norder=%s\n", HOOK_NAME, o ? o : "");
    return RP_OK;
}

static int hx_log(rp_req *r)
{
    rp_log(SELF, RP_LOG_NOTICE, "hook-log %s %s", HOOK_NAME, rp_req_uri(r));
    return RP_OK;
}

static void hx_register_hooks(rp_hooks *h, void *conf)
{
    hx_conf *c = conf;
    rp_hook_add(h, RP_PHASE_AUTH, hx_auth, c->order, c->before, c->after);
    rp_hook_add(h, RP_PHASE_HANDLER, hx_handler, c->order, c->before, c->after);
    rp_hook_add(h, RP_PHASE_LOG, hx_log, c->order, c->before, c->after);
}

typedef struct {
    int (*add)(int a, int b);
    const char *(*name)(void);
} testsvc_v1;

static int svc_add(int a, int b)
{
    return a + b;
}

static const char *svc_name(void)
{
    return HOOK_NAME;
}

static const testsvc_v1 svc_table = {svc_add, svc_name};

static int hx_post_config(rp_server *s, void *conf)
{
    (void)s;
    (void)conf;
    if (strcmp(HOOK_NAME, "hooka") == 0 && rp_service_register("testsvc", 1, &svc_table) != 0) {
        rp_log(SELF, RP_LOG_ERR, "cannot publish testsvc");
        return RP_ERROR;
    }
    return RP_OK;
}

DECLARE(HOOK_ID) = {
    RP_MODULE_HEADER,
    .name = HOOK_NAME,
    .version = "1.0",
    .directives = hx_directives,
    .create_conf = hx_create_conf,
    .register_hooks = hx_register_hooks,
    .post_config = hx_post_config,
};
