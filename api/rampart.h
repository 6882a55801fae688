/* rampart.h - everything a plugin needs: #include <rampart.h>
 * (pkg-config --cflags rampart puts the header directory on the path). */
#ifndef RAMPART_H
#define RAMPART_H

#include "rp_common.h"
#include "rp_pool.h"
#include "rp_log.h"
#include "rp_module.h"
#include "rp_hooks.h"
#include "rp_request.h"
#include "rp_filter.h"
#include "rp_file.h"
#include "rp_service.h"
#include "rp_util.h"
#include "rp_metrics.h"
#include "rp_embed.h"

#endif
