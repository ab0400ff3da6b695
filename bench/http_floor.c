/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/http_floor: the raw limit for bench/ocsp.sh. The least an HTTP/1.1 keep-alive server can
 * do per request on this machine: one epoll loop per thread (SO_REUSEPORT listeners), read until
 * the end of the headers and the Content-Length body, write one fixed answer. No routing, no
 * limits, no lookup, no logging: it is not a server, it is the ceiling that the load generator
 * and the kernel leave to any server in the same run.
 *
 *   bench_http_floor PORT BODYFILE THREADS
 *
 * It answers every request with `200 OK`, `Content-Type: application/ocsp-response` and the
 * bytes of BODYFILE (a real OCSP response, so the answers are as long as signetd's), and runs
 * until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_MAX  16384
#define ANS_MAX  8192
#define CONN_MAX 4096

struct conn {
    int fd;
    size_t have;
    char buf[BUF_MAX];
};

static char answer[ANS_MAX];
static size_t answer_len;
static int port;

/* Bytes of buf[0..len) that make one whole request, 0 if incomplete, -1 if unusable. */
static long request_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    const char *cl;
    long body = 0;

    if (end == NULL)
        return len >= BUF_MAX ? -1 : 0;
    cl = memmem(buf, (size_t)(end - buf), "\r\nContent-Length:", 17);
    if (cl != NULL)
        body = strtol(cl + 17, NULL, 10);
    if (body < 0 || body > BUF_MAX / 2)
        return -1;
    if ((size_t)(end + 4 - buf) + (size_t)body > len)
        return 0;
    return (long)(end + 4 - buf) + body;
}

static void *loop(void *arg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct epoll_event ev, evs[256];
    int one = 1, lfd, ep;

    (void)arg;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1024) != 0) {
        perror("bench_http_floor: listen");
        exit(1);
    }
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct conn *nc = calloc(1, sizeof(*nc));
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    nc->fd = fd;
                    ev.events = EPOLLIN;
                    ev.data.ptr = nc;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->have, BUF_MAX - c->have);
                long req;
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                    goto drop;
                if (r < 0)
                    break;
                c->have += (size_t)r;
                while ((req = request_len(c->buf, c->have)) > 0) {
                    if (write(c->fd, answer, answer_len) != (ssize_t)answer_len)
                        goto drop;
                    memmove(c->buf, c->buf + req, c->have - (size_t)req);
                    c->have -= (size_t)req;
                }
                if (req < 0)
                    goto drop;
                if ((size_t)r < BUF_MAX - c->have)
                    break;
            }
            continue;
        drop:
            close(c->fd);
            free(c);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    FILE *f;
    char body[ANS_MAX];
    size_t blen;
    int threads, hl;
    pthread_t t;

    if (argc != 4 || (port = atoi(argv[1])) <= 0 || (threads = atoi(argv[3])) <= 0 ||
        threads > 64) {
        fprintf(stderr, "usage: bench_http_floor PORT BODYFILE THREADS\n");
        return 2;
    }
    if ((f = fopen(argv[2], "rb")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    blen = fread(body, 1, sizeof(body) - 512, f);
    fclose(f);
    hl = snprintf(answer, sizeof(answer),
                  "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                  "Content-Length: %zu\r\nCache-Control: max-age=3600, public, no-transform, "
                  "must-revalidate\r\n\r\n",
                  blen);
    memcpy(answer + hl, body, blen);
    answer_len = (size_t)hl + blen;
    for (int i = 1; i < threads; i++)
        pthread_create(&t, NULL, loop, NULL);
    loop(NULL);
    return 0;
}
