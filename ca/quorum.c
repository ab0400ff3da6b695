/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quorum shares of an offline token's credential (docs/custody.md).
 *
 * A random secret of CA_QUORUM_SECRET_LEN bytes (the user PIN's half and the SO PIN's half) is
 * split with Shamir's scheme over GF(2^8) (libgfshare) into n shares, any m of which rebuild it.
 * Each share is sealed under its custodian's passphrase: scrypt (memory-hard, cost in the
 * header) derives 64 bytes, the first 32 key AES-256-GCM, SHA-256 of the last 32 is kept as a
 * passphrase verifier (so a wrong passphrase and an altered share get different messages). The
 * whole header is the AEAD's additional data, binding the root's identity, index, m, n, the
 * cost, the salt, the nonce and the commitment to the combined secret.
 *
 * Binary layout inside the PEM block "SIGNET ROOT SHARE" (big-endian):
 *   0 magic "SGNTSHR1" | 8 version 1 | 9 index | 10 m | 11 n | 12 log2N | 13 r | 14 p | 15 0
 *   16 root id (32) | 48 commitment (32) | 80 salt (16) | 96 nonce (12) | 108 verifier (32)
 *   140 ciphertext length (2) | 142 ciphertext | tag (16)
 */
#include "internal.h"

#include <dlfcn.h>
#include <libgfshare.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC         "SGNTSHR1"
#define OFF_ROOT      16
#define OFF_CHECK     48
#define OFF_SALT      80
#define OFF_NONCE     96
#define OFF_VERIFIER  108
#define OFF_CTLEN     140
#define HDR_LEN       142
#define SALT_LEN      16
#define NONCE_LEN     12
#define TAG_LEN       16
#define SHARE_MAX     CA_QUORUM_SECRET_LEN
#define LOG2N_MIN     14 /* 16 MiB with r = 8 */
#define LOG2N_MAX     20 /* 1 GiB: a bound against a hostile share */
#define SCRYPT_R      8
#define SCRYPT_MAXMEM (1200ull << 20)
#define PEM_NAME      "SIGNET ROOT SHARE"

#define GFSHARE_LIB "libgfshare.so.2"

static int rand_failed;

/*
 * libgfshare, loaded at first use (dlopen) so that the programs link without it until the build
 * names it; the header gives the types. gf.ok is 0 when the library is missing.
 */
static struct {
    int ok;
    gfshare_ctx *(*init_enc)(unsigned char *, unsigned int, unsigned char, unsigned int);
    gfshare_ctx *(*init_dec)(unsigned char *, unsigned int, unsigned int);
    void (*ctx_free)(gfshare_ctx *);
    void (*setsecret)(gfshare_ctx *, unsigned char *);
    void (*getshare)(gfshare_ctx *, unsigned char, unsigned char *);
    void (*giveshare)(gfshare_ctx *, unsigned char, unsigned char *);
    void (*extract)(gfshare_ctx *, unsigned char *);
    gfshare_rand_func_t *fill_rand;
} gf;
static pthread_once_t gf_once = PTHREAD_ONCE_INIT;

static void gf_rand(unsigned char *buf, unsigned int len);

static void gf_load_once(void)
{
    void *dl = dlopen(GFSHARE_LIB, RTLD_NOW | RTLD_LOCAL);

    if (dl == NULL)
        return;
    *(void **)&gf.init_enc = dlsym(dl, "gfshare_ctx_init_enc");
    *(void **)&gf.init_dec = dlsym(dl, "gfshare_ctx_init_dec");
    *(void **)&gf.ctx_free = dlsym(dl, "gfshare_ctx_free");
    *(void **)&gf.setsecret = dlsym(dl, "gfshare_ctx_enc_setsecret");
    *(void **)&gf.getshare = dlsym(dl, "gfshare_ctx_enc_getshare");
    *(void **)&gf.giveshare = dlsym(dl, "gfshare_ctx_dec_giveshare");
    *(void **)&gf.extract = dlsym(dl, "gfshare_ctx_dec_extract");
    gf.fill_rand = dlsym(dl, "gfshare_fill_rand");
    gf.ok = gf.init_enc && gf.init_dec && gf.ctx_free && gf.setsecret && gf.getshare &&
            gf.giveshare && gf.extract && gf.fill_rand;
    if (gf.ok) /* the polynomial's coefficients, and the wipe in gfshare_ctx_free */
        *gf.fill_rand = gf_rand;
}

