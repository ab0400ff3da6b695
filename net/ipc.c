/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The web process's end of the socketpair: frames on a stream socket, and a small client that
 * multiplexes the worker threads' calls by request id. One reader thread reads every frame:
 * answers go to the waiting caller with the same id; client sets from the ca process replace the
 * server's clients. When the ca process goes away every waiting call fails and on_eof runs.
 *
 * Issuance does not block an HTTP worker: net_issue_start sends ISSUE and returns to the
 * worker's event loop; the reader thread hands the answer back to that worker (a per-worker list
 * and an event activated across threads) and the handler answers the HTTP request there. At
 * most ISSUES_MAX issuances are in flight; more are answered 503 at once.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define CALL_ISSUE_MS  60000 /* a signature on a struggling HSM may take its retries */
#define CALL_STATUS_MS 5000  /* /healthz and /metrics */
#define CLIENTS_MAX    100000
#define ISSUES_MAX     1024 /* issuances in flight over the pair; more are answered 503 at once */
#define ISSUE_BUF      (sizeof(struct net_issue_req) + 64) /* an encoded request fits */

enum { ISSUE_WAITING, ISSUE_DONE };

static void on_done(evutil_socket_t fd, short what, void *arg);

/*
 * One issuance in flight. Started on an HTTP worker thread; while WAITING it is in ipc->issues,
 * then the reader thread (answer, end of the pair) or the worker's timer (no answer in time)
 * takes it out and it is finished on its worker's thread, which alone frees it.
 */
struct issue {
    struct issue *next;
    uint32_t id;
    int state;
    struct net_worker *w;
    struct evhttp_request *req;
    struct net_issue_req *r;
    struct net_issue_resp *resp;
    net_issue_done_fn done;
    struct event *timer;
    uint64_t t0;
};

/* A worker's finished issuances, handed over by the reader thread; ev runs on the worker. */
struct wdone {
    struct net_ipc *ipc;
    struct issue *head, *tail;
    struct event *ev;
};

struct waiter {
    struct waiter *next;
    uint32_t id;
    enum net_msg want;
    unsigned char *buf;
    size_t cap, len;
    int done, ok;
};

struct net_ipc {
    int fd;
    pthread_mutex_t wlock; /* one frame at a time on the pair */
    pthread_mutex_t lock;  /* waiters, next_id, eof */
    pthread_cond_t cond;
    struct waiter *waiters;
    uint32_t next_id;
    int eof;
    pthread_t reader;
    int reader_started;
    struct net_server *srv;
    void (*on_eof)(void *);
    void *eof_arg;
    struct net_clients *initial;    /* the set read by net_ipc_open, until attached */
    struct net_client_msg *pending; /* CLIENT messages since the last END */
    size_t npending, cap_pending;
    struct issue *issues; /* WAITING issuances (under lock) */
    size_t nissues;       /* started and not yet finished, all workers */
    struct wdone *wd;     /* one per HTTP worker, srv->nworkers */
    unsigned nwd;
};

int net_frame_send(int fd, pthread_mutex_t *wlock, enum net_msg type, uint32_t id,
                   const void *payload, size_t len)
{
    unsigned char hdr[NET_FRAME_HDR];
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)payload, len}};
    struct msghdr mh = {0};
    size_t left = sizeof(hdr) + len;
    int ok = 1;

    if (len > NET_FRAME_PAYLOAD)
        return 0;
    net_frame_header(hdr, type, id, len);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    pthread_mutex_lock(wlock);
    while (left > 0) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = 0;
            break;
        }
        left -= (size_t)n;
        while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov[0].iov_len) {
            n -= (ssize_t)mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
            mh.msg_iov[0].iov_len -= (size_t)n;
        }
    }
    pthread_mutex_unlock(wlock);
    return ok;
}

