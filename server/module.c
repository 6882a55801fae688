/* module.c - the plugin loader (libltdl) and the module directory.
 *
 * A plugin exports one const descriptor, "rp_module_<name>".  The loader
 * checks it before anything in it is called, and refuses with one sentence
 * that names the file.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core.h"

#ifndef RP_INSTALL_MODULEDIR
#define RP_INSTALL_MODULEDIR "/usr/local/lib/rampart/modules"
#endif

/* Bytes of rp_module that an ABI 1.0 plugin must provide: everything up to
 * and including worker_exit.  Fields added by later minors come after. */
#define RP_MODULE_SIZE_1_0 (offsetof(rp_module, worker_exit) + sizeof(void (*)(void)))

static pthread_once_t ltdl_once = PTHREAD_ONCE_INIT;
static int ltdl_failed; /* written once, under ltdl_once */

static void ltdl_init(void)
{
    ltdl_failed = lt_dlinit() != 0;
}

/* ---- directories -------------------------------------------------------- */

static pthread_once_t dirs_once = PTHREAD_ONCE_INIT;
static char exe_dir[PATH_MAX];
static char module_dir[PATH_MAX];

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Computed once: the executable does not move while it runs. */
static void dirs_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
    if (n <= 0) {
        strcpy(exe_dir, ".");
    } else {
        exe_dir[n] = '\0';
        char *slash = strrchr(exe_dir, '/');
        if (slash)
            *(slash == exe_dir ? slash + 1 : slash) = '\0';
    }
    static const char *const rel[] = {"/../modules", "/../lib/rampart/modules"};
    char cand[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(cand, sizeof(cand), "%s%s", exe_dir, rel[i]);
        if (is_dir(cand) && realpath(cand, module_dir))
            return;
    }
    snprintf(module_dir, sizeof(module_dir), "%s", RP_INSTALL_MODULEDIR);
}

const char *rp_exe_dir(void)
{
    pthread_once(&dirs_once, dirs_init);
    return exe_dir;
}

const char *rp_default_module_dir(void)
{
    pthread_once(&dirs_once, dirs_init);
    return module_dir;
}

static const char *current_module_dir(const rp_server *s)
{
    if (s->core && s->core->module_dir)
        return s->core->module_dir;
    return rp_default_module_dir();
}

/* ---- lookup ------------------------------------------------------------- */

rp_modrec *rp_module_find(const rp_server *s, const char *name)
{
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *m = s->mods.v[i];
        if (m->desc->name && strcmp(m->desc->name, name) == 0)
            return m;
    }
    return NULL;
}

/* Descriptors are a few words apart at most: mix the address bits so
 * neighbours spread over the table (Fibonacci hashing). */
