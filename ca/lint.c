/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lint before sign: Signet's own checks over a certificate signed with a throwaway key, before
 * anything is recorded or signed on the token. The certificate is read from its DER by a small
 * strict reader here (OpenSSL keeps and re-emits the bytes it parsed, so its view would hide
 * encoding faults); sub-structures (names, extension values) are decoded with OpenSSL's d2i
 * from the exact bytes. Each lint has a stable name and cites its standard in every message.
 * The list is in docs/lints.md.
 */
#include "internal.h"
#include "lint.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DER_DEPTH_MAX 32 /* nesting accepted in a certificate */

/* Adds a finding for the running lint; its message starts with the standard. */
void ca_lint_add(struct lc *c, const char *fmt, ...)
{
    va_list ap;
    struct ca_lint_finding *f;

    if (c->res->n >= CA_LINT_FINDINGS_MAX) {
        c->res->dropped++;
        return;
    }
    f = &c->res->f[c->res->n++];
    f->lint = c->cur;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
}

/* The first extension with nid, or NULL. */
const struct ext *ca_lint_ext_find(const struct lc *c, int nid)
{
    for (size_t i = 0; i < c->next; i++)
        if (c->ext[i].nid == nid)
            return &c->ext[i];
    return NULL;
}

/*
 * Reads one TLV from [p, end): single-octet tags and definite lengths of at most 4 octets
 * (a certificate needs no more). Non-minimal lengths are read and marked. 1 = ok.
 */
static int tlv_read(const unsigned char *p, const unsigned char *end, struct tlv *t)
{
    size_t len = 0, n;

    memset(t, 0, sizeof(*t));
    if (p == NULL || end - p < 2 || (*p & 0x1f) == 0x1f)
        return 0;
    t->start = p;
    t->tag = *p++;
    t->len_minimal = 1;
    if (*p < 0x80) {
        len = *p++;
    } else {
        n = *p++ & 0x7fu;
        if (n == 0 || n > 4 || (size_t)(end - p) < n) /* 0x80: indefinite (BER only) */
            return 0;
        for (size_t i = 0; i < n; i++)
            len = len << 8 | *p++;
        t->len_minimal = len >= 0x80 && (len >> (8 * (n - 1))) != 0;
    }
    if ((size_t)(end - p) < len)
        return 0;
    t->val = p;
    t->vlen = len;
    t->total = (size_t)(p - t->start) + len;
    return 1;
}

/* Reads the next TLV at *p (before end) when its tag is tag; advances *p. 1 = read. */
static int tlv_take(const unsigned char **p, const unsigned char *end, unsigned char tag,
                    struct tlv *t)
{
    struct tlv tmp;

    if (*p >= end || **p != tag || !tlv_read(*p, end, &tmp))
        return 0;
    *t = tmp;
    *p += t->total;
    return 1;
}

/* Reads the extensions SEQUENCE into c->ext. NULL = ok, else why not. */
static const char *parse_exts(struct lc *c)
{
    const unsigned char *p = c->exts.val, *end = p + c->exts.vlen, *q, *qe;
    struct tlv seq, ext, oct;

    if (!tlv_take(&p, end, 0x30, &seq) || p != end)
        return "[3] does not hold one SEQUENCE of extensions";
    for (q = seq.val, qe = seq.val + seq.vlen; q < qe;) {
        struct ext *e;
        const unsigned char *r, *re;
        if (c->next >= EXT_MAX)
            return "more than 64 extensions";
        e = &c->ext[c->next];
        if (!tlv_take(&q, qe, 0x30, &ext))
            return "an extension is not a SEQUENCE";
        r = ext.val;
        re = ext.val + ext.vlen;
        if (!tlv_take(&r, re, 0x06, &e->oid))
            return "an extension has no extnID";
        if (tlv_take(&r, re, 0x01, &e->crit))
            e->critical = e->crit.vlen == 1 && e->crit.val[0] != 0;
        if (!tlv_take(&r, re, 0x04, &oct) || r != re)
            return "an extension's extnValue is not one OCTET STRING";
        e->val = oct.val;
        e->vlen = oct.vlen;
        {
            const unsigned char *op = e->oid.start;
            ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &op, (long)e->oid.total);
            e->nid = o ? OBJ_obj2nid(o) : NID_undef;
            ASN1_OBJECT_free(o);
        }
        c->next++;
    }
    return NULL;
}

