/* SPDX-License-Identifier: Apache-2.0 */
/* sd_notify(3) for Type=notify units, written without libsystemd: one datagram to $NOTIFY_SOCKET.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"

int net_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {0};
    size_t plen;
    socklen_t salen;
    ssize_t n;
    int fd, ok;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (plen = strlen(path)) >= sizeof(sa.sun_path))
        return 0;
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* the abstract namespace */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    ok = n == (ssize_t)strlen(state);
    close(fd);
    return ok;
}
