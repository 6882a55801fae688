/* conf.c - the conf-file reader: lines, words, Include, and applying one
 * directive to the module that declares it.
 *
 * Setters receive only the arguments after the directive name (argc of them);
 * rp_cmd_name() gives the name as the module's table spells it.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "core.h"

/* One file being read; Include pushes a frame so loops and depth are seen. */
typedef struct conf_frame {
    const char *path; /* canonical path, or the text's name */
    int depth;
    const struct conf_frame *up;
} conf_frame;

struct rp_cmd {
    rp_server *server;
    const rp_directive *d;
    const char *file;
    int line;
    const char *dir;
    const conf_frame *frame;
    const char *nested_err; /* an error from an included file, already "file:line:" */
};

static int read_text(rp_server *s, const char *text, const char *file, const char *dir,
                     const conf_frame *fr, const char **err);

/* ---- accessors ---------------------------------------------------------- */

RP_API const char *rp_cmd_name(const rp_cmd *cmd)
{
    return cmd->d->name;
}
RP_API const char *rp_cmd_file(const rp_cmd *cmd)
{
    return cmd->file;
}
RP_API int rp_cmd_line(const rp_cmd *cmd)
{
    return cmd->line;
}
RP_API size_t rp_cmd_offset(const rp_cmd *cmd)
{
    return cmd->d->offset;
}
RP_API rp_pool *rp_cmd_pool(const rp_cmd *cmd)
{
    return cmd->server->pool;
}
RP_API rp_server *rp_cmd_server(const rp_cmd *cmd)
{
    return cmd->server;
}

const char *rp_cmd_dir(const rp_cmd *cmd)
{
    if (cmd->dir)
        return cmd->dir;
    return cmd->server->base_dir;
}

