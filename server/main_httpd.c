/* main_httpd.c - rampart-httpd: run the server from a conf file. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rampart-httpd [-f conf] [-c 'Directive args'].. [-t [--dump-hooks] | -T]\n"
            "                     [-L] [-s signal] [-v] [-V] [-h]\n"
            "  -f FILE        read the configuration from FILE (default: built-in demo site)\n"
            "  -c LINE        apply one more directive line after the configuration\n"
            "  -t             check the configuration and exit\n"
            "  --dump-hooks   with -t: print the hook pipeline in run order\n"
            "  -T             check the configuration, print every directive that took effect\n"
            "                 (after Include and -c, each with its file:line), and exit\n"
            "  -L             list the directives of the modules the configuration loads\n"
            "  -s SIGNAL      send stop, quit, reload or reopen to the server named by PidFile\n"
            "  -v, --version  print the version and exit\n"
            "  -V             print version, plugin ABI, library versions, the module directory\n"
            "                 and the modules the configuration loads\n"
            "  -h, --help     this help\n");
}

typedef struct opts {
    const char *conf;
    const char *extra[64];
    int nextra;
    int test, dump, dump_conf, version, list;
    const char *signal;
} opts;

static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option lopts[] = {{"dump-hooks", no_argument, NULL, 'D'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, 'v'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "f:c:s:tTvVLh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'f': o->conf = optarg; break;
        case 'c':
            if (o->nextra == 64) {
                fprintf(stderr, "rampart-httpd: too many -c options\n");
                return 2;
            }
            o->extra[o->nextra++] = optarg;
            break;
        case 't': o->test = 1; break;
        case 'T': o->test = o->dump_conf = 1; break;
        case 'v': printf("%s\n", rp_version()); exit(0);
        case 'D': o->dump = 1; break;
        case 'V': o->version = 1; break;
        case 'L': o->list = 1; break;
        case 's': o->signal = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rampart-httpd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

static int read_sources(rp_server *s, const opts *o, const char **errp)
{
    const char *err = NULL;
    int rc;
    if (o->conf)
        rc = rp_conf_read_file(s, o->conf, &err);
    else
        rc = rp_conf_read_string(s, rp_builtin_conf(s->pool), "<built-in configuration>",
                                 rp_exe_dir(), &err);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "/");
    for (int i = 0; rc == 0 && i < o->nextra; i++)
        rc = rp_conf_read_string(s, o->extra[i], "<command line -c>", cwd, &err);
    if (rc == 0)
        rc = rp_server_finalize(s, &err);
    *errp = err;
    return rc;
}

static int load_config(rp_server *s, const opts *o)
{
    const char *err = NULL;
    int rc = read_sources(s, o, &err);
    if (rc != 0)
        fprintf(stderr, "rampart-httpd: %s\n", err ? err : "configuration error");
    return rc;
}

/* One line per directive: name, module, help. Documentation is generated
 * from this, so it cannot drift from the tables. */
/* name, module, help and scope (where it may be written), tab-separated. */
/* A name in both of a module's tables is one directive written anywhere:
 * its route entry is the one listed. */
static bool also_route(const rp_module *m, const char *name)
{
    for (const rp_directive *d = m->route_directives; d && d->name; d++)
        if (strcmp(d->name, name) == 0)
            return true;
    return false;
}

static void print_directives(const rp_server *s)
{
    for (size_t i = 0; i < s->mods.n; i++) {
        const rp_module *m = ((const rp_modrec *)s->mods.v[i])->desc;
        for (const rp_directive *d = m->directives; d && d->name; d++)
            if (!also_route(m, d->name))
                printf(
                    "%s\t%s\t%s\t%s\n", d->name, m->name, d->help ? d->help : "",
                    rp_scope_names(s->pool, i == 0 ? rp_core_directive_scope(d) : RP_SCOPE_SERVER));
        for (const rp_directive *d = m->route_directives; d && d->name; d++)
            printf("%s\t%s\t%s\t%s\n", d->name, m->name, d->help ? d->help : "",
                   rp_scope_names(s->pool, RP_SCOPE_ALL));
    }
}

/* A pid file can outlive its server and its pid be reused: only signal a
 * process running this same program. */