static size_t modtab_slot(const rp_module *m, size_t mask)
{
    return (size_t)(((uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

static void modtab_put(rp_modtab *t, const rp_module *key, rp_modrec *rec)
{
    size_t i = modtab_slot(key, t->mask);
    while (t->slots[i].key && t->slots[i].key != key)
        i = (i + 1) & t->mask;
    if (!t->slots[i].key)
        t->n++;
    t->slots[i].key = key;
    t->slots[i].rec = rec;
}

void rp_modtab_add(rp_server *s, const rp_module *key, rp_modrec *rec)
{
    rp_modtab *t = &s->modtab;
    if (!key)
        return;
    if (!t->slots || (t->n + 1) * 2 > t->mask + 1) { /* keep it at most half full */
        rp_modtab old = *t;
        size_t cap = old.slots ? (old.mask + 1) * 2 : 16;
        t->slots = rp_pcalloc(s->pool, cap * sizeof(*t->slots));
        t->mask = cap - 1;
        t->n = 0;
        for (size_t i = 0; old.slots && i <= old.mask; i++)
            if (old.slots[i].key)
                modtab_put(t, old.slots[i].key, old.slots[i].rec);
    }
    modtab_put(t, key, rec);
}

/* Not in the table: a record someone appended to mods by hand before
 * rp_server_finalize indexed it (unit tests), or not loaded at all.  Kept
 * out of line so the lookup itself needs no saved registers. */
__attribute__((noinline, cold)) static rp_modrec *modrec_scan(const rp_server *s,
                                                              const rp_module *m)
{
    for (size_t i = 0; i < s->mods.n; i++) {
        rp_modrec *r = s->mods.v[i];
        if (r->desc == m)
            return r;
    }
    return m->name ? rp_module_find(s, m->name) : NULL;
}

/* Runs on every rp_req_ctx / rp_req_conf / rp_worker_ctx call. */
rp_modrec *rp_modrec_of(const rp_server *s, const rp_module *m)
{
    if (!m)
        return NULL;
    const rp_modtab *t = &s->modtab;
    if (t->slots)
        for (size_t i = modtab_slot(m, t->mask); t->slots[i].key; i = (i + 1) & t->mask)
            if (t->slots[i].key == m)
                return t->slots[i].rec;
    return modrec_scan(s, m);
}

/* ---- checking a descriptor ------------------------------------------------- */

/* NULL if desc is a descriptor this server can use, else why not. */
static const char *check_desc(rp_pool *p, const rp_module *d, const char *file)
{
    if (d->magic != RP_MODULE_MAGIC)
        return rp_psprintf(p,
                           "%s is not a rampart plugin: its descriptor has magic 0x%08x "
                           "instead of 0x%08x",
                           file, (unsigned)d->magic, RP_MODULE_MAGIC);
    if (d->abi_major != RP_ABI_MAJOR)
        return rp_psprintf(p,
                           "%s was built for ABI %u.%u, this server is ABI %d.%d: rebuild it "
                           "against this server's headers",
                           file, d->abi_major, d->abi_minor, RP_ABI_MAJOR, RP_ABI_MINOR);
    if (d->abi_minor > RP_ABI_MINOR)
        return rp_psprintf(p,
                           "%s was built for ABI %u.%u, newer than this server's ABI %d.%d: "
                           "upgrade the server or rebuild the plugin against its headers",
                           file, d->abi_major, d->abi_minor, RP_ABI_MAJOR, RP_ABI_MINOR);
    if (d->struct_size < RP_MODULE_SIZE_1_0)
        return rp_psprintf(p,
                           "%s has a descriptor of %u bytes, too small for ABI %d.0 (%zu "
                           "bytes): rebuild it against this server's headers",
                           file, (unsigned)d->struct_size, RP_ABI_MAJOR, RP_MODULE_SIZE_1_0);
    return NULL;
}

/* A bare file name lives in the module directory; a relative path with a
 * directory in it is relative to the conf file, like other paths. */
static char *module_path(rp_server *s, rp_cmd *cmd, const char *file)
{
    if (file[0] == '/')
        return rp_pstrdup(s->pool, file);
    if (strchr(file, '/') && cmd)
        return rp_cmd_resolve_path(cmd, file);
    return rp_psprintf(s->pool, "%s/%s", current_module_dir(s), file);
}

static lt_dlhandle open_module(rp_server *s, const char *path, const char **err)
{
    pthread_once(&ltdl_once, ltdl_init);
    if (ltdl_failed) {
        *err = rp_psprintf(s->pool,
                           "cannot load %s: the module loader (libltdl) failed to "
                           "initialise",
                           path);
        return NULL;
    }
    if (access(path, F_OK) != 0) {
        *err = rp_psprintf(s->pool, "cannot load %s: %s (the module directory is %s)", path,
                           strerror(errno), current_module_dir(s));
        return NULL;
    }
    lt_dlhandle h = lt_dlopen(path);
    if (!h) {
        const char *why = lt_dlerror();
        *err = rp_psprintf(s->pool, "cannot load %s: %s", path, why ? why : "unknown error");
    }
    return h;
}

/* The descriptor as the server reads it: a plugin built with a smaller
 * rp_module is copied into a zeroed one so the fields it lacks read NULL. */
static const rp_module *usable_desc(rp_pool *p, const rp_module *d)
{
    if (d->struct_size >= sizeof(rp_module))
        return d;
    rp_module *copy = rp_pcalloc(p, sizeof(*copy));
    memcpy(copy, d, d->struct_size);
    return copy;
}

/* The checked descriptor the server reads; *exported is the plugin's own
 * address, which its calls (rp_req_ctx(r, &rp_module_x)) pass. */
static const rp_module *find_desc(rp_server *s, lt_dlhandle h, const char *name, const char *path,
                                  const rp_module **exported, const char **err)
{
    const char *sym = rp_psprintf(s->pool, "rp_module_%s", name);
    const rp_module *d = lt_dlsym(h, sym);
    if (!d) {
        *err = rp_psprintf(s->pool,
                           "%s does not export %s: is it a rampart plugin, and is '%s' its name?",
                           path, sym, name);
        return NULL;
    }
    if ((*err = check_desc(s->pool, d, path)))
        return NULL;
    if (!d->name || strcmp(d->name, name) != 0) {
        *err = rp_psprintf(s->pool, "%s calls itself '%s' in its descriptor, not '%s'", path,
                           d->name ? d->name : "(null)", name);
        return NULL;
    }
    *exported = d;
    return usable_desc(s->pool, d);
}

int rp_module_load(rp_server *s, rp_cmd *cmd, const char *name, const char *file, const char **err)
{
    char *path = module_path(s, cmd, file);
    rp_modrec *dup = rp_module_find(s, name);
    if (dup) {
        *err = rp_psprintf(s->pool, "cannot load %s: module '%s' is already loaded from %s", path,
                           name, dup->file);
        return -1;
    }
    lt_dlhandle h = open_module(s, path, err);
    if (!h)
        return -1;
    const rp_module *exported = NULL;
    const rp_module *d = find_desc(s, h, name, path, &exported, err);
    if (!d) {
        lt_dlclose(h);
        return -1;
    }
    rp_modrec *m = rp_pcalloc(s->pool, sizeof(*m));
    m->desc = d;
    m->self = exported;
    m->handle = h;
    m->file = path;
    m->index = (int)s->mods.n;
    m->conf = d->create_conf ? d->create_conf(s->pool) : NULL;
    rp_vec_push(s->pool, &s->mods, m);
    rp_modtab_add(s, d, m);
    rp_modtab_add(s, exported, m); /* the same address unless d is a copy */
    return 0;
}

/* ---- the hint for an unknown directive ------------------------------------ */

static int is_plugin_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 7 && strncmp(e->d_name, "mod_", 4) == 0 && strcmp(e->d_name + n - 3, ".so") == 0;
}

static int declares(const rp_module *d, const char *directive)
{
    if (d->magic != RP_MODULE_MAGIC || d->abi_major != RP_ABI_MAJOR ||
        d->abi_minor > RP_ABI_MINOR || d->struct_size < RP_MODULE_SIZE_1_0)
        return 0; /* not a descriptor whose table we may read */
    for (const rp_directive *x = d->directives; x && x->name; x++)
        if (strcasecmp(x->name, directive) == 0)
            return 1;
    /* ABI 1.4 route directives, when the plugin's descriptor has the field */
    if (d->struct_size < offsetof(rp_module, route_directives) + sizeof(void *))
        return 0;
    for (const rp_directive *x = d->route_directives; x && x->name; x++)
        if (strcasecmp(x->name, directive) == 0)
            return 1;
    return 0;
}

/* Open one not-yet-loaded plugin just long enough to read its table. */
static int file_declares(rp_server *s, const char *dir, const char *fname, const char *name,
                         const char *directive)
{
    char *path = rp_psprintf(s->pool, "%s/%s", dir, fname);
    lt_dlhandle h = lt_dlopen(path);
    if (!h)
        return 0;
    const rp_module *d = lt_dlsym(h, rp_psprintf(s->pool, "rp_module_%s", name));
    int found = d && declares(d, directive);
    lt_dlclose(h);
    return found;
}

const char *rp_module_hint(rp_server *s, const char *directive)
{
    pthread_once(&ltdl_once, ltdl_init);
    if (ltdl_failed)
        return NULL;
    const char *dir = current_module_dir(s);
    struct dirent **list;
    int n = scandir(dir, &list, is_plugin_file, alphasort);
    const char *hint = NULL;
    for (int i = 0; i < n; i++) {
        const char *f = list[i]->d_name;
        char *name = rp_pstrndup(s->pool, f + 4, strlen(f) - 7);
        if (!hint && !rp_module_find(s, name) && file_declares(s, dir, f, name, directive))
            hint = rp_psprintf(s->pool,
                               "it is provided by module '%s' (%s), which is not loaded: add "
                               "'LoadModule %s %s' before this line",
                               name, f, name, f);
        free(list[i]);
    }
    if (n >= 0)
        free(list);
    return hint;
}