/* 1 when libgfshare is usable; otherwise detail says what to install. */
static int gf_load(char *detail)
{
    pthread_once(&gf_once, gf_load_once);
    if (!gf.ok)
        sg_detail(detail,
                  "%s (Shamir shares) will not load: install libgfshare2 "
                  "(scripts/deps.sh)",
                  GFSHARE_LIB);
    return gf.ok;
}

/* libgfshare's randomness for the polynomial coefficients: OpenSSL's private generator. */
static void gf_rand(unsigned char *buf, unsigned int len)
{
    if (RAND_priv_bytes(buf, (int)len) != 1)
        rand_failed = 1;
}

int ca_root_id(const char *label, const char *serial, unsigned char out[CA_ROOT_ID_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, "signet root id v1", 17) &&
             EVP_DigestUpdate(md, label, strlen(label) + 1) &&
             EVP_DigestUpdate(md, serial, strlen(serial)) && EVP_DigestFinal_ex(md, out, &n);

    EVP_MD_CTX_free(md);
    return ok && n == CA_ROOT_ID_LEN;
}

/* SHA-256("signet quorum check v1" || root id || secret). 1 = ok. */
static int commitment(const unsigned char *root_id, const struct secret *s, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, "signet quorum check v1", 22) &&
             EVP_DigestUpdate(md, root_id, CA_ROOT_ID_LEN) &&
             EVP_DigestUpdate(md, secret_data(s), secret_len(s)) && EVP_DigestFinal_ex(md, out, &n);

    EVP_MD_CTX_free(md);
    return ok;
}

/* scrypt into a locked 64-byte buffer: key (32) then verifier seed (32). NULL on failure. */
static struct secret *derive(const struct secret *pass, const unsigned char *salt, unsigned log2n,
                             unsigned r, unsigned p)
{
    struct secret *k = secret_new(64);
    unsigned char buf[64];

    if (k == NULL ||
        EVP_PBE_scrypt((const char *)secret_data(pass), secret_len(pass), salt, SALT_LEN,
                       1ull << log2n, r, p, SCRYPT_MAXMEM, buf, 64) != 1 ||
        !secret_set(k, buf, 64)) {
        secret_free(k);
        k = NULL;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return k;
}

static int verifier(const struct secret *k, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(secret_data(k) + 32, 32, out, &n, EVP_sha256(), NULL) == 1;
}

/*
 * AES-256-GCM over in with aad. enc 1 seals (tag written to tag), 0 opens (tag checked).
 * Returns 1 = ok, 0 = failure (for opening: the tag did not verify).
 */
static int gcm(int enc, const unsigned char *key, const unsigned char *nonce,
               const unsigned char *aad, size_t aadlen, const unsigned char *in, size_t len,
               unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) &&
         EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) &&
         EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) &&
         EVP_CipherUpdate(c, out, &n, in, (int)len) &&
         (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
         EVP_CipherFinal_ex(c, out + n, &n) > 0 &&
         (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag));
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    return ok;
}

/* PEM-armours a binary share with a line saying what it is. Caller frees *out. 1 = ok. */
static int armour(const unsigned char *bin, size_t len, const struct ca_share_hdr *h, char **out,
                  size_t *out_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    char idhex[17];
    int ok = 0;

    sg_hex_encode(h->root_id, 8, idhex);
    if (b == NULL ||
        BIO_printf(b, "Signet root share %u of %u (%u needed) for root %s\n", h->index, h->n, h->m,
                   idhex) <= 0 ||
        PEM_write_bio(b, PEM_NAME, "", bin, (long)len) <= 0)
        goto out;
    BIO_get_mem_ptr(b, &m);
    if ((*out = malloc(m->length + 1)) == NULL)
        goto out;
    memcpy(*out, m->data, m->length);
    (*out)[m->length] = 0;
    *out_len = m->length;
    ok = 1;
out:
    BIO_free(b);
    return ok;
}

