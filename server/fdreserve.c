/* fdreserve.c - one descriptor held back for when the process runs out.
 *
 * At the descriptor limit the work already let in (a client waiting in the
 * backlog, a request whose file is still to open) would fail for want of a
 * single descriptor.  Holding one open (/dev/null) and spending it at that
 * moment lets that work finish; it is taken back once the crunch is over.
 * The acceptor holds one (listen.c), each worker thread one (fcache.c). */
#include <fcntl.h>
#include <unistd.h>

#include "core.h"

void rp_fd_reserve_hold(int *fd)
{
    if (*fd < 0)
        *fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool rp_fd_reserve_spend(int *fd)
{
    if (*fd < 0)
        return false;
    close(*fd);
    *fd = -1;
    return true;
}
