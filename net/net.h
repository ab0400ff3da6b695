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
struct net_issue_req {
    char ca[CA_NAME_MAX];              /* "" = the first CA that lists the profile */
    char profile[CA_NAME_MAX];         /* profile name */
    char requester[NET_REQUESTER_MAX]; /* "client:NAME", recorded and audited */
    uint32_t csr_len;                  /* bytes used in csr */
    unsigned char csr[CA_CSR_MAX];     /* PEM or DER */
};

/* Its answer. On success err is SIGNET_OK and ca, serial, not_after and der are set. */
struct net_issue_resp {
    enum signet_err err;
    char detail[SIGNET_DETAIL_MAX];        /* why, when err is not SIGNET_OK */
    char ca[CA_NAME_MAX];                  /* the CA that issued */
    char serial[2 * STORE_SERIAL_MAX + 1]; /* lowercase hex */
    int64_t not_after;
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
 * Byte encodings for the process boundary (length-checked, little-endian counts). encode writes
 * at most cap bytes and returns the length used (0 when cap is too small); decode returns 1 = ok,
 * 0 = malformed (truncated, unterminated strings, oversized lengths).
 */
size_t net_issue_req_encode(const struct net_issue_req *req, unsigned char *out, size_t cap);
int net_issue_req_decode(const unsigned char *in, size_t len, struct net_issue_req *out);

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

/*
 * sd_notify(3) without libsystemd: sends state ("READY=1", "STOPPING=1") as one datagram to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). 1 = sent, 0 = not under a service
 * manager or the send failed.
 */
int net_sd_notify(const char *state);

#endif