/* Join a relative path to dir (or the working directory when there is none). */
static char *resolve_in(rp_pool *p, const char *dir, const char *path)
{
    if (path[0] == '/')
        return rp_pstrdup(p, path);
    if (!dir) {
        char cwd[PATH_MAX];
        return rp_psprintf(p, "%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", path);
    }
    size_t n = strlen(dir);
    return rp_psprintf(p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", path);
}

RP_API char *rp_cmd_resolve_path(const rp_cmd *cmd, const char *path)
{
    return resolve_in(cmd->server->pool, rp_cmd_dir(cmd), path);
}

RP_API const char *rp_cmd_error(const rp_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = rp_pvsprintf(cmd->server->pool, fmt, ap);
    va_end(ap);
    return msg;
}

/* ---- splitting a line into words ---------------------------------------- */

/* A backslash escapes only these; before anything else it is kept, so regex
 * keys (~^/a\.html$) and escaped glob characters (/a\*b) survive. */
static int escapable(char c)
{
    return c == '"' || c == '\'' || c == '\\' || c == ' ' || c == '\t' || c == '#';
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int rp_conf_split(rp_pool *p, const char *line, char ***argvp, const char **err)
{
    /* Every word is at most as long as its source plus its NUL. */
    char *out = rp_palloc(p, strlen(line) + 2);
    rp_vec words = {0};
    const char *c = line;

    for (;;) {
        while (is_blank(*c))
            c++;
        if (!*c || *c == '#') /* '#' starts a comment only where a word would */
            break;
        char *word = out;
        while (*c && !is_blank(*c)) {
            if (*c == '"' || *c == '\'') {
                char q = *c;
                size_t col = (size_t)(c - line) + 1;
                for (c++; *c && *c != q; *out++ = *c++)
                    if (*c == '\\' && escapable(c[1]))
                        c++;
                if (!*c) {
                    *err = rp_psprintf(p, "missing closing %c for the quoted text at column %zu", q,
                                       col);
                    return -1;
                }
                c++;
            } else {
                if (*c == '\\' && escapable(c[1]))
                    c++;
                *out++ = *c++;
            }
        }
        *out++ = '\0';
        rp_vec_push(p, &words, word);
    }
    char **argv = rp_palloc(p, (words.n + 1) * sizeof(*argv));
    for (size_t i = 0; i < words.n; i++)
        argv[i] = words.v[i];
    argv[words.n] = NULL;
    *argvp = argv;
    return (int)words.n;
}

/* ---- applying one directive ----------------------------------------------- */

/* A module's `directives`, then its `route_directives` (*route set).
 * Inside <Host> or <Route> the route tables are searched first: a module
 * may list one name in both, the top-level line then setting its
 * module-wide value (read outside requests too, e.g. mod_js's
 * ScriptTimeout for timers) and a block's line the per-route one. */
static const rp_directive *find_directive(const rp_server *s, const char *name, rp_modrec **mod,
                                          bool *route)
{
    bool route_first = rp_scope_now((rp_server *)s) != RP_SCOPE_SERVER;
    for (int k = 0; k < 2; k++) {
        int pass = route_first ? 1 - k : k;
        for (size_t i = 0; i < s->mods.n; i++) {
            rp_modrec *m = s->mods.v[i];
            const rp_directive *d = pass ? m->desc->route_directives : m->desc->directives;
            for (; d && d->name; d++) {
                if (strcasecmp(d->name, name) == 0) {
                    *mod = m;
                    *route = pass == 1;
                    return d;
                }
            }
        }
    }
    return NULL;
}

/* Where d may be written: route directives anywhere, the core's own by its
 * table, every other module directive at the top level only. */
static int scope_mask(const rp_modrec *mod, const rp_directive *d, bool route)
{
    if (route)
        return RP_SCOPE_ALL;
    return mod->index == 0 ? rp_core_directive_scope(d) : RP_SCOPE_SERVER;
}

static const char *scope_error(rp_server *s, const rp_directive *d, int now, int mask)
{
    if (now == RP_SCOPE_SERVER)
        return rp_psprintf(s->pool, "%s is not allowed at the top level (allowed: %s)", d->name,
                           rp_scope_names(s->pool, mask));
    return rp_psprintf(s->pool, "%s is not allowed inside <%s> (allowed: %s)", d->name,
                       now == RP_SCOPE_ROUTE ? "Route" : "Host", rp_scope_names(s->pool, mask));
}

static const char *arity_text(rp_pool *p, const rp_directive *d)
{
    if (d->max_args < 0)
        return rp_psprintf(p, "at least %d argument%s", d->min_args, d->min_args == 1 ? "" : "s");
    if (d->min_args == d->max_args)
        return d->min_args == 0
                   ? "no arguments"
                   : rp_psprintf(p, "%d argument%s", d->min_args, d->min_args == 1 ? "" : "s");
    return rp_psprintf(p, "%d to %d arguments", d->min_args, d->max_args);
}

/* The loaded directive nearest to name, if name looks like a typo of it. */
static const char *nearest_directive(const rp_server *s, const char *name)
{
    const char *best = NULL;
    for (size_t i = 0; i < s->mods.n; i++) {
        const rp_modrec *m = s->mods.v[i];
        for (const rp_directive *d = m->desc->directives; d && d->name; d++)
            rp_suggest(name, d->name, &best);
        for (const rp_directive *d = m->desc->route_directives; d && d->name; d++)
            rp_suggest(name, d->name, &best);
    }
    return best;
}

static const char *unknown_directive(rp_server *s, const char *name)
{
    const char *hint = rp_module_hint(s, name);
    if (hint)
        return rp_psprintf(s->pool, "unknown directive '%s'; %s", name, hint);
    const char *near = nearest_directive(s, name);
    if (near)
        return rp_psprintf(s->pool, "unknown directive '%s'; did you mean '%s'?", name, near);
    return rp_psprintf(s->pool, "unknown directive '%s'", name);
}

/* Keep the line for -T (an Include shows as the lines it brought in).  A
 * copy: start() and other embedders pass argv arrays of their own. */
static void record_line(rp_server *s, const char *file, int line, const char *name, int argc,
                        char **argv)
{
    if (strcmp(name, "Include") == 0)
        return;
    rp_conf_line *l = rp_palloc(s->pool, sizeof *l);
    l->file = file ? rp_pstrdup(s->pool, file) : "(configuration)";
    l->line = line;
    l->argc = argc;
    l->argv = rp_palloc(s->pool, (size_t)argc * sizeof *l->argv);
    l->argv[0] = (char *)name; /* as the table spells it */
    for (int i = 1; i < argc; i++)
        l->argv[i] = rp_pstrdup(s->pool, argv[i]);
    rp_vec_push(s->pool, &s->applied, l);
}

static int apply_line(rp_server *s, const char *file, int line, const char *dir,
                      const conf_frame *fr, int argc, char **argv, const char **err)
{
    rp_modrec *mod = NULL;
    bool route = false;
    const rp_directive *d = argv[0][0] == '<' ? NULL : find_directive(s, argv[0], &mod, &route);
    const char *e;
    rp_cmd cmd = {s, d, file, line, dir, fr, NULL};
    int nargs = argc - 1;
    int now = rp_scope_now(s), mask = d ? scope_mask(mod, d, route) : 0;

    if (argv[0][0] == '<') {
        e = rp_block_line(&cmd, argc, argv);
        if (!e) {
            record_line(s, file, line, argv[0], argc, argv);
            return 0;
        }
    } else if (!d)
        e = unknown_directive(s, argv[0]);
    else if (!(mask & now))
        e = scope_error(s, d, now, mask);
    else if (nargs < d->min_args || (d->max_args >= 0 && nargs > d->max_args))
        e = rp_psprintf(s->pool, "%s takes %s but %d %s given%s%s%s", d->name,
                        arity_text(s->pool, d), nargs, nargs == 1 ? "was" : "were",
                        d->help ? " (usage: " : "", d->help ? d->help : "", d->help ? ")" : "");
    else
        e = d->set(&cmd, route ? rp_scope_conf(s, mod) : mod->conf, nargs, argv + 1);
    if (!e) {
        record_line(s, file, line, d->name, argc, argv);
        return 0;
    }
    /* An error from an included file already names its own file and line. */
    *err = (cmd.nested_err && e == cmd.nested_err)
               ? e
               : rp_psprintf(s->pool, "%s:%d: %s", file ? file : "(configuration)", line, e);
    return -1;
}

int rp_conf_apply(rp_server *s, const char *file, int line, const char *dir, int argc, char **argv,
                  const char **err)
{
    if (argc < 1)
        return 0;
    return apply_line(s, file, line, dir, NULL, argc, argv, err);
}

/* ---- reading text and files -------------------------------------------- */

typedef struct linebuf {
    char *b;
    size_t len, cap;
} linebuf;

static void lb_append(linebuf *lb, const char *s, size_t n)
{
    if (lb->len + n + 1 > lb->cap) {
        lb->cap = (lb->len + n + 1) * 2;
        char *b = realloc(lb->b, lb->cap);
        if (!b)
            abort(); /* configuration time; nothing sensible to do */
        lb->b = b;
    }
    memcpy(lb->b + lb->len, s, n);
    lb->len += n;
    lb->b[lb->len] = '\0';
}

/* A line continues when it ends (trailing blanks ignored) in an odd number of
 * backslashes; an even number is escaped backslashes. */
static int continues(const char *s, size_t *n)
{
    size_t m = *n, k = 0;
    while (m && (s[m - 1] == ' ' || s[m - 1] == '\t' || s[m - 1] == '\r'))
        m--;
    while (k < m && s[m - 1 - k] == '\\')
        k++;
    if (k % 2 == 0) {
        *n = m;
        return 0;
    }
    *n = m - 1;
    return 1;
}

/* Gather one logical line (joining continuations with a space) starting at
 * *pp; advances *pp and *lineno.  Returns 0 at the end of the text. */
static int next_line(const char **pp, int *lineno, linebuf *lb)
{
    const char *p = *pp;
    if (!*p)
        return 0;
    lb->len = 0;
    lb_append(lb, "", 0);
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int more = continues(p, &n);
        lb_append(lb, p, n);
        (*lineno)++;
        p = nl ? nl + 1 : p + strlen(p);
        if (!more || !*p)
            break;
        lb_append(lb, " ", 1);
    }
    *pp = p;
    return 1;
}

static int read_text(rp_server *s, const char *text, const char *file, const char *dir,
                     const conf_frame *fr, const char **err)
{
    linebuf lb = {0};
    int lineno = 0, rc = 0;
    const char *p = text;

    while (rc == 0) {
        int first = lineno + 1;
        if (!next_line(&p, &lineno, &lb))
            break;
        char **argv;
        const char *e;
        int argc = rp_conf_split(s->pool, lb.b, &argv, &e);
        if (argc < 0) {
            *err = rp_psprintf(s->pool, "%s:%d: %s", file, first, e);
            rc = -1;
        } else if (argc > 0) {
            rc = apply_line(s, file, first, dir, fr, argc, argv, err);
        }
    }
    free(lb.b);
    return rc;
}

int rp_conf_read_string(rp_server *s, const char *text, const char *name, const char *dir,
                        const char **err)
{
    conf_frame fr = {name ? name : "", 0, NULL};
    return read_text(s, text, name ? name : "(configuration)", dir, &fr, err);
}

/* The whole file, NUL-terminated, in malloc'd memory; NULL with errno set. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t len = 0, cap = 8192;
    char *b = malloc(cap);
    for (size_t got; b; len += got) {
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
        }
        got = fread(b + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
    }
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (b && e) {
        free(b);
        errno = e;
        return NULL;
    }
    if (b)
        b[len] = '\0';
    return b;
}

/* Read the file at real (canonical) as a frame below up.  Returns 0, -1 for
 * an error inside it (*err says file:line), or 1 if it cannot be read
 * (errno says why). */
static int read_real(rp_server *s, const char *path, const char *real, const conf_frame *up,
                     const char **err)
{
    char *text = slurp(real);
    if (!text)
        return 1;
    conf_frame fr = {rp_pstrdup(s->pool, real), up ? up->depth + 1 : 0, up};
    char *dir = rp_pstrdup(s->pool, real);
    *strrchr(dir, '/') = '\0';
    int rc = read_text(s, text, rp_pstrdup(s->pool, path), *dir ? dir : "/", &fr, err);
    free(text);
    return rc;
}

int rp_conf_read_file(rp_server *s, const char *path, const char **err)
{
    char real[PATH_MAX];
    int rc = realpath(path, real) ? read_real(s, path, real, NULL, err) : 1;
    if (rc > 0)
        *err = rp_psprintf(s->pool, "cannot read the configuration file '%s': %s", path,
                           strerror(errno));
    return rc ? -1 : 0;
}

static int has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Read one included file, refusing loops and runaway nesting. */
static const char *include_file(rp_cmd *cmd, const char *path)
{
    rp_server *s = cmd->server;
    char real[PATH_MAX];
    const char *err = NULL;
    if (!realpath(path, real))
        return rp_psprintf(s->pool, "Include: cannot open '%s': %s", path, strerror(errno));
    for (const conf_frame *f = cmd->frame; f; f = f->up)
        if (strcmp(f->path, real) == 0)
            return rp_psprintf(s->pool, "Include loop: '%s' is already being read", real);
    if (cmd->frame && cmd->frame->depth + 1 > RP_INCLUDE_DEPTH_MAX)
        return rp_psprintf(s->pool, "Include of '%s' nests deeper than %d levels", path,
                           RP_INCLUDE_DEPTH_MAX);
    int rc = read_real(s, path, real, cmd->frame, &err);
    if (rc > 0)
        return rp_psprintf(s->pool, "Include: cannot read '%s': %s", path, strerror(errno));
    return rc < 0 ? (cmd->nested_err = err) : NULL;
}

/* Include one argument: a file (must exist) or a glob (may match nothing). */
static const char *include_one(rp_cmd *cmd, const char *arg)
{
    char *path = rp_cmd_resolve_path(cmd, arg);
    glob_t g;
    if (!has_glob(path))
        return include_file(cmd, path);
    int grc = glob(path, 0, NULL, &g);
    if (grc == GLOB_NOMATCH)
        return NULL;
    if (grc != 0)
        return rp_psprintf(cmd->server->pool, "Include: cannot expand '%s'", path);
    const char *res = NULL;
    for (size_t i = 0; i < g.gl_pathc && !res; i++)
        res = include_file(cmd, g.gl_pathv[i]);
    globfree(&g);
    return res;
}

const char *rp_conf_include(rp_cmd *cmd, void *conf, int argc, char *const argv[])
{
    (void)conf;
    for (int i = 0; i < argc; i++) {
        const char *e = include_one(cmd, argv[i]);
        if (e)
            return e;
    }
    return NULL;
}