/* Reads exactly n bytes. 1 = ok, 0 = end of stream or error. */
static int read_full(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

int net_frame_recv(int fd, enum net_msg *type, uint32_t *id, unsigned char *buf, size_t *len)
{
    unsigned char hdr[NET_FRAME_HDR];

    if (!read_full(fd, hdr, sizeof(hdr)))
        return 0;
    if (!net_frame_parse_header(hdr, type, id, len)) {
        sg_log(SG_LOG_ERR, "process split: a malformed frame header; closing the socketpair");
        return 0;
    }
    return read_full(fd, buf, *len);
}

enum signet_err net_clients_from_msgs(const struct net_client_msg *m, size_t n,
                                      struct net_clients **out)
{
    struct net_clients *c = calloc(1, sizeof(*c));

    *out = NULL;
    if (c == NULL || (n > 0 && (c->v = calloc(n, sizeof(*c->v))) == NULL))
        goto nomem;
    for (size_t i = 0; i < n; i++, c->n++) {
        struct net_client *cl = &c->v[i];
        memcpy(cl->name, m[i].name, sizeof(cl->name));
        memcpy(cl->hash, m[i].hash, sizeof(cl->hash));
        memcpy(cl->spki, m[i].spki, sizeof(cl->spki));
        cl->has_spki = m[i].has_spki;
        cl->profiles = m[i].profiles[0] != '\0' ? sg_split_list(m[i].profiles, NULL)
                                                : calloc(1, sizeof(char *));
        if (cl->profiles == NULL)
            goto nomem;
    }
    *out = c;
    return SIGNET_OK;
nomem:
    net_clients_free(c);
    return SIGNET_E_NOMEM;
}

/*
 * A CLIENT or CLIENTS_END message (id of END = how many clients were sent). On END the set is
 * built; it replaces the server's clients when attached, else becomes ipc->initial. 1 = ok.
 */
static int on_clients_msg(struct net_ipc *ipc, enum net_msg type, uint32_t id,
                          const unsigned char *p, size_t len)
{
    struct net_clients *fresh = NULL, *old;

    if (type == NET_MSG_CLIENT) {
        if (ipc->npending >= CLIENTS_MAX)
            return 0;
        if (ipc->npending == ipc->cap_pending) {
            size_t cap = ipc->cap_pending ? 2 * ipc->cap_pending : 8;
            struct net_client_msg *v = realloc(ipc->pending, cap * sizeof(*v));
            if (v == NULL)
                return 0;
            ipc->pending = v, ipc->cap_pending = cap;
        }
        return net_client_msg_decode(p, len, &ipc->pending[ipc->npending++]);
    }
    if (len != 0 || id != ipc->npending ||
        net_clients_from_msgs(ipc->pending, ipc->npending, &fresh) != SIGNET_OK)
        return 0;
    OPENSSL_cleanse(ipc->pending, ipc->npending * sizeof(*ipc->pending));
    ipc->npending = 0;
    if (ipc->srv == NULL) {
        net_clients_free(ipc->initial);
        ipc->initial = fresh;
        return 1;
    }
    pthread_rwlock_wrlock(&ipc->srv->lock);
    old = ipc->srv->clients;
    ipc->srv->clients = fresh;
    pthread_rwlock_unlock(&ipc->srv->lock);
    net_clients_free(old);
    sg_log(SG_LOG_INFO, "web: %zu client(s) in force", fresh->n);
    return 1;
}

/* Hands an answer to its waiter (unknown ids are dropped: the caller gave up). */
static void on_answer(struct net_ipc *ipc, enum net_msg type, uint32_t id, const unsigned char *p,
                      size_t len)
{
    pthread_mutex_lock(&ipc->lock);
    for (struct waiter *w = ipc->waiters; w != NULL; w = w->next) {
        if (w->id != id || w->done)
            continue;
        w->ok = type == w->want && len <= w->cap;
        if (w->ok) {
            memcpy(w->buf, p, len);
            w->len = len;
        }
        w->done = 1;
        pthread_cond_broadcast(&ipc->cond);
        break;
    }
    pthread_mutex_unlock(&ipc->lock);
}

/* Moves is (taken out of ipc->issues) to its worker's done list and wakes the worker. Locked. */
static void hand_back(struct net_ipc *ipc, struct issue *is)
{
    struct wdone *d = &ipc->wd[is->w - ipc->srv->w];

    is->state = ISSUE_DONE;
    is->next = NULL;
    if (d->tail != NULL)
        d->tail->next = is;
    else
        d->head = is;
    d->tail = is;
    event_active(d->ev, EV_READ, 0);
}

/* Unlinks the WAITING issuance with this id and returns it; NULL when none. Locked. */
static struct issue *take_waiting(struct net_ipc *ipc, uint32_t id)
{
    for (struct issue **pp = &ipc->issues; *pp != NULL; pp = &(*pp)->next) {
        struct issue *is = *pp;
        if (is->id == id) {
            *pp = is->next;
            return is;
        }
    }
    return NULL;
}

/*
 * An ISSUE_RESP (reader thread): decoded into its issuance, which goes back to its worker.
 * Answers nobody waits for any more (timed out) are dropped.
 */
static void on_issue_answer(struct net_ipc *ipc, uint32_t id, const unsigned char *p, size_t len)
{
    struct issue *is;

    pthread_mutex_lock(&ipc->lock);
    is = take_waiting(ipc, id);
    pthread_mutex_unlock(&ipc->lock);
    if (is == NULL)
        return;
    if (!net_issue_resp_decode(p, len, is->resp)) {
        memset(is->resp, 0, offsetof(struct net_issue_resp, der));
        is->resp->err = SIGNET_E_HSM_UNAVAILABLE;
        sg_detail(is->resp->detail, "the ca process sent a malformed issuance answer");
    }
    pthread_mutex_lock(&ipc->lock);
    hand_back(ipc, is);
    pthread_mutex_unlock(&ipc->lock);
}

/* The pair is closed (reader thread): every waiting issuance is answered 503. Locked. */
static void fail_waiting(struct net_ipc *ipc)
{
    struct issue *is;

    while ((is = ipc->issues) != NULL) {
        ipc->issues = is->next;
        is->resp->err = SIGNET_E_HSM_UNAVAILABLE;
        sg_detail(is->resp->detail, "the ca process went away before it answered");
        hand_back(ipc, is);
    }
}

static void *reader_main(void *arg)
{
    struct net_ipc *ipc = arg;
    unsigned char *buf = malloc(NET_FRAME_PAYLOAD);
    void (*on_eof)(void *);
    enum net_msg type;
    uint32_t id;
    size_t len;

    while (buf != NULL && net_frame_recv(ipc->fd, &type, &id, buf, &len)) {
        if (type == NET_MSG_CLIENT || type == NET_MSG_CLIENTS_END) {
            if (!on_clients_msg(ipc, type, id, buf, len)) {
                sg_log(SG_LOG_ERR, "web: a malformed client set from the ca process");
                break;
            }
        } else if (type == NET_MSG_ISSUE_RESP) {
            on_issue_answer(ipc, id, buf, len);
        } else if (type == NET_MSG_HEALTH_RESP || type == NET_MSG_METRICS_RESP) {
            on_answer(ipc, type, id, buf, len);
        } else {
            sg_log(SG_LOG_ERR, "web: unexpected message type %d from the ca process", (int)type);
            break;
        }
    }
    free(buf);
    pthread_mutex_lock(&ipc->lock);
    ipc->eof = 1;
    if (ipc->wd != NULL)
        fail_waiting(ipc);
    on_eof = ipc->on_eof;
    pthread_cond_broadcast(&ipc->cond);
    pthread_mutex_unlock(&ipc->lock);
    if (on_eof != NULL)
        on_eof(ipc->eof_arg);
    return NULL;
}

enum signet_err net_ipc_open(int fd, struct net_ipc **out, char *detail)
{
    struct net_ipc *ipc = calloc(1, sizeof(*ipc));
    unsigned char *buf = malloc(NET_FRAME_PAYLOAD);
    enum signet_err rc = SIGNET_E_IO;
    enum net_msg type;
    uint32_t id;
    size_t len;
    int hello = 0;

    *out = NULL;
    if (ipc == NULL || buf == NULL) {
        free(ipc);
        free(buf);
        close(fd);
        sg_detail(detail, "out of memory");
        return SIGNET_E_NOMEM;
    }
    ipc->fd = fd;
    pthread_mutex_init(&ipc->wlock, NULL);
    pthread_mutex_init(&ipc->lock, NULL);
    pthread_cond_init(&ipc->cond, NULL);
    while (ipc->initial == NULL) {
        if (!net_frame_recv(fd, &type, &id, buf, &len)) {
            sg_detail(detail, "the ca process closed the socketpair before it was ready");
            goto out;
        }
        if (!hello && type == NET_MSG_HELLO && len == 0) {
            hello = 1;
            continue;
        }
        if (!hello || (type != NET_MSG_CLIENT && type != NET_MSG_CLIENTS_END) ||
            !on_clients_msg(ipc, type, id, buf, len)) {
            sg_detail(detail, "a malformed message from the ca process (type %d)", (int)type);
            rc = SIGNET_E_INVALID;
            goto out;
        }
    }
    *out = ipc;
    ipc = NULL;
    rc = SIGNET_OK;
out:
    free(buf);
    net_ipc_free(ipc);
    return rc;
}

enum signet_err net_server_attach_ipc(struct net_server *srv, struct net_ipc *ipc,
                                      void (*on_eof)(void *), void *arg, char *detail)
{
    struct net_clients *old;

    pthread_rwlock_wrlock(&srv->lock);
    old = srv->clients;
    srv->clients = ipc->initial;
    ipc->initial = NULL;
    srv->ipc = ipc;
    ipc->srv = srv;
    pthread_rwlock_unlock(&srv->lock);
    net_clients_free(old);
    if ((ipc->wd = calloc(srv->nworkers, sizeof(*ipc->wd))) == NULL) {
        sg_detail(detail, "out of memory");
        return SIGNET_E_NOMEM;
    }
    ipc->nwd = srv->nworkers;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        ipc->wd[i].ipc = ipc;
        if ((ipc->wd[i].ev = event_new(srv->w[i].base, -1, 0, on_done, &ipc->wd[i])) == NULL) {
            sg_detail(detail, "cannot create an event for HTTP worker %u", i);
            return SIGNET_E_NOMEM;
        }
    }
    pthread_mutex_lock(&ipc->lock);
    ipc->on_eof = on_eof;
    ipc->eof_arg = arg;
    pthread_mutex_unlock(&ipc->lock);
    if (pthread_create(&ipc->reader, NULL, reader_main, ipc) != 0) {
        sg_detail(detail, "cannot start the socketpair reader");
        return SIGNET_E_INTERNAL;
    }
    ipc->reader_started = 1;
    return SIGNET_OK;
}

