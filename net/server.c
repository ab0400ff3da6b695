/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server: one listening socket bound once, several worker threads, each with its own
 * event_base and evhttp accepting on a dup of that socket. Limits: body and header sizes,
 * read/write/idle timeouts, and a connection cap (a worker at its share stops accepting until a
 * connection closes; the kernel's backlog holds the rest). Graceful stop: stop accepting, flush
 * the replies in flight, then leave the loop.
 */
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define DRAIN_MAX_MS   4000 /* a stopping worker waits at most this long for replies to flush */
#define DRAIN_POLL_MS  20
#define DRAIN_GRACE_MS 300 /* and this long for connections whose request is still arriving */

/* Splits "ADDR:PORT" (IPv4, or [IPv6]:PORT). 1 = ok. */
static int parse_listen(const char *s, char *addr, size_t cap, char *port, size_t pcap)
{
    const char *colon = strrchr(s, ':');
    uint64_t p;
    size_t alen;

    if (colon == NULL || !sg_parse_u64(colon + 1, 1, 65535, &p))
        return 0;
    alen = (size_t)(colon - s);
    if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']') {
        s++;
        alen -= 2;
    }
    if (alen == 0 || alen >= cap)
        return 0;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    snprintf(port, pcap, "%u", (unsigned)p);
    return 1;
}

