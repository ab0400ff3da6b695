/* SPDX-License-Identifier: Apache-2.0 */
/* net's private structures: workers, clients, metrics. */
#ifndef SIGNET_NET_INTERNAL_H
#define SIGNET_NET_INTERNAL_H

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdatomic.h>

#include "net.h"

#define NET_TOKEN_MAX    512 /* bytes of a bearer token */
#define NET_PROFILES_MAX 64  /* profiles counted separately in metrics; the rest are "other" */
#define NET_LAT_BUCKETS  12

/* ---- clients (auth.c) ---- */

struct net_client {
    char name[CA_NAME_MAX]; /* NAME of [client.NAME] */
    unsigned char hash[32]; /* SHA-256 of its bearer token */
    char **profiles;        /* NULL-terminated */
    unsigned char spki[32]; /* SHA-256 of its TLS client certificate's DER SPKI (auth.c) */
    int has_spki;           /* spki is set ([client.NAME] spki_sha256) */
};

struct net_clients {
    struct net_client *v;
    size_t n;
};

/* Reads [client.*] as net_server_new describes. *out owned by the caller. */
enum signet_err net_clients_load(const struct sg_conf *conf, struct net_clients **out,
                                 char *detail);
void net_clients_free(struct net_clients *c);

enum net_auth {
    NET_AUTH_OK,
    NET_AUTH_NONE,      /* no credential, or not a bearer token: 401 */
    NET_AUTH_BAD,       /* a credential no client holds: 401 */
    NET_AUTH_FORBIDDEN, /* the client may not use the profile: 403 */
};

/* ---- metrics (metrics.c) ---- */

enum net_outcome {
    NET_OUT_ISSUED,
    NET_OUT_BADCSR,
    NET_OUT_BADKEY,
    NET_OUT_POLICY,
    NET_OUT_UNAVAILABLE,
    NET_OUT_ERROR,
    NET_OUT_QUEUED, /* waits for an operator's approval */
    NET_OUT_MAX
};

struct net_metrics {
    size_t nprof; /* named profiles; index nprof is "other" */
    char prof[NET_PROFILES_MAX + 1][CA_NAME_MAX];
    _Atomic uint64_t issued[NET_PROFILES_MAX + 1][NET_OUT_MAX];
    _Atomic uint64_t lat[NET_PROFILES_MAX + 1][NET_LAT_BUCKETS]; /* cumulative at render */
    _Atomic uint64_t lat_us[NET_PROFILES_MAX + 1];
    _Atomic uint64_t http[6]; /* responses by class: index 1..5 = 1xx..5xx */
    _Atomic int64_t conns;    /* open connections */
    _Atomic uint64_t conns_total;
};

void net_metrics_init(struct net_metrics *m, const struct policy_set *set);
void net_metrics_issue(struct net_metrics *m, const char *profile, enum net_outcome o,
                       uint64_t usec);
/* Renders the Prometheus text exposition into buf. */
void net_metrics_render(struct net_metrics *m, struct ca_ctx *ca, struct evbuffer *buf);

/* Renders the ca side's figures: HSM tokens (breaker state, counters) and store commits. */
void net_metrics_render_ca(struct ca_ctx *ca, struct evbuffer *buf);
/* Renders the web side's own figures (issuance, HTTP, connections). */
void net_metrics_render_web(struct net_metrics *m, struct evbuffer *buf);

/* ---- frames over the socketpair (ipc.c) ---- */

/* Sends one frame (header and payload) under wlock, whole or not at all. 1 = sent. */
int net_frame_send(int fd, pthread_mutex_t *wlock, enum net_msg type, uint32_t id,
                   const void *payload, size_t len);
/*
 * Reads one frame into buf (NET_FRAME_PAYLOAD bytes). 1 = a frame; 0 = end of stream, a read
 * error or a malformed header (the stream cannot be trusted after that).
 */
int net_frame_recv(int fd, enum net_msg *type, uint32_t *id, unsigned char *buf, size_t *len);

/* A client set from the ca process's CLIENT messages (profiles already filtered by rules). */
enum signet_err net_clients_from_msgs(const struct net_client_msg *m, size_t n,
                                      struct net_clients **out);

/* ---- server ---- */

struct net_worker {
    struct net_server *srv;
    pthread_t thread;
    int started;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *stop_ev;  /* activated by net_server_stop from the main thread */
    struct event *drain_ev; /* polls in-flight requests while stopping */
    long inflight;          /* requests answered whose reply is not yet flushed */
    long conns;             /* open connections of this worker */
    long conn_cap;          /* this worker's share of max_conns */
    int paused;             /* accepting paused at the cap */
    int stopping;
    uint64_t deadline_ms; /* stop waiting for replies to flush */
    uint64_t grace_ms;    /* stop waiting for connections without a request */
    /* open connections with their timers (server.c) */
    struct net_conn *conn_list;
};

