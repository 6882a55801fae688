/* proctitle.c - AppendProcTitle: `ps` shows where a server listens.
 *
 * On Linux `ps` reads a process's command line from the memory its argv
 * strings occupy, which the environment strings follow.  rp_proc_title_init
 * copies both elsewhere (argv and environ then point to the copies, so
 * options kept from argv and getenv stay valid) and keeps the original
 * area, which rp_proc_title_append rewrites as "<original command line>
 * <text>", cut to the area's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

extern char **environ;

static char *g_area;
static size_t g_size, g_args; /* the whole area; the part the arguments took */
static char **g_copies;       /* the moved argv strings and environ: kept for good */

/* Copies of argv[0..argc) and then of env[0..nenv), NULL-terminated. */
static char **copy_strings(char **argv, int argc, char **env, size_t nenv)
{
    size_t n = (size_t)argc + nenv;
    char **copies = calloc(n + 1, sizeof *copies);
    if (!copies)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *src = i < (size_t)argc ? argv[i] : env[i - (size_t)argc];
        if (!(copies[i] = strdup(src))) {
            while (i--)
                free(copies[i]);
            free(copies);
            return NULL;
        }
    }
    return copies;
}

RP_API void rp_proc_title_init(int argc, char **argv)
{
    if (argc < 1 || !argv || !argv[0] || g_area)
        return;
    /* the strings must be one contiguous block, as the kernel lays them out */
    char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++) {
        if (argv[i] != end)
            return;
        end += strlen(argv[i]) + 1;
    }
    size_t args = (size_t)(end - start), nenv = 0;
    /* the environment strings, when they follow as one block, become room */
    for (char **e = environ; e && *e && *e == end; e++, nenv++)
        end += strlen(*e) + 1;
    if (environ && environ[nenv]) { /* not one block: the arguments only */
        nenv = 0;
        end = start + args;
    }
    if (!(g_copies = copy_strings(argv, argc, environ, nenv)))
        return; /* out of memory this early: no title */
    for (int i = 0; i < argc; i++)
        argv[i] = g_copies[i];
    if (nenv)
        environ = g_copies + argc; /* ended by the copies' NULL */
    g_area = start;
    g_size = (size_t)(end - start);
    g_args = args;
}

void rp_proc_title_append(const char *text)
{
    if (!g_area || g_size < 2)
        return;
    /* the original arguments, NULs between them turned into blanks */
    size_t n = strnlen(g_area, g_args);
    while (n + 1 < g_args && g_area[n + 1]) {
        g_area[n] = ' ';
        n += strnlen(g_area + n, g_args - n);
    }
    /* then the text, cut to what is left; NULs to the end of the area */
    int k = snprintf(g_area + n, g_size - n, " %s", text);
    if (k > 0)
        n += (size_t)k < g_size - n ? (size_t)k : g_size - n - 1;
    memset(g_area + n, 0, g_size - n);
}
