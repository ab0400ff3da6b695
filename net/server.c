/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server: several worker threads, each with its own event_base, evhttp and listening
 * socket (SO_REUSEPORT on the one address, so the kernel spreads connections over the workers),
 * optionally TLS (tls.c). Limits: body and header sizes, a connection cap (a worker at its share
 * stops accepting until a connection closes; the kernel's backlog holds the rest) and per
 * connection timers: a request's headers and body must arrive within read_timeout of its first
 * byte (else 408 and close; a byte a second does not extend it), a keep-alive connection without a
 * request is closed after idle_timeout, a new one (TLS handshake included) that sends nothing
 * after read_timeout. Graceful stop: stop accepting, flush the replies in flight, leave the loop.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* a request's completion callback, to chain it */
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define DRAIN_MAX_MS   4000 /* a stopping worker waits at most this long for replies to flush */
#define DRAIN_POLL_MS  20
#define DRAIN_GRACE_MS 300 /* and this long for connections whose request is still arriving */
#define CLOSE_WAIT_S   2   /* a 408 not flushed within this is dropped */
#define BYFD_MAX       (1u << 20)
#define IDLE_DEFAULT_S 60

/* Where a connection is between requests (its timer's meaning). */
enum conn_state {
    CONN_NEW,     /* accepted; evhttp has not set it up yet (timer active once, no delay) */
    CONN_FIRST,   /* waiting for the first request's first byte: closed at read_timeout */
    CONN_READING, /* a request is arriving: 408 at its deadline */
    CONN_BUSY,    /* the request was read; its reply is being made or sent: no timer */
    CONN_IDLE,    /* keep-alive between requests: closed silently at idle_timeout */
    CONN_CLOSING  /* the 408 is being flushed */
};

struct net_conn {
    struct net_worker *w;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct evbuffer_cb_entry *incb;
    evutil_socket_t fd;
    enum conn_state state;
    struct net_conn *prev, *next;
    void (*chain_cb)(struct evhttp_request *, void *); /* the router's completion callback */
    void *chain_arg;
};

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

/*
 * Binds a numeric address: with reuseport, a listening socket of the SO_REUSEPORT group (one per
 * worker); without, a probe that is only bound, to refuse an address another process (even one
 * of the same user, which SO_REUSEPORT would let in) already listens on. Returns the socket or
 * -1 with detail.
 */
static evutil_socket_t bind_listen(const char *listen_on, int reuseport, char *detail)
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
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (reuseport && listen(fd, 1024) != 0)) {
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

static void conn_arm(struct net_conn *c, unsigned seconds)
{
    struct timeval tv = {(time_t)seconds, 0};

    evtimer_add(c->timer, &tv);
}

/*
 * A connection of w closed (evhttp frees it right after this): count it, forget its timer and
 * resume accepting under the cap.
 */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct net_conn *c = arg;
    struct net_worker *w = c->w;

    (void)evcon;
    if (c->fd >= 0 && (size_t)c->fd < w->srv->nbyfd)
        atomic_store(&w->srv->byfd[c->fd], NULL);
    if (c->incb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
    event_free(c->timer);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conn_list = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    w->conns--;
    atomic_fetch_sub(&w->srv->metrics.conns, 1);
    if (w->paused && !w->stopping && w->conns < w->conn_cap)
        set_accepting(w, 1);
}

/* The 408 is flushed (or could not be): the connection goes. */
static void on_408_written(struct bufferevent *bev, void *arg)
{
    struct net_conn *c = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        evhttp_connection_free(c->evcon);
}

static void on_408_event(struct bufferevent *bev, short what, void *arg)
{
    struct net_conn *c = arg;

    (void)bev, (void)what;
    evhttp_connection_free(c->evcon);
}

/*
 * The request did not arrive in time: takes the connection back from evhttp (which would close
 * it without a word), writes a 408 problem with Connection: close, and frees the connection once
 * it is flushed or after CLOSE_WAIT_S.
 */
static void send_408(struct net_conn *c)
{
    static const char body[] =
        "{\"type\": \"urn:signet:error:requestTimeout\", \"title\": \"Request Timeout\", "
        "\"status\": 408, \"detail\": \"the request did not arrive within the read timeout; "
        "send it whole and promptly\"}\n";
    struct timeval wt = {CLOSE_WAIT_S, 0};
    struct evbuffer *out = bufferevent_get_output(c->bev);

    c->state = CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, on_408_written, on_408_event, c);
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    evbuffer_add_printf(out,
                        "HTTP/1.1 408 Request Timeout\r\n"
                        "Content-Type: application/problem+json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        sizeof(body) - 1, body);
    atomic_fetch_add(&c->w->srv->metrics.http[4], 1);
    conn_arm(c, CLOSE_WAIT_S + 1);
    bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * The connection's timer. NEW: evhttp has set the connection up (this runs from the accept
 * callback's loop iteration, before any I/O on it); register the close callback and wait for the
 * first request. FIRST, IDLE: nothing came; close silently. READING: 408. CLOSING: the 408 did not
 * flush; drop it.
 */
static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct net_conn *c = arg;
    struct net_server *srv = c->w->srv;
    void *cbarg = NULL;

    (void)fd, (void)what;
    switch (c->state) {
    case CONN_NEW:
        bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
        c->evcon = cbarg;
        evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
        c->fd = bufferevent_getfd(c->bev);
        if (c->fd >= 0 && (size_t)c->fd < srv->nbyfd)
            atomic_store(&srv->byfd[c->fd], c);
        c->state = CONN_FIRST;
        conn_arm(c, srv->read_timeout_s);
        break;
    case CONN_READING:
        send_408(c);
        break;
    case CONN_BUSY:
        break;
    default:
        evhttp_connection_free(c->evcon);
        break;
    }
}

/* Bytes arrived: the first byte of a request starts its read deadline (never extended). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct net_conn *c = arg;

    (void)buf;
    if (info->n_added == 0)
        return;
    if (c->state == CONN_FIRST) {
        c->state = CONN_READING; /* the deadline from accept stands: handshake and request */
    } else if (c->state == CONN_IDLE) {
        c->state = CONN_READING;
        conn_arm(c, c->w->srv->read_timeout_s);
    }
}

