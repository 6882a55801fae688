/* errpage.c - the developer-mode script-error page (DeveloperMode on).
 *
 * Styled like the demo site's own pages (examples/www/style.css: the same
 * palette, type and column), but self-contained: the CSS is inline, since
 * the site serving the error may have no /style.css.  Every value put into
 * the page - the error text, the method and the path - is HTML-escaped: an
 * error message quotes what the client sent (a file name, a JSON body) and
 * must not become markup.
 */
#include <string.h>

#include "js_http.h"

static const char page_css[] =
    ":root{--ink:#1d2430;--muted:#5b6575;--accent:#b5482a;--paper:#fbfaf7;--rule:#e4e0d8}"
    "*{box-sizing:border-box}"
    "body{margin:0 auto;max-width:52rem;padding:2rem 1.25rem 3rem;"
    "font:17px/1.6 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--ink);background:var(--paper)}"
    "h1{margin:0 0 .5rem;font-size:2rem;letter-spacing:.02em;color:var(--accent)}"
    "p{margin:.5rem 0 1rem}"
    "code,pre{font:.92em/1.5 ui-monospace,\"DejaVu Sans Mono\",monospace}"
    "code{background:#f0ede6;padding:.05em .3em;border-radius:3px}"
    "pre{background:#f0ede6;padding:.8rem 1rem;border-radius:4px;overflow-x:auto;"
    "white-space:pre-wrap;border-left:3px solid var(--accent)}"
    "footer{margin-top:3rem;padding-top:1rem;border-top:1px solid var(--rule);"
    "color:var(--muted);font-size:.9rem}";

int js_reply_dev_error(rp_req *r, const char *text)
{
    rp_pool *p = rp_req_pool(r);
    char *body = rp_psprintf(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>500 Internal Server Error</title>\n<style>%s</style>\n</head>\n<body>\n"
        "<h1>500 Internal Server Error</h1>\n"
        "<p>The script serving <code>%s %s</code> failed:</p>\n<pre>%s</pre>\n"
        "<footer>rampart &mdash; this page shows because <code>DeveloperMode</code> is on; "
        "with it off the client gets a plain error and the log keeps the details.</footer>\n"
        "</body>\n</html>\n",
        page_css, rp_html_escape(p, rp_req_method(r)), rp_html_escape(p, rp_req_path(r)),
        rp_html_escape(p, text));
    rp_resp_set_status(r, 500);
    rp_resp_header_set(r, "Content-Type", "text/html; charset=utf-8");
    rp_resp_set_length(r, (int64_t)strlen(body));
    if (!rp_req_is_head(r))
        rp_resp_write(r, body, strlen(body));
    return RP_OK;
}
