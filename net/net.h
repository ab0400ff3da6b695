/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net: signetd's HTTP/1.1 front end on libevent: routing, limits, bearer-token authentication,
 * problem+json errors (RFC 7807), metrics (Prometheus text), and a small bounded JSON reader.
 * The API is described in docs/api.md.
 *
 * Issuance crosses one boundary: a handler turns a request into a plain, fixed-size
 * struct net_issue_req (no pointers), and net_issue_exec turns it into a struct net_issue_resp.
 * Today both sides run in one process; the process split of DESIGN.md moves net_issue_exec into
 * the ca process and sends the structures (net_issue_req_encode / _decode) over a socketpair.
 */
#ifndef SIGNET_NET_H
#define SIGNET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "ca.h"
#include "common.h"

/* ---- JSON reader (RFC 8259), bounded ---- */

enum net_json_type {
    NET_JSON_NULL,
    NET_JSON_FALSE,
    NET_JSON_TRUE,
    NET_JSON_NUMBER,
    NET_JSON_STRING,
    NET_JSON_ARRAY,
    NET_JSON_OBJECT,
    NET_JSON_TYPE_MAX
};

struct net_json_limits {
    size_t max_depth;  /* nesting of arrays and objects; 1 = a flat object */
    size_t max_string; /* bytes of one decoded string (or number) */
    size_t max_keys;   /* members of one object or elements of one array */
    size_t max_nodes;  /* values in the whole document */
};

struct net_json;

/*
 * Parses one JSON text of len bytes (no BOM; whitespace around it allowed). Refuses, with the
 * byte offset in detail: invalid UTF-8 (overlong forms, surrogates, above U+10FFFF), raw control
 * characters in strings, \u0000 (strings are handed on as C strings), unpaired surrogate
 * escapes, duplicate keys in one object, trailing bytes, and anything over the limits.
 * Parser convention: 1 = ok (*out owned by the caller), 0 = refused.
 */
int net_json_parse(const char *in, size_t len, const struct net_json_limits *lim,
                   struct net_json **out, char *detail);
void net_json_free(struct net_json *v);
enum net_json_type net_json_type(const struct net_json *v);
/* The member key of an object, or NULL. Borrowed. */
const struct net_json *net_json_get(const struct net_json *obj, const char *key);
/* A string's decoded UTF-8 bytes (NUL-terminated), or NULL when v is not a string. Borrowed. */
const char *net_json_string(const struct net_json *v, size_t *out_len);
/* A number's text as written, or NULL. Borrowed. */
const char *net_json_number_text(const struct net_json *v);
/* Members of an object or elements of an array (0 for scalars). */
size_t net_json_count(const struct net_json *v);
/* The i-th element or member value, and the i-th member's key (NULL for arrays). Borrowed. */
const struct net_json *net_json_at(const struct net_json *v, size_t i);
const char *net_json_key_at(const struct net_json *v, size_t i);

/*
 * Quotes s (len bytes) as a JSON string with its double quotes: '"', '\\' and control
 * characters escaped, DEL and U+2028/2029 escaped, invalid UTF-8 replaced by U+FFFD so the
 * output is always valid JSON. Caller frees; NULL on ENOMEM.
 */
char *net_json_quote(const char *s, size_t len);

/* ---- the issuance boundary ---- */

#define NET_REQUESTER_MAX 128
#define NET_CERT_MAX      (32u * 1024u) /* bytes of an issued certificate's DER */

/* One issuance request: plain data, no pointers, serialisable as is. */
enum net_op {
    NET_OP_ISSUE = 0,     /* csr under profile */
    NET_OP_REVOKE = 1,    /* serial with reason (and invalidity date); ca "" = wherever it is */
    NET_OP_OCSP_LIVE = 2, /* csr holds an OCSP request with a nonce; der gets the response */
};

struct net_issue_req {
    char ca[CA_NAME_MAX];                  /* "" = the first CA that lists the profile */
    char profile[CA_NAME_MAX];             /* profile name (issue) */
    char requester[NET_REQUESTER_MAX];     /* "client:NAME", recorded and audited */
    uint32_t op;                           /* enum net_op */
    char serial[2 * STORE_SERIAL_MAX + 1]; /* revoke: hex serial */
    int32_t reason;                        /* revoke: RFC 5280 CRLReason */
    int64_t invalidity_date;               /* revoke: 0 = none */
    uint32_t csr_len;                      /* bytes used in csr */
    unsigned char csr[CA_CSR_MAX];         /* PEM or DER */
};

/* Its answer. On success err is SIGNET_OK and ca, serial, not_after and der are set. */
struct net_issue_resp {
    enum signet_err err;
    char detail[SIGNET_DETAIL_MAX];        /* why, when err is not SIGNET_OK */
    char ca[CA_NAME_MAX];                  /* the CA that issued */
    char serial[2 * STORE_SERIAL_MAX + 1]; /* lowercase hex */
    int64_t not_after; /* issue: the certificate's notAfter; revoke: the revocation time */
    int forbidden;     /* the ca process refused the client this profile: 403, not 400 */
    uint32_t der_len;
    unsigned char der[NET_CERT_MAX];
};