struct net_server {
    struct ca_ctx *ca;
    char *conf_path;
    unsigned nworkers, max_conns, timeout_s;
    evutil_socket_t fd; /* the listening socket, bound once */
    struct net_worker *w;
    pthread_rwlock_t lock; /* guards clients */
    struct net_clients *clients;
    struct net_metrics metrics;
    struct net_ipc *ipc; /* NULL: issuance, health and ca metrics run in this process */
    /*
     * TLS and timeouts (server.c, tls.c): the SSL_CTX (NULL for plain HTTP); a request's whole
     * arrival and a quiet keep-alive connection; the conf's clients at start (for their SPKI
     * hashes); the connection of each socket fd (nbyfd entries).
     */
    struct ssl_ctx_st *tls;
    unsigned read_timeout_s, idle_timeout_s;
    struct net_conn *_Atomic *byfd;
    size_t nbyfd;
};

/*
 * How a started issuance ends: called on the worker's thread with the request (possibly already
 * detached from a connection that closed: answering it frees it), what was asked and the
 * answer; usec is the time since the start. It must answer req. r and resp are freed after.
 */
typedef void (*net_issue_done_fn)(struct net_worker *w, struct evhttp_request *req,
                                  const struct net_issue_req *r, const struct net_issue_resp *resp,
                                  uint64_t usec);
/*
 * Starts an issuance of r (taken over: freed by the call) for req on worker w. Through the ca
 * process when srv->ipc is set: returns at once and done runs later on w's thread (503
 * hsmUnavailable answers when the ca process is gone, too busy or silent for 60 s). Without
 * ipc, net_issue_exec runs on srv->ca and done runs before this returns.
 */
void net_issue_start(struct net_worker *w, struct evhttp_request *req, struct net_issue_req *r,
                     net_issue_done_fn done);
/* The ca process's health (err and detail). */
enum signet_err net_ipc_health(struct net_ipc *ipc, char *detail);
/* Appends the ca process's metrics text; 0 when it does not answer. */
int net_ipc_metrics(struct net_ipc *ipc, struct evbuffer *buf);

/* The request router, installed as each worker's generic callback (routes.c). */
void net_route(struct evhttp_request *req, void *arg);
/* Counts the response class, adds "Connection: close" while stopping, and sends. */
void net_send(struct net_worker *w, struct evhttp_request *req, int status, const char *reason,
              struct evbuffer *body);
/* An RFC 7807 problem: {"type": "urn:signet:error:CODE", "title", "status", "detail"}. */
void net_problem(struct net_worker *w, struct evhttp_request *req, int status, const char *code,
                 const char *title, const char *detail);
/* 405 with an Allow header. */
void net_method_not_allowed(struct net_worker *w, struct evhttp_request *req, const char *allow);
/* 1 when the request's method is one of allowed (EVHTTP_REQ_* bits). */
int net_method_is(struct evhttp_request *req, int allowed);
/* 1 when name (len bytes) is a plain CA or profile name. */
int net_name_ok(const char *name, size_t len);
/* POST /v1/certificates and GET /v1/certificates/{serial} (enroll.c). */
void net_h_enroll(struct net_worker *w, struct evhttp_request *req);
void net_h_status(struct net_worker *w, struct evhttp_request *req, const char *rest);
/* POST /v1/certificates/{serial}/revoke; serial is the n hex digits of the path (revoke.c). */
void net_h_revoke(struct net_worker *w, struct evhttp_request *req, const char *serial, size_t n);
/* GET /crl/{name}.crl and the delta and shard URLs; rest follows "/crl/" (crlserve.c). */
void net_h_crl(struct net_worker *w, struct evhttp_request *req, const char *rest);
/* POST /ocsp and GET /ocsp/{base64}; rest is "" or "/..." after "/ocsp" (ocsp.c). */
void net_h_ocsp(struct net_worker *w, struct evhttp_request *req, const char *rest);
/* The web side's OCSP answer counters, in Prometheus text (ocsp.c). */
void net_ocsp_render(struct evbuffer *buf);

/*
 * Checks the request's credential and, when profile is not NULL, that the client may use it.
 * who receives "client:NAME" on success.
 */
enum net_auth net_authorize(struct net_server *srv, struct evhttp_request *req, const char *profile,
                            char *who, size_t who_cap);

/* ---- TLS (tls.c) ---- */

struct bufferevent;
/*
 * The listener's TLS context from [daemon] tls_cert (PEM chain), tls_key (PEM private key,
 * checked as a credential file: not readable by group or others) and tls_client_ca (optional).
 * *out is NULL when none of them is set (plain HTTP). Errors: SIGNET_E_CONFIG with the key and
 * file named.
 */
enum signet_err net_tls_ctx_new(const struct sg_conf *conf, struct ssl_ctx_st **out, char *detail);
void net_tls_ctx_free(struct ssl_ctx_st *ctx);
/* A server-side TLS bufferevent (fd set later by evhttp), or NULL. */
struct bufferevent *net_tls_bev_new(struct ssl_ctx_st *ctx, struct event_base *base);
/* SHA-256 of the request's TLS client certificate's DER SPKI. 1 = a TLS peer certificate. */
int net_tls_peer_spki(struct evhttp_request *req, unsigned char out[32]);

/* ---- approval queue (requests.c) ---- */

/* GET /v1/requests/{id}: a queued request's status for the client that submitted it. */
void net_h_request(struct net_worker *w, struct evhttp_request *req, const char *rest);

#endif
