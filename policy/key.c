/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Public keys: the profile's key list (type, curve, RSA size) and key quality: RSA exponent
 * exactly 65537, no small prime factor, not a near-square modulus (Fermat), an EC point valid
 * on its curve; and the SPKI hash the blocked-key table is keyed by.
 */
#include "internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define SMALL_PRIME_BOUND 10000 /* trial division by every prime below this */
#define FERMAT_ROUNDS     256   /* a = ceil(sqrt(n)) .. + FERMAT_ROUNDS - 1 */

/* "ec:P-256"-style description of a key into out. */
void pol_key_desc(EVP_PKEY *pub, char *out, size_t cap)
{
    char group[64] = "";

    switch (EVP_PKEY_get_base_id(pub)) {
    case EVP_PKEY_EC:
        EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
        snprintf(out, cap, "ec:%s",
                 strcmp(group, "prime256v1") == 0  ? "P-256"
                 : strcmp(group, "secp384r1") == 0 ? "P-384"
                 : strcmp(group, "secp521r1") == 0 ? "P-521"
                 : group[0]                        ? group
                                                   : "explicit-parameters");
        break;
    case EVP_PKEY_RSA:
        snprintf(out, cap, "rsa:%d", EVP_PKEY_get_bits(pub));
        break;
    case EVP_PKEY_ED25519:
        snprintf(out, cap, "ed25519");
        break;
    default:
        snprintf(out, cap, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
    }
    ERR_clear_error();
}

/* The first prime below SMALL_PRIME_BOUND dividing n, or 0. */
static BN_ULONG small_factor(const BIGNUM *n)
{
    /* a sieve on the stack is cheap and keeps this free of shared state (threads) */
    unsigned char composite[SMALL_PRIME_BOUND] = {0};

    for (unsigned p = 2; p < SMALL_PRIME_BOUND; p++) {
        if (composite[p])
            continue;
        for (unsigned q = p * p; q < SMALL_PRIME_BOUND; q += p)
            composite[q] = 1;
        if (BN_mod_word(n, p) == 0)
            return p;
    }
    return 0;
}

/*
 * floor(sqrt(a)) into r by Newton's method (x' = (x + a/x) / 2 from above). 1 = ok.
 */
static int bn_isqrt(BIGNUM *r, const BIGNUM *a, BN_CTX *ctx)
{
    BIGNUM *x = BN_CTX_get(ctx), *y = BN_CTX_get(ctx);

    if (y == NULL)
        return 0;
    if (BN_is_zero(a))
        return BN_zero(r), 1;
    if (!BN_set_word(x, 1) || !BN_lshift(x, x, (BN_num_bits(a) + 1) / 2 + 1))
        return 0;
    for (;;) {
        if (!BN_div(y, NULL, a, x, ctx) || !BN_add(y, y, x) || !BN_rshift1(y, y))
            return 0;
        if (BN_cmp(y, x) >= 0)
            break;
        if (!BN_copy(x, y))
            return 0;
    }
    return BN_copy(r, x) != NULL;
}

/* Quadratic residues mod 64, 63 and 65 filter out most non-squares before a square root. */
static int maybe_square(const BIGNUM *b)
{
    BN_ULONG m64 = BN_mod_word(b, 64), m63 = BN_mod_word(b, 63), m65 = BN_mod_word(b, 65);
    int ok64 = 0, ok63 = 0, ok65 = 0;

    for (BN_ULONG x = 0; x < 65; x++) {
        ok64 |= (x * x) % 64 == m64;
        ok63 |= (x * x) % 63 == m63;
        ok65 |= (x * x) % 65 == m65;
    }
    return ok64 && ok63 && ok65;
}

/*
 * Fermat's method for FERMAT_ROUNDS steps: n = a^2 - b^2 = (a-b)(a+b) with a from ceil(sqrt(n)).
 * Primes p and q so close that this finds b make the key factorable in moments.
 * Returns 1 when a factorisation is found, 0 when not, -1 on error.
 */
static int fermat_weak(const BIGNUM *n)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *a, *b2, *s, *t;
    int found = -1;

    if (ctx == NULL)
        return -1;
    BN_CTX_start(ctx);
    a = BN_CTX_get(ctx), b2 = BN_CTX_get(ctx), s = BN_CTX_get(ctx), t = BN_CTX_get(ctx);
    if (t == NULL || !bn_isqrt(a, n, ctx) || !BN_sqr(t, a, ctx))
        goto out;
    if (BN_cmp(t, n) < 0 && !BN_add_word(a, 1))
        goto out;
    if (!BN_sqr(b2, a, ctx) || !BN_sub(b2, b2, n)) /* b2 = a^2 - n >= 0 */
        goto out;
    found = 0;
    for (int i = 0; i < FERMAT_ROUNDS && !found; i++) {
        if (maybe_square(b2)) {
            if (!bn_isqrt(s, b2, ctx) || !BN_sqr(t, s, ctx)) {
                found = -1;
                break;
            }
            found = BN_cmp(t, b2) == 0;
        }
        /* (a+1)^2 - n = b2 + 2a + 1 */
        if (!BN_add(b2, b2, a) || !BN_add(b2, b2, a) || !BN_add_word(b2, 1) || !BN_add_word(a, 1)) {
            found = -1;
            break;
        }
    }
out:
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return found;
}