/*
 * Runs one issuance on ctx: resolves the CA when req->ca is empty (the first CA in name order
 * whose profiles list holds req->profile), then ca_issue. Always fills *resp. Thread-safe.
 * Returns resp->err.
 */
enum signet_err net_issue_exec(struct ca_ctx *ctx, const struct net_issue_req *req,
                               struct net_issue_resp *resp);
/*
 * Runs one revocation (req->op NET_OP_REVOKE) on ctx: ca_revoke of req->serial with its reason,
 * the certificate's profile checked with may (NULL: not checked here). Always fills *resp:
 * ca and serial of the revoked record, not_after = the revocation time. Returns resp->err.
 */
enum signet_err net_revoke_exec(struct ca_ctx *ctx, const struct net_issue_req *req,
                                int (*may)(const char *profile, void *arg), void *may_arg,
                                struct net_issue_resp *resp);

/*
 * Byte encodings for the process boundary (length-checked, little-endian counts). encode writes
 * at most cap bytes and returns the length used (0 when cap is too small); decode returns 1 = ok,
 * 0 = malformed (truncated, unterminated strings, oversized lengths).
 */
size_t net_issue_req_encode(const struct net_issue_req *req, unsigned char *out, size_t cap);
int net_issue_req_decode(const unsigned char *in, size_t len, struct net_issue_req *out);

/* ---- the process split: framed messages over the socketpair (docs/architecture.md) ---- */

#define NET_FRAME_MAX        (128u * 1024u) /* bytes after the length field: type, id, payload */
#define NET_FRAME_HDR        9              /* u32 BE length, u8 type, u32 BE request id */
#define NET_FRAME_PAYLOAD    (NET_FRAME_MAX - 5u)
#define NET_TEXT_MAX         (64u * 1024u) /* a health detail or the ca process's metrics text */
#define NET_PROFILE_LIST_MAX 4096          /* a client's profiles, comma-separated */

enum net_msg {
    NET_MSG_HELLO = 1,    /* ca -> web: the ca context is open; clients follow */
    NET_MSG_CLIENT,       /* ca -> web: one client (net_client_msg) */
    NET_MSG_CLIENTS_END,  /* ca -> web: the clients sent since the last END are now in force */
    NET_MSG_READY,        /* web -> ca: listening (the ca process tells the service manager) */
    NET_MSG_ISSUE,        /* web -> ca: net_issue_req */
    NET_MSG_ISSUE_RESP,   /* ca -> web: net_issue_resp */
    NET_MSG_HEALTH,       /* web -> ca: empty */
    NET_MSG_HEALTH_RESP,  /* ca -> web: text (err, detail) */
    NET_MSG_METRICS,      /* web -> ca: empty */
    NET_MSG_METRICS_RESP, /* ca -> web: text (Prometheus lines of the ca process) */
    NET_MSG_MAX
};

/*
 * A frame's header for a payload of payload_len bytes (at most NET_FRAME_PAYLOAD): the length of
 * what follows the length field (u32 big-endian), the type (u8) and the request id (u32 BE).
 */
void net_frame_header(unsigned char out[NET_FRAME_HDR], enum net_msg type, uint32_t id,
                      size_t payload_len);
/*
 * Parses a frame header. 1 = ok; 0 = a length below 5 or above NET_FRAME_MAX, or an unknown type.
 */
int net_frame_parse_header(const unsigned char in[NET_FRAME_HDR], enum net_msg *type, uint32_t *id,
                           size_t *payload_len);

/* The issuance answer's encoding (same conventions as net_issue_req_encode / _decode). */
size_t net_issue_resp_encode(const struct net_issue_resp *resp, unsigned char *out, size_t cap);
int net_issue_resp_decode(const unsigned char *in, size_t len, struct net_issue_resp *out);

/*
 * A text answer (health, metrics): an error code and up to NET_TEXT_MAX bytes of text without
 * NUL. decode writes a NUL-terminated copy into text (cap bytes, at least NET_TEXT_MAX + 1 for
 * every valid message).
 */
size_t net_text_encode(enum signet_err err, const char *text, unsigned char *out, size_t cap);
int net_text_decode(const unsigned char *in, size_t len, enum signet_err *err, char *text,
                    size_t cap);

/* A client as the ca process hands it to the web process: only the profiles it may use now. */
struct net_client_msg {
    char name[CA_NAME_MAX];
    unsigned char hash[32];              /* SHA-256 of its bearer token */
    char profiles[NET_PROFILE_LIST_MAX]; /* comma-separated, each allowed by its rule too */
    /* SHA-256 of its TLS client certificate's DER SPKI, when has_spki (tls) */
    unsigned char spki[32];
    uint8_t has_spki;
};
size_t net_client_msg_encode(const struct net_client_msg *m, unsigned char *out, size_t cap);
int net_client_msg_decode(const unsigned char *in, size_t len, struct net_client_msg *out);

/* ---- the server ---- */