/*
 * Reads the Certificate and TBSCertificate shapes of RFC 5280 4.1 into spans.
 * NULL = ok, else a reason.
 */
static const char *parse_cert(struct lc *c, const unsigned char *der, size_t len)
{
    const unsigned char *p = der, *end = der + len, *t, *te;
    struct tlv ver, tmp;

    if (!tlv_take(&p, end, 0x30, &c->cert))
        return "not a DER SEQUENCE";
    if (p != end)
        return "bytes after the Certificate";
    p = c->cert.val;
    end = p + c->cert.vlen;
    if (!tlv_take(&p, end, 0x30, &c->tbs) || !tlv_take(&p, end, 0x30, &c->sigalg_out) ||
        !tlv_take(&p, end, 0x03, &tmp) || p != end)
        return "not SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }";
    t = c->tbs.val;
    te = t + c->tbs.vlen;
    if (tlv_take(&t, te, 0xa0, &ver)) {
        const unsigned char *v = ver.val;
        if (!tlv_take(&v, ver.val + ver.vlen, 0x02, &c->version) || c->version.vlen != 1)
            return "version is not [0] INTEGER";
    }
    if (!tlv_take(&t, te, 0x02, &c->serial) || !tlv_take(&t, te, 0x30, &c->sigalg_in) ||
        !tlv_take(&t, te, 0x30, &c->issuer) || !tlv_take(&t, te, 0x30, &c->validity) ||
        !tlv_take(&t, te, 0x30, &c->subject) || !tlv_take(&t, te, 0x30, &c->spki))
        return "tbsCertificate fields missing or out of order";
    tlv_take(&t, te, 0x81, &tmp);
    tlv_take(&t, te, 0x82, &tmp);
    tlv_take(&t, te, 0xa3, &c->exts);
    if (t != te)
        return "unexpected fields at the end of tbsCertificate";
    {
        const unsigned char *v = c->validity.val, *ve = v + c->validity.vlen;
        if (!tlv_read(v, ve, &c->nb) || (c->nb.tag != 0x17 && c->nb.tag != 0x18) ||
            !tlv_read(v + c->nb.total, ve, &c->na) || (c->na.tag != 0x17 && c->na.tag != 0x18) ||
            v + c->nb.total + c->na.total != ve)
            return "validity is not SEQUENCE { Time, Time }";
    }
    return c->exts.start ? parse_exts(c) : NULL;
}

/* ---- der_strict ---- */

/* 1 when the universal tag must be primitive in DER (X.690 10.2 and 8.x). */
static int der_primitive_only(unsigned char tag)
{
    switch (tag & 0x1f) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x0a:
    case 0x0c:
    case 0x12:
    case 0x13:
    case 0x14:
    case 0x16:
    case 0x17:
    case 0x18:
    case 0x1a:
    case 0x1c:
    case 0x1e:
        return 1;
    default:
        return 0;
    }
}

/* Compares SET OF elements as X.690 11.6 orders them (octet strings, shorter padded with 0). */
static int der_set_cmp(const struct tlv *a, const struct tlv *b)
{
    size_t n = a->total < b->total ? a->total : b->total;
    int r = memcmp(a->start, b->start, n);

    if (r != 0 || a->total == b->total)
        return r;
    return a->total > b->total ? 1 : -1;
}

/*
 * Walks [p, end) checking what makes DER distinguished (X.690 10 and 11) at the TLV level.
 * skip_int: the serial, whose INTEGER encoding serial_minimal reports. 1 = ok, else why.
 */
