/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS on signetd's listener (docs/api.md, "TLS"): the server context built from [daemon]
 * tls_cert / tls_key / tls_client_ca, and the SHA-256 of a client certificate's full DER
 * SubjectPublicKeyInfo, which [client.NAME] spki_sha256 matches. TLS 1.2 and 1.3 only, forward
 * secret AEAD suites only, no renegotiation, no compression. A client certificate is requested,
 * never required (bearer clients send none); with tls_client_ca it must chain to one of those
 * CAs or the handshake fails, without it any certificate is accepted and only its key matters.
 */
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1:!SHA256:!SHA384"
#define VERIFY_DEPTH  6

/* No client CA configured: any certificate is accepted; the SPKI match decides. */
static int verify_any(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok, (void)x;
    return 1;
}

/* Never prompts: the API's key file is not encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/*
 * Reads the private key of [daemon] tls_key through secret_load, so the file gets the checks a
 * credential file gets (a regular file that group and others cannot read), then parses it from
 * the locked buffer. 1 = loaded into ctx.
 */
static int load_key(SSL_CTX *ctx, const struct sg_conf *conf, const char *path, char *detail)
{
    struct secret *s = NULL;
    char *spec = malloc(strlen(path) + 6);
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    int ok = 0;

    if (spec == NULL) {
        sg_detail(detail, "out of memory reading [daemon] tls_key");
        return 0;
    }
    snprintf(spec, strlen(path) + 6, "file:%s", path);
    if (secret_load(spec, sg_conf_dir(conf), "[daemon] tls_key", &s, detail) != SIGNET_OK)
        goto out;
    if ((bio = BIO_new_mem_buf(secret_data(s), (int)secret_len(s))) == NULL ||
        (key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)) == NULL) {
        sg_detail(detail,
                  "[daemon] tls_key %.200s is not an unencrypted PEM private key (at most %d "
                  "bytes)",
                  path, SECRET_MAX);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        sg_detail(detail, "[daemon] tls_key %.200s does not match the tls_cert certificate", path);
        goto out;
    }
    ok = 1;
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    BIO_free(bio);
    secret_free(s);
    free(spec);
    return ok;
}

/* Requests client certificates; verifies them against client_ca when given. 1 = ok. */
static int set_client_auth(SSL_CTX *ctx, const char *client_ca, char *detail)
{
    STACK_OF(X509_NAME) * names;

    if (client_ca == NULL) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_any);
        return 1;
    }
    if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1 ||
        (names = SSL_load_client_CA_file(client_ca)) == NULL) {
        sg_detail(detail, "[daemon] tls_client_ca %.200s: cannot read PEM CA certificates from it",
                  client_ca);
        return 0;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
    return 1;
}

/* A [daemon] path resolved against the configuration's directory, or NULL (absent or ENOMEM). */
static char *conf_file(const struct sg_conf *conf, const char *key)
{
    const char *v = sg_conf_get(conf, "daemon", key);

    return v != NULL && v[0] != '\0' ? sg_conf_path(conf, v) : NULL;
}

enum signet_err net_tls_ctx_new(const struct sg_conf *conf, SSL_CTX **out, char *detail)
{
    char *cert = conf_file(conf, "tls_cert"), *key = conf_file(conf, "tls_key"),
         *ca = conf_file(conf, "tls_client_ca");
    SSL_CTX *ctx = NULL;
    enum signet_err rc = SIGNET_E_CONFIG;
    static const unsigned char sid[] = "signetd";

    *out = NULL;
    if (cert == NULL && key == NULL && ca == NULL) {
        rc = SIGNET_OK; /* plain HTTP */
        goto out;
    }
    if (cert == NULL || key == NULL) {
        sg_detail(detail, "%s: TLS needs both [daemon] tls_cert and tls_key", sg_conf_file(conf));
        goto out;
    }
    if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        sg_detail(detail, "cannot create a TLS context");
        rc = SIGNET_E_INTERNAL;
        goto out;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* resumed sessions keep the client certificate; resumption needs a session id context */
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        sg_detail(detail, "[daemon] tls_cert %.200s: cannot read a PEM certificate chain from it",
                  cert);
        goto out;
    }
    if (!load_key(ctx, conf, key, detail) || !set_client_auth(ctx, ca, detail))
        goto out;
    *out = ctx;
    ctx = NULL;
    rc = SIGNET_OK;
out:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    free(cert);
    free(key);
    free(ca);
    return rc;
}

void net_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

struct bufferevent *net_tls_bev_new(SSL_CTX *ctx, struct event_base *base)
{
    SSL *ssl = SSL_new(ctx);
    struct bufferevent *bev;

    if (ssl == NULL)
        return NULL;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    /* a client that closes without close_notify has ended, not failed */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int net_tls_peer_spki(struct evhttp_request *req, unsigned char out[32])
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    X509 *peer = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    unsigned char *der = NULL;
    unsigned int hl = 0;
    int len, ok;

    if (peer == NULL || (len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der)) <= 0)
        return 0;
    ok = EVP_Digest(der, (size_t)len, out, &hl, EVP_sha256(), NULL) == 1 && hl == 32;
    OPENSSL_free(der);
    return ok;
}
