/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ca process's end of the socketpair. A reader thread reads the web process's frames and
 * queues its requests; a pool of threads answers them (so the store's group commit sees
 * concurrent writes), each answer carrying its request's id. Nothing from the web side is
 * trusted: every frame is decoded with bounds, and an issuance is checked again here — the
 * requester must be a client of signet.conf whose profiles list holds the profile and whom the
 * profile's clients rule allows — before ca_issue evaluates the profile itself.
 */
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define QUEUE_MAX 4096 /* requests read and not yet answered; more is a misbehaving peer */

struct net_ca {
    struct ca_ctx *ctx;
    char *conf_path;
    pthread_rwlock_t lock; /* guards clients */
    struct net_clients *clients;
};

struct job {
    struct job *next;
    enum net_msg type;
    uint32_t id;
    size_t len;
    unsigned char payload[];
};

struct net_ca_conn {
    struct net_ca *ca;
    int fd;
    pthread_mutex_t wlock;
    pthread_mutex_t lock; /* queue, closing */
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued;
    int closing;
    pthread_t reader;
    int reader_started;
    pthread_t *workers;
    unsigned nworkers;
    void (*on_ready)(void *);
    void *ready_arg;
};

enum signet_err net_ca_new(struct ca_ctx *ctx, const char *conf_path, struct net_ca **out,
                           char *detail)
{
    struct net_ca *ca = calloc(1, sizeof(*ca));
    enum signet_err rc;

    *out = NULL;
    if (ca == NULL || (ca->conf_path = strdup(conf_path)) == NULL) {
        free(ca);
        sg_detail(detail, "out of memory");
        return SIGNET_E_NOMEM;
    }
    ca->ctx = ctx;
    pthread_rwlock_init(&ca->lock, NULL);
    if ((rc = net_clients_load(ca_ctx_conf(ctx), &ca->clients, detail)) != SIGNET_OK) {
        net_ca_free(ca);
        return rc;
    }
    *out = ca;
    return SIGNET_OK;
}

enum signet_err net_ca_reload_clients(struct net_ca *ca, char *detail)
{
    struct sg_conf *conf = NULL;
    struct net_clients *fresh = NULL, *old;
    enum signet_err rc;

    if ((rc = sg_conf_load(ca->conf_path, &conf, detail)) != SIGNET_OK ||
        (rc = net_clients_load(conf, &fresh, detail)) != SIGNET_OK)
        goto out;
    pthread_rwlock_wrlock(&ca->lock);
    old = ca->clients;
    ca->clients = fresh;
    pthread_rwlock_unlock(&ca->lock);
    sg_log(SG_LOG_INFO, "reload: %zu client(s) in force", fresh->n);
    net_clients_free(old);
out:
    sg_conf_free(conf);
    return rc;
}

void net_ca_free(struct net_ca *ca)
{
    if (ca == NULL)
        return;
    net_clients_free(ca->clients);
    pthread_rwlock_destroy(&ca->lock);
    free(ca->conf_path);
    free(ca);
}