static int der_walk(struct lc *c, const unsigned char *p, const unsigned char *end, int depth,
                    const unsigned char *skip_int, char *why, size_t cap)
{
    struct tlv t;

    if (depth > DER_DEPTH_MAX)
        return snprintf(why, cap, "nested deeper than %d", DER_DEPTH_MAX), 0;
    for (; p < end; p += t.total) {
        size_t off = (size_t)(p - c->cert.start);
        if (!tlv_read(p, end, &t))
            return snprintf(why, cap, "indefinite or truncated length at offset %zu", off), 0;
        if (!t.len_minimal)
            return snprintf(why, cap, "length not in its shortest form at offset %zu", off), 0;
        if ((t.tag & 0xc0) == 0 && (t.tag & 0x20) && der_primitive_only(t.tag))
            return snprintf(why, cap, "constructed encoding of tag %u at offset %zu", t.tag & 0x1fu,
                            off),
                   0;
        if (t.tag == 0x01 && (t.vlen != 1 || (t.val[0] != 0 && t.val[0] != 0xff)))
            return snprintf(why, cap, "BOOLEAN not 00 or FF at offset %zu", off), 0;
        if (t.tag == 0x05 && t.vlen != 0)
            return snprintf(why, cap, "NULL with content at offset %zu", off), 0;
        if (t.tag == 0x02 && p != skip_int &&
            (t.vlen == 0 || (t.vlen > 1 && ((t.val[0] == 0 && !(t.val[1] & 0x80)) ||
                                            (t.val[0] == 0xff && (t.val[1] & 0x80))))))
            return snprintf(why, cap, "INTEGER not minimal at offset %zu", off), 0;
        if (t.tag == 0x03 && (t.vlen == 0 || t.val[0] > 7 || (t.vlen == 1 && t.val[0] != 0) ||
                              (t.vlen > 1 && (t.val[t.vlen - 1] & ((1u << t.val[0]) - 1)) != 0)))
            return snprintf(why, cap, "BIT STRING unused bits wrong at offset %zu", off), 0;
        if (t.tag & 0x20) {
            if (t.tag == 0x31) { /* SET OF: elements in X.690 11.6 order */
                struct tlv a, b;
                const unsigned char *q = t.val, *qe = t.val + t.vlen;
                while (q < qe && tlv_read(q, qe, &a) && q + a.total < qe &&
                       tlv_read(q + a.total, qe, &b)) {
                    if (der_set_cmp(&a, &b) > 0)
                        return snprintf(why, cap, "SET OF not sorted at offset %zu", off), 0;
                    q += a.total;
                }
            }
            if (!der_walk(c, t.val, t.val + t.vlen, depth + 1, skip_int, why, cap))
                return 0;
        }
    }
    return 1;
}

/* RFC 5280 4.1 requires DER; the whole certificate and each extension value must be DER. */
static void lint_der_strict(struct lc *c)
{
    char why[160];

    if (!der_walk(c, c->cert.start, c->cert.start + c->cert.total, 0, c->serial.start, why,
                  sizeof(why))) {
        ca_lint_add(c, "RFC 5280 4.1 (X.690 10, 11): not DER: %s", why);
        return;
    }
    for (size_t i = 0; i < c->next; i++) {
        if (!der_walk(c, c->ext[i].val, c->ext[i].val + c->ext[i].vlen, 1, NULL, why,
                      sizeof(why))) {
            ca_lint_add(c, "RFC 5280 4.2 (X.690 10, 11): extension %zu's value is not DER: %s", i,
                        why);
            return;
        }
        if (c->ext[i].crit.start && !c->ext[i].critical)
            ca_lint_add(c,
                        "RFC 5280 4.1 (X.690 11.5): extension %zu encodes critical FALSE, a "
                        "DEFAULT value DER omits",
                        i);
    }
    if (c->version.start && c->version.val[0] == 0)
        ca_lint_add(c, "RFC 5280 4.1 (X.690 11.5): version v1 encoded explicitly (DEFAULT)");
}

/* ---- structure ---- */

static void lint_version(struct lc *c)
{
    int v = c->version.start ? c->version.val[0] : 0;

    if (v > 2)
        ca_lint_add(c, "RFC 5280 4.1.2.1: version %d is not v1, v2 or v3", v + 1);
    else if (c->exts.start && v != 2)
        ca_lint_add(c, "RFC 5280 4.1.2.1: extensions present but version is v%d, not v3", v + 1);
}

static void lint_sig_alg_match(struct lc *c)
{
    if (c->sigalg_in.total != c->sigalg_out.total ||
        memcmp(c->sigalg_in.start, c->sigalg_out.start, c->sigalg_in.total) != 0)
        ca_lint_add(c, "RFC 5280 4.1.1.2: signatureAlgorithm differs from the TBS signature field");
}