/* The connection a request arrived on, or NULL (untracked). */
static struct net_conn *conn_of(struct net_server *srv, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    evutil_socket_t fd;
    struct net_conn *c;

    if (evcon == NULL || (fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon))) < 0 ||
        (size_t)fd >= srv->nbyfd)
        return NULL;
    c = atomic_load(&srv->byfd[fd]);
    return c != NULL && c->evcon == evcon ? c : NULL;
}

/* The reply is sent: wait for the next request (already arriving when bytes are buffered). */
static void on_req_done(struct evhttp_request *req, void *arg)
{
    struct net_conn *c = arg;

    if (c->chain_cb != NULL)
        c->chain_cb(req, c->chain_arg);
    c->chain_cb = NULL;
    if (c->state != CONN_BUSY)
        return;
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
        c->state = CONN_READING;
        conn_arm(c, c->w->srv->read_timeout_s);
    } else {
        c->state = CONN_IDLE;
        conn_arm(c, c->w->srv->idle_timeout_s);
    }
}

/*
 * evhttp read a whole request: its timer stops until the reply is sent. The router sets its own
 * completion callback; it is chained behind ours (a reply is sent later, from the write
 * callback, so req is still this connection's after net_route returns).
 */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct net_worker *w = arg;
    struct net_conn *c = conn_of(w->srv, req);

    if (c != NULL) {
        c->state = CONN_BUSY;
        evtimer_del(c->timer);
    }
    net_route(req, w);
    if (c != NULL && req->on_complete_cb != on_req_done) {
        c->chain_cb = req->on_complete_cb;
        c->chain_arg = req->on_complete_cb_arg;
        evhttp_request_set_on_complete_cb(req, on_req_done, c);
    }
}

/*
 * evhttp's bufferevent factory: a TLS or plain bufferevent with its connection's timer and input
 * watch; counts the connection and pauses accepting at the cap. Returning NULL lets evhttp make a
 * plain one (only when out of memory; a TLS client then gets 400 for its handshake bytes).
 */