int net_ipc_ready(struct net_ipc *ipc)
{
    return net_frame_send(ipc->fd, &ipc->wlock, NET_MSG_READY, 0, NULL, 0);
}

/*
 * One call: sends (type, payload) with a fresh id and waits up to ms for the answer of type
 * want, copied into out (cap bytes). 1 = answered; 0 = the ca process is gone, did not answer
 * in time, or answered with something else.
 */
static int call(struct net_ipc *ipc, enum net_msg type, const void *payload, size_t len,
                enum net_msg want, unsigned char *out, size_t cap, size_t *out_len, unsigned ms)
{
    struct waiter w = {0}, **pp;
    struct timespec dl;
    int ok;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L)
        dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    w.want = want, w.buf = out, w.cap = cap;
    pthread_mutex_lock(&ipc->lock);
    if (ipc->eof) {
        pthread_mutex_unlock(&ipc->lock);
        return 0;
    }
    w.id = ++ipc->next_id;
    w.next = ipc->waiters;
    ipc->waiters = &w;
    pthread_mutex_unlock(&ipc->lock);
    ok = net_frame_send(ipc->fd, &ipc->wlock, type, w.id, payload, len);
    pthread_mutex_lock(&ipc->lock);
    while (ok && !w.done && !ipc->eof)
        if (pthread_cond_timedwait(&ipc->cond, &ipc->lock, &dl) == ETIMEDOUT)
            break;
    ok = ok && w.done && w.ok;
    for (pp = &ipc->waiters; *pp != NULL; pp = &(*pp)->next)
        if (*pp == &w) {
            *pp = w.next;
            break;
        }
    pthread_mutex_unlock(&ipc->lock);
    *out_len = w.len;
    return ok;
}

