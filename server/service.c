/* service.c - the process-wide registry of named, versioned function tables.
 *
 * Modules publish during configuration and look up from any thread, so the
 * registry is guarded by a mutex; it is tiny and rarely touched.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

#define SERVICE_NAME_MAX 64
#define SERVICE_MAX 128

typedef struct service {
    char name[SERVICE_NAME_MAX + 1];
    int version;
    const void *table;
} service;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static service registry[SERVICE_MAX];
static size_t registry_n;

/* Call with reg_lock held. */
static service *lookup(const char *name)
{
    for (size_t i = 0; i < registry_n; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

RP_API int rp_service_register(const char *name, int version, const void *table)
{
    if (!name || !*name || strlen(name) > SERVICE_NAME_MAX || version < 1 || !table)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&reg_lock);
    service *sv = lookup(name);
    /* refused: an equal or newer version is there, or the registry is full */
    if ((sv && sv->version >= version) || (!sv && registry_n == SERVICE_MAX)) {
        rc = -1;
    } else {
        if (!sv) {
            sv = &registry[registry_n++];
            strcpy(sv->name, name);
        }
        sv->version = version; /* a newer version replaces the older table */
        sv->table = table;
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

RP_API const void *rp_service_get(const char *name, int min_version)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    service *sv = lookup(name);
    const void *t = sv && sv->version >= min_version ? sv->table : NULL;
    pthread_mutex_unlock(&reg_lock);
    return t;
}

RP_API int rp_service_version(const char *name)
{
    if (!name)
        return 0;
    pthread_mutex_lock(&reg_lock);
    service *sv = lookup(name);
    int v = sv ? sv->version : 0;
    pthread_mutex_unlock(&reg_lock);
    return v;
}
