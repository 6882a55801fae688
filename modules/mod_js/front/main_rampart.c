/* main_rampart.c - the `rampart` executable: run a JavaScript file.
 *
 *     rampart script.js [args...]
 *
 * mod_js's front-end, beside it so the core names no feature: mod_js is
 * loaded through the ordinary module loader (a bootstrap configuration
 * holding only "LoadModule js mod_js.so"); the script runner is the "js"
 * service it publishes (rp_js.h).  Neither this file nor the core sees
 * Duktape. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rampart.h"
#include "rp_js.h"

/* Kept for the life of the process: mod_js's code must stay loaded while
 * the script (and any server it starts) runs. */
static rp_server *bootstrap;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rampart [script.js [args...]]\n"
            "       rampart -V | --version\n"
            "       rampart -h | --help\n"
            "Runs a JavaScript file; require(\"rampart-server\").start({...}) in it starts the\n"
            "web server, which then serves until SIGTERM or SIGINT.\n"
            "The script's arguments are in process.argv (argv[1] is the script).\n"
            "Without a script: the built-in demo (the demo site and every example of the\n"
            "rampart-server documentation) on 127.0.0.1:8088 and [::1]:8088.\n"
            "Environment: RAMPART_PATH, colon-separated extra directories for require().\n");
}

/* The demo that ships with the server, beside the binary in the build tree
 * and in the install tree alike: <exe>/../share/rampart/examples/demo.js. */
static char *builtin_demo(void)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/../share/rampart/examples/demo.js", rp_exe_dir());
    return path;
}

int main(int argc, char **argv)
{
    rp_proc_title_init(argc, argv);
    char *demo_argv[] = {argv[0], NULL, NULL};
    if (argc < 2) {
        demo_argv[1] = builtin_demo();
        fprintf(stderr, "rampart: no script given; running the built-in demo %s\n", demo_argv[1]);
        argv = demo_argv;
        argc = 2;
    }
    const char *a = argv[1];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
        printf("%s (plugin ABI %d.%d)\n", rp_version(), RP_ABI_MAJOR, RP_ABI_MINOR);
        return 0;
    }
    if (strcmp(a, "--") == 0) {
        argv++;
        argc--;
        if (argc < 2) {
            usage(stderr);
            return 2;
        }
    } else if (a[0] == '-' && a[1]) {
        fprintf(stderr, "rampart: unknown option '%s'\n", a);
        usage(stderr);
        return 2;
    }
    const char *script = argv[1];
    struct stat st;
    if (stat(script, &st) != 0) {
        fprintf(stderr, "rampart: cannot open script '%s': %s\n", script, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "rampart: '%s' is a directory, not a script\n", script);
        return 1;
    }
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "rampart: cannot read script '%s': %s\n", script, strerror(errno));
        return 1;
    }

    const char *err = NULL;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "/");
    bootstrap = rp_server_new();
    char *load[] = {"LoadModule", "js", "mod_js.so"};
    if (rp_conf_apply(bootstrap, "rampart", 0, cwd, 3, load, &err) != 0 ||
        rp_server_finalize(bootstrap, &err) != 0) {
        fprintf(stderr, "rampart: cannot load mod_js: %s\n", err ? err : "unknown error");
        return 1;
    }
    const rp_js_service_v1 *js = rp_service_get(RP_JS_SERVICE, RP_JS_SERVICE_VERSION);
    if (!js || !js->run_script) {
        fprintf(stderr, "rampart: mod_js did not publish the script runner (service js/1)\n");
        return 1;
    }
    int rc = js->run_script(argc - 1, argv + 1);
    fflush(NULL);
    return rc;
}
