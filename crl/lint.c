/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl lint: every CRL is read back before the token signs it (the same TBS signed with a
 * throwaway key of the CA's type): structure and version, issuer bytes, times and their
 * encodings, AKI, CRLNumber, IDP and delta consistency, entries (serials positive, unique,
 * sorted; reason codes; invalidity dates), no empty sequences, and OpenSSL's own parse.
 */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct crl_lint_info lints[] = {
    {"crl_structure", "RFC 5280 5.1", "a CertificateList of definite, minimal DER lengths"},
    {"crl_version", "RFC 5280 5.1.2.1", "version v2 (extensions are present)"},
    {"crl_sig_alg", "RFC 5280 5.1.1.2", "signature in the TBS equals signatureAlgorithm"},
    {"crl_issuer", "RFC 5280 5.1.2.3", "issuer bytes identical to the CA certificate's subject"},
    {"crl_times", "RFC 5280 5.1.2.4-5",
     "nextUpdate present, after thisUpdate; UTCTime through "
     "2049, GeneralizedTime from 2050"},
    {"crl_aki", "RFC 5280 5.2.1", "AKI present, not critical, keyIdentifier = issuer's SKI"},
    {"crl_number", "RFC 5280 5.2.3", "CRLNumber present, not critical, positive, 20 octets"},
    {"crl_extensions", "RFC 5280 5.2",
     "no duplicate, unknown critical or empty extension; no "
     "empty sequences"},
    {"crl_idp", "RFC 5280 5.2.5", "IDP critical and naming the configured URL"},
    {"crl_delta", "RFC 5280 5.2.4",
     "deltaCRLIndicator critical, base below the number; "
     "freshestCRL only in full CRLs"},
    {"crl_entry_serial", "RFC 5280 5.1.2.6",
     "serials positive, at most 20 octets, unique and "
     "in order"},
    {"crl_entry_reason", "RFC 5280 5.3.1",
     "reasonCode a defined value, not unspecified, "
     "removeFromCRL only in deltas, not critical"},
    {"crl_entry_invalidity", "RFC 5280 5.3.2", "invalidityDate a GeneralizedTime"},
    {"crl_openssl_parse", "OpenSSL d2i_X509_CRL",
     "OpenSSL parses it and re-encodes the same "
     "bytes"},
};
#define NLINTS         (sizeof(lints) / sizeof(lints[0]))
#define SAMPLE_ENTRIES 4096 /* entries OpenSSL parses of a CRL too large to parse whole */

size_t crl_lint_count(void)
{
    return NLINTS;
}

const struct crl_lint_info *crl_lint_at(size_t i)
{
    return i < NLINTS ? &lints[i] : NULL;
}

static void find(struct crl_lint_result *r, const char *lint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a finding (kept up to CRL_FINDINGS_MAX, the rest counted). */
static void find(struct crl_lint_result *r, const char *lint, const char *fmt, ...)
{
    va_list ap;

    if (r->n >= CRL_FINDINGS_MAX) {
        r->dropped++;
        return;
    }
    r->f[r->n].lint = lint;
    va_start(ap, fmt);
    vsnprintf(r->f[r->n].msg, sizeof(r->f[r->n].msg), fmt, ap);
    va_end(ap);
    r->n++;
}

/*
 * The encoding RFC 5280 5.1.2.4 asks for a time: UTCTime from 1950 through 2049, GeneralizedTime
 * otherwise (the bounds are 1950-01-01 and 2050-01-01 at 00:00:00Z; no re-encoding per entry).
 */
static void check_time_tag(struct crl_lint_result *r, const char *what, unsigned tag, int64_t t)
{
    unsigned want = t >= INT64_C(-631152000) && t < INT64_C(2524608000) ? 0x17 : 0x18;

    if (want != tag)
        find(r, "crl_times",
             "RFC 5280 5.1.2.4: %s encoded as %s; dates through 2049 are "
             "UTCTime, from 2050 GeneralizedTime",
             what, tag == 0x17 ? "UTCTime" : "GeneralizedTime");
}

/* Checks one entry's extensions. */
static void lint_entry_exts(const struct crl_entry *e, int delta, struct crl_lint_result *r)
{
    struct crl_der d = {e->exts, e->exts_len};
    struct crl_ext x;
    unsigned seen = 0;

    if (e->exts != NULL && e->exts_len == 0)
        find(r, "crl_extensions", "RFC 5280 5.1.2.6: an entry with an empty crlEntryExtensions");
    while (d.left > 0) {
        if (!crl_ext_next(&d, &x)) {
            find(r, "crl_structure", "RFC 5280 5.1.2.6: an entry extension does not parse");
            return;
        }
        if (crl_ext_is(&x, 21)) {
            struct crl_der v = {x.val, x.val_len};
            const unsigned char *c;
            size_t n;
            unsigned tag;
            if (seen & 1)
                find(r, "crl_extensions", "RFC 5280 4.2: reasonCode twice in one entry");
            seen |= 1;
            if (!crl_der_next(&v, &tag, &c, &n, NULL, NULL) || tag != 0x0a || n != 1 ||
                v.left != 0 || c[0] > 10 || c[0] == 7)
                find(r, "crl_entry_reason", "RFC 5280 5.3.1: reasonCode is not a defined value");
            else if (c[0] == 0)
                find(r, "crl_entry_reason",
                     "RFC 5280 5.3.1: reasonCode unspecified must be "
                     "omitted");
            else if (c[0] == 8 && !delta)
                find(r, "crl_entry_reason", "RFC 5280 5.3.1: removeFromCRL outside a delta CRL");
            if (x.critical)
                find(r, "crl_entry_reason", "RFC 5280 5.3.1: reasonCode marked critical");
        } else if (crl_ext_is(&x, 24)) {
            struct crl_der v = {x.val, x.val_len};
            const unsigned char *c;
            size_t n;
            unsigned tag;
            int64_t t;
            if (seen & 2)
                find(r, "crl_extensions", "RFC 5280 4.2: invalidityDate twice in one entry");
            seen |= 2;
            if (!crl_der_next(&v, &tag, &c, &n, NULL, NULL) || tag != 0x18 ||
                !crl_der_time_read(tag, c, n, &t))
                find(r, "crl_entry_invalidity",
                     "RFC 5280 5.3.2: invalidityDate is not a "
                     "GeneralizedTime");
        } else if (x.critical) {
            find(r, "crl_extensions", "RFC 5280 5.3: an unknown critical entry extension");
        }
    }
}

/* Walks the entries: serials, dates, extensions. */
static void lint_entries(const struct crl_parts *cp, int delta, struct crl_lint_result *r)
{
    struct crl_der d = {cp->entries, cp->entries_len};
    struct crl_entry e, prev;
    size_t i = 0;
    int bad_time = 0;

    if (cp->entries != NULL && cp->entries_len == 0)
        find(r, "crl_extensions",
             "RFC 5280 5.1.2.6: revokedCertificates present but empty "
             "(it must be absent)");
    while (d.left > 0) {
        if (!crl_entry_next(&d, &e)) {
            find(r, "crl_structure", "RFC 5280 5.1.2.6: entry %zu does not parse", i);
            return;
        }
        if ((e.serial[0] & 0x80) || (e.serial_len == 1 && e.serial[0] == 0))
            find(r, "crl_entry_serial",
                 "RFC 5280 4.1.2.2: entry %zu has a serial that is not "
                 "positive",
                 i);
        else if (e.serial_len > 21 || (e.serial_len == 21 && e.serial[0] != 0))
            find(r, "crl_entry_serial",
                 "RFC 5280 4.1.2.2: entry %zu has a serial longer than "
                 "20 octets",
                 i);
        else if (e.serial_len > 1 && e.serial[0] == 0 && !(e.serial[1] & 0x80))
            find(r, "crl_structure", "X.690 8.3.2: entry %zu's serial is not minimal", i);
        if (i > 0 && crl_serial_cmp(prev.serial, prev.serial_len, e.serial, e.serial_len) >= 0)
            find(r, "crl_entry_serial",
                 "entry %zu: serials must be unique and in increasing "
                 "order (one cursor pass writes them so)",
                 i);
        if (!bad_time) {
            size_t before = r->n;
            check_time_tag(r, "a revocationDate", e.date_tag, e.date);
            bad_time = r->n != before;
        }
        lint_entry_exts(&e, delta, r);
        prev = e;
        i++;
    }
}

/* Checks the CRL's extensions against the parameters. */
static void lint_exts(const struct crl_parts *cp, const struct crl_params *p,
                      struct crl_lint_result *r)
{
    struct crl_der d = {cp->exts, cp->exts_len};
    struct crl_ext x;
    unsigned seen = 0, bit;

    if (cp->exts == NULL || cp->exts_len == 0) {
        find(r, cp->exts ? "crl_extensions" : "crl_number",
             "RFC 5280 5.2: no crlExtensions (AKI and CRLNumber are required)");
        return;
    }
    while (d.left > 0) {
        if (!crl_ext_next(&d, &x)) {
            find(r, "crl_structure", "RFC 5280 5.2: an extension does not parse");
            return;
        }
        bit = x.oid_len == 3 && x.oid[0] == 0x55 && x.oid[1] == 0x1d ? x.oid[2] : 0;
        if (bit >= 20 && bit < 64) {
            if (seen & (1u << (bit - 20)))
                find(r, "crl_extensions", "RFC 5280 4.2: extension 2.5.29.%u appears twice", bit);
            seen |= 1u << (bit - 20);
        }
        if (x.critical_explicit_false)
            find(r, "crl_extensions", "X.690 11.5: critical FALSE encoded (the default)");
        if (x.val_len == 0 || (x.val_len == 2 && x.val[0] == 0x30 && x.val[1] == 0))
            find(r, "crl_extensions", "RFC 5280 5.2: extension 2.5.29.%u is empty", bit);
        if (crl_ext_is(&x, 35)) {
            /* SEQUENCE { [0] keyid } exactly */
            size_t k = p->issuer_keyid_len;
            if (x.critical)
                find(r, "crl_aki", "RFC 5280 5.2.1: AKI marked critical");
            if (x.val_len != k + 4 || x.val[0] != 0x30 || x.val[2] != 0x80 || x.val[3] != k ||
                memcmp(x.val + 4, p->issuer_keyid, k) != 0)
                find(r, "crl_aki", "RFC 5280 5.2.1: AKI keyIdentifier is not the issuer's SKI");
        } else if (crl_ext_is(&x, 20)) {
            struct crl_der v = {x.val, x.val_len};
            const unsigned char *c;
            size_t n;
            unsigned tag;
            if (x.critical)
                find(r, "crl_number", "RFC 5280 5.2.3: CRLNumber marked critical");
            if (!crl_der_next(&v, &tag, &c, &n, NULL, NULL) || tag != 0x02 || n == 0 || n > 20 ||
                (c[0] & 0x80) || (n == 1 && c[0] == 0))
                find(r, "crl_number",
                     "RFC 5280 5.2.3: CRLNumber not a positive INTEGER of at "
                     "most 20 octets");
        } else if (crl_ext_is(&x, 27)) {
            if (!x.critical)
                find(r, "crl_delta", "RFC 5280 5.2.4: deltaCRLIndicator must be critical");
        } else if (crl_ext_is(&x, 28)) {
            char want[CRL_URL_MAX + 32];
            if (!x.critical)
                find(r, "crl_idp", "RFC 5280 5.2.5: issuingDistributionPoint must be critical");
            if (p->idp_url == NULL || x.val_len < strlen(p->idp_url) ||
                memmem(x.val, x.val_len, p->idp_url, strlen(p->idp_url)) == NULL) {
                snprintf(want, sizeof(want), "%s", p->idp_url ? p->idp_url : "(none)");
                find(r, "crl_idp", "RFC 5280 5.2.5: IDP does not name %s", want);
            }
        } else if (crl_ext_is(&x, 46)) {
            if (x.critical)
                find(r, "crl_delta", "RFC 5280 5.2.6: freshestCRL marked critical");
            if (p->delta_base > 0)
                find(r, "crl_delta", "RFC 5280 5.2.6: freshestCRL in a delta CRL");
        } else if (x.critical) {
            find(r, "crl_extensions", "RFC 5280 5.2: an unknown critical CRL extension");
        }
    }
    if (!(seen & (1u << (35 - 20))))
        find(r, "crl_aki", "RFC 5280 5.2.1: no authorityKeyIdentifier");
    if (!(seen & 1u))
        find(r, "crl_number", "RFC 5280 5.2.3: no CRLNumber");
    if (p->idp_url != NULL && !(seen & (1u << (28 - 20))))
        find(r, "crl_idp", "RFC 5280 5.2.5: no issuingDistributionPoint");
    if ((p->delta_base > 0) != !!(seen & (1u << (27 - 20))))
        find(r, "crl_delta", "RFC 5280 5.2.4: deltaCRLIndicator %s",
             p->delta_base > 0 ? "missing from a delta CRL" : "in a full CRL");
}

/* The CRLNumber and delta base against the parameters. */
static void lint_numbers(const unsigned char *der, size_t len, const struct crl_params *p,
                         struct crl_lint_result *r)
{
    struct crl_info in;

    if (!crl_info_read(der, len, &in))
        return; /* the structural lints say why */
    if (in.number != p->number)
        find(r, "crl_number", "CRLNumber %llu, not the number reserved for it (%llu)",
             (unsigned long long)in.number, (unsigned long long)p->number);
    if (p->delta_base > 0 && (in.delta_base != p->delta_base || in.delta_base >= in.number))
        find(r, "crl_delta", "RFC 5280 5.2.4: delta base %llu, expected %llu below number %llu",
             (unsigned long long)in.delta_base, (unsigned long long)p->delta_base,
             (unsigned long long)in.number);
}

/* OpenSSL's parse and re-encoding of the whole CRL. */
static void lint_openssl(const unsigned char *der, size_t len, struct crl_lint_result *r)
{
    const unsigned char *q = der;
    unsigned char *re = NULL;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
    int rl;

    if (crl == NULL || q != der + len) {
        find(r, "crl_openssl_parse", "OpenSSL cannot parse the CRL");
    } else if ((rl = i2d_X509_CRL(crl, &re)) <= 0 || (size_t)rl != len ||
               memcmp(re, der, len) != 0) {
        find(r, "crl_openssl_parse", "OpenSSL re-encodes the CRL differently (not DER)");
    }
    ERR_clear_error();
    OPENSSL_free(re);
    X509_CRL_free(crl);
}

/*
 * For a CRL too large to parse whole: the same CertificateList with only its first entries
 * (the header, the extensions and the signature bytes unchanged), parsed the same way. OpenSSL
 * then sees every field Signet wrote and a sample of the entries, without an object per entry
 * for the whole list (Signet's own walk above has read every entry).
 */
static void lint_openssl_sample(const struct crl_parts *cp, struct crl_lint_result *r)
{
    struct crl_der d = {cp->entries, cp->entries_len};
    struct crl_entry e;
    struct crl_buf b = {0}, t = {0};
    unsigned char h[8];
    size_t th, eh, n = 0;
    const unsigned char *tbs_c, *ent_hdr, *cut = cp->entries;

    /* the TBS header's length: whatever makes header + content = tbs_len */
    for (th = 2; th < 8 && crl_der_hdr(h, 0x30, cp->tbs_len - th) != th; th++)
        ;
    tbs_c = cp->tbs + th;
    eh = crl_der_hdr(h, 0x30, cp->entries_len);
    ent_hdr = cp->entries - eh;
    while (n < SAMPLE_ENTRIES && d.left > 0 && crl_entry_next(&d, &e))
        n++, cut = d.p;
    crl_buf_put(&t, tbs_c, (size_t)(ent_hdr - tbs_c));
    crl_buf_tlv(&t, 0x30, cp->entries, (size_t)(cut - cp->entries));
    crl_buf_put(&t, cp->entries + cp->entries_len,
                (size_t)(cp->tbs + cp->tbs_len - (cp->entries + cp->entries_len)));
    {
        struct crl_buf o = {0};
        unsigned char bh[8];
        crl_buf_tlv(&o, 0x30, t.p, t.len);
        crl_buf_put(&o, cp->alg, cp->alg_len);
        crl_buf_put(&o, bh, crl_der_hdr(bh, 0x03, cp->sig_len + 1));
        crl_buf_put(&o, "", 1);
        crl_buf_put(&o, cp->sig, cp->sig_len);
        crl_buf_tlv(&b, 0x30, o.p, o.len);
        free(o.p);
    }
    if (b.err || t.err)
        find(r, "crl_openssl_parse", "out of memory while sampling the CRL for OpenSSL");
    else
        lint_openssl(b.p, b.len, r);
    free(t.p);
    free(b.p);
}

size_t crl_lint(const unsigned char *der, size_t len, const struct crl_params *p, size_t parse_max,
                struct crl_lint_result *out)
{
    struct crl_parts cp;
    size_t alg_len = 0;
    const EVP_MD *md;
    const unsigned char *alg = crl_sig_alg(p->issuer_pub, &alg_len, &md);

    memset(out, 0, sizeof(*out));
    if (!crl_parse(der, len, &cp)) {
        find(out, "crl_structure", "RFC 5280 5.1: not a CertificateList in DER");
        return out->n;
    }
    if (!cp.version_present || cp.version != 1)
        find(out, "crl_version", "RFC 5280 5.1.2.1: version must be v2 (1)");
    if (cp.alg_len != cp.tbs_alg_len || memcmp(cp.alg, cp.tbs_alg, cp.alg_len) != 0 ||
        alg == NULL || cp.alg_len != alg_len || memcmp(cp.alg, alg, alg_len) != 0)
        find(out, "crl_sig_alg",
             "RFC 5280 5.1.1.2: signature algorithms differ or do not "
             "match the CA key");
    if (cp.issuer_len != p->issuer_name_len ||
        memcmp(cp.issuer, p->issuer_name, cp.issuer_len) != 0)
        find(out, "crl_issuer", "RFC 5280 5.1.2.3: issuer differs from the CA's subject bytes");
    if (!cp.has_next)
        find(out, "crl_times", "RFC 5280 5.1.2.5: nextUpdate missing");
    else if (cp.next_update <= cp.this_update)
        find(out, "crl_times", "RFC 5280 5.1.2.5: nextUpdate not after thisUpdate");
    check_time_tag(out, "thisUpdate", cp.this_tag, cp.this_update);
    if (cp.has_next)
        check_time_tag(out, "nextUpdate", cp.next_tag, cp.next_update);
    lint_exts(&cp, p, out);
    lint_numbers(der, len, p, out);
    lint_entries(&cp, p->delta_base > 0, out);
    if (parse_max == 0 || len <= parse_max)
        lint_openssl(der, len, out);
    else if (cp.entries != NULL)
        lint_openssl_sample(&cp, out);
    return out->n + out->dropped;
}