#define NET_BODY_MAX    (64u * 1024u) /* request body bytes; more is 413 */
#define NET_HEADERS_MAX (8u * 1024u)  /* request header bytes; more is 431 */
#define NET_WORKERS_MAX 64
#define NET_CONNS_MAX   100000

struct net_options {
    const char *listen;    /* "ADDR:PORT" or "[V6]:PORT" */
    unsigned workers;      /* event loops accepting on the one listening socket; 0 = 4 */
    unsigned max_conns;    /* open connections across workers; 0 = 1024 */
    unsigned timeout_s;    /* read, write and idle timeout; 0 = 10 */
    const char *conf_path; /* signet.conf, re-read by net_server_reload for [client.*] */
    /* 0 = [daemon] read_timeout (else timeout_s) and idle_timeout (else 60) of the ca context's
     * conf; TLS always comes from its [daemon] tls_cert / tls_key / tls_client_ca */
    /* a request's headers and body must arrive within read_timeout_s (else 408); a keep-alive
     * connection without a request is closed after idle_timeout_s */
    unsigned read_timeout_s;
    unsigned idle_timeout_s;
};

struct net_server;

/*
 * Reads the clients of signet.conf ([daemon] clients = client.A, client.B, or every
 * [client.NAME] when that key is absent; each with token_sha256 and profiles), binds the
 * listening socket once and prepares the workers. Errors: SIGNET_E_CONFIG (a client without a
 * 64-hex token_sha256 or without profiles, a bad listen address), SIGNET_E_IO (cannot bind).
 * ctx is borrowed and must outlive the server.
 */
enum signet_err net_server_new(struct ca_ctx *ctx, const struct net_options *opts,
                               struct net_server **out, char *detail);
/* Starts the worker threads. SIGNET_E_INTERNAL when a thread cannot start. */
enum signet_err net_server_start(struct net_server *srv, char *detail);
/*
 * Stops accepting, lets each worker finish the requests it has (replies flushed, at most a few
 * seconds), and returns when every worker has stopped. Call from the main thread.
 */
void net_server_stop(struct net_server *srv);
/*
 * Re-reads the clients from signet.conf; on any error the clients in force stay in force and
 * the reason is in detail. Thread-safe against requests.
 */
enum signet_err net_server_reload(struct net_server *srv, char *detail);
/* Frees a stopped (or never started) server. NULL-safe. */
void net_server_free(struct net_server *srv);

/* ---- the process split: the web process's end (ipc.c) ---- */

struct net_ipc;

/*
 * Takes fd (one end of the socketpair; owned from here on) and waits for the ca process's
 * HELLO and first client set. Errors: SIGNET_E_IO (the ca process closed the pair: it could not
 * start), SIGNET_E_INVALID (a malformed message).
 */
enum signet_err net_ipc_open(int fd, struct net_ipc **out, char *detail);
/*
 * Hands the server to ipc: issuance, /healthz and the ca part of /metrics go to the ca process,
 * the clients are the ones it sends (also on its reloads), and a reader thread starts. on_eof
 * runs (on that thread) when the ca process goes away.
 */
enum signet_err net_server_attach_ipc(struct net_server *srv, struct net_ipc *ipc,
                                      void (*on_eof)(void *), void *arg, char *detail);
/* Tells the ca process that the server listens. 1 = sent. */
int net_ipc_ready(struct net_ipc *ipc);
/* Closes the pair, fails calls in flight, joins the reader. NULL-safe. */
void net_ipc_free(struct net_ipc *ipc);

/* ---- the process split: the ca process's end (ipc_ca.c) ---- */

struct net_ca;
struct net_ca_conn;

/* The ca side's state that outlives web processes: ctx (borrowed) and the clients. */
enum signet_err net_ca_new(struct ca_ctx *ctx, const char *conf_path, struct net_ca **out,
                           char *detail);
/* Re-reads the clients of signet.conf; on error the clients in force stay (detail says why). */
enum signet_err net_ca_reload_clients(struct net_ca *ca, char *detail);
void net_ca_free(struct net_ca *ca);
/*
 * Serves one web process on fd (owned from here on): sends HELLO and the clients, then answers
 * its requests on nthreads threads, each request checked again (the client may use the profile)
 * before ca_issue. on_ready runs on the reader thread when the web process says READY.
 */
enum signet_err net_ca_conn_start(struct net_ca *ca, int fd, unsigned nthreads,
                                  void (*on_ready)(void *), void *arg, struct net_ca_conn **out,
                                  char *detail);
/* Sends the clients in force (after a reload). 1 = sent. */
int net_ca_conn_push_clients(struct net_ca_conn *c);
/* 1 while the web process's end is open. */
int net_ca_conn_alive(struct net_ca_conn *c);
/* Closes the pair, finishes the requests already read, joins the threads, frees. NULL-safe. */
void net_ca_conn_stop(struct net_ca_conn *c);

/*
 * sd_notify(3) without libsystemd: sends state ("READY=1", "STOPPING=1") as one datagram to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). 1 = sent, 0 = not under a service
 * manager or the send failed.
 */
int net_sd_notify(const char *state);

#endif
