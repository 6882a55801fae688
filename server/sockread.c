/* sockread.c - reading a plain socket into its bufferevent without
 * libevent's reader (rp_bev_read_socket, api/rp_request.h).
 *
 * evbuffer_read() sizes every read with a FIONREAD ioctl first; on small
 * request/response or message exchanges that is a third of the system calls.
 * One readv into the input buffer's free space does the same work.  The
 * HTTP/1 connection (conn.c) and websockets (mod_ws) read this way. */
#include <errno.h>
#include <sys/uio.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "core.h"

RP_API long rp_bev_read_socket(struct bufferevent *bev, size_t max)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v[2];
    /* bufferevent keeps its input's end frozen for everyone but its own
     * reader; we are the reader now, the way libevent's is. */
    evbuffer_unfreeze(in, 0);
    int n = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
    if (n <= 0) {
        evbuffer_freeze(in, 0);
        errno = ENOMEM;
        return -1;
    }
    struct iovec iov[2];
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t got = readv(bufferevent_getfd(bev), iov, n);
    if (got <= 0) {
        evbuffer_freeze(in, 0);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return RP_READ_AGAIN;
        return got == 0 ? 0 : -1;
    }
    size_t left = (size_t)got;
    int used = 0;
    for (; used < n && left > 0; used++) {
        if (v[used].iov_len > left)
            v[used].iov_len = left;
        left -= v[used].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    evbuffer_freeze(in, 0);
    return (long)got;
}