static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct net_worker *w = arg;
    struct net_conn *c = calloc(1, sizeof(*c));
    struct bufferevent *bev = w->srv->tls != NULL
                                  ? net_tls_bev_new(w->srv->tls, base)
                                  : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (c == NULL || bev == NULL || (c->timer = evtimer_new(base, on_conn_timer, c)) == NULL ||
        (c->incb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c)) == NULL) {
        sg_log(SG_LOG_WARN, "out of memory accepting a connection");
        if (c != NULL && c->timer != NULL)
            event_free(c->timer);
        free(c);
        if (bev != NULL)
            bufferevent_free(bev);
        return NULL;
    }
    c->w = w;
    c->bev = bev;
    c->fd = -1;
    c->state = CONN_NEW;
    c->next = w->conn_list;
    if (w->conn_list != NULL)
        w->conn_list->prev = c;
    w->conn_list = c;
    event_active(c->timer, EV_TIMEOUT, 1);
    w->conns++;
    atomic_fetch_add(&w->srv->metrics.conns, 1);
    atomic_fetch_add(&w->srv->metrics.conns_total, 1);
    if (w->conns >= w->conn_cap)
        set_accepting(w, 0);
    return bev;
}

/*
 * While stopping. First keep accepting while this worker's socket still has connections waiting
 * in its backlog (closing it then would reset them); then close it, wait for
 * the replies in flight to flush, give connections whose request is still arriving a short
 * grace, and leave the loop. Bounded by deadline_ms.
 */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    struct pollfd pf = {w->bound != NULL ? evhttp_bound_socket_get_fd(w->bound) : -1, POLLIN, 0};
    uint64_t now = sg_mono_ms();

    (void)fd, (void)what;
    if (w->bound != NULL) {
        if (!w->paused && now < w->deadline_ms && poll(&pf, 1, 0) > 0)
            return;
        evhttp_del_accept_socket(w->http, w->bound); /* closes this worker's socket */
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

/*
 * A worker's event base, with epoll's changelist: the read and write interest changes that
 * evhttp makes for a keep-alive request (read off, write on, write off, read on) are gathered
 * during a loop iteration and applied as one epoll_ctl per socket before epoll_wait, instead of
 * one system call each. Four epoll_ctl per request were over half of a worker's system calls,
 * and each is a trap to the hypervisor on a virtual machine (docs/bench.md, bench/ocsp).
 * libevent's caveat for the changelist is a descriptor shared through dup(); a worker's
 * sockets are its own. Other backends ignore the flag.
 */
static struct event_base *worker_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* One worker's base, evhttp and listener on its own socket of the SO_REUSEPORT group. */
static enum signet_err worker_init(struct net_server *srv, struct net_worker *w, const char *listen,
                                   char *detail)
{
    evutil_socket_t fd = -1;
    /* evhttp's own timeout (per read or write, then a silent close) only backs up the timers */
    unsigned evtimeout = srv->timeout_s;

    w->srv = srv;
    w->conn_cap = (long)(srv->max_conns / srv->nworkers);
    if (w->conn_cap < 1)
        w->conn_cap = 1;
    if ((w->base = worker_base()) == NULL || (w->http = evhttp_new(w->base)) == NULL ||
        (w->stop_ev = event_new(w->base, -1, 0, on_stop, w)) == NULL ||
        (w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain, w)) == NULL) {
        sg_detail(detail, "cannot create an event loop");
        return SIGNET_E_NOMEM;
    }
    /* libevent refuses larger bodies itself (413, reading the rest first so the client sees
     * it); headers get a larger hard limit here and the 8 KiB one in net_route (431) */
    evhttp_set_max_body_size(w->http, NET_BODY_MAX);
    evhttp_set_max_headers_size(w->http, 8 * NET_HEADERS_MAX);
    if (evtimeout < srv->read_timeout_s + 5)
        evtimeout = srv->read_timeout_s + 5;
    if (evtimeout < srv->idle_timeout_s + 5)
        evtimeout = srv->idle_timeout_s + 5;
    evhttp_set_timeout(w->http, (int)evtimeout);
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(w->http, "application/json");
    evhttp_set_bevcb(w->http, on_new_conn, w);
    evhttp_set_gencb(w->http, on_request, w);
    if ((fd = bind_listen(listen, 1, detail)) < 0)
        return SIGNET_E_IO;
    if ((w->bound = evhttp_accept_socket_with_handle(w->http, fd)) == NULL) {
        sg_detail(detail, "cannot accept on the listening socket: %s", strerror(errno));
        close(fd);
        return SIGNET_E_IO;
    }
    return SIGNET_OK;
}

