/* The mime table: file formats, MimeMap overrides, lookups by name or ext. */
#include <stdlib.h>
#include <unistd.h>
#include "fake.h"
#include "ut.h"

static char path[] = "/tmp/rp_unit_mime_XXXXXX";

int main(void)
{
    int fd = mkstemp(path);
    const char *text = "# comment\n"
                       "html text/html\n"
                       "\n"
                       "\"js\"   ->   \"application/javascript\"\n"
                       "image/jpeg jpg jpeg   # Apache layout\n"
                       ".css text/css\n"
                       "m4v video/x-m4v\n"
                       "application/x-no-extension\n"; /* Debian's file has such lines */
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        return 1;
    }
    close(fd);

    rp_server *s = rp_server_new();
    const char *err = NULL;
    CHECK(rp_mime_type(s, "a.html") == NULL); /* nothing before finalize */
    CHECK_STR(conf_err(s, rp_psprintf(s->pool,
                                      "MimeTypes %s\nMimeMap m4v video/mp4 .Mov "
                                      "video/quicktime\nMimeMap mov video/mp4",
                                      path)),
              NULL);
    CHECK(rp_mime_finalize(s, &err) == 0);
    CHECK_STR(err, NULL);
    CHECK_STR(rp_mime_type(s, "index.html"), "text/html");
    CHECK_STR(rp_mime_type(s, "/srv/www/INDEX.HTML"), "text/html");
    CHECK_STR(rp_mime_type(s, "html"), "text/html");
    CHECK_STR(rp_mime_type(s, "HTML"), "text/html");
    CHECK_STR(rp_mime_type(s, ".html"), "text/html");
    CHECK_STR(rp_mime_type(s, "x.js"), "application/javascript");
    CHECK_STR(rp_mime_type(s, "a.b.jpeg"), "image/jpeg");
    CHECK_STR(rp_mime_type(s, "jpg"), "image/jpeg");
    CHECK_STR(rp_mime_type(s, "style.css"), "text/css");
    CHECK_STR(rp_mime_type(s, "movie.m4v"), "video/mp4"); /* MimeMap overrides the file */
    CHECK_STR(rp_mime_type(s, "movie.mov"), "video/mp4"); /* later MimeMap wins */
    CHECK(rp_mime_type(s, "dir.d/README") == NULL);
    CHECK(rp_mime_type(s, "README") == NULL);
    CHECK(rp_mime_type(s, "file.") == NULL);
    CHECK(rp_mime_type(s, "file.unknown") == NULL);
    CHECK(rp_mime_type(s, "") == NULL);
    rp_server_free(s);

    /* a malformed line is an error naming the file and line */
    FILE *f = fopen(path, "a");
    fputs("lonely\n", f);
    fclose(f);
    s = rp_server_new();
    CHECK_STR(conf_err(s, rp_psprintf(s->pool, "MimeTypes %s", path)), NULL);
    CHECK(rp_mime_finalize(s, &err) < 0);
    CHECK_HAS(err, rp_psprintf(s->pool, "%s:9: expected 'extension type'", path));
    rp_server_free(s);

    /* many entries: the table grows */
    s = rp_server_new();
    char *conf = "";
    for (int i = 0; i < 500; i++)
        conf = rp_psprintf(s->pool, "%sMimeMap e%d t/%d\n", conf, i, i);
    CHECK_STR(conf_err(s, rp_psprintf(s->pool, "MimeTypes /dev/null\n%s", conf)), NULL);
    CHECK(rp_mime_finalize(s, &err) == 0);
    CHECK_STR(rp_mime_type(s, "x.E377"), "t/377");
    CHECK_STR(rp_mime_type(s, "e0"), "t/0");
    rp_server_free(s);
    unlink(path);
    UT_DONE();
}