/* Seals one share under pass into a file image. 1 = ok. */
static int seal_one(const struct ca_share_hdr *h, const unsigned char *share, size_t len,
                    const struct secret *pass, char **out, size_t *out_len)
{
    unsigned char bin[HDR_LEN + SHARE_MAX + TAG_LEN];
    struct secret *k = NULL;
    int ok = 0;

    memset(bin, 0, sizeof(bin));
    memcpy(bin, MAGIC, 8);
    bin[8] = 1;
    bin[9] = (unsigned char)h->index;
    bin[10] = (unsigned char)h->m;
    bin[11] = (unsigned char)h->n;
    bin[12] = (unsigned char)h->log2n;
    bin[13] = SCRYPT_R;
    bin[14] = 1;
    memcpy(bin + OFF_ROOT, h->root_id, CA_ROOT_ID_LEN);
    memcpy(bin + OFF_CHECK, h->check, 32);
    bin[OFF_CTLEN] = (unsigned char)(len >> 8);
    bin[OFF_CTLEN + 1] = (unsigned char)len;
    if (RAND_bytes(bin + OFF_SALT, SALT_LEN) != 1 || RAND_bytes(bin + OFF_NONCE, NONCE_LEN) != 1 ||
        (k = derive(pass, bin + OFF_SALT, h->log2n, SCRYPT_R, 1)) == NULL ||
        !verifier(k, bin + OFF_VERIFIER))
        goto out;
    ok = gcm(1, secret_data(k), bin + OFF_NONCE, bin, HDR_LEN, share, len, bin + HDR_LEN,
             bin + HDR_LEN + len) &&
         armour(bin, HDR_LEN + len + TAG_LEN, h, out, out_len);
out:
    secret_free(k);
    OPENSSL_cleanse(bin, sizeof(bin));
    return ok;
}

enum signet_err ca_quorum_split_seal(const struct secret *secret,
                                     const unsigned char root_id[CA_ROOT_ID_LEN], unsigned m,
                                     unsigned n, struct secret *const *pass, unsigned log2n,
                                     char **out_files, size_t *out_lens, char *detail)
{
    unsigned char nrs[CA_SHARES_MAX], share[SHARE_MAX];
    struct ca_share_hdr h = {0};
    gfshare_ctx *g = NULL;
    enum signet_err rc = SIGNET_E_CRYPTO;

    if (m < 1 || m > n || n > CA_SHARES_MAX || secret_len(secret) != SHARE_MAX ||
        log2n < LOG2N_MIN || log2n > LOG2N_MAX) {
        sg_detail(detail, "quorum %u/%u: use 1 <= M <= N <= %d", m, n, CA_SHARES_MAX);
        return SIGNET_E_USAGE;
    }
    for (unsigned i = 0; i < n; i++) {
        nrs[i] = (unsigned char)(i + 1);
        out_files[i] = NULL;
    }
    h.m = m;
    h.n = n;
    h.log2n = log2n;
    memcpy(h.root_id, root_id, CA_ROOT_ID_LEN);
    rand_failed = 0;
    if (!gf_load(detail))
        return SIGNET_E_CONFIG;
    if (!commitment(root_id, secret, h.check) ||
        (g = gf.init_enc(nrs, n, (unsigned char)m, SHARE_MAX)) == NULL)
        goto out;
    /* libgfshare copies the secret into its context; the context is freed (and wiped) below */
    gf.setsecret(g, (unsigned char *)secret_data(secret));
    for (unsigned i = 0; i < n; i++) {
        h.index = i + 1;
        gf.getshare(g, (unsigned char)i, share);
        if (rand_failed || !seal_one(&h, share, SHARE_MAX, pass[i], &out_files[i], &out_lens[i]))
            goto out;
    }
    rc = SIGNET_OK;
out:
    OPENSSL_cleanse(share, sizeof(share));
    if (g != NULL)
        gf.ctx_free(g);
    if (rc != SIGNET_OK) {
        sg_detail(detail, "cannot split and seal the shares (randomness or scrypt failed)");
        for (unsigned i = 0; i < n; i++) {
            free(out_files[i]);
            out_files[i] = NULL;
        }
    }
    return rc;
}

/* Decodes the PEM block into bin (at most cap bytes). Returns the length or 0. */
static size_t unarmour(const char *file, size_t len, unsigned char *bin, size_t cap)
{
    BIO *b = BIO_new_mem_buf(file, (int)len);
    char *name = NULL, *hdr = NULL;
    unsigned char *data = NULL;
    long n = 0;
    size_t got = 0;

    if (b != NULL && len <= CA_SHARE_FILE_MAX && PEM_read_bio(b, &name, &hdr, &data, &n) &&
        strcmp(name, PEM_NAME) == 0 && n > 0 && (size_t)n <= cap) {
        memcpy(bin, data, (size_t)n);
        got = (size_t)n;
    }
    if (data != NULL)
        OPENSSL_clear_free(data, (size_t)n);
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    BIO_free(b);
    ERR_clear_error();
    return got;
}

