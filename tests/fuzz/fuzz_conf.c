/* fuzz_conf.c - libFuzzer target: the conf-line splitter (quotes,
 * escapes, comments).  Checked: no crash or sanitizer report; on success
 * argc words, none NULL. */
#include <stdint.h>
#include <stdlib.h>
#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_pool *pool = rp_pool_create(NULL);
    char *line = rp_pstrndup(pool, (const char *)data, size);
    char **argv = NULL;
    const char *err = NULL;
    int argc = rp_conf_split(pool, line, &argv, &err);
    if (argc < 0 && !err)
        abort();
    for (int i = 0; i < argc; i++)
        if (!argv[i])
            abort();
    rp_pool_destroy(pool);
    return 0;
}
