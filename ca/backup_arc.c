/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backup archive (docs/backup.md): a simple length-prefixed format with a manifest, signed
 * with CMS SignedData and encrypted with CMS EnvelopedData so that `openssl cms -decrypt` and
 * `openssl cms -verify` open it with no Signet code.
 *
 *   "SIGNET-BACKUP-v1" then parts, each: u16 name length, name, u64 data length, data
 *   (big-endian); the first part is MANIFEST, an empty name ends the archive.
 *   MANIFEST: one line per other part, "<sha256 hex> <length> <name>\n".
 */
#include "internal.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* A part name: printable, no "..", no leading '/', bounded. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > CA_BK_NAME_MAX || name[0] == '/' || strstr(name, "..") != NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
            return 0;
    return 1;
}

const struct ca_bk_part *ca_bk_get(const struct ca_bk_arc *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->p[i].name, name) == 0)
            return &a->p[i];
    return NULL;
}

int ca_bk_add(struct ca_bk_arc *a, const char *name, const void *data, size_t len)
{
    struct ca_bk_part *v;

    if (!name_ok(name) || ca_bk_get(a, name) != NULL || a->n >= CA_BK_PARTS_MAX ||
        len > CA_BK_SIZE_MAX - a->bytes)
        return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        if ((v = realloc(a->p, cap * sizeof(*v))) == NULL)
            return 0;
        a->p = v;
        a->cap = cap;
    }
    v = &a->p[a->n];
    if ((v->name = strdup(name)) == NULL || (v->data = malloc(len ? len : 1)) == NULL) {
        free(v->name);
        return 0;
    }
    if (len)
        memcpy(v->data, data, len);
    v->len = len;
    a->n++;
    a->bytes += len;
    return 1;
}

void ca_bk_arc_free(struct ca_bk_arc *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->p[i].name);
        OPENSSL_clear_free(a->p[i].data, a->p[i].len);
    }
    free(a->p);
    memset(a, 0, sizeof(*a));
}

/* Appends one part record at *pos. */
static void put_part(unsigned char *buf, size_t *pos, const char *name, const void *d, size_t len)
{
    size_t n = strlen(name);

    buf[(*pos)++] = (unsigned char)(n >> 8);
    buf[(*pos)++] = (unsigned char)n;
    memcpy(buf + *pos, name, n);
    *pos += n;
    for (int i = 7; i >= 0; i--)
        buf[(*pos)++] = (unsigned char)((uint64_t)len >> (8 * i));
    if (len)
        memcpy(buf + *pos, d, len);
    *pos += len;
}

enum signet_err ca_bk_serialize(const struct ca_bk_arc *a, unsigned char **out, size_t *out_len,
                                char *detail)
{
    size_t mcap = a->n * (CA_BK_NAME_MAX + 90) + 1, mlen = 0, total, pos = 0;
    char *man = malloc(mcap);
    unsigned char md[32], *buf = NULL;
    char hex[65];

    *out = NULL;
    if (man == NULL)
        return SIGNET_E_NOMEM;
    man[0] = 0;
    for (size_t i = 0; i < a->n; i++) {
        SHA256(a->p[i].data, a->p[i].len, md);
        sg_hex_encode(md, 32, hex);
        mlen += (size_t)snprintf(man + mlen, mcap - mlen, "%s %zu %s\n", hex, a->p[i].len,
                                 a->p[i].name);
    }
    total = 16 + (2 + 8 + 8) + mlen + 2;
    for (size_t i = 0; i < a->n; i++)
        total += 2 + strlen(a->p[i].name) + 8 + a->p[i].len;
    if (total > CA_BK_SIZE_MAX || (buf = malloc(total)) == NULL) {
        free(man);
        sg_detail(detail, "backup: %zu bytes is more than an archive may hold", total);
        return total > CA_BK_SIZE_MAX ? SIGNET_E_USAGE : SIGNET_E_NOMEM;
    }
    memcpy(buf, CA_BK_MAGIC, 16);
    pos = 16;
    put_part(buf, &pos, "MANIFEST", man, mlen);
    for (size_t i = 0; i < a->n; i++)
        put_part(buf, &pos, a->p[i].name, a->p[i].data, a->p[i].len);
    buf[pos++] = 0;
    buf[pos++] = 0;
    free(man);
    *out = buf;
    *out_len = pos;
    return SIGNET_OK;
}

