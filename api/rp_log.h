/* rp_log.h - the error log.
 *
 * Lines look like: "2026-11-26 05:02:47.123 [warn] [static] message".
 * The error log goes to stderr unless ErrorLog names a file; it is reopened on
 * SIGUSR1.  Any thread may log.
 */
#ifndef RP_LOG_H
#define RP_LOG_H

#include "rp_common.h"

typedef enum { RP_LOG_ERR = 0, RP_LOG_WARN, RP_LOG_NOTICE, RP_LOG_INFO, RP_LOG_DEBUG } rp_log_level;

/* m may be NULL for messages from the core. */
RP_API void rp_log(const rp_module *m, rp_log_level level, const char *fmt, ...) RP_PRINTF(3, 4);
RP_API void rp_vlog(const rp_module *m, rp_log_level level, const char *fmt, va_list ap);
/* A message about request r names its client and id (the access log's
 * %L): "... [warn] [proxy] [client 127.0.0.1:50312] [id 6f09...] message". */
RP_API void rp_log_req(rp_req *r, const rp_module *m, rp_log_level level, const char *fmt, ...)
    RP_PRINTF(4, 5);

/* Raw lines for a module that writes its own log text (mod_js's
 * rampart.utils.accessLog / errorLog handles): the bytes go as they are,
 * with no prefix, in one write(2) each, to the configured access log
 * (nothing when access logging is off or not started yet) and error log. */
RP_API void rp_access_log_write(const char *line, size_t len);
RP_API void rp_error_log_write(const char *text, size_t len);
/* The access-log line the core would write for r (LogFormat, newline
 * included) into buf, at most cap - 1 bytes; 0 when access logging is off.
 * rp_access_log_skip: the core writes no line for r (a LOG hook running
 * before the core's, e.g. mod_js's logFunc, wrote its own or chose none). */
RP_API size_t rp_access_log_line(rp_req *r, char *buf, size_t cap);
RP_API void rp_access_log_skip(rp_req *r);

#endif
