/* access_int.h - mod_access internals shared by its files.
 *
 * Rules are kept in lists a match function walks, never in the module conf
 * itself, so that a later step can hang the same lists on per-route blocks
 * (<Route>) and call the same functions with the route's list.
 */
#ifndef ACCESS_INT_H
#define ACCESS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <rampart.h>

extern RP_API const rp_module rp_module_access;

/* ---- path scopes (rules.c) ----------------------------------------------- */

/* "/admin/" and "/admin" both cover /admin and everything below it, never
 * /administrator: the trailing slash is dropped and matching is by whole
 * segments.  "/" covers every path. */
typedef struct {
    const char *prefix; /* without trailing '/', "" for the root */
    size_t len;
} acc_scope;

const char *acc_scope_parse(rp_cmd *cmd, const char *arg, acc_scope *out);
bool acc_scope_covers(const acc_scope *s, const char *path);

/* ---- address rules (rules.c) --------------------------------------------- */


typedef struct acc_addr_rule {
    struct acc_addr_rule *next;
    acc_scope scope;
    bool allow;
    int ncidr;
    rp_cidr *cidr;
} acc_addr_rule;

typedef struct {
    acc_addr_rule *first, *last;
} acc_addr_list;

/* First rule covering path whose list holds addr: 1 allow, 0 deny;
 * -1 when no rule matches (the request goes on). */
int acc_addr_decide(const acc_addr_list *rules, const char *path, const rp_cidr *addr);

/* ---- hidden files (rules.c) ---------------------------------------------- */

/* 1 if a segment of the decoded path starts with '.', except a first
 * segment ".well-known" (RFC 8615). */
int acc_path_hidden(const char *path);

/* ---- Basic authentication (htpasswd.c) ----------------------------------- */

typedef struct acc_pwfile acc_pwfile;

typedef struct acc_auth_rule {
    struct acc_auth_rule *next;
    acc_scope scope;
    const char *realm;     /* as configured */
    const char *challenge; /* the WWW-Authenticate value, realm escaped */
    acc_pwfile *file;
} acc_auth_rule;

typedef struct {
    acc_auth_rule *first, *last;
} acc_auth_list;

/* The rule with the longest scope covering path, or NULL. */
const acc_auth_rule *acc_auth_find(const acc_auth_list *rules, const char *path);

/* Read and check an htpasswd file at configuration time; NULL and a message
 * naming file:line in *err (from the cmd pool) when it cannot be used. */
acc_pwfile *acc_pwfile_open(rp_cmd *cmd, const char *path, const char **err);
const char *acc_pwfile_path(const acc_pwfile *f);

typedef enum { ACC_PW_OK, ACC_PW_UNKNOWN_USER, ACC_PW_MISMATCH, ACC_PW_ERROR } acc_pw_result;

/* Re-read the file if it changed (looked at once a second at most), then
 * check user/password.  Takes the same time for an unknown user as for a
 * wrong password: the password is hashed against a stand-in entry. */
acc_pw_result acc_pwfile_check(acc_pwfile *f, const char *user, const char *password,
                               void *crypt_buf);
/* Size of the scratch area crypt_r needs (one per worker thread). */
size_t acc_crypt_buf_size(void);

/* ---- helpers (access.c) -------------------------------------------------- */

/* Copy of s safe for a log line: control bytes, quotes, backslashes and
 * non-ASCII as \xHH. */
char *acc_log_escape(rp_pool *p, const char *s);

#endif
