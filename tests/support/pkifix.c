/* SPDX-License-Identifier: Apache-2.0 */
#include "pkifix.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"

int pkifix_demo_make(struct pkifix *fx, const char *tmpl)
{
    char detail[SIGNET_DETAIL_MAX] = "";

    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "%s", tmpl);
    if (mkdtemp(fx->dir) == NULL) {
        fx->dir[0] = '\0';
        return 0;
    }
    strncat(fx->dir, "/pki", sizeof(fx->dir) - strlen(fx->dir) - 1);
    snprintf(fx->conf, sizeof(fx->conf), "%s/signet.conf", fx->dir);
    if (ca_demo_init(fx->dir, detail) != SIGNET_OK) {
        fprintf(stderr, "demo init: %s\n", detail);
        return 0;
    }
    return 1;
}

int pkifix_demo_remove(struct pkifix *fx)
{
    char cmd[128];
    char *slash;

    if (fx == NULL || fx->dir[0] == '\0')
        return 1;
    if ((slash = strrchr(fx->dir, '/')) != NULL && strcmp(slash, "/pki") == 0)
        *slash = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    fx->dir[0] = '\0';
    return system(cmd) == 0;
}

int pkifix_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

int pkifix_add_profile(const struct pkifix *fx, const char *name, const char *text)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/policies/%s.conf", fx->dir, name);
    return pkifix_write_text(path, text);
}

int pkifix_enable_profiles(const struct pkifix *fx, const char *names)
{
    char expr[384];

    snprintf(expr, sizeof(expr),
             "s/^profiles = tls-server, tls-client, ocsp-responder$/profiles = "
             "tls-server, tls-client, ocsp-responder, %s/",
             names);
    return pkifix_sed_conf(fx, expr);
}

int pkifix_sed_conf(const struct pkifix *fx, const char *expr)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof(cmd), "sed -i '%s' '%s'", expr, fx->conf);

    if (n < 0 || (size_t)n >= sizeof(cmd))
        return 0; /* a truncated command would edit the wrong thing */
    return system(cmd) == 0;
}

int pkifix_ctx_setup(const struct pkifix *fx, void **state)
{
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    if (ca_ctx_open(fx->conf, 0, &ctx, detail) != SIGNET_OK) {
        fprintf(stderr, "open: %s\n", detail);
        return -1;
    }
    *state = ctx;
    return 0;
}

int pkifix_ctx_teardown(void **state)
{
    ca_ctx_free(*state);
    *state = NULL;
    return 0;
}

char *pkifix_csr_ext(const char *cn, const char *san, int nid1, const char *v1, int nid2,
                     const char *v2)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m;
    char *pem;

    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(req, k);
    if (san)
        sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
    if (v1)
        sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, nid1, v1));
    if (v2)
        sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, nid2, v2));
    if (sk_X509_EXTENSION_num(exts) > 0)
        X509_REQ_add_extensions(req, exts);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    PEM_write_bio_X509_REQ(b, req);
    BIO_get_mem_ptr(b, &m);
    pem = strndup(m->data, m->length);
    BIO_free(b);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(k);
    X509_REQ_free(req);
    return pem;
}

char *pkifix_csr(const char *cn, const char *san)
{
    return pkifix_csr_ext(cn, san, 0, NULL, 0, NULL);
}

char *pkifix_csr_dns(const char *cn)
{
    char san[128];

    snprintf(san, sizeof(san), "DNS:%s", cn);
    return pkifix_csr(cn, san);
}