/*
 * The signature algorithm fits the issuer's key: ECDSA for EC (parameters absent, RFC 5758
 * 3.2), RSA PKCS#1 v1.5 (NULL parameters, RFC 4055 5) or PSS for RSA, Ed25519 (absent, RFC
 * 8410 3).
 */
static void lint_sig_alg_issuer_key(struct lc *c)
{
    const unsigned char *p = c->sigalg_out.start;
    X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, (long)c->sigalg_out.total);
    EVP_PKEY *ik = X509_get0_pubkey(c->issuer_cert);
    int nid = NID_undef, md = NID_undef, pk = NID_undef, ptype = V_ASN1_UNDEF, kid;
    const void *pval = NULL;
    const ASN1_OBJECT *obj = NULL;

    if (alg != NULL) {
        X509_ALGOR_get0(&obj, &ptype, &pval, alg);
        nid = OBJ_obj2nid(obj);
        OBJ_find_sigid_algs(nid, &md, &pk);
    }
    kid = ik ? EVP_PKEY_get_base_id(ik) : NID_undef;
    if (kid == EVP_PKEY_EC && pk == NID_X9_62_id_ecPublicKey && ptype != V_ASN1_UNDEF)
        ca_lint_add(c, "RFC 5758 3.2: ECDSA signature algorithm with parameters");
    else if (kid == EVP_PKEY_RSA && pk == NID_rsaEncryption && ptype != V_ASN1_NULL)
        ca_lint_add(c, "RFC 4055 5: RSA signature algorithm without NULL parameters");
    else if (kid == EVP_PKEY_ED25519 && nid == NID_ED25519 && ptype != V_ASN1_UNDEF)
        ca_lint_add(c, "RFC 8410 3: Ed25519 signature algorithm with parameters");
    else if (!((kid == EVP_PKEY_EC && pk == NID_X9_62_id_ecPublicKey) ||
               (kid == EVP_PKEY_RSA && (pk == NID_rsaEncryption || nid == NID_rsassaPss)) ||
               (kid == EVP_PKEY_ED25519 && nid == NID_ED25519)))
        ca_lint_add(c, "RFC 5280 4.1.1.2: signature algorithm %s does not fit the issuer's %s key",
                    nid != NID_undef ? OBJ_nid2sn(nid) : "(unknown)",
                    kid != NID_undef ? OBJ_nid2sn(kid) : "(unknown)");
    X509_ALGOR_free(alg);
}

static void lint_extensions_empty(struct lc *c)
{
    if (c->exts.start && c->next == 0)
        ca_lint_add(c, "RFC 5280 4.1: extensions present but empty (SIZE (1..MAX))");
}

/* Each RDN of a Name is a non-empty SET (RFC 5280 4.1.2.4, RelativeDistinguishedName). */
static void rdn_check(struct lc *c, const struct tlv *name, const char *which)
{
    const unsigned char *p = name->val, *end = p + name->vlen;
    struct tlv rdn;
    int i = 0;

    for (; p < end && tlv_read(p, end, &rdn); p += rdn.total, i++)
        if (rdn.tag != 0x31 || rdn.vlen == 0)
            ca_lint_add(c, "RFC 5280 4.1.2.4: %s RDN %d is %s", which, i + 1,
                        rdn.tag != 0x31 ? "not a SET" : "an empty SET (SIZE (1..MAX))");
}

static void lint_rdn_empty(struct lc *c)
{
    rdn_check(c, &c->issuer, "issuer");
    rdn_check(c, &c->subject, "subject");
}

static void lint_cert_structure(struct lc *c)
{
    (void)c; /* reported by ca_lint_cert when the shape does not parse */
}

/* ---- serial ---- */

static void lint_serial_positive(struct lc *c)
{
    size_t i = 0;

    while (i < c->serial.vlen && c->serial.val[i] == 0)
        i++;
    if (c->serial.vlen == 0 || (c->serial.val[0] & 0x80))
        ca_lint_add(c, "RFC 5280 4.1.2.2: serial is negative");
    else if (i == c->serial.vlen)
        ca_lint_add(c, "RFC 5280 4.1.2.2: serial is zero");
}

