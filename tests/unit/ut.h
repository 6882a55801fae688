/* ut.h - the few assertions the unit tests need.  A failed check prints
 * where and what, the test goes on, and main returns 1 through UT_DONE. */
#ifndef UT_H
#define UT_H

#include <stdio.h>
#include <string.h>

static int ut_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            ut_failures++;                                                                         \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!g_ || !w_ ? g_ != w_ : strcmp(g_, w_) != 0) {                                         \
            fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got,      \
                    g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                       \
            ut_failures++;                                                                         \
        }                                                                                          \
    } while (0)

/* CHECK with a printf-style note saying which case failed, for checks in
 * loops over tables of cases. */
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            ut_failures++;                                                                         \
        }                                                                                          \
    } while (0)

/* got must be non-NULL and contain want. */
#define CHECK_HAS(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!g_ || !strstr(g_, w_)) {                                                              \
            fprintf(stderr, "%s:%d: %s: got \"%s\", want it to contain \"%s\"\n", __FILE__,        \
                    __LINE__, #got, g_ ? g_ : "(null)", w_);                                       \
            ut_failures++;                                                                         \
        }                                                                                          \
    } while (0)

#define UT_DONE()                                                                                  \
    do {                                                                                           \
        if (ut_failures)                                                                           \
            fprintf(stderr, "%d check(s) failed\n", ut_failures);                                  \
        return ut_failures ? 1 : 0;                                                                \
    } while (0)

#endif
