/* The service registry: publish, look up by minimum version, refuse downgrades. */
#include "core.h"
#include "ut.h"

static const int table1 = 1, table2 = 2;

int main(void)
{
    CHECK(rp_service_version("ws") == 0);
    CHECK(rp_service_get("ws", 1) == NULL);
    CHECK(rp_service_register("ws", 1, &table1) == 0);
    CHECK(rp_service_get("ws", 1) == &table1);
    CHECK(rp_service_get("ws", 2) == NULL);
    CHECK(rp_service_register("ws", 1, &table2) < 0); /* same version: refused */
    CHECK(rp_service_register("ws", 2, &table2) == 0);
    CHECK(rp_service_get("ws", 1) == &table2);
    CHECK(rp_service_version("ws") == 2);
    CHECK(rp_service_register("ws", 1, &table1) < 0); /* older: refused */
    CHECK(rp_service_register("", 1, &table1) < 0);
    CHECK(rp_service_register("x", 0, &table1) < 0);
    char longname[80];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[79] = '\0';
    CHECK(rp_service_register(longname, 1, &table1) < 0);
    longname[64] = '\0';
    CHECK(rp_service_register(longname, 1, &table1) == 0);
    CHECK(rp_service_get(longname, 0) == &table1);
    UT_DONE();
}