/* Binds and listens on a numeric address once. Returns the socket or -1 with detail. */
static evutil_socket_t bind_listen(const char *listen_on, char *detail)
{
    char addr[128], port[8];
    struct addrinfo hints = {0}, *ai = NULL;
    evutil_socket_t fd = -1;
    int one = 1, e;

    if (listen_on == NULL || !parse_listen(listen_on, addr, sizeof(addr), port, sizeof(port))) {
        sg_detail(detail, "listen address '%.128s' is not ADDR:PORT (e.g. 127.0.0.1:8080)",
                  listen_on ? listen_on : "");
        return -1;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if ((e = getaddrinfo(addr, port, &hints, &ai)) != 0) {
        sg_detail(detail, "listen address '%.128s': %s (use a numeric address)", listen_on,
                  gai_strerror(e));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        sg_detail(detail, "cannot listen on %s: %s", listen_on, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void set_accepting(struct net_worker *w, int on)
{
    struct evconnlistener *l;

    if (w->bound == NULL || (l = evhttp_bound_socket_get_listener(w->bound)) == NULL)
        return;
    if (on)
        evconnlistener_enable(l);
    else
        evconnlistener_disable(l);
    w->paused = !on;
}

/* A connection of w closed (evhttp frees it): count it and resume accepting under the cap. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct net_worker *w = arg;

    (void)evcon;
    w->conns--;
    atomic_fetch_sub(&w->srv->metrics.conns, 1);
    if (w->paused && !w->stopping && w->conns < w->conn_cap)
        set_accepting(w, 1);
}

struct conn_track {
    struct net_worker *w;
    struct bufferevent *bev;
};

/*
 * Runs right after evhttp set the new connection up (activated from the accept callback, so
 * before any I/O on it): the bufferevent's callback argument is now its evhttp_connection, on
 * which the close callback is registered.
 */
static void track_conn(evutil_socket_t fd, short what, void *arg)
{
    struct conn_track *t = arg;
    void *cbarg = NULL;

    (void)fd, (void)what;
    bufferevent_getcb(t->bev, NULL, NULL, NULL, &cbarg);
    if (cbarg != NULL)
        evhttp_connection_set_closecb(cbarg, on_conn_close, t->w);
    else
        on_conn_close(NULL, t->w);
    free(t);
}

/* evhttp's bufferevent factory: counts the connection and pauses accepting at the cap. */
static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct net_worker *w = arg;
    struct conn_track *t = malloc(sizeof(*t));
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (t == NULL || bev == NULL ||
        event_base_once(base, -1, EV_TIMEOUT, track_conn, t, NULL) != 0) {
        /* evhttp makes its own bufferevent; this connection goes uncounted */
        free(t);
        if (bev != NULL)
            bufferevent_free(bev);
        return NULL;
    }
    t->w = w;
    t->bev = bev;
    w->conns++;
    atomic_fetch_add(&w->srv->metrics.conns, 1);
    atomic_fetch_add(&w->srv->metrics.conns_total, 1);
    if (w->conns >= w->conn_cap)
        set_accepting(w, 0);
    return bev;
}

/*
 * While stopping. First keep accepting while the shared socket still has connections waiting in
 * its backlog (closing it then would reset them); then close this worker's listener, wait for
 * the replies in flight to flush, give connections whose request is still arriving a short
 * grace, and leave the loop. Bounded by deadline_ms.
 */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    struct pollfd pf = {w->srv->fd, POLLIN, 0};
    uint64_t now = sg_mono_ms();

    (void)fd, (void)what;
    if (w->bound != NULL) {
        if (!w->paused && now < w->deadline_ms && poll(&pf, 1, 0) > 0)
            return;
        evhttp_del_accept_socket(w->http, w->bound); /* closes this worker's dup */
        w->bound = NULL;
        w->grace_ms = now + DRAIN_GRACE_MS;
    }
    if ((w->inflight <= 0 && (w->conns <= 0 || now >= w->grace_ms)) || now >= w->deadline_ms)
        event_base_loopexit(w->base, NULL);
}

/* net_server_stop's request, run in the worker: start draining. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};

    (void)fd, (void)what;
    w->stopping = 1;
    w->deadline_ms = sg_mono_ms() + DRAIN_MAX_MS;
    event_add(w->drain_ev, &tv);
    on_drain(-1, 0, w);
}

/* One worker's base, evhttp and listener on a dup of the shared socket. */
static enum signet_err worker_init(struct net_server *srv, struct net_worker *w, char *detail)
{
    evutil_socket_t fd = -1;

    w->srv = srv;
    w->conn_cap = (long)(srv->max_conns / srv->nworkers);
    if (w->conn_cap < 1)
        w->conn_cap = 1;
    if ((w->base = event_base_new()) == NULL || (w->http = evhttp_new(w->base)) == NULL ||
        (w->stop_ev = event_new(w->base, -1, 0, on_stop, w)) == NULL ||
        (w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain, w)) == NULL) {
        sg_detail(detail, "cannot create an event loop");
        return SIGNET_E_NOMEM;
    }
    /* libevent refuses larger bodies itself (413, reading the rest first so the client sees
     * it); headers get a larger hard limit here and the 8 KiB one in net_route (431) */
    evhttp_set_max_body_size(w->http, NET_BODY_MAX);
    evhttp_set_max_headers_size(w->http, 8 * NET_HEADERS_MAX);
    evhttp_set_timeout(w->http, (int)srv->timeout_s);
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(w->http, "application/json");
    evhttp_set_bevcb(w->http, on_new_conn, w);
    evhttp_set_gencb(w->http, net_route, w);
    if ((fd = dup(srv->fd)) < 0 ||
        (w->bound = evhttp_accept_socket_with_handle(w->http, fd)) == NULL) {
        sg_detail(detail, "cannot accept on the listening socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return SIGNET_E_IO;
    }
    return SIGNET_OK;
}

enum signet_err net_server_new(struct ca_ctx *ctx, const struct net_options *opts,
                               struct net_server **out, char *detail)
{
    struct net_server *srv = NULL;
    enum signet_err rc = SIGNET_E_NOMEM;

    *out = NULL;
    if (evthread_use_pthreads() != 0) {
        sg_detail(detail, "libevent has no thread support");
        return SIGNET_E_INTERNAL;
    }
    if ((srv = calloc(1, sizeof(*srv))) == NULL)
        goto out;
    pthread_rwlock_init(&srv->lock, NULL);
    srv->ca = ctx;
    srv->fd = -1;
    srv->nworkers = opts->workers ? opts->workers : 4;
    srv->max_conns = opts->max_conns ? opts->max_conns : 1024;
    srv->timeout_s = opts->timeout_s ? opts->timeout_s : 10;
    if (srv->nworkers > NET_WORKERS_MAX || srv->max_conns > NET_CONNS_MAX ||
        srv->timeout_s > 3600) {
        sg_detail(detail,
                  "[daemon] workers must be 1..%d, max_connections 1..%d, "
                  "timeout 1..3600 s",
                  NET_WORKERS_MAX, NET_CONNS_MAX);
        rc = SIGNET_E_CONFIG;
        goto out;
    }
    net_metrics_init(&srv->metrics, ca_ctx_policies(ctx));
    if (opts->conf_path != NULL && (srv->conf_path = strdup(opts->conf_path)) == NULL)
        goto out;
    if ((rc = net_clients_load(ca_ctx_conf(ctx), &srv->clients, detail)) != SIGNET_OK)
        goto out;
    if ((srv->fd = bind_listen(opts->listen, detail)) < 0) {
        rc = SIGNET_E_IO;
        goto out;
    }
    if ((srv->w = calloc(srv->nworkers, sizeof(*srv->w))) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    for (unsigned i = 0; i < srv->nworkers; i++)
        if ((rc = worker_init(srv, &srv->w[i], detail)) != SIGNET_OK)
            goto out;
    *out = srv;
    srv = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "out of memory starting the HTTP server");
    net_server_free(srv);
    return rc;
}

static void *worker_main(void *arg)
{
    struct net_worker *w = arg;

    event_base_dispatch(w->base);
    return NULL;
}

enum signet_err net_server_start(struct net_server *srv, char *detail)
{
    sigset_t all, old;
    enum signet_err rc = SIGNET_OK;

    /* workers never take signals: the main thread handles them */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->w[i].thread, NULL, worker_main, &srv->w[i]) != 0) {
            sg_detail(detail, "cannot start HTTP worker %u", i);
            rc = SIGNET_E_INTERNAL;
            break;
        }
        srv->w[i].started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void net_server_stop(struct net_server *srv)
{
    if (srv == NULL || srv->w == NULL)
        return;
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (srv->w[i].started)
            event_active(srv->w[i].stop_ev, EV_TIMEOUT, 0);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (srv->w[i].started)
            pthread_join(srv->w[i].thread, NULL);
        srv->w[i].started = 0;
    }
    if (srv->fd >= 0) {
        close(srv->fd); /* no longer listening: newcomers are refused, not left waiting */
        srv->fd = -1;
    }
}