/* Finishes an issuance on its worker's thread: the handler answers, then it is freed. */
static void finish(struct net_ipc *ipc, struct issue *is)
{
    struct net_worker *w = is->w;

    if (is->timer != NULL)
        event_free(is->timer);
    /* a client that left while it waited: evhttp frees the detached request when it is
     * answered, without its completion callback, so the worker's count is taken down here */
    if (evhttp_request_get_connection(is->req) == NULL)
        w->inflight--;
    is->done(w, is->req, is->r, is->resp, (sg_mono_ms() - is->t0) * 1000);
    if (ipc != NULL) {
        pthread_mutex_lock(&ipc->lock);
        ipc->nissues--;
        pthread_mutex_unlock(&ipc->lock);
    }
    free(is->r);
    free(is->resp);
    free(is);
}

/* A worker's done event: finishes what the reader thread handed back. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct wdone *d = arg;
    struct issue *list;

    (void)fd, (void)what;
    pthread_mutex_lock(&d->ipc->lock);
    list = d->head;
    d->head = d->tail = NULL;
    pthread_mutex_unlock(&d->ipc->lock);
    while (list != NULL) {
        struct issue *next = list->next;
        finish(d->ipc, list);
        list = next;
    }
}

/* No answer in time (worker thread): 503, unless the answer was handed back meanwhile. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct issue *is = arg;
    struct net_ipc *ipc = is->w->srv->ipc;
    int mine = 0;

    (void)fd, (void)what;
    pthread_mutex_lock(&ipc->lock);
    if (is->state == ISSUE_WAITING)
        mine = take_waiting(ipc, is->id) != NULL;
    pthread_mutex_unlock(&ipc->lock);
    if (!mine)
        return; /* in the done list: on_done finishes it */
    is->resp->err = SIGNET_E_HSM_UNAVAILABLE;
    sg_detail(is->resp->detail, "the ca process did not answer the issuance request in %d s",
              CALL_ISSUE_MS / 1000);
    finish(ipc, is);
}

