/* fuzz_utf8.c - libFuzzer target: mod_ws's incremental UTF-8 validator
 * (modules/mod_ws/frame.c: ws_utf8_feed, ws_utf8_complete).
 *
 * The first byte of the input picks how the rest is cut into pieces (a
 * character may be split across calls, as frames split a message).
 * Checked: no crash or sanitizer report, and the verdict equals that of a
 * reference decoder written here (RFC 3629: shortest form only, no
 * surrogates, nothing above U+10FFFF), whatever the cuts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "utf8_ref.h"
#include "ws_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned cut = data[0];
    data++;
    size--;
    uint8_t *copy = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (!copy)
        return 0;
    memcpy(copy, data, size);

    int expect = ref_valid(copy, size);
    /* whole, then in pieces of 1..cut+1 bytes (a pattern from the cut byte) */
    for (int pass = 0; pass < 2; pass++) {
        ws_utf8 u;
        ws_utf8_init(&u);
        int ok = 1;
        size_t i = 0, step = 0;
        while (i < size) {
            size_t n = pass == 0 ? size : 1 + ((cut + step * 7) % (cut % 13 + 1));
            if (n > size - i)
                n = size - i;
            if (ws_utf8_feed(&u, copy + i, n) != 0) {
                ok = 0;
                break;
            }
            i += n;
            step++;
        }
        if (ok && !ws_utf8_complete(&u))
            ok = 0;
        if (ok != expect)
            abort();
    }
    free(copy);
    return 0;
}