/* A [daemon] number of seconds (1..3600), or def when absent. 1 = ok. */
static int conf_seconds(const struct sg_conf *conf, const char *key, unsigned def, unsigned *out,
                        char *detail)
{
    const char *v = sg_conf_get(conf, "daemon", key);
    uint64_t n = def;

    if (v != NULL && !sg_parse_u64(v, 1, 3600, &n)) {
        sg_detail(detail, "%s: [daemon] %s = %.32s is not a number of seconds from 1 to 3600",
                  sg_conf_file(conf), key, v);
        return 0;
    }
    *out = (unsigned)n;
    return 1;
}

/* The limits and timeouts from opts, else [daemon] of conf. SIGNET_E_CONFIG when out of range. */
static enum signet_err read_limits(struct net_server *srv, const struct net_options *opts,
                                   const struct sg_conf *conf, char *detail)
{
    srv->nworkers = opts->workers ? opts->workers : 4;
    srv->max_conns = opts->max_conns ? opts->max_conns : 1024;
    srv->timeout_s = opts->timeout_s ? opts->timeout_s : 10;
    if (srv->nworkers > NET_WORKERS_MAX || srv->max_conns > NET_CONNS_MAX ||
        srv->timeout_s > 3600 || opts->read_timeout_s > 3600 || opts->idle_timeout_s > 3600) {
        sg_detail(detail,
                  "[daemon] workers must be 1..%d, max_connections 1..%d, "
                  "timeout, read_timeout and idle_timeout 1..3600 s",
                  NET_WORKERS_MAX, NET_CONNS_MAX);
        return SIGNET_E_CONFIG;
    }
    srv->read_timeout_s = opts->read_timeout_s;
    srv->idle_timeout_s = opts->idle_timeout_s;
    if ((srv->read_timeout_s == 0 &&
         !conf_seconds(conf, "read_timeout", srv->timeout_s, &srv->read_timeout_s, detail)) ||
        (srv->idle_timeout_s == 0 &&
         !conf_seconds(conf, "idle_timeout", IDLE_DEFAULT_S, &srv->idle_timeout_s, detail)))
        return SIGNET_E_CONFIG;
    return SIGNET_OK;
}

/* The fd -> connection table, as large as this process's descriptor limit (bounded). */
static int byfd_init(struct net_server *srv)
{
    struct rlimit rl;

    srv->nbyfd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        srv->nbyfd = rl.rlim_cur < BYFD_MAX ? (size_t)rl.rlim_cur : BYFD_MAX;
    return (srv->byfd = calloc(srv->nbyfd, sizeof(*srv->byfd))) != NULL;
}

enum signet_err net_server_new(struct ca_ctx *ctx, const struct net_options *opts,
                               struct net_server **out, char *detail)
{
    struct net_server *srv = NULL;
    const struct sg_conf *conf = ca_ctx_conf(ctx);
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
    if ((rc = read_limits(srv, opts, conf, detail)) != SIGNET_OK)
        goto out;
    net_metrics_init(&srv->metrics, ca_ctx_policies(ctx));
    rc = SIGNET_E_NOMEM;
    if ((opts->conf_path != NULL && (srv->conf_path = strdup(opts->conf_path)) == NULL) ||
        !byfd_init(srv))
        goto out;
    /* the TLS key is read here, before the web process drops privileges */
    if ((rc = net_clients_load(conf, &srv->clients, detail)) != SIGNET_OK ||
        (rc = net_tls_ctx_new(conf, &srv->tls, detail)) != SIGNET_OK)
        goto out;
    if ((srv->fd = bind_listen(opts->listen, 0, detail)) < 0) {
        rc = SIGNET_E_IO;
        goto out;
    }
    close(srv->fd); /* the address is free: the workers bind it with SO_REUSEPORT */
    srv->fd = -1;
    if ((srv->w = calloc(srv->nworkers, sizeof(*srv->w))) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    for (unsigned i = 0; i < srv->nworkers; i++)
        if ((rc = worker_init(srv, &srv->w[i], opts->listen, detail)) != SIGNET_OK)
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
            evhttp_free(w->http);      /* closes idle keep-alive connections and the listener */
        while (w->conn_list != NULL) { /* accepted, never set up (the loop ended first) */
            struct net_conn *c = w->conn_list;
            w->conn_list = c->next;
            event_free(c->timer);
            free(c);
        }
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
    net_tls_ctx_free(srv->tls);
    free((void *)srv->byfd);
    pthread_rwlock_destroy(&srv->lock);
    free(srv->conf_path);
    free(srv);
}
