/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl read: reason names, URL variants, and reading CRLs back without per-entry objects (header
 * fields, extensions, entries) for the lint, the comparison with the last published CRL and the
 * web server's headers.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const reason_names[11] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
};

int crl_reason_parse(const char *name, int *out)
{
    for (int i = 0; name != NULL && i < 11; i++) {
        if (reason_names[i] != NULL && strcmp(reason_names[i], name) == 0) {
            *out = i;
            return 1;
        }
    }
    return 0;
}

const char *crl_reason_name(int code)
{
    if (code == -1)
        return "unspecified";
    return code >= 0 && code < 11 ? reason_names[code] : NULL;
}

const char *crl_reason_names(void)
{
    return "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
           "cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise";
}

int crl_url_variant(const char *url, const char *suffix, char *out, size_t cap)
{
    size_t n = strlen(url);
    int w;

    if (n >= 4 && strcmp(url + n - 4, ".crl") == 0)
        w = snprintf(out, cap, "%.*s%s.crl", (int)(n - 4), url, suffix);
    else
        w = snprintf(out, cap, "%s%s", url, suffix);
    return w > 0 && (size_t)w < cap;
}

int crl_ext_next(struct crl_der *d, struct crl_ext *out)
{
    struct crl_der e;
    const unsigned char *c;
    size_t n;
    unsigned tag;

    memset(out, 0, sizeof(*out));
    if (!crl_der_next(d, &tag, &c, &n, NULL, NULL) || tag != 0x30)
        return 0;
    e.p = c;
    e.left = n;
    if (!crl_der_next(&e, &tag, &out->oid, &out->oid_len, NULL, NULL) || tag != 0x06)
        return 0;
    if (e.left > 0 && e.p[0] == 0x01) {
        if (!crl_der_next(&e, &tag, &c, &n, NULL, NULL) || n != 1 || (c[0] != 0 && c[0] != 0xff))
            return 0;
        out->critical = c[0] == 0xff;
        out->critical_explicit_false = c[0] == 0;
    }
    if (!crl_der_next(&e, &tag, &out->val, &out->val_len, NULL, NULL) || tag != 0x04)
        return 0;
    return e.left == 0;
}

int crl_ext_is(const struct crl_ext *e, unsigned n)
{
    return e->oid_len == 3 && e->oid[0] == 0x55 && e->oid[1] == 0x1d && e->oid[2] == n;
}

int crl_entry_next(struct crl_der *d, struct crl_entry *out)
{
    struct crl_der e;
    const unsigned char *c;
    size_t n;
    unsigned tag;

    memset(out, 0, sizeof(*out));
    if (!crl_der_next(d, &tag, &c, &n, NULL, NULL) || tag != 0x30)
        return 0;
    e.p = c;
    e.left = n;
    if (!crl_der_next(&e, &tag, &out->serial, &out->serial_len, NULL, NULL) || tag != 0x02 ||
        out->serial_len == 0 || !crl_der_next(&e, &out->date_tag, &c, &n, NULL, NULL) ||
        !crl_der_time_read(out->date_tag, c, n, &out->date))
        return 0;
    if (e.left > 0 &&
        (!crl_der_next(&e, &tag, &out->exts, &out->exts_len, NULL, NULL) || tag != 0x30))
        return 0;
    return e.left == 0;
}

int crl_serial_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    while (an > 1 && a[0] == 0)
        a++, an--;
    while (bn > 1 && b[0] == 0)
        b++, bn--;
    if (an != bn)
        return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

/* An INTEGER's content as a u64. 1 = ok (non-negative, fits). */
static int int_u64(const unsigned char *c, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || (c[0] & 0x80))
        return 0;
    while (n > 1 && c[0] == 0)
        c++, n--;
    if (n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | c[i];
    *out = v;
    return 1;
}