/* Checks the fixed fields of a binary share; fills h. 1 = ok. */
static int parse_bin(const unsigned char *bin, size_t len, struct ca_share_hdr *h)
{
    size_t ct;

    if (len < HDR_LEN + TAG_LEN || memcmp(bin, MAGIC, 8) != 0 || bin[8] != 1)
        return 0;
    ct = ((size_t)bin[OFF_CTLEN] << 8) | bin[OFF_CTLEN + 1];
    h->index = bin[9];
    h->m = bin[10];
    h->n = bin[11];
    h->log2n = bin[12];
    h->r = bin[13];
    h->p = bin[14];
    memcpy(h->root_id, bin + OFF_ROOT, CA_ROOT_ID_LEN);
    memcpy(h->check, bin + OFF_CHECK, 32);
    return ct == SHARE_MAX && len == HDR_LEN + ct + TAG_LEN && h->index >= 1 && h->index <= h->n &&
           h->m >= 1 && h->m <= h->n && h->n <= CA_SHARES_MAX && h->log2n >= LOG2N_MIN &&
           h->log2n <= LOG2N_MAX && h->r >= 1 && h->r <= 16 && h->p >= 1 && h->p <= 4;
}

int ca_share_parse(const char *file, size_t len, struct ca_share_hdr *out)
{
    unsigned char bin[HDR_LEN + SHARE_MAX + TAG_LEN];
    size_t n = unarmour(file, len, bin, sizeof(bin));

    return n > 0 && parse_bin(bin, n, out);
}

/* See internal.h. */
enum signet_err ca_shares_read(const struct ca_share_src *src, size_t n, struct ca_share_in *in,
                               struct ca_share_hdr *hdr, char *detail)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *buf = NULL;
        size_t len = 0;
        enum signet_err rc = sg_read_file(src[i].path, CA_SHARE_FILE_MAX, &buf, &len, detail);
        if (rc != SIGNET_OK)
            return rc;
        in[i].name = src[i].path;
        in[i].file = (char *)buf;
        in[i].len = len;
        if (hdr != NULL && !ca_share_parse(in[i].file, len, &hdr[i])) {
            sg_detail(detail, "%s: not a share file (no SIGNET ROOT SHARE block)", src[i].path);
            return SIGNET_E_INVALID;
        }
    }
    return SIGNET_OK;
}

enum signet_err ca_share_unseal(const char *file, size_t len, const struct secret *pass,
                                struct secret **out, char *detail)
{
    unsigned char bin[HDR_LEN + SHARE_MAX + TAG_LEN], plain[SHARE_MAX], v[32];
    struct ca_share_hdr h;
    struct secret *k = NULL;
    size_t n = unarmour(file, len, bin, sizeof(bin));
    enum signet_err rc = SIGNET_E_INVALID;

    *out = NULL;
    if (n == 0 || !parse_bin(bin, n, &h)) {
        sg_detail(detail, "not a Signet share file (no valid SIGNET ROOT SHARE block)");
        goto out;
    }
    rc = SIGNET_E_CRYPTO;
    if ((k = derive(pass, bin + OFF_SALT, h.log2n, h.r, h.p)) == NULL || !verifier(k, v)) {
        sg_detail(detail, "scrypt failed (out of memory?)");
        goto out;
    }
    rc = SIGNET_E_PIN;
    if (CRYPTO_memcmp(v, bin + OFF_VERIFIER, 32) != 0) {
        sg_detail(detail, "wrong passphrase for share %u", h.index);
        goto out;
    }
    rc = SIGNET_E_INVALID;
    if (!gcm(0, secret_data(k), bin + OFF_NONCE, bin, HDR_LEN, bin + HDR_LEN, SHARE_MAX, plain,
             bin + HDR_LEN + SHARE_MAX)) {
        sg_detail(detail, "share %u was altered: its authentication tag does not verify", h.index);
        goto out;
    }
    rc = SIGNET_E_NOMEM;
    if ((*out = secret_new(SHARE_MAX)) == NULL || !secret_set(*out, plain, SHARE_MAX))
        goto out;
    rc = SIGNET_OK;
out:
    if (rc != SIGNET_OK) {
        secret_free(*out);
        *out = NULL;
    }
    secret_free(k);
    OPENSSL_cleanse(plain, sizeof(plain));
    OPENSSL_cleanse(bin, sizeof(bin));
    return rc;
}