static void lint_serial_length(struct lc *c)
{
    if (c->serial.vlen > 20)
        ca_lint_add(c, "RFC 5280 4.1.2.2: serial longer than 20 octets (%zu)", c->serial.vlen);
}

static void lint_serial_minimal(struct lc *c)
{
    const unsigned char *v = c->serial.val;

    if (c->serial.vlen > 1 && ((v[0] == 0 && !(v[1] & 0x80)) || (v[0] == 0xff && (v[1] & 0x80))))
        ca_lint_add(c, "RFC 5280 4.1.2.2 (X.690 8.3.2): serial INTEGER not minimally encoded");
}

static void lint_serial_entropy(struct lc *c)
{
    size_t i = 0;

    while (i < c->serial.vlen && c->serial.val[i] == 0)
        i++;
    if (c->serial.vlen - i < 8 && !(c->serial.vlen && (c->serial.val[0] & 0x80)) &&
        i < c->serial.vlen)
        ca_lint_add(c,
                    "CA/Browser Forum BR 7.1: serial has %zu octets; at least 8 (64 random "
                    "bits) are required",
                    c->serial.vlen - i);
}

/* ---- validity ---- */

/*
 * Parses a Time of RFC 5280 4.1.2.5.1/4.1.2.5.2: UTCTime YYMMDDHHMMSSZ or GeneralizedTime
 * YYYYMMDDHHMMSSZ, nothing else. 1 = ok with *out seconds since the epoch and *year.
 */
static int time_parse(const struct tlv *t, int64_t *out, int *year)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = t->tag == 0x17 ? 13 : 15, yl = n - 11;
    int f[6] = {0};
    struct tm tm;

    if (t->vlen != n || t->val[n - 1] != 'Z')
        return 0;
    for (size_t i = 0; i < n - 1; i++)
        if (t->val[i] < '0' || t->val[i] > '9')
            return 0;
    for (size_t i = 0; i < yl; i++)
        f[0] = f[0] * 10 + (t->val[i] - '0');
    for (int k = 1; k < 6; k++)
        f[k] = (t->val[yl + 2 * (k - 1)] - '0') * 10 + (t->val[yl + 2 * (k - 1) + 1] - '0');
    if (t->tag == 0x17)
        f[0] += f[0] >= 50 ? 1900 : 2000;
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > mdays[f[1] - 1] || f[3] > 23 || f[4] > 59 ||
        f[5] > 59)
        return 0;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    *out = (int64_t)timegm(&tm);
    *year = f[0];
    return 1;
}