/* RSA: exponent exactly 65537, no small factor, not near-square. */
static enum signet_err rsa_quality(EVP_PKEY *pub, const char *desc, char *detail)
{
    BIGNUM *e = NULL, *n = NULL;
    enum signet_err rc = SIGNET_E_BADKEY;
    BN_ULONG f;
    int fw;

    if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) ||
        !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n))
        sg_detail(detail, "key: %s does not expose its modulus and exponent", desc);
    else if (!BN_is_word(e, 65537))
        sg_detail(detail, "key: %s public exponent is not 65537; generate the key again", desc);
    else if ((f = small_factor(n)) != 0)
        sg_detail(detail, "key: %s modulus is divisible by %lu; generate the key again", desc,
                  (unsigned long)f);
    else if ((fw = fermat_weak(n)) != 0)
        sg_detail(detail,
                  fw > 0 ? "key: %s modulus factors by Fermat's method (its primes are too "
                           "close); generate the key again"
                         : "key: %s modulus could not be checked",
                  desc);
    else
        rc = SIGNET_OK;
    BN_free(e);
    BN_free(n);
    ERR_clear_error();
    return rc;
}

/* Key quality independent of the profile. */
static enum signet_err key_quality(EVP_PKEY *pub, const char *desc, char *detail)
{
    enum signet_err rc = SIGNET_OK;
    EVP_PKEY_CTX *pc = NULL;

    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA)
        return rsa_quality(pub, desc, detail);
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
        char enc[32] = "";
        /* RFC 5480 2.1.1: only namedCurve; explicit parameters are refused by verifiers
         * (OpenSSL's -x509_strict among them) and hide which curve the key is really on */
        if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc),
                                            NULL) ||
            strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
            sg_detail(detail,
                      "key: %s has explicit curve parameters; RFC 5480 2.1.1 allows only a named "
                      "curve: make the key with a named curve (openssl's default)",
                      desc);
            rc = SIGNET_E_BADKEY;
        } else if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL ||
                   EVP_PKEY_public_check(pc) != 1) {
            sg_detail(detail, "key: %s public point is not valid on its curve", desc);
            rc = SIGNET_E_BADKEY;
        }
    }
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    return rc;
}

static const char *kind_name(enum pol_key_kind k)
{
    return k == POL_KEY_EC_P256   ? "ec:P-256"
           : k == POL_KEY_EC_P384 ? "ec:P-384"
           : k == POL_KEY_EC_P521 ? "ec:P-521"
                                  : "ed25519";
}

enum signet_err policy_check_key(const struct policy_profile *p, EVP_PKEY *pub, char *detail)
{
    char desc[64], allowed[256] = "";
    int bits = EVP_PKEY_get_bits(pub), id = EVP_PKEY_get_base_id(pub);

