/* buildinfo.c - what `rampart-httpd -V` reports about this build: the
 * libraries the core was compiled against and runs with, and where it looks
 * for plugins.  Plugins name their own libraries in their version string. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <event2/event.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <pcre2.h>
#include <stdio.h>
#include "core.h"

RP_EXPORT void rp_print_build_info(FILE *out, const rp_server *s)
{
    char pcre[64] = "?";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    fprintf(out, "compiler:  gcc-compatible %s, C %ld, %s\n", __VERSION__, (long)__STDC_VERSION__,
#ifdef __OPTIMIZE__
            "optimised"
#else
            "not optimised"
#endif
    );
    fprintf(out, "OpenSSL:   %s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION),
            OPENSSL_VERSION_TEXT);
    fprintf(out, "libevent:  %s (built with %s)\n", event_get_version(), LIBEVENT_VERSION);
    fprintf(out, "llhttp:    %d.%d.%d\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
            LLHTTP_VERSION_PATCH);
    fprintf(out, "PCRE2:     %s\n", pcre);
    fprintf(out, "module dir: %s\n",
            s->core->module_dir ? s->core->module_dir : rp_default_module_dir());
}
