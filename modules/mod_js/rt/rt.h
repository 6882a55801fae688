/* rt.h - shared by the runtime's own files (modules/mod_js/rt/) only: how
 * the `rampart` global is put together from its parts.  Everything the
 * HTTP half may use is in js_int.h. */
#ifndef JS_RT_H
#define JS_RT_H

#include "js_int.h"

/* rampart.utils' functions by part, in the order the object lists them. */
extern const js_fn js_format_fns[];  /* format.c: sprintf printf fprintf */
extern const js_fn js_fs_fns[];      /* fs.c: readFile stat lstat readdir */
extern const js_fn js_text_fns[];    /* format.c: bufferToString stringToBuffer trim */
extern const js_fn js_process_fns[]; /* process.c: exec shell kill getpid getppid sleep */

/* format.c: rampart.utils.stdout, stderr, accessLog and errorLog (the
 * handles fprintf takes) on the object at utils_idx. */
void js_put_std_handles(duk_context *ctx, duk_idx_t utils_idx);

/* process.c: the global `process` (argv, env, scriptPath, scriptName, exit,
 * memoryUsage). */
void js_process_install(duk_context *ctx);

#endif