static void lint_validity_format(struct lc *c)
{
    int64_t s;
    int y;

    if (!time_parse(&c->nb, &s, &y))
        ca_lint_add(c, "RFC 5280 4.1.2.5.%d: notBefore \"%.*s\" is not %s",
                    c->nb.tag == 0x17 ? 1 : 2, (int)(c->nb.vlen > 20 ? 20 : c->nb.vlen),
                    (const char *)c->nb.val,
                    c->nb.tag == 0x17 ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ");
    if (!time_parse(&c->na, &s, &y))
        ca_lint_add(c, "RFC 5280 4.1.2.5.%d: notAfter \"%.*s\" is not %s",
                    c->na.tag == 0x17 ? 1 : 2, (int)(c->na.vlen > 20 ? 20 : c->na.vlen),
                    (const char *)c->na.val,
                    c->na.tag == 0x17 ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ");
}

static void lint_validity_encoding(struct lc *c)
{
    const struct tlv *t[2] = {&c->nb, &c->na};
    int64_t s;
    int y;

    for (int i = 0; i < 2; i++)
        if (t[i]->tag == 0x18 && time_parse(t[i], &s, &y) && y < 2050)
            ca_lint_add(c,
                        "RFC 5280 4.1.2.5: %s in %d is a GeneralizedTime; dates through 2049 are "
                        "UTCTime",
                        i ? "notAfter" : "notBefore", y);
}

static void lint_validity_order(struct lc *c)
{
    int64_t nb, na;
    int y;

    if (time_parse(&c->nb, &nb, &y) && time_parse(&c->na, &na, &y) && nb >= na)
        ca_lint_add(c, "RFC 5280 4.1.2.5: notBefore is not before notAfter");
}

/* Seconds since the epoch of an ASN1_TIME, or def when it does not convert. */
static int64_t asn1_secs(const ASN1_TIME *t, int64_t def)
{
    struct tm tm;

    return t && ASN1_TIME_to_tm(t, &tm) ? (int64_t)timegm(&tm) : def;
}

static void lint_validity_in_issuer(struct lc *c)
{
    int64_t nb, na;
    int y;

    if (!time_parse(&c->nb, &nb, &y) || !time_parse(&c->na, &na, &y))
        return;
    if (nb < asn1_secs(X509_get0_notBefore(c->issuer_cert), INT64_MAX))
        ca_lint_add(c, "RFC 5280 6.1.3: notBefore is before the issuer's notBefore");
    if (na > asn1_secs(X509_get0_notAfter(c->issuer_cert), INT64_MIN))
        ca_lint_add(c, "RFC 5280 6.1.3: notAfter is after the issuer's notAfter");
}

/* ---- names and key identifiers ---- */

static void lint_issuer_dn_match(struct lc *c)
{
    const unsigned char *d = NULL;
    size_t dl = 0;

    if (!X509_NAME_get0_der(X509_get_subject_name(c->issuer_cert), &d, &dl) ||
        dl != c->issuer.total || memcmp(d, c->issuer.start, dl) != 0)
        ca_lint_add(c, "RFC 5280 4.1.2.4: issuer DN is not byte-identical to the issuer's subject");
}

static void lint_aki_issuer_ski(struct lc *c)
{
    const struct ext *e = ca_lint_ext_find(c, NID_authority_key_identifier);
    const unsigned char *p;
    AUTHORITY_KEYID *aki = NULL;
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(c->issuer_cert);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (e == NULL) {
        ca_lint_add(c, "RFC 5280 4.2.1.1: no authorityKeyIdentifier");
        return;
    }
    p = e->val;
    if ((aki = d2i_AUTHORITY_KEYID(NULL, &p, (long)e->vlen)) == NULL || aki->keyid == NULL) {
        ca_lint_add(c, "RFC 5280 4.2.1.1: authorityKeyIdentifier has no keyIdentifier");
    } else if (ski != NULL ? ASN1_OCTET_STRING_cmp(ski, aki->keyid) != 0
                           : (!X509_pubkey_digest(c->issuer_cert, EVP_sha1(), md, &mdlen) ||
                              (unsigned)aki->keyid->length != mdlen ||
                              memcmp(md, aki->keyid->data, mdlen) != 0)) {
        ca_lint_add(c, "RFC 5280 4.2.1.1: authorityKeyIdentifier is not the issuer's "
                       "subjectKeyIdentifier");
    }
    AUTHORITY_KEYID_free(aki);
}

static void lint_ski_present(struct lc *c)
{
    const struct ext *e = ca_lint_ext_find(c, NID_subject_key_identifier);
    const unsigned char *p;
    ASN1_OCTET_STRING *ski = NULL;

    if (e == NULL) {
        ca_lint_add(c, "RFC 5280 4.2.1.2: no subjectKeyIdentifier (required on CA certificates; "
                       "Signet puts one on every certificate)");
        return;
    }
    p = e->val;
    if ((ski = d2i_ASN1_OCTET_STRING(NULL, &p, (long)e->vlen)) == NULL || ski->length == 0)
        ca_lint_add(c, "RFC 5280 4.2.1.2: subjectKeyIdentifier is empty or does not decode");
    ASN1_OCTET_STRING_free(ski);
}

/* Decodes an extension value with OpenSSL's method for nid; NULL when it does not decode. */
void *ca_lint_ext_decode(const struct ext *e, const X509V3_EXT_METHOD **m)
{
    const unsigned char *p = e->val;
    void *v = NULL;

    if ((*m = X509V3_EXT_get_nid(e->nid)) == NULL)
        return NULL;
    if ((*m)->it)
        v = ASN1_item_d2i(NULL, &p, (long)e->vlen, ASN1_ITEM_ptr((*m)->it));
    else if ((*m)->d2i)
        v = (*m)->d2i(NULL, &p, (long)e->vlen);
    if (v != NULL && p != e->val + e->vlen) {
        if ((*m)->it)
            ASN1_item_free(v, ASN1_ITEM_ptr((*m)->it));
        else
            (*m)->ext_free(v);
        v = NULL;
    }
    return v;
}

/* ---- the set ---- */

static const struct lint_def {
    struct ca_lint_info info;
    void (*fn)(struct lc *c);
} lints[] = {
    {{"cert_structure", "RFC 5280 4.1", "the DER has the Certificate and TBSCertificate shape"},
     lint_cert_structure},
    {{"der_strict", "RFC 5280 4.1, X.690 10-11",
      "DER only: shortest definite lengths, primitive strings, BOOLEAN 00/FF, minimal INTEGERs, "
      "BIT STRING padding, sorted SET OF, DEFAULT values omitted, extension values DER"},
     lint_der_strict},
    {{"version_v3", "RFC 5280 4.1.2.1", "version is v3 when extensions are present"}, lint_version},
    {{"sig_alg_match", "RFC 5280 4.1.1.2", "the TBS signature field equals signatureAlgorithm"},
     lint_sig_alg_match},
    {{"sig_alg_issuer_key", "RFC 5280 4.1.1.2, RFC 5758 3.2, RFC 4055 5, RFC 8410 3",
      "the signature algorithm fits the issuer's key type, with the right parameters"},
     lint_sig_alg_issuer_key},
    {{"extensions_empty", "RFC 5280 4.1", "an extensions field holds at least one extension"},
     lint_extensions_empty},
    {{"rdn_empty", "RFC 5280 4.1.2.4", "no empty RelativeDistinguishedName in issuer or subject"},
     lint_rdn_empty},
    {{"serial_positive", "RFC 5280 4.1.2.2", "the serial is positive and nonzero"},
     lint_serial_positive},
    {{"serial_length", "RFC 5280 4.1.2.2", "the serial is at most 20 octets"}, lint_serial_length},
    {{"serial_minimal", "RFC 5280 4.1.2.2, X.690 8.3.2", "the serial INTEGER is minimal"},
     lint_serial_minimal},
    {{"serial_entropy", "CA/Browser Forum BR 7.1", "the serial has at least 8 octets"},
     lint_serial_entropy},
    {{"validity_format", "RFC 5280 4.1.2.5.1, 4.1.2.5.2",
      "times are YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ: seconds, 'Z', no fraction"},
     lint_validity_format},
    {{"validity_encoding", "RFC 5280 4.1.2.5",
      "UTCTime for dates through 2049, GeneralizedTime from 2050"},
     lint_validity_encoding},
    {{"validity_order", "RFC 5280 4.1.2.5", "notBefore is before notAfter"}, lint_validity_order},
    {{"validity_in_issuer", "RFC 5280 6.1.3", "the validity lies inside the issuer's"},
     lint_validity_in_issuer},
    {{"issuer_dn_match", "RFC 5280 4.1.2.4",
      "the issuer DN is byte-identical to the issuer's subject DN"},
     lint_issuer_dn_match},
    {{"aki_issuer_ski", "RFC 5280 4.2.1.1",
      "AKI present with a keyIdentifier equal to the issuer's SKI"},
     lint_aki_issuer_ski},
    {{"ski_present", "RFC 5280 4.2.1.2", "SKI present and non-empty"}, lint_ski_present},
    {{"ext_decodes", "RFC 5280 4.2", "each extension Signet knows decodes completely"},
     ca_lint_ext_decodes},
    {{"ext_duplicate", "RFC 5280 4.2", "no extension appears twice"}, ca_lint_ext_duplicate},
    {{"ext_unknown_critical", "RFC 5280 4.2", "no critical extension Signet does not know"},
     ca_lint_ext_unknown_critical},
    {{"ext_criticality", "RFC 5280 4.2.1.x, 4.2.2.x, RFC 6960 4.2.2.2.1",
      "each known extension has the criticality its standard requires (keyUsage critical)"},
     ca_lint_ext_criticality},
    {{"ku_cert_sign_ca", "RFC 5280 4.2.1.3", "keyCertSign only with CA:TRUE"},
     ca_lint_ku_cert_sign_ca},
    {{"ca_cert_sign", "RFC 5280 4.2.1.3, 4.2.1.9", "CA:TRUE comes with keyCertSign"},
     ca_lint_ca_cert_sign},
    {{"ca_bc_critical", "RFC 5280 4.2.1.9", "basicConstraints is critical when CA:TRUE"},
     ca_lint_ca_bc_critical},
    {{"pathlen_ca", "RFC 5280 4.2.1.9", "pathLenConstraint only with CA:TRUE"}, ca_lint_pathlen_ca},
    {{"ku_nonempty", "RFC 5280 4.2.1.3", "keyUsage, when present, asserts a bit"},
     ca_lint_ku_nonempty},
    {{"eku_ku", "RFC 5280 4.2.1.12, RFC 6960 4.2.2.2",
      "serverAuth, clientAuth, OCSPSigning come with the key usage they need"},
     ca_lint_eku_ku},
    {{"san_empty", "RFC 5280 4.2.1.6", "a subjectAltName holds at least one name"},
     ca_lint_san_empty},
    {{"san_criticality", "RFC 5280 4.1.2.6, 4.2.1.6",
      "empty subject: SAN present and critical; otherwise SAN not critical"},
     ca_lint_san_criticality},
    {{"san_dns", "RFC 5280 4.2.1.6, RFC 1034 3.5, RFC 6125 6.4.3",
      "dNSNames: lowercase LDH labels of 1-63, <= 253 octets, no trailing dot, '*.' first only"},
     ca_lint_san_dns},
    {{"san_ip", "RFC 5280 4.2.1.6", "iPAddresses are 4 or 16 octets"}, ca_lint_san_ip},
    {{"san_email", "RFC 5280 4.2.1.6, RFC 5321 4.1.2", "rfc822Names are local@domain, one '@'"},
     ca_lint_san_email},
    {{"san_uri", "RFC 5280 4.2.1.6, RFC 3986 3.1", "URIs start with a scheme"}, ca_lint_san_uri},
    {{"san_duplicate", "Signet profiles", "no name appears twice in the SAN"},
     ca_lint_san_duplicate},
    {{"cn_in_san", "CA/Browser Forum BR 7.1.4.3",
      "a TLS server certificate's CN is one of its DNS or IP SANs"},
     ca_lint_cn_in_san},
};

#define NLINTS (sizeof(lints) / sizeof(lints[0]))

size_t ca_lint_count(void)
{
    return NLINTS;
}

const struct ca_lint_info *ca_lint_at(size_t i)
{
    return i < NLINTS ? &lints[i].info : NULL;
}

/* Decodes what several lints share: subject, SAN, basicConstraints, keyUsage, EKU. */
static void decode_shared(struct lc *c)
{
    const unsigned char *p = c->subject.start;
    const struct ext *e;
    const X509V3_EXT_METHOD *m;

    c->subj = d2i_X509_NAME(NULL, &p, (long)c->subject.total);
    if ((e = ca_lint_ext_find(c, NID_subject_alt_name)) != NULL)
        c->san = ca_lint_ext_decode(e, &m);
    if ((e = ca_lint_ext_find(c, NID_basic_constraints)) != NULL)
        c->bc = ca_lint_ext_decode(e, &m);
    if ((e = ca_lint_ext_find(c, NID_key_usage)) != NULL)
        c->ku = ca_lint_ext_decode(e, &m);
    if ((e = ca_lint_ext_find(c, NID_ext_key_usage)) != NULL)
        c->eku = ca_lint_ext_decode(e, &m);
}

size_t ca_lint_cert(const unsigned char *der, size_t len, X509 *issuer, struct ca_lint_result *out)
{
    struct lc c;
    const char *why;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.res = out;
    c.issuer_cert = issuer;
    if ((why = parse_cert(&c, der, len)) != NULL) {
        c.cur = lints[0].info.name;
        ca_lint_add(&c, "RFC 5280 4.1: not a certificate: %s", why);
        return out->n;
    }
    decode_shared(&c);
    for (size_t i = 1; i < NLINTS; i++) {
        c.cur = lints[i].info.name;
        lints[i].fn(&c);
    }
    X509_NAME_free(c.subj);
    GENERAL_NAMES_free(c.san);
    BASIC_CONSTRAINTS_free(c.bc);
    ASN1_BIT_STRING_free(c.ku);
    EXTENDED_KEY_USAGE_free(c.eku);
    ERR_clear_error();
    return out->n + out->dropped;
}