static bool same_program(pid_t pid)
{
    char link[64], theirs[PATH_MAX], ours[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%ld/exe", (long)pid);
    ssize_t a = readlink(link, theirs, sizeof theirs - 1);
    ssize_t b = readlink("/proc/self/exe", ours, sizeof ours - 1);
    if (a <= 0 || b <= 0)
        return false;
    theirs[a] = ours[b] = '\0';
    return strcmp(theirs, ours) == 0;
}

/* -s: signal the running server whose pid the configuration's PidFile holds. */
static int send_signal(const rp_server *s, const char *name)
{
    static const struct { const char *name; int sig; } sigs[] = {
        {"stop", SIGTERM}, {"quit", SIGTERM}, {"reload", SIGHUP}, {"reopen", SIGUSR1}};
    int sig = 0;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcmp(name, sigs[i].name) == 0)
            sig = sigs[i].sig;
    if (!sig) {
        fprintf(stderr, "rampart-httpd: -s %s: expected stop, quit, reload or reopen\n", name);
        return 2;
    }
    const char *path = s->core->pid_file;
    FILE *f = path ? fopen(path, "r") : NULL;
    long pid = 0;
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        fprintf(stderr, "rampart-httpd: -s %s: no server pid in %s\n", name,
                path ? path : "(no PidFile in the configuration)");
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    if (!same_program((pid_t)pid)) {
        fprintf(stderr, "rampart-httpd: -s %s: stale %s: pid %ld is not a running rampart-httpd\n",
                name, path, pid);
        return 1;
    }
    if (kill((pid_t)pid, sig) != 0) {
        fprintf(stderr, "rampart-httpd: -s %s: pid %ld from %s: %s\n", name, pid, path,
                strerror(errno));
        return 1;
    }
    return 0;
}

/* SIGHUP: the same sources, read again. */
static rp_server *reload_config(void *arg, const char **err)
{
    const opts *o = arg;
    rp_server *s = rp_server_new();
    if (read_sources(s, o, err) != 0) {
        static char msg[1024]; /* must outlive s; reloads run on the main thread only */
        snprintf(msg, sizeof msg, "%s", *err ? *err : "configuration error");
        *err = msg;
        rp_server_free(s);
        return NULL;
    }
    return s;
}

/* -T: an argument as the conf syntax would read it back. */
static void print_word(const char *w)
{
    if (*w && !strpbrk(w, " \t\"'\\#")) {
        fputs(w, stdout);
        return;
    }
    putchar('"');
    for (; *w; w++) {
        if (*w == '"' || *w == '\\')
            putchar('\\');
        putchar(*w);
    }
    putchar('"');
}

/* -T: lines inside <Host> and <Route> are indented four spaces a level, so
 * the blocks read as they nest.  The reader already refused unbalanced
 * blocks, so the depth never goes below zero. */
static int block_depth_change(const char *w)
{
    if (w[0] != '<')
        return 0;
    return w[1] == '/' ? -1 : 1;
}

static void print_effective_conf(const rp_server *s)
{
    printf("# %zu directives took effect, in order\n", s->applied.n);
    const char *file = NULL;
    int depth = 0;
    for (size_t i = 0; i < s->applied.n; i++) {
        const rp_conf_line *l = s->applied.v[i];
        int change = block_depth_change(l->argv[0]);
        if (!file || strcmp(file, l->file) != 0)
            printf("# %s\n", file = l->file);
        if (change < 0 && depth > 0)
            depth--;
        printf("%*s", depth * 4, "");
        if (change > 0)
            depth++;
        for (int a = 0; a < l->argc; a++) {
            if (a)
                putchar(' ');
            print_word(l->argv[a]);
        }
        printf("    # line %d\n", l->line);
    }
}

static void print_version(const rp_server *s)
{
    printf("%s (plugin ABI %d.%d)\n", rp_version(), RP_ABI_MAJOR, RP_ABI_MINOR);
    rp_print_build_info(stdout, s);
    printf("modules:");
    for (size_t i = 0; i < s->mods.n; i++) {
        const rp_modrec *m = s->mods.v[i];
        printf(" %s%s%s", m->desc->name, m->desc->version ? "/" : "",
               m->desc->version ? m->desc->version : "");
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    rp_proc_title_init(argc, argv);
    opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    rp_server *s = rp_server_new();
    if (load_config(s, &o) != 0) {
        rp_server_free(s);
        return 1;
    }
    if (o.signal) {
        rc = send_signal(s, o.signal);
        rp_server_free(s);
        return rc;
    }
    if (o.version || o.test || o.list) {
        if (o.version)
            print_version(s);
        if (o.list)
            print_directives(s);
        if (o.test && o.dump)
            rp_hooks_dump(s, stdout);
        if (o.dump_conf)
            print_effective_conf(s);
        if (o.test)
            printf("rampart-httpd: configuration %s is OK\n", o.conf ? o.conf : "(built-in)");
        rp_server_free(s);
        return 0;
    }
    const char *err = NULL;
    pid_t pid;
    rc = rp_server_start(s, &pid, &err);
    if (rc == RP_SERVER_FAILED) {
        rp_log(NULL, RP_LOG_ERR, "%s", err);
        if (s->core->error_log) /* the operator is looking at the terminal */
            fprintf(stderr, "rampart-httpd: %s\n", err);
        rp_server_free(s);
        return 1;
    }
    if (rc == RP_SERVER_PARENT) {
        rp_server_free(s);
        return 0; /* the daemon serves */
    }
    rp_server_on_reload(s, reload_config, &o);
    rc = rp_server_loop(s);
    rp_server_free(s);
    return rc;
}