/* Checks every line of the manifest against the parts, and that every part is listed. */
static enum signet_err check_manifest(const struct ca_bk_arc *a, const char *man, size_t mlen,
                                      char *detail)
{
    size_t listed = 0, pos = 0;
    unsigned char md[32];
    char hex[65], line[CA_BK_NAME_MAX + 100], name[CA_BK_NAME_MAX + 1];
    unsigned long long len;

    while (pos < mlen) {
        const char *nl = memchr(man + pos, '\n', mlen - pos);
        size_t ll = nl ? (size_t)(nl - (man + pos)) : mlen - pos;
        const struct ca_bk_part *p;
        char want[65];

        if (ll >= sizeof(line) || nl == NULL) {
            sg_detail(detail, "backup: the manifest has a malformed line");
            return SIGNET_E_INVALID;
        }
        memcpy(line, man + pos, ll);
        line[ll] = 0;
        pos += ll + 1;
        if (sscanf(line, "%64s %llu %255s", want, &len, name) != 3 ||
            (p = ca_bk_get(a, name)) == NULL || p->len != len) {
            sg_detail(detail, "backup: manifest entry '%.80s' names no part of that size", line);
            return SIGNET_E_INVALID;
        }
        SHA256(p->data, p->len, md);
        sg_hex_encode(md, 32, hex);
        if (strcmp(hex, want) != 0) {
            sg_detail(detail, "backup: part %s does not match its SHA-256 in the manifest", name);
            return SIGNET_E_INVALID;
        }
        listed++;
    }
    if (listed != a->n) {
        sg_detail(detail, "backup: %zu parts but the manifest lists %zu", a->n, listed);
        return SIGNET_E_INVALID;
    }
    return SIGNET_OK;
}

