/* rp_embed.h - build and run a server from a program or a plugin.
 *
 * This is how rampart-httpd runs a conf file and how the JavaScript facade
 * (mod_js's start()) turns options into a running server: both feed the same
 * directives.
 *
 *     rp_server *s = rp_server_new();
 *     char *argv[] = {"Bind", "127.0.0.1:8088"};
 *     rp_conf_apply(s, "start()", 1, cwd, 2, argv, &err);     // one directive
 *     rp_server_finalize(s, &err);      // hooks sorted, routes and mime ready
 *     pid_t pid;
 *     if (rp_server_start(s, &pid, &err) == RP_SERVER_PARENT)  // Daemon on
 *         exit(0);                      // the daemon child serves
 *     ...                               // workers are serving already
 *     return rp_server_loop(s);         // accept until SIGTERM/SIGINT
 *
 * Errors come back through *err as one sentence ("file:line: message" for
 * directives), valid until the server is freed.
 */
#ifndef RP_EMBED_H
#define RP_EMBED_H

#include <stdio.h>
#include <sys/types.h>
#include "rp_common.h"

/* A new configuration with only the core loaded and its defaults set. */
RP_API rp_server *rp_server_new(void);
RP_API void rp_server_free(rp_server *s);

/* Apply one directive: argv[0] is the directive name, argc counts it.
 * file/line name the origin in messages; dir resolves relative paths. */
RP_API int rp_conf_apply(rp_server *s, const char *file, int line, const char *dir, int argc,
                         char **argv, const char **err);
/* Read a conf file (with Include), or conf text named `name` for messages. */
RP_API int rp_conf_read_file(rp_server *s, const char *path, const char **err);
RP_API int rp_conf_read_string(rp_server *s, const char *text, const char *name, const char *dir,
                               const char **err);

/* After the last directive: register hooks, sort, load mime, post_config. */
RP_API int rp_server_finalize(rp_server *s, const char **err);

enum { RP_SERVER_STARTED = 0, RP_SERVER_PARENT = 1, RP_SERVER_FAILED = -1 };
/* Open logs, bind, daemonize (Daemon on: the parent gets RP_SERVER_PARENT
 * and *pid = the child's pid; the child continues with RP_SERVER_STARTED),
 * write PidFile, drop privileges (User), start the worker threads.
 * *pid is the serving process's pid. */
RP_API int rp_server_start(rp_server *s, pid_t *pid, const char **err);
/* Run the accept loop on the calling thread until SIGTERM or SIGINT, then
 * finish in-flight requests (GracefulTimeout) and stop.  Returns the exit
 * status for the process. */
RP_API int rp_server_loop(rp_server *s);

/* Reload on SIGHUP: fn builds the replacement configuration (read and
 * finalized) or returns NULL with *err set, and the running one stays.  New
 * connections get the new configuration at once; requests in flight finish
 * on the old one, whose connections then close; nothing stops listening.
 * Bind, Threads, User, Daemon, PidFile and log file names take effect on a
 * restart only.  Without fn, SIGHUP just reopens the logs. */
typedef rp_server *(*rp_reload_fn)(void *arg, const char **err);
RP_API void rp_server_on_reload(rp_server *s, rp_reload_fn fn, void *arg);

/* The main thread's event base (valid after rp_server_start): the accept
 * loop that rp_server_loop runs.  An embedder may add its own events to it,
 * e.g. the main script's timers. */
struct event_base;
RP_API struct event_base *rp_server_base(rp_server *s);

/* The directory of the running executable (from /proc/self/exe): files
 * that ship with the server are found relative to it, in the build tree and
 * the install tree alike. */
RP_API const char *rp_exe_dir(void);
/* First thing in main(): lets AppendProcTitle rewrite what `ps` shows.
 * The argv strings are moved to copies (argv[i] then points to them). */
RP_API void rp_proc_title_init(int argc, char **argv);

/* Print the hook pipeline in run order. */
RP_API void rp_hooks_dump(const rp_server *s, FILE *out);

#endif