    pol_key_desc(pub, desc, sizeof(desc));
    for (size_t i = 0; i < p->nkeys; i++) {
        const struct pol_key_rule *r = &p->keys[i];
        char one[40];
        int ok = r->kind == POL_KEY_RSA
                     ? id == EVP_PKEY_RSA && bits >= (int)r->rsa_min && bits <= (int)r->rsa_max
                 : r->kind == POL_KEY_ED25519 ? id == EVP_PKEY_ED25519
                                              : strcmp(desc, kind_name(r->kind)) == 0;
        if (ok)
            return key_quality(pub, desc, detail);
        if (r->kind == POL_KEY_RSA)
            snprintf(one, sizeof(one), "rsa:%u-%u", r->rsa_min, r->rsa_max);
        else
            snprintf(one, sizeof(one), "%s", kind_name(r->kind));
        if (strlen(allowed) + strlen(one) + 3 < sizeof(allowed))
            strcat(strcat(allowed, i ? ", " : ""), one);
    }
    sg_detail(detail,
              "key: %s is not allowed by profile %s (allowed: %s); make a CSR with an "
              "allowed key",
              desc, p->name, allowed);
    return SIGNET_E_BADKEY;
}

/*
 * The SubjectPublicKeyInfo DER of an EC key on a named curve or of an Ed25519 key, built from
 * the key's parameters with the ASN.1 templates: the bytes of i2d_PUBKEY (RFC 5480 2, RFC 8410
 * 4) with the EC point always uncompressed, so that one key has one hash whatever form it came
 * in, and without a trip through OpenSSL 3's encoder framework, which costs more than the rest
 * of the policy check. Other keys: -1, and the caller uses i2d_PUBKEY. Returns the length
 * (*der to OPENSSL_free) or -1.
 */
static int spki_der_fast(EVP_PKEY *pub, unsigned char **der)
{
    unsigned char pt[256], *enc = NULL;
    char group[64];
    size_t len = 0;
    int nid = NID_undef, n = -1;
    X509_PUBKEY *pk = NULL;

    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519) {
        len = sizeof(pt);
        if (EVP_PKEY_get_raw_public_key(pub, pt, &len) != 1)
            return -1;
    } else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
        /* the point uncompressed, whatever form the key came in: 04 || x || y */
        BIGNUM *x = NULL, *y = NULL;
        int flen = (EVP_PKEY_get_bits(pub) + 7) / 8, ok;
        ok = EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL) == 1 &&
             (nid = OBJ_sn2nid(group)) != NID_undef && flen > 0 &&
             (size_t)(1 + 2 * flen) <= sizeof(pt) &&
             EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
             EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
             BN_bn2binpad(x, pt + 1, flen) == flen && BN_bn2binpad(y, pt + 1 + flen, flen) == flen;
        BN_free(x);
        BN_free(y);
        if (!ok)
            return -1;
        pt[0] = 0x04;
        len = (size_t)(1 + 2 * flen);
    } else {
        return -1;
    }
    if (len == 0 || (enc = OPENSSL_memdup(pt, len)) == NULL || (pk = X509_PUBKEY_new()) == NULL)
        goto out;
    if (nid != NID_undef ? X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                                                  V_ASN1_OBJECT, OBJ_nid2obj(nid), enc, (int)len)
                         : X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL,
                                                  enc, (int)len)) {
        enc = NULL; /* the BIT STRING holds it */
        n = i2d_X509_PUBKEY(pk, der);
    }
out:
    OPENSSL_free(enc);
    X509_PUBKEY_free(pk);
    return n > 0 ? n : -1;
}

int policy_spki_sha256(EVP_PKEY *pub, unsigned char out[POLICY_SPKI_HASH])
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    int len = spki_der_fast(pub, &der), ok;

    if (len <= 0)
        len = i2d_PUBKEY(pub, &der);

    ok = len > 0 && EVP_Digest(der, (size_t)len, out, &mdlen, EVP_sha256(), NULL) &&
         mdlen == POLICY_SPKI_HASH;
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}
