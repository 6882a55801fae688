/* fs.c - files: reading a whole file for the runtime (scripts, modules),
 * and rampart.utils' readFile, stat, lstat and readdir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "js_int.h"
#include "rt.h"

char *js_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* readFile(path [, offset [, length]] [, returnString]) or
 * readFile({file, offset, length, returnString}).  offset < 0 counts from
 * the end; length <= 0 stops that many bytes before the end (0: to the end).
 * Returns a Buffer, or a string with returnString true. */
static duk_ret_t u_readfile(duk_context *ctx)
{
    const char *path;
    double offset = 0, length = 0;
    int have_len = 0, as_string = 0;
    duk_idx_t nargs = duk_get_top(ctx);
    if (duk_is_object(ctx, 0) && !duk_is_buffer_data(ctx, 0)) {
        duk_get_prop_string(ctx, 0, "file");
        if (!duk_is_string(ctx, -1)) {
            duk_pop(ctx);
            duk_get_prop_string(ctx, 0, "path");
        }
        path = duk_require_string(ctx, -1);
        if (duk_get_prop_string(ctx, 0, "offset"))
            offset = duk_to_number(ctx, -1);
        if (duk_get_prop_string(ctx, 0, "length")) {
            length = duk_to_number(ctx, -1);
            have_len = 1;
        }
        duk_get_prop_string(ctx, 0, "returnString");
        as_string = duk_to_boolean(ctx, -1);
    } else {
        if (!duk_is_string(ctx, 0))
            return duk_error(ctx, DUK_ERR_TYPE_ERROR, "readFile: the file name must be a string");
        path = duk_get_string(ctx, 0);
        int nums = 0;
        for (duk_idx_t i = 1; i < nargs; i++) {
            if (duk_is_boolean(ctx, i)) {
                as_string = duk_get_boolean(ctx, i);
            } else if (duk_is_number(ctx, i)) {
                if (nums == 0)
                    offset = duk_get_number(ctx, i);
                else if (nums == 1) {
                    length = duk_get_number(ctx, i);
                    have_len = 1;
                }
                nums++;
            } else if (!duk_is_undefined(ctx, i) && !duk_is_null(ctx, i)) {
                return duk_error(ctx, DUK_ERR_TYPE_ERROR,
                                 "readFile: unexpected argument %d (numbers offset, length and a "
                                 "boolean returnString are accepted)",
                                 (int)i + 1);
            }
        }
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        close(fd);
        return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        /* a pipe, /proc file...: read to the end, then cut */
        size_t n;
        close(fd);
        char *all = js_read_file(path, &n);
        if (!all)
            return duk_error(ctx, DUK_ERR_ERROR, "readFile('%s'): %s", path, strerror(errno));
        double off = offset < 0 ? (double)n + offset : offset;
        if (off < 0)
            off = 0;
        if (off > (double)n)
            off = (double)n;
        double end = !have_len || length == 0 ? (double)n
                     : length < 0             ? (double)n + length
                                              : off + length;
        if (end > (double)n)
            end = (double)n;
        size_t cnt = end > off ? (size_t)(end - off) : 0;
        void *b = duk_push_fixed_buffer(ctx, cnt);
        memcpy(b, all + (size_t)off, cnt);
        free(all);
    } else {
        double size = (double)st.st_size;
        double off = offset < 0 ? size + offset : offset;
        if (off < 0)
            off = 0;
        if (off > size)
            off = size;
        double end = !have_len || length == 0 ? size : length < 0 ? size + length : off + length;
        if (end > size)
            end = size;
        size_t cnt = end > off ? (size_t)(end - off) : 0;
        char *b = duk_push_fixed_buffer(ctx, cnt);
        size_t got = 0;
        while (got < cnt) {
            ssize_t r = pread(fd, b + got, cnt - got, (off_t)off + (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
        if (got < cnt) {
            /* the file shrank meanwhile */
            void *nb = duk_push_fixed_buffer(ctx, got);
            memcpy(nb, b, got);
            duk_remove(ctx, -2);
        }
    }
    if (as_string)
        duk_buffer_to_string(ctx, -1);
    return 1;
}

static duk_ret_t stat_is(duk_context *ctx, mode_t type)
{
    duk_push_this(ctx);
    duk_get_prop_string(ctx, -1, "mode");
    mode_t m = (mode_t)duk_to_uint32(ctx, -1);
    duk_push_boolean(ctx, (m & S_IFMT) == type);
    return 1;
}
static duk_ret_t st_isdir(duk_context *ctx)
{
    return stat_is(ctx, S_IFDIR);
}
static duk_ret_t st_isfile(duk_context *ctx)
{
    return stat_is(ctx, S_IFREG);
}
static duk_ret_t st_islink(duk_context *ctx)
{
    return stat_is(ctx, S_IFLNK);
}
static duk_ret_t st_isblock(duk_context *ctx)
{
    return stat_is(ctx, S_IFBLK);
}
static duk_ret_t st_ischar(duk_context *ctx)
{
    return stat_is(ctx, S_IFCHR);
}
static duk_ret_t st_isfifo(duk_context *ctx)
{
    return stat_is(ctx, S_IFIFO);
}
static duk_ret_t st_issock(duk_context *ctx)
{
    return stat_is(ctx, S_IFSOCK);
}

static void push_date(duk_context *ctx, const struct timespec *ts)
{
    duk_get_global_string(ctx, "Date");
    duk_push_number(ctx, (double)ts->tv_sec * 1000.0 + floor((double)ts->tv_nsec / 1e6));
    duk_new(ctx, 1);
}

/* isDirectory() & co on the stat object at the top: made once per heap and
 * registered (snapshots re-resolve them), then shared by every stat. */
static void put_stat_methods(duk_context *ctx)
{
    static const js_fn fns[] = {
        {"isDirectory", st_isdir, 0, "rampart.utils.stat.isDirectory"},
        {"isFile", st_isfile, 0, "rampart.utils.stat.isFile"},
        {"isSymbolicLink", st_islink, 0, "rampart.utils.stat.isSymbolicLink"},
        {"isBlockDevice", st_isblock, 0, "rampart.utils.stat.isBlockDevice"},
        {"isCharacterDevice", st_ischar, 0, "rampart.utils.stat.isCharacterDevice"},
        {"isFIFO", st_isfifo, 0, "rampart.utils.stat.isFIFO"},
        {"isSocket", st_issock, 0, "rampart.utils.stat.isSocket"},
        {NULL, NULL, 0, NULL}};
    js_push_native(ctx, fns[0].path);
    int made = duk_is_function(ctx, -1);
    duk_pop(ctx);
    if (!made) {
        js_put_functions(ctx, -1, fns, 0);
        return;
    }
    for (const js_fn *f = fns; f->name; f++) {
        js_push_native(ctx, f->path);
        duk_put_prop_string(ctx, -2, f->name);
    }
}

static duk_ret_t do_stat(duk_context *ctx, int link)
{
    const char *path = duk_require_string(ctx, 0);
    struct stat st;
    if ((link ? lstat(path, &st) : stat(path, &st)) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            duk_push_false(ctx);
            return 1;
        }
        return duk_error(ctx, DUK_ERR_ERROR, "%s('%s'): %s", link ? "lstat" : "stat", path,
                         strerror(errno));
    }
    duk_push_object(ctx);
    const struct {
        const char *k;
        double v;
    } nums[] = {{"dev", (double)st.st_dev},
                {"ino", (double)st.st_ino},
                {"nlink", (double)st.st_nlink},
                {"rdev", (double)st.st_rdev},
                {"size", (double)st.st_size},
                {"blksize", (double)st.st_blksize},
                {"blocks", (double)st.st_blocks},
                {"uid", (double)st.st_uid},
                {"gid", (double)st.st_gid},
                {"mode", (double)st.st_mode},
                {"permissions", (double)(st.st_mode & 07777)}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        duk_push_number(ctx, nums[i].v);
        duk_put_prop_string(ctx, -2, nums[i].k);
    }
    push_date(ctx, &st.st_atim);
    duk_put_prop_string(ctx, -2, "atime");
    push_date(ctx, &st.st_mtim);
    duk_put_prop_string(ctx, -2, "mtime");
    push_date(ctx, &st.st_ctim);
    duk_put_prop_string(ctx, -2, "ctime");
    put_stat_methods(ctx);
    return 1;
}
static duk_ret_t u_stat(duk_context *ctx)
{
    return do_stat(ctx, 0);
}
static duk_ret_t u_lstat(duk_context *ctx)
{
    return do_stat(ctx, 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* readdir(path [, showHidden]): sorted names without . and .. (nor other
 * dot files unless showHidden). */
static duk_ret_t u_readdir(duk_context *ctx)
{
    const char *path = duk_require_string(ctx, 0);
    int hidden = duk_to_boolean(ctx, 1);
    DIR *d = opendir(path);
    if (!d)
        return duk_error(ctx, DUK_ERR_ERROR, "readdir('%s'): %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    const struct dirent *de;
    int oom = 0;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && (!hidden || nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                oom = 1;
                break;
            }
            names = nn;
            cap = nc;
        }
        names[n] = strdup(nm);
        if (!names[n]) {
            oom = 1;
            break;
        }
        n++;
    }
    closedir(d);
    if (!oom && n)
        qsort(names, n, sizeof *names, cmp_str);
    if (!oom)
        duk_push_array(ctx);
    for (size_t i = 0; i < n; i++) {
        if (!oom) {
            duk_push_string(ctx, names[i]);
            duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
        }
        free(names[i]);
    }
    free(names);
    if (oom)
        return duk_error(ctx, DUK_ERR_ERROR, "readdir('%s'): out of memory", path);
    return 1;
}

const js_fn js_fs_fns[] = {{"readFile", u_readfile, DUK_VARARGS, "rampart.utils.readFile"},
                           {"stat", u_stat, 1, "rampart.utils.stat"},
                           {"lstat", u_lstat, 1, "rampart.utils.lstat"},
                           {"readdir", u_readdir, 2, "rampart.utils.readdir"},
                           {NULL, NULL, 0, NULL}};