/* Answers is at once with err and detail (not sent to the ca process). */
static void finish_now(struct net_ipc *ipc, struct issue *is, enum signet_err err,
                       const char *detail)
{
    is->resp->err = err;
    sg_detail(is->resp->detail, "%s", detail);
    finish(ipc, is);
}

void net_issue_start(struct net_worker *w, struct evhttp_request *req, struct net_issue_req *r,
                     net_issue_done_fn done)
{
    struct net_ipc *ipc = w->srv->ipc;
    struct issue *is = calloc(1, sizeof(*is));
    struct timeval tv = {CALL_ISSUE_MS / 1000, 0};
    unsigned char *buf = NULL;
    size_t n;
    int sent, eof, full, mine = 0;

    if (is == NULL || (is->resp = malloc(sizeof(*is->resp))) == NULL) {
        free(is);
        free(r);
        net_problem(w, req, 500, "internal", "Internal Server Error", "out of memory");
        return;
    }
    memset(is->resp, 0, offsetof(struct net_issue_resp, der));
    is->w = w, is->req = req, is->r = r, is->done = done, is->t0 = sg_mono_ms();
    if (ipc == NULL) { /* in-process: the ca context is here; runs on this thread */
        net_issue_exec(w->srv->ca, r, is->resp);
        finish(NULL, is);
        return;
    }
    pthread_mutex_lock(&ipc->lock);
    eof = ipc->eof;
    full = ipc->nissues >= ISSUES_MAX;
    ipc->nissues++; /* taken down by finish */
    pthread_mutex_unlock(&ipc->lock);
    if (eof || full) {
        finish_now(ipc, is, SIGNET_E_HSM_UNAVAILABLE,
                   eof ? "the ca process is gone" : "too many issuances in flight; retry");
        return;
    }
    if ((buf = malloc(ISSUE_BUF)) == NULL ||
        (is->timer = event_new(w->base, -1, 0, on_timeout, is)) == NULL) {
        free(buf);
        finish_now(ipc, is, SIGNET_E_NOMEM, "out of memory");
        return;
    }
    if ((n = net_issue_req_encode(r, buf, ISSUE_BUF)) == 0) {
        free(buf);
        finish_now(ipc, is, SIGNET_E_USAGE, "malformed issuance request");
        return;
    }
    event_add(is->timer, &tv);
    pthread_mutex_lock(&ipc->lock);
    is->id = ++ipc->next_id;
    is->state = ISSUE_WAITING;
    is->next = ipc->issues;
    ipc->issues = is;
    pthread_mutex_unlock(&ipc->lock);
    sent = net_frame_send(ipc->fd, &ipc->wlock, NET_MSG_ISSUE, is->id, buf, n);
    free(buf);
    if (sent)
        return;
    /* not sent: answer now, unless the reader already handed it back (end of the pair) */
    pthread_mutex_lock(&ipc->lock);
    if (is->state == ISSUE_WAITING)
        mine = take_waiting(ipc, is->id) != NULL;
    pthread_mutex_unlock(&ipc->lock);
    if (mine)
        finish_now(ipc, is, SIGNET_E_HSM_UNAVAILABLE,
                   "the ca process did not take the issuance request");
}