enum signet_err ca_quorum_check(const unsigned char root_id[CA_ROOT_ID_LEN],
                                const struct ca_share_in *in, size_t n, int *use, char *detail)
{
    struct ca_share_hdr h, first = {0};
    unsigned seen[CA_SHARES_MAX + 1] = {0}, distinct = 0;

    for (size_t i = 0; i < n; i++) {
        use[i] = 0;
        if (!ca_share_parse(in[i].file, in[i].len, &h)) {
            sg_detail(detail, "%s: not a Signet share file", in[i].name);
            return SIGNET_E_INVALID;
        }
        if (CRYPTO_memcmp(h.root_id, root_id, CA_ROOT_ID_LEN) != 0) {
            sg_detail(detail, "%s: this share belongs to another root; bring a share of this one",
                      in[i].name);
            return SIGNET_E_FORBIDDEN;
        }
        if (distinct > 0 && (h.m != first.m || h.n != first.n ||
                             memcmp(h.check, first.check, sizeof(h.check)) != 0)) {
            sg_detail(detail, "%s: from another split of this root's credential than %s",
                      in[i].name, in[0].name);
            return SIGNET_E_FORBIDDEN;
        }
        if (distinct == 0)
            first = h;
        if (seen[h.index]) {
            sg_log(SG_LOG_WARN, "%s: share %u was already given; it counts once", in[i].name,
                   h.index);
            continue;
        }
        seen[h.index] = 1;
        use[i] = 1;
        distinct++;
    }
    if (distinct < first.m || distinct == 0) {
        sg_detail(detail,
                  "%u distinct share(s) given, %u needed: bring %u more custodian(s); the token "
                  "was not logged in to",
                  distinct, first.m ? first.m : 1, (first.m ? first.m : 1) - distinct);
        return SIGNET_E_PIN;
    }
    return SIGNET_OK;
}

enum signet_err ca_quorum_combine(const struct ca_share_in *in, size_t n, const int *use,
                                  struct secret **out, char *detail)
{
    unsigned char nrs[CA_SHARES_MAX], buf[SHARE_MAX], chk[32];
    struct secret *sh[CA_SHARES_MAX] = {0};
    struct ca_share_hdr h = {0};
    gfshare_ctx *g = NULL;
    unsigned k = 0;
    enum signet_err rc = SIGNET_OK;
    char why[SIGNET_DETAIL_MAX] = "";

    *out = NULL;
    if (!gf_load(detail))
        return SIGNET_E_CONFIG;
    for (size_t i = 0; i < n && k < CA_SHARES_MAX; i++) {
        if (!use[i])
            continue;
        ca_share_parse(in[i].file, in[i].len, &h);
        if ((rc = ca_share_unseal(in[i].file, in[i].len, in[i].pass, &sh[k], why)) != SIGNET_OK) {
            sg_detail(detail, "%s: %s%s", in[i].name, why,
                      rc == SIGNET_E_PIN ? "; ask its custodian for the right passphrase file"
                                         : "");
            goto out;
        }
        nrs[k++] = (unsigned char)h.index;
    }
    rc = SIGNET_E_CRYPTO;
    if ((g = gf.init_dec(nrs, k, SHARE_MAX)) == NULL)
        goto out;
    for (unsigned i = 0; i < k; i++)
        gf.giveshare(g, (unsigned char)i, (unsigned char *)secret_data(sh[i]));
    gf.extract(g, buf);
    if ((*out = secret_new(SHARE_MAX)) == NULL || !secret_set(*out, buf, SHARE_MAX) ||
        !commitment(h.root_id, *out, chk))
        goto out;
    rc = SIGNET_E_INVALID;
    if (CRYPTO_memcmp(chk, h.check, 32) != 0) {
        sg_detail(detail, "the shares do not combine to this root's credential (shares of "
                          "different splits?); the token was not logged in to");
        goto out;
    }
    rc = SIGNET_OK;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    for (unsigned i = 0; i < k; i++)
        secret_free(sh[i]);
    if (g != NULL)
        gf.ctx_free(g);
    if (rc != SIGNET_OK) {
        secret_free(*out);
        *out = NULL;
        if (rc == SIGNET_E_CRYPTO)
            sg_detail(detail, "cannot combine the shares (out of memory)");
    }
    return rc;
}

/* Hex of one half of the combined secret, in locked memory. */
static struct secret *half_hex(const struct secret *c, size_t off)
{
    char hex[2 * (CA_QUORUM_SECRET_LEN / 2) + 1];
    struct secret *s = secret_new(sizeof(hex));

    if (s == NULL || secret_len(c) != CA_QUORUM_SECRET_LEN) {
        secret_free(s);
        return NULL;
    }
    sg_hex_encode(secret_data(c) + off, CA_QUORUM_SECRET_LEN / 2, hex);
    secret_set(s, hex, strlen(hex));
    OPENSSL_cleanse(hex, sizeof(hex));
    return s;
}

struct secret *ca_quorum_user_pin(const struct secret *combined)
{
    return half_hex(combined, 0);
}

struct secret *ca_quorum_so_pin(const struct secret *combined)
{
    return half_hex(combined, CA_QUORUM_SECRET_LEN / 2);
}
