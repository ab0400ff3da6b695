/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clients, bearer tokens (RFC 6750) and TLS client certificates: each [client.NAME] of
 * signet.conf holds the hex SHA-256 of its token and/or of its certificate's full DER
 * SubjectPublicKeyInfo, and the profiles it may use. Both are compared by hash, in constant time,
 * and every client is compared so the time does not say which one matched.
 */
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

void net_clients_free(struct net_clients *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        sg_strv_free(c->v[i].profiles);
    OPENSSL_cleanse(c->v, c->n * sizeof(*c->v));
    free(c->v);
    free(c);
}

/* 1 when all 32 bytes are zero: a client without a bearer token. */
static int zero(const unsigned char h[32])
{
    unsigned char acc = 0;

    for (size_t i = 0; i < 32; i++)
        acc |= h[i];
    return acc == 0;
}

/* Fills one client from [client.NAME]: token_sha256 and/or spki_sha256, and profiles. */
static enum signet_err load_one(const struct sg_conf *conf, const char *name, struct net_client *cl,
                                char *detail)
{
    char sect[CA_NAME_MAX + 8];
    const char *h, *k, *p;
    size_t np = 0;

    if (strlen(name) >= sizeof(cl->name)) {
        sg_detail(detail, "%s: client name %.64s... is longer than %d characters",
                  sg_conf_file(conf), name, CA_NAME_MAX - 1);
        return SIGNET_E_CONFIG;
    }
    snprintf(sect, sizeof(sect), "client.%s", name);
    strcpy(cl->name, name);
    h = sg_conf_get(conf, sect, "token_sha256");
    k = sg_conf_get(conf, sect, "spki_sha256");
    p = sg_conf_get(conf, sect, "profiles");
    if ((h == NULL && k == NULL) ||
        (h != NULL && (strlen(h) != 64 || sg_hex_decode(h, cl->hash, sizeof(cl->hash)) != 32 ||
                       zero(cl->hash)))) {
        sg_detail(detail,
                  "%s: [%s] needs token_sha256 = the 64-hex SHA-256 of the token (or "
                  "spki_sha256 alone for a TLS client certificate)",
                  sg_conf_file(conf), sect);
        return SIGNET_E_CONFIG;
    }
    if (k != NULL && (strlen(k) != 64 || sg_hex_decode(k, cl->spki, sizeof(cl->spki)) != 32)) {
        sg_detail(detail,
                  "%s: [%s] spki_sha256 must be the 64-hex SHA-256 of the client certificate's "
                  "DER SubjectPublicKeyInfo (openssl x509 -pubkey -noout | openssl pkey -pubin "
                  "-outform DER | sha256sum)",
                  sg_conf_file(conf), sect);
        return SIGNET_E_CONFIG;
    }
    cl->has_spki = k != NULL;
    if (p == NULL || (cl->profiles = sg_split_list(p, &np)) == NULL || np == 0) {
        sg_detail(detail, "%s: [%s] needs profiles = the profiles it may use", sg_conf_file(conf),
                  sect);
        return SIGNET_E_CONFIG;
    }
    return SIGNET_OK;
}

/* The client names: [daemon] clients (each "client.NAME" or "NAME"), else every [client.*]. */
static char **client_names(const struct sg_conf *conf, size_t *n)
{
    const char *list = sg_conf_get(conf, "daemon", "clients");
    char **v;

    if (list == NULL) {
        *n = sg_conf_sections(conf, "client.", &v);
        return v;
    }
    if ((v = sg_split_list(list, n)) == NULL)
        return NULL;
    for (size_t i = 0; i < *n; i++)
        if (strncmp(v[i], "client.", 7) == 0)
            memmove(v[i], v[i] + 7, strlen(v[i] + 7) + 1);
    return v;
}

enum signet_err net_clients_load(const struct sg_conf *conf, struct net_clients **out, char *detail)
{
    struct net_clients *c = NULL;
    char **names = NULL;
    size_t n = 0;
    enum signet_err rc = SIGNET_E_NOMEM;

    *out = NULL;
    if ((names = client_names(conf, &n)) == NULL || (c = calloc(1, sizeof(*c))) == NULL ||
        (n > 0 && (c->v = calloc(n, sizeof(*c->v))) == NULL))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = load_one(conf, names[i], &c->v[i], detail)) != SIGNET_OK) {
            c->n = i + 1;
            goto out;
        }
    }
    c->n = n;
    *out = c;
    c = NULL;
    rc = SIGNET_OK;
out:
    if (rc == SIGNET_E_NOMEM)
        sg_detail(detail, "out of memory reading clients");
    net_clients_free(c);
    sg_strv_free(names);
    return rc;
}

/* The token of "Authorization: Bearer TOKEN" (RFC 6750 2.1, token68 syntax), or NULL. */
static const char *bearer(struct evhttp_request *req, size_t *len)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    size_t n;

    if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
        return NULL;
    a += 7;
    while (*a == ' ')
        a++;
    n = strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=");
    if (n == 0 || n > NET_TOKEN_MAX || a[n] != '\0')
        return NULL;
    *len = n;
    return a;
}

/* 1 when list holds name. */
static int has(char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* The client whose TLS certificate key hashes to spki, under srv->lock; NULL when none. */
static const struct net_client *by_spki(const struct net_server *srv, const unsigned char *spki)
{
    const struct net_clients *in_force = srv->clients;
    const struct net_client *match = NULL;

    for (size_t i = 0; i < in_force->n; i++)
        if (in_force->v[i].has_spki && CRYPTO_memcmp(spki, in_force->v[i].spki, 32) == 0)
            match = &in_force->v[i];
    return match;
}

/*
 * Checks the request's credential and, when profile is not NULL, that the client may use it.
 * The credential is the bearer token when the request has one, else the TLS client
 * certificate's SPKI. Every client is compared so the time does not say which one matched.
 */
enum net_auth net_authorize(struct net_server *srv, struct evhttp_request *req, const char *profile,
                            char *who, size_t who_cap)
{
    unsigned char h[32], spki[32];
    unsigned int hl = 0;
    size_t len = 0;
    const char *tok = bearer(req, &len);
    const struct net_client *match = NULL;
    enum net_auth res = NET_AUTH_BAD;
    int cert = 0;

    if (tok == NULL && !(cert = net_tls_peer_spki(req, spki)))
        return NET_AUTH_NONE;
    if (tok != NULL && !EVP_Digest(tok, len, h, &hl, EVP_sha256(), NULL))
        return NET_AUTH_BAD;
    pthread_rwlock_rdlock(&srv->lock);
    if (cert)
        match = by_spki(srv, spki);
    else
        for (size_t i = 0; i < srv->clients->n; i++)
            if (CRYPTO_memcmp(h, srv->clients->v[i].hash, sizeof(h)) == 0 &&
                !zero(srv->clients->v[i].hash))
                match = &srv->clients->v[i];
    if (match != NULL) {
        snprintf(who, who_cap, "client:%s", match->name);
        /* both the client's own list and the profile's clients rule must allow it; clients
         * from the ca process carry only profiles whose rule allows them (and it checks again) */
        res =
            profile == NULL ||
                    (has(match->profiles, profile) &&
                     (srv->ipc != NULL || ca_profile_allows_client(srv->ca, profile, match->name)))
                ? NET_AUTH_OK
                : NET_AUTH_FORBIDDEN;
    }
    pthread_rwlock_unlock(&srv->lock);
    OPENSSL_cleanse(h, sizeof(h));
    return res;
}