/* 1 when list holds name. */
static int has(char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* 1 when requester ("client:NAME") is a client that may use profile now. */
static int client_may(struct net_ca *ca, const char *requester, const char *profile)
{
    int ok = 0;

    if (strncmp(requester, "client:", 7) != 0)
        return 0;
    pthread_rwlock_rdlock(&ca->lock);
    for (size_t i = 0; i < ca->clients->n && !ok; i++)
        if (strcmp(ca->clients->v[i].name, requester + 7) == 0)
            ok = has(ca->clients->v[i].profiles, profile) &&
                 ca_profile_allows_client(ca->ctx, profile, requester + 7);
    pthread_rwlock_unlock(&ca->lock);
    return ok;
}

struct may_arg {
    struct net_ca *ca;
    const char *requester;
};

/* ca_revoke's rights check: the client may use the certificate's profile now. */
static int may_revoke(const char *profile, void *arg)
{
    const struct may_arg *ma = arg;

    return client_may(ma->ca, ma->requester, profile);
}

/* ISSUE: decode, check the client again, issue (or revoke), answer. */
static void do_issue(struct net_ca_conn *c, const struct job *j)
{
    struct net_issue_req *req = malloc(sizeof(*req));
    struct net_issue_resp *resp = calloc(1, sizeof(*resp));
    unsigned char *out = malloc(sizeof(*resp) + 64); /* an encoded answer fits */
    size_t n;

    if (req == NULL || resp == NULL || out == NULL)
        goto out;
    if (!net_issue_req_decode(j->payload, j->len, req)) {
        resp->err = SIGNET_E_USAGE;
        sg_detail(resp->detail, "malformed issuance request");
    } else if (req->op == NET_OP_OCSP_LIVE) {
        net_issue_exec(c->ca->ctx, req, resp); /* public: no client, rate-limited per CA */
    } else if (req->op == NET_OP_REVOKE) {
        struct may_arg ma = {c->ca, req->requester};
        net_revoke_exec(c->ca->ctx, req, may_revoke, &ma, resp);
    } else if (!client_may(c->ca, req->requester, req->profile)) {
        resp->err = SIGNET_E_POLICY;
        resp->forbidden = 1;
        sg_detail(resp->detail, "%s may not use profile %s", req->requester, req->profile);
        sg_log(SG_LOG_WARN, "ca: refused %s: not allowed profile %s", req->requester, req->profile);
    } else {
        net_issue_exec(c->ca->ctx, req, resp);
    }
    if ((n = net_issue_resp_encode(resp, out, sizeof(*resp) + 64)) > 0)
        net_frame_send(c->fd, &c->wlock, NET_MSG_ISSUE_RESP, j->id, out, n);
out:
    free(req);
    free(resp);
    free(out);
}

/* HEALTH and METRICS: a text answer. */
static void do_text(struct net_ca_conn *c, const struct job *j)
{
    char detail[SIGNET_DETAIL_MAX] = "";
    struct evbuffer *eb = NULL;
    unsigned char *out = malloc(NET_TEXT_MAX + 16);
    enum signet_err rc = SIGNET_OK;
    const char *text = detail;
    size_t n;

    if (out == NULL)
        return;
    if (j->type == NET_MSG_HEALTH) {
        if ((rc = ca_health(c->ca->ctx, detail)) == SIGNET_OK)
            rc = ca_ocsp_health(c->ca->ctx, detail); /* a refresher that fell behind */
    } else if ((eb = evbuffer_new()) != NULL) {
        net_metrics_render_ca(c->ca->ctx, eb);
        if (evbuffer_get_length(eb) > NET_TEXT_MAX || evbuffer_add(eb, "", 1) != 0)
            rc = SIGNET_E_INTERNAL;
        else
            text = (const char *)evbuffer_pullup(eb, -1);
    } else {
        rc = SIGNET_E_NOMEM;
    }
    if ((n = net_text_encode(rc, text, out, NET_TEXT_MAX + 16)) > 0)
        net_frame_send(c->fd, &c->wlock,
                       j->type == NET_MSG_HEALTH ? NET_MSG_HEALTH_RESP : NET_MSG_METRICS_RESP,
                       j->id, out, n);
    if (eb != NULL)
        evbuffer_free(eb);
    free(out);
}

static void *worker_main(void *arg)
{
    struct net_ca_conn *c = arg;

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&c->lock);
        while (c->head == NULL && !c->closing)
            pthread_cond_wait(&c->cond, &c->lock);
        if ((j = c->head) == NULL) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        if ((c->head = j->next) == NULL)
            c->tail = NULL;
        c->queued--;
        pthread_mutex_unlock(&c->lock);
        if (j->type == NET_MSG_ISSUE)
            do_issue(c, j);
        else
            do_text(c, j);
        free(j);
    }
}

/* Queues one request. 0 when the queue is full or memory is short. */
static int enqueue(struct net_ca_conn *c, enum net_msg type, uint32_t id, const unsigned char *p,
                   size_t len)
{
    struct job *j = malloc(sizeof(*j) + len);

    if (j == NULL)
        return 0;
    j->next = NULL, j->type = type, j->id = id, j->len = len;
    memcpy(j->payload, p, len);
    pthread_mutex_lock(&c->lock);
    if (c->queued >= QUEUE_MAX) {
        pthread_mutex_unlock(&c->lock);
        free(j);
        return 0;
    }
    if (c->tail != NULL)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    c->queued++;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return 1;
}

