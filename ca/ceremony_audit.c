/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ceremony transcripts in the audit chain, and `signet audit verify`: the chain's links
 * (store_audit_verify) and each transcript's signature by the CA that ran the ceremony.
 *
 * A transcript is the audit entry's object: "key value" lines (signet-transcript 1, operation,
 * ca, ceremony-sha256, input, plan-sha256, shares, serial, tbs-sha256, output, started,
 * finished), then "signature HEX": the CA key's signature over every byte before that line, with
 * the digest of the CA's algorithm (ca_sign_md).
 */
#include "ceremony_internal.h"

#include <inttypes.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LINE "signature "

enum signet_err cer_transcript_append(struct ca_ctx *ctx, struct ca_ent *ca, EVP_PKEY *key,
                                      const char *text, char *detail)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char sig[HSM_SIG_MAX];
    size_t slen = sizeof(sig), tlen = strlen(text);
    char *all = malloc(tlen + sizeof(SIG_LINE) + 2 * HSM_SIG_MAX + 2);
    enum signet_err rc = SIGNET_E_HSM;

    if (m == NULL || all == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    if (EVP_DigestSignInit(m, NULL, ca_sign_md(X509_get0_pubkey(ca->cert)), NULL, key) != 1 ||
        EVP_DigestSign(m, sig, &slen, (const unsigned char *)text, tlen) != 1) {
        sg_detail(detail, "CA %s: cannot sign the ceremony transcript", ca->name);
        sg_detail_openssl(detail);
        goto out;
    }
    memcpy(all, text, tlen);
    memcpy(all + tlen, SIG_LINE, strlen(SIG_LINE));
    sg_hex_encode(sig, slen, all + tlen + strlen(SIG_LINE));
    strcat(all, "\n");
    rc = ca_audit(ctx, "ceremony", "ceremony", all, detail);
out:
    ERR_clear_error();
    EVP_MD_CTX_free(m);
    free(all);
    return rc;
}

struct verify_arg {
    struct ca_ctx *ctx;
    size_t transcripts;
    enum signet_err rc;
    char *detail;
};

/* Verifies one transcript's signature with its CA's certificate. 1 = ok. */
static int verify_one(struct verify_arg *a, const struct store_audit_entry *e)
{
    const char *sigline = strstr(e->object, "\n" SIG_LINE);
    char ca_name[CA_NAME_MAX], hex[2 * HSM_SIG_MAX + 2];
    unsigned char sig[HSM_SIG_MAX];
    struct ca_ent *ca;
    EVP_MD_CTX *m = NULL;
    long slen;
    EVP_PKEY *pub;
    int ok = 0;

    if (sigline == NULL || !cer_line_field(e->object, "ca", ca_name, sizeof(ca_name)) ||
        !cer_line_field(sigline + 1, "signature", hex, sizeof(hex)) ||
        (slen = sg_hex_decode(hex, sig, sizeof(sig))) <= 0) {
        sg_detail(a->detail,
                  "audit entry %" PRIu64 ": a ceremony transcript without its "
                  "signature: it was altered",
                  e->seq);
        return 0;
    }
    if ((ca = ca_ent_find(a->ctx, ca_name)) == NULL || ca->cert == NULL) {
        sg_detail(a->detail,
                  "audit entry %" PRIu64 ": CA %s is not in signet.conf; cannot check "
                  "its transcript",
                  e->seq, ca_name);
        return 0;
    }
    pub = X509_get0_pubkey(ca->cert);
    ok = (m = EVP_MD_CTX_new()) != NULL &&
         EVP_DigestVerifyInit(m, NULL, ca_sign_md(pub), NULL, pub) == 1 &&
         EVP_DigestVerify(m, sig, (size_t)slen, (const unsigned char *)e->object,
                          (size_t)(sigline + 1 - e->object)) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    if (!ok)
        sg_detail(a->detail,
                  "audit entry %" PRIu64 ": the ceremony transcript's signature does not verify "
                  "with CA %s's certificate: the entry was altered",
                  e->seq, ca_name);
    return ok;
}

static int verify_cb(const struct store_audit_entry *e, void *arg)
{
    struct verify_arg *a = arg;

    if (strcmp(e->action, "ceremony") != 0)
        return 1;
    a->transcripts++;
    if (!verify_one(a, e)) {
        a->rc = SIGNET_E_INVALID;
        return 0;
    }
    return 1;
}

enum signet_err ca_audit_verify(struct ca_ctx *ctx, uint64_t *out_entries, size_t *out_transcripts,
                                char *detail)
{
    struct verify_arg a = {ctx, 0, SIGNET_OK, detail};
    enum signet_err rc;

    *out_entries = 0;
    *out_transcripts = 0;
    if ((rc = store_audit_verify(ctx->st, out_entries, detail)) != SIGNET_OK)
        return rc;
    if ((rc = store_audit_iter(ctx->st, 1, verify_cb, &a, detail)) != SIGNET_OK)
        return rc;
    *out_transcripts = a.transcripts;
    return a.rc;
}
