/* fuzz_path.c - libFuzzer target: the request-target normalizer.
 *
 * Every request path passes rp_req_normalize_path before any module sees
 * it, and mod_static trusts its result not to climb above the root.  The
 * properties checked on every input: no crash or sanitizer report; on
 * success the path starts with '/', holds no NUL, and has no "." or ".."
 * segment left. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

static void check_segments(const char *p)
{
    if (p[0] != '/')
        abort();
    for (const char *s = p; *s; s++) {
        if (*s != '/')
            continue;
        const char *seg = s + 1;
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_pool *pool = rp_pool_create(NULL);
    rp_req r;
    memset(&r, 0, sizeof r);
    r.pool = pool;
    r.uri = rp_pstrndup(pool, (const char *)data, size); /* llhttp never passes a NUL */
    r.path = "/";
    if (rp_req_normalize_path(&r) == 0)
        check_segments(r.path);
    rp_pool_destroy(pool);
    return 0;
}