/* A text call (health, metrics) into text (NET_TEXT_MAX + 1 bytes). 1 = answered. */
static int text_call(struct net_ipc *ipc, enum net_msg type, enum net_msg want,
                     enum signet_err *err, char *text)
{
    unsigned char *buf = malloc(NET_TEXT_MAX + 16);
    size_t got = 0;
    int ok;

    if (buf == NULL)
        return 0;
    ok = call(ipc, type, NULL, 0, want, buf, NET_TEXT_MAX + 16, &got, CALL_STATUS_MS) &&
         net_text_decode(buf, got, err, text, NET_TEXT_MAX + 1);
    free(buf);
    return ok;
}

enum signet_err net_ipc_health(struct net_ipc *ipc, char *detail)
{
    char *text = malloc(NET_TEXT_MAX + 1);
    enum signet_err rc = SIGNET_E_HSM_UNAVAILABLE;

    if (text == NULL || !text_call(ipc, NET_MSG_HEALTH, NET_MSG_HEALTH_RESP, &rc, text)) {
        rc = SIGNET_E_HSM_UNAVAILABLE;
        sg_detail(detail, "the ca process does not answer");
    } else if (rc != SIGNET_OK) {
        sg_detail(detail, "%s", text);
    }
    free(text);
    return rc;
}

int net_ipc_metrics(struct net_ipc *ipc, struct evbuffer *buf)
{
    char *text = malloc(NET_TEXT_MAX + 1);
    enum signet_err rc = SIGNET_OK;
    int ok = text != NULL && text_call(ipc, NET_MSG_METRICS, NET_MSG_METRICS_RESP, &rc, text) &&
             rc == SIGNET_OK;

    evbuffer_add_printf(buf,
                        "# HELP signet_ca_process_up 1 when the ca process answered.\n"
                        "# TYPE signet_ca_process_up gauge\nsignet_ca_process_up %d\n",
                        ok);
    if (ok)
        evbuffer_add(buf, text, strlen(text));
    free(text);
    return ok;
}

void net_ipc_free(struct net_ipc *ipc)
{
    if (ipc == NULL)
        return;
    pthread_mutex_lock(&ipc->lock);
    ipc->on_eof = NULL; /* closing on purpose */
    pthread_mutex_unlock(&ipc->lock);
    shutdown(ipc->fd, SHUT_RDWR);
    if (ipc->reader_started)
        pthread_join(ipc->reader, NULL);
    close(ipc->fd);
    /* issuances still here belong to stopped workers: their requests go with the server */
    for (unsigned i = 0; i <= ipc->nwd; i++) {
        struct issue *is = i < ipc->nwd ? ipc->wd[i].head : ipc->issues;
        while (is != NULL) {
            struct issue *next = is->next;
            if (is->timer != NULL)
                event_free(is->timer);
            free(is->r);
            free(is->resp);
            free(is);
            is = next;
        }
        if (i < ipc->nwd && ipc->wd[i].ev != NULL)
            event_free(ipc->wd[i].ev);
    }
    free(ipc->wd);
    net_clients_free(ipc->initial);
    if (ipc->pending != NULL)
        OPENSSL_cleanse(ipc->pending, ipc->cap_pending * sizeof(*ipc->pending));
    free(ipc->pending);
    pthread_cond_destroy(&ipc->cond);
    pthread_mutex_destroy(&ipc->lock);
    pthread_mutex_destroy(&ipc->wlock);
    free(ipc);
}