/* Reads an extension value that is one INTEGER. 1 = ok. */
static int ext_int(const struct crl_ext *x, uint64_t *out)
{
    struct crl_der d = {x->val, x->val_len};
    const unsigned char *c;
    size_t n;
    unsigned tag;

    return crl_der_next(&d, &tag, &c, &n, NULL, NULL) && tag == 0x02 && d.left == 0 &&
           int_u64(c, n, out);
}

int crl_info_read(const unsigned char *der, size_t len, struct crl_info *out)
{
    struct crl_parts cp;
    struct crl_der d;
    struct crl_ext x;

    memset(out, 0, sizeof(*out));
    if (!crl_parse(der, len, &cp))
        return 0;
    out->this_update = cp.this_update;
    out->next_update = cp.next_update;
    d.p = cp.exts;
    d.left = cp.exts_len;
    while (d.left > 0) {
        if (!crl_ext_next(&d, &x))
            return 0;
        if (crl_ext_is(&x, 20) && !ext_int(&x, &out->number))
            return 0;
        if (crl_ext_is(&x, 27) && !ext_int(&x, &out->delta_base))
            return 0;
    }
    return out->number > 0;
}

/* Hex of an INTEGER's content for messages. */
static void serial_hex(const unsigned char *c, size_t n, char *out, size_t cap)
{
    while (n > 1 && c[0] == 0)
        c++, n--;
    if (n * 2 + 1 > cap)
        n = (cap - 1) / 2;
    sg_hex_encode(c, n, out);
}

enum signet_err crl_compare(const unsigned char *old_der, size_t old_len,
                            const unsigned char *new_der, size_t new_len, crl_may_drop_fn may_drop,
                            crl_release_fn release, void *arg, char *detail)
{
    const unsigned char *done = old_der;
    struct crl_parts o, n;
    struct crl_info oi, ni;
    struct crl_der od, nd;
    struct crl_entry oe, ne;
    int have_n = 0, c;
    char hex[2 * STORE_SERIAL_MAX + 3];

    if (!crl_parse(old_der, old_len, &o) || !crl_parse(new_der, new_len, &n) ||
        !crl_info_read(old_der, old_len, &oi) || !crl_info_read(new_der, new_len, &ni)) {
        sg_detail(detail, "CRL comparison: the last published or the new CRL does not parse");
        return SIGNET_E_INVALID;
    }
    if (ni.number <= oi.number) {
        sg_detail(detail, "CRL number %llu is not above the last published %llu; not published",
                  (unsigned long long)ni.number, (unsigned long long)oi.number);
        return SIGNET_E_POLICY;
    }
    od.p = o.entries;
    od.left = o.entries_len;
    nd.p = n.entries;
    nd.left = n.entries_len;
    while (od.left > 0) {
        if (!crl_entry_next(&od, &oe))
            return SIGNET_E_INVALID;
        if (release != NULL && (size_t)(od.p - done) >= ((size_t)1 << 20)) {
            release(done, (size_t)(od.p - done), arg);
            done = od.p;
        }
        while (1) {
            if (!have_n && nd.left > 0) {
                if (!crl_entry_next(&nd, &ne))
                    return SIGNET_E_INVALID;
                have_n = 1;
            }
            c = have_n ? crl_serial_cmp(ne.serial, ne.serial_len, oe.serial, oe.serial_len) : 1;
            if (c < 0) {
                have_n = 0; /* a new entry */
                continue;
            }
            break;
        }
        if (c == 0) {
            have_n = 0;
            continue;
        }
        if (may_drop != NULL && may_drop(oe.serial, oe.serial_len, arg))
            continue;
        serial_hex(oe.serial, oe.serial_len, hex, sizeof(hex));
        sg_detail(detail,
                  "CRL %llu would drop serial %s, listed in CRL %llu and not expired: not "
                  "published (a CRL never loses an unexpired entry); check the store's revoked "
                  "index",
                  (unsigned long long)ni.number, hex, (unsigned long long)oi.number);
        return SIGNET_E_POLICY;
    }
    if (release != NULL && od.p > done)
        release(done, (size_t)(od.p - done), arg);
    return SIGNET_OK;
}