enum signet_err ca_bk_parse(const unsigned char *buf, size_t len, struct ca_bk_arc *out,
                            char *detail)
{
    size_t pos = 16, mlen = 0;
    const unsigned char *man = NULL;
    char name[CA_BK_NAME_MAX + 1];

    memset(out, 0, sizeof(*out));
    if (len < 18 || memcmp(buf, CA_BK_MAGIC, 16) != 0) {
        sg_detail(detail, "backup: not a Signet backup archive (bad magic)");
        return SIGNET_E_INVALID;
    }
    for (;;) {
        size_t n;
        uint64_t dl = 0;

        if (len - pos < 2)
            goto trunc;
        n = ((size_t)buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        if (n == 0)
            break;
        if (n > CA_BK_NAME_MAX || len - pos < n + 8)
            goto trunc;
        memcpy(name, buf + pos, n);
        name[n] = 0;
        pos += n;
        for (int i = 0; i < 8; i++)
            dl = (dl << 8) | buf[pos++];
        if (dl > len - pos)
            goto trunc;
        if (man == NULL && strcmp(name, "MANIFEST") == 0) {
            man = buf + pos;
            mlen = (size_t)dl;
        } else if (!ca_bk_add(out, name, buf + pos, (size_t)dl)) {
            sg_detail(detail, "backup: bad, duplicate or too many parts (at '%.64s')", name);
            ca_bk_arc_free(out);
            return SIGNET_E_INVALID;
        }
        pos += (size_t)dl;
    }
    if (pos != len || man == NULL) {
        sg_detail(detail, "backup: %s", man ? "bytes after the end mark" : "no manifest");
        ca_bk_arc_free(out);
        return SIGNET_E_INVALID;
    }
    enum signet_err rc = check_manifest(out, (const char *)man, mlen, detail);
    if (rc != SIGNET_OK)
        ca_bk_arc_free(out);
    return rc;
trunc:
    sg_detail(detail, "backup: the archive is truncated or its lengths are corrupt");
    ca_bk_arc_free(out);
    return SIGNET_E_INVALID;
}

/* The bytes of a memory BIO into a fresh buffer. */
static enum signet_err bio_take(BIO *b, unsigned char **out, size_t *out_len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);

    if (n < 0 || (*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return SIGNET_E_NOMEM;
    memcpy(*out, p, (size_t)n);
    *out_len = (size_t)n;
    return SIGNET_OK;
}

enum signet_err ca_bk_seal(const unsigned char *plain, size_t len, X509 *signer, EVP_PKEY *key,
                           STACK_OF(X509) * recips, unsigned char **out, size_t *out_len,
                           char *detail)
{
    BIO *in = BIO_new_mem_buf(plain, (int)len), *mid = BIO_new(BIO_s_mem());
    BIO *fin = BIO_new(BIO_s_mem()), *env_out = BIO_new(BIO_s_mem());
    CMS_ContentInfo *sd = NULL, *ed = NULL;
    enum signet_err rc = SIGNET_E_CRYPTO;

    *out = NULL;
    if (len > INT32_MAX || !in || !mid || !fin || !env_out)
        goto out;
    if ((sd = CMS_sign(signer, key, NULL, in, CMS_BINARY | CMS_NOSMIMECAP)) == NULL) {
        sg_detail(detail, "backup: CMS signing with the backup signing key failed");
        goto err;
    }
    if (i2d_CMS_bio(mid, sd) != 1)
        goto err;
    if ((ed = CMS_encrypt(recips, mid, EVP_aes_256_cbc(), CMS_BINARY)) == NULL) {
        sg_detail(detail, "backup: CMS encryption to the recipients failed");
        goto err;
    }
    if (i2d_CMS_bio(env_out, ed) != 1)
        goto err;
    rc = bio_take(env_out, out, out_len);
    goto out;
err:
    if (detail != NULL && detail[0] == 0)
        sg_detail(detail, "backup: CMS encoding failed");
    sg_detail_openssl(detail);
out:
    CMS_ContentInfo_free(sd);
    CMS_ContentInfo_free(ed);
    BIO_free(in);
    BIO_free(mid);
    BIO_free(fin);
    BIO_free(env_out);
    return rc;
}

/* Verifies the SignedData in sd_der; *plain receives its content. */
static enum signet_err verify_signed(BIO *sd_bio, X509 *trusted, unsigned char **plain,
                                     size_t *plain_len, int *embedded, char *detail)
{
    CMS_ContentInfo *sd = d2i_CMS_bio(sd_bio, NULL);
    STACK_OF(X509) *certs = NULL;
    BIO *content = BIO_new(BIO_s_mem());
    unsigned flags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
    enum signet_err rc = SIGNET_E_INVALID;

    *embedded = trusted == NULL;
    if (sd == NULL || content == NULL || OBJ_obj2nid(CMS_get0_type(sd)) != NID_pkcs7_signed) {
        sg_detail(detail, "backup: the decrypted content is not CMS SignedData (altered?)");
        goto out;
    }
    if (trusted != NULL) {
        if ((certs = sk_X509_new_null()) == NULL || !sk_X509_push(certs, trusted))
            goto out;
        flags |= CMS_NOINTERN;
    }
    if (CMS_verify(sd, certs, NULL, NULL, content, flags) != 1) {
        sg_detail(detail, "backup: the signature does not verify with %s",
                  trusted ? "the configured backup signer certificate (altered, or signed by "
                            "an unknown key)"
                          : "the signer certificate it carries (altered)");
        goto out;
    }
    rc = bio_take(content, plain, plain_len);
out:
    ERR_clear_error();
    sk_X509_free(certs);
    CMS_ContentInfo_free(sd);
    BIO_free(content);
    return rc;
}

enum signet_err ca_bk_open(const unsigned char *in, size_t len, EVP_PKEY *rkey, X509 *rcert,
                           X509 *trusted, unsigned char **plain, size_t *plain_len, int *embedded,
                           char *detail)
{
    BIO *b = NULL, *sd = BIO_new(BIO_s_mem());
    CMS_ContentInfo *ed = NULL;
    enum signet_err rc = SIGNET_E_INVALID;

    *plain = NULL;
    if (len > INT32_MAX || sd == NULL || (b = BIO_new_mem_buf(in, (int)len)) == NULL) {
        rc = SIGNET_E_NOMEM;
        goto out;
    }
    if ((ed = d2i_CMS_bio(b, NULL)) == NULL ||
        OBJ_obj2nid(CMS_get0_type(ed)) != NID_pkcs7_enveloped) {
        sg_detail(detail, "backup: not CMS EnvelopedData (truncated, altered or not a backup)");
        goto out;
    }
    if (CMS_decrypt(ed, rkey, rcert, NULL, sd, CMS_BINARY) != 1) {
        sg_detail(detail, "backup: cannot decrypt with the recipient key given (another "
                          "recipient, or the file was altered)");
        goto out;
    }
    rc = verify_signed(sd, trusted, plain, plain_len, embedded, detail);
out:
    ERR_clear_error();
    CMS_ContentInfo_free(ed);
    BIO_free(b);
    BIO_free(sd);
    return rc;
}
