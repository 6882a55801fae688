/* fake.h - a configuration with hand-made modules, for tests that need
 * modules without building plugins. */
#ifndef FAKE_H
#define FAKE_H

#include "core.h"

/* Append desc to s as if LoadModule had loaded it. */
static inline rp_modrec *fake_module(rp_server *s, const rp_module *desc)
{
    rp_modrec *m = rp_pcalloc(s->pool, sizeof(*m));
    m->desc = desc;
    m->file = rp_psprintf(s->pool, "mod_%s.so", desc->name);
    m->index = (int)s->mods.n;
    m->conf = desc->create_conf ? desc->create_conf(s->pool) : NULL;
    rp_vec_push(s->pool, &s->mods, m);
    return m;
}

/* Apply text as a configuration named "test.conf"; NULL or the error. */
static inline const char *conf_err(rp_server *s, const char *text)
{
    const char *err = NULL;
    if (rp_conf_read_string(s, text, "test.conf", "/etc/rp", &err) == 0)
        return NULL;
    return err ? err : "(failed without a message)";
}

#endif