enum signet_err net_server_reload(struct net_server *srv, char *detail)
{
    struct sg_conf *conf = NULL;
    struct net_clients *fresh = NULL, *old;
    enum signet_err rc;

    if (srv->conf_path == NULL) {
        sg_detail(detail, "no configuration path to reload from");
        return SIGNET_E_USAGE;
    }
    if ((rc = sg_conf_load(srv->conf_path, &conf, detail)) != SIGNET_OK ||
        (rc = net_clients_load(conf, &fresh, detail)) != SIGNET_OK)
        goto out;
    pthread_rwlock_wrlock(&srv->lock);
    old = srv->clients;
    srv->clients = fresh;
    pthread_rwlock_unlock(&srv->lock);
    sg_log(SG_LOG_INFO, "reload: %zu client(s) in force", fresh->n);
    net_clients_free(old);
out:
    sg_conf_free(conf);
    return rc;
}

void net_server_free(struct net_server *srv)
{
    if (srv == NULL)
        return;
    net_server_stop(srv);
    for (unsigned i = 0; srv->w != NULL && i < srv->nworkers; i++) {
        struct net_worker *w = &srv->w[i];
        w->stopping = 1; /* the close callbacks evhttp_free runs must not resume accepting */
        w->bound = NULL;
        if (w->http != NULL)
            evhttp_free(w->http); /* closes idle keep-alive connections and the listener */
        if (w->stop_ev != NULL)
            event_free(w->stop_ev);
        if (w->drain_ev != NULL)
            event_free(w->drain_ev);
        if (w->base != NULL)
            event_base_free(w->base);
    }
    free(srv->w);
    if (srv->fd >= 0)
        close(srv->fd);
    net_clients_free(srv->clients);
    pthread_rwlock_destroy(&srv->lock);
    free(srv->conf_path);
    free(srv);
}
