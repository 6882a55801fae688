/* rp_conf_split: words, quotes, escapes, comments, errors. */
#include "core.h"
#include "ut.h"

static rp_pool *pool;

/* The words of line joined with '|', or "ERR:<message>". */
static const char *split(const char *line)
{
    char **argv;
    const char *err = NULL;
    int n = rp_conf_split(pool, line, &argv, &err);
    if (n < 0)
        return rp_psprintf(pool, "ERR:%s", err);
    char *out = "";
    for (int i = 0; i < n; i++)
        out = rp_psprintf(pool, "%s%s%s", out, i ? "|" : "", argv[i]);
    if (argv[n] != NULL)
        return "argv not NULL-terminated";
    return out;
}

int main(void)
{
    pool = rp_pool_create(NULL);

    CHECK_STR(split(""), "");
    CHECK_STR(split("   \t  \r\n"), "");
    CHECK_STR(split("Threads 2"), "Threads|2");
    CHECK_STR(split("  Bind\t127.0.0.1:8088   [::1]:8088  \n"), "Bind|127.0.0.1:8088|[::1]:8088");

    /* quotes */
    CHECK_STR(split("CacheControl \"max-age=1, public\""), "CacheControl|max-age=1, public");
    CHECK_STR(split("X 'single # not a comment'"), "X|single # not a comment");
    CHECK_STR(split("X \"\" ''"), "X||");
    CHECK_STR(split("X a\"b c\"d"), "X|ab cd");
    CHECK_STR(split("X \"it's\" 'say \"hi\"'"), "X|it's|say \"hi\"");

    /* escapes: quotes, backslash, blanks and '#'; other backslashes stay */
    CHECK_STR(split("X \"a \\\"q\\\" b\""), "X|a \"q\" b");
    CHECK_STR(split("X a\\ b"), "X|a b");
    CHECK_STR(split("X \\#notcomment"), "X|#notcomment");
    CHECK_STR(split("X c:\\\\dir"), "X|c:\\dir");
    CHECK_STR(split("Map ~^/a\\.html$ /srv"), "Map|~^/a\\.html$|/srv");
    CHECK_STR(split("Map /a\\*b /srv"), "Map|/a\\*b|/srv");
    CHECK_STR(split("X 'it\\'s'"), "X|it's");

    /* comments */
    CHECK_STR(split("# all comment"), "");
    CHECK_STR(split("   # indented comment"), "");
    CHECK_STR(split("Threads 2 # trailing comment"), "Threads|2");
    CHECK_STR(split("Threads 2 #no space"), "Threads|2");
    CHECK_STR(split("Map /a#b /srv"), "Map|/a#b|/srv");

    /* errors */
    CHECK_HAS(split("X \"unterminated"), "ERR:missing closing \"");
    CHECK_HAS(split("X \"unterminated"), "column 3");
    CHECK_HAS(split("X 'open"), "ERR:missing closing '");
    CHECK_HAS(split("X \"ends in escape\\\""), "ERR:missing closing");

    rp_pool_destroy(pool);
    UT_DONE();
}