static void *reader_main(void *arg)
{
    struct net_ca_conn *c = arg;
    unsigned char *buf = malloc(NET_FRAME_PAYLOAD);
    enum net_msg type;
    uint32_t id;
    size_t len;

    while (buf != NULL && net_frame_recv(c->fd, &type, &id, buf, &len)) {
        if (type == NET_MSG_READY && len == 0) {
            if (c->on_ready != NULL)
                c->on_ready(c->ready_arg);
        } else if (type == NET_MSG_ISSUE ||
                   ((type == NET_MSG_HEALTH || type == NET_MSG_METRICS) && len == 0)) {
            if (!enqueue(c, type, id, buf, len)) {
                sg_log(SG_LOG_ERR, "ca: the web process has %d requests waiting; closing its pair",
                       QUEUE_MAX);
                break;
            }
        } else {
            sg_log(SG_LOG_ERR,
                   "ca: unexpected message type %d from the web process; closing its "
                   "pair",
                   (int)type);
            break;
        }
    }
    free(buf);
    pthread_mutex_lock(&c->lock);
    c->closing = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int net_ca_conn_push_clients(struct net_ca_conn *c)
{
    struct net_client_msg *m = malloc(sizeof(*m));
    unsigned char *out = malloc(NET_FRAME_PAYLOAD);
    struct net_ca *ca = c->ca;
    uint32_t sent = 0;
    int ok = m != NULL && out != NULL;

    pthread_rwlock_rdlock(&ca->lock);
    for (size_t i = 0; ok && i < ca->clients->n; i++) {
        const struct net_client *cl = &ca->clients->v[i];
        size_t off = 0, n;
        memset(m, 0, sizeof(*m));
        memcpy(m->name, cl->name, sizeof(m->name));
        memcpy(m->hash, cl->hash, sizeof(m->hash));
        memcpy(m->spki, cl->spki, sizeof(m->spki));
        m->has_spki = cl->has_spki ? 1 : 0;
        /* only what the profile's clients rule allows now: the web side checks the list alone */
        for (size_t k = 0; cl->profiles[k] != NULL; k++) {
            size_t l = strlen(cl->profiles[k]);
            if (!ca_profile_allows_client(ca->ctx, cl->profiles[k], cl->name) ||
                off + l + 2 > sizeof(m->profiles))
                continue;
            if (off > 0)
                m->profiles[off++] = ',';
            memcpy(m->profiles + off, cl->profiles[k], l + 1);
            off += l;
        }
        ok = (n = net_client_msg_encode(m, out, NET_FRAME_PAYLOAD)) > 0 &&
             net_frame_send(c->fd, &c->wlock, NET_MSG_CLIENT, 0, out, n);
        sent++;
    }
    pthread_rwlock_unlock(&ca->lock);
    ok = ok && net_frame_send(c->fd, &c->wlock, NET_MSG_CLIENTS_END, sent, NULL, 0);
    if (m != NULL)
        OPENSSL_cleanse(m, sizeof(*m));
    free(m);
    free(out);
    return ok;
}

enum signet_err net_ca_conn_start(struct net_ca *ca, int fd, unsigned nthreads,
                                  void (*on_ready)(void *), void *arg, struct net_ca_conn **out,
                                  char *detail)
{
    struct net_ca_conn *c = calloc(1, sizeof(*c));
    sigset_t all, old;
    enum signet_err rc = SIGNET_E_INTERNAL;

    *out = NULL;
    if (c == NULL || (c->workers = calloc(nthreads ? nthreads : 1, sizeof(pthread_t))) == NULL) {
        free(c);
        close(fd);
        sg_detail(detail, "out of memory");
        return SIGNET_E_NOMEM;
    }
    c->ca = ca, c->fd = fd, c->on_ready = on_ready, c->ready_arg = arg;
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (!net_frame_send(fd, &c->wlock, NET_MSG_HELLO, 0, NULL, 0) || !net_ca_conn_push_clients(c)) {
        sg_detail(detail, "the web process closed the socketpair");
        rc = SIGNET_E_IO;
        goto out;
    }
    /* the threads never take signals: the main thread handles them */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < (nthreads ? nthreads : 1); i++, c->nworkers++)
        if (pthread_create(&c->workers[i], NULL, worker_main, c) != 0)
            break;
    if (c->nworkers > 0 && pthread_create(&c->reader, NULL, reader_main, c) == 0)
        c->reader_started = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!c->reader_started) {
        sg_detail(detail, "cannot start the ca process's threads");
        goto out;
    }
    *out = c;
    c = NULL;
    rc = SIGNET_OK;
out:
    net_ca_conn_stop(c);
    return rc;
}

int net_ca_conn_alive(struct net_ca_conn *c)
{
    int alive;

    pthread_mutex_lock(&c->lock);
    alive = !c->closing;
    pthread_mutex_unlock(&c->lock);
    return alive;
}

void net_ca_conn_stop(struct net_ca_conn *c)
{
    if (c == NULL)
        return;
    shutdown(c->fd, SHUT_RD); /* the reader ends; answers to requests already read still go out */
    if (c->reader_started)
        pthread_join(c->reader, NULL);
    pthread_mutex_lock(&c->lock);
    c->closing = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    for (struct job *j = c->head, *next; j != NULL; j = next) {
        next = j->next;
        free(j);
    }
    close(c->fd);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->wlock);
    free(c->workers);
    free(c);
}
