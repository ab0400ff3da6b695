/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crl build: the TBSCertList of RFC 5280 5.1 encoded while one cursor walks the revoked index,
 * into one buffer laid out so that no entry is ever copied again:
 *
 *   [reserve][version alg issuer thisUpdate nextUpdate][6 spare][entries ...][[0] extensions]
 *
 * Once the entries are counted, the revokedCertificates header goes into the spare bytes, the
 * small prefix moves up against it, and the TBS header goes in front. Signing appends the
 * signatureAlgorithm and the BIT STRING and puts the CertificateList header in front of that.
 */
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RESERVE   16 /* room for the TBS and CertificateList headers (6 bytes each at most) */
#define SPARE     6  /* room for the revokedCertificates header */
#define ENTRY_MAX 96 /* bytes of one revokedCertificates entry, at most (see put_entry) */

struct crl_doc {
    struct crl_buf b;
    size_t tbs_off, tbs_end;           /* the TBS within b */
    size_t der_off;                    /* the CertificateList, once signed (0 before) */
    EVP_PKEY *pub;                     /* borrowed from the params: the signature algorithm */
    unsigned char dg[EVP_MAX_MD_SIZE]; /* the TBS's digest, once crl_doc_sign made it */
    size_t dg_len;
};

unsigned crl_shard_of(const unsigned char *serial, size_t len, unsigned shards)
{
    unsigned r = 0;

    if (shards <= 1)
        return 0;
    for (size_t i = 0; i < len; i++)
        r = (unsigned)(((uint64_t)r * 256 + serial[i]) % shards);
    return r;
}

struct pass {
    const struct crl_params *p;
    struct crl_buf *b;
    struct crl_stats *stats;
    size_t seen;  /* entries of the index walked, this CRL's or not */
    size_t total; /* entries in the whole revoked index, when the walk began */
};

/*
 * How the walk keeps memory within RSS_RATIO times the CRL it makes: every RSS_EVERY entries the
 * resident set is compared with that much of the CRL's projected size (bytes written so far,
 * scaled by the entries still to walk), never less than RSS_FLOOR; over it, the store's map is
 * released (STORE_ITER_RELEASE). Releasing only then, rather than every few thousand entries,
 * spares the faults of pages visited again (docs/crl.md "Where the time goes").
 */
#define RSS_EVERY 4096
#define RSS_RATIO 1.7
#define RSS_FLOOR ((size_t)32 << 20)

static int pace(struct pass *ps)
{
    double projected, budget;
    size_t rss;

    if (++ps->seen % RSS_EVERY != 0 || (rss = sg_rss_bytes()) == 0)
        return STORE_ITER_PACED;
    projected = (double)ps->b->len;
    if (ps->total > ps->seen)
        projected *= (double)ps->total / (double)ps->seen;
    budget = RSS_RATIO * projected;
    if (budget < (double)RSS_FLOOR)
        budget = (double)RSS_FLOOR;
    return (double)rss > budget ? STORE_ITER_RELEASE : STORE_ITER_PACED;
}

/* Encodes one revokedCertificates entry (RFC 5280 5.1.2.6, 5.3.1, 5.3.2) at the buffer's end. */
static int put_entry(const struct store_revoked *r, void *arg)
{
    struct pass *ps = arg;
    unsigned char e[128], *c = e + 2;
    size_t n = 0, xn = 0;
    unsigned char x[64];

    if (ps->p->shards > 1 &&
        crl_shard_of(r->serial, r->serial_len, ps->p->shards) != ps->p->shard) {
        ps->stats->other_shards++;
        return pace(ps);
    }
    if (ps->p->delta_base > 0 && r->revoked_at < ps->p->delta_since) {
        ps->stats->other_shards++;
        return pace(ps);
    }
    if (r->not_after != 0 && r->not_after < ps->p->this_update) {
        ps->stats->expired++;
        return pace(ps);
    }
    c[0] = 0x02;
    c[1] = (unsigned char)crl_der_uint(c + 2, r->serial, r->serial_len);
    n = 2 + c[1];
    n += crl_der_time(c + n, r->revoked_at);
    if (r->reason > 0) { /* unspecified (0) is omitted, RFC 5280 5.3.1 */
        static const unsigned char rc[] = {0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
                                           0x15, 0x04, 0x03, 0x0a, 0x01};
        memcpy(x + xn, rc, sizeof(rc));
        x[xn + sizeof(rc)] = (unsigned char)r->reason;
        xn += sizeof(rc) + 1;
    }
    if (r->invalidity_date != 0) {
        static const unsigned char id[] = {0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11};
        memcpy(x + xn, id, sizeof(id));
        xn += sizeof(id) + crl_der_gentime(x + xn + sizeof(id), r->invalidity_date);
    }
    if (xn > 0) {
        n += crl_der_hdr(c + n, 0x30, xn);
        memcpy(c + n, x, xn);
        n += xn;
    }
    crl_der_hdr(e, 0x30, n); /* n < 128: a two-byte header */
    crl_buf_put(ps->b, e, n + 2);
    ps->stats->entries++;
    return ps->b->err ? 0 : pace(ps);
}

/* Appends Extension { extnID, critical?, OCTET STRING { value } } to x. */
static void put_ext(struct crl_buf *x, const unsigned char *oid, size_t oidlen, int critical,
                    const unsigned char *val, size_t vlen)
{
    unsigned char h[16];
    size_t hl, ol, inner = oidlen + (critical ? 3 : 0);

    ol = crl_der_hdr(h + 8, 0x04, vlen); /* the OCTET STRING header, sized first */
    inner += ol + vlen;
    hl = crl_der_hdr(h, 0x30, inner);
    crl_buf_put(x, h, hl);
    crl_buf_put(x, oid, oidlen);
    if (critical)
        crl_buf_put(x, "\x01\x01\xff", 3);
    crl_buf_put(x, h + 8, ol);
    crl_buf_put(x, val, vlen);
}

/* DistributionPointName fullName [0] { [0] { URI } } as a whole element, into out. */
static size_t dp_name(unsigned char *out, const char *url)
{
    size_t ul = strlen(url), n = 0;
    unsigned char u[8], g[8];
    size_t uh = crl_der_hdr(u, 0x86, ul);
    size_t gh = crl_der_hdr(g, 0xa0, uh + ul);

    n += crl_der_hdr(out, 0xa0, gh + uh + ul);
    memcpy(out + n, g, gh);
    memcpy(out + n + gh, u, uh);
    memcpy(out + n + gh + uh, url, ul);
    return n + gh + uh + ul;
}

/* The crlExtensions (RFC 5280 5.2) into x: AKI, CRLNumber, deltaCRLIndicator, IDP, freshestCRL. */
static void put_extensions(const struct crl_params *p, struct crl_buf *x)
{
    unsigned char v[CRL_URL_MAX + 64], t[CRL_URL_MAX + 32];
    size_t n, k;

    /* AKI (5.2.1): keyIdentifier [0] only */
    n = crl_der_hdr(v, 0x30, p->issuer_keyid_len + 2);
    n += crl_der_hdr(v + n, 0x80, p->issuer_keyid_len);
    memcpy(v + n, p->issuer_keyid, p->issuer_keyid_len);
    put_ext(x, (const unsigned char *)"\x06\x03\x55\x1d\x23", 5, 0, v, n + p->issuer_keyid_len);
    /* CRLNumber (5.2.3) */
    k = crl_der_u64(t, p->number);
    n = crl_der_hdr(v, 0x02, k);
    memcpy(v + n, t, k);
    put_ext(x, (const unsigned char *)"\x06\x03\x55\x1d\x14", 5, 0, v, n + k);
    if (p->delta_base > 0) { /* deltaCRLIndicator (5.2.4): critical */
        k = crl_der_u64(t, p->delta_base);
        n = crl_der_hdr(v, 0x02, k);
        memcpy(v + n, t, k);
        put_ext(x, (const unsigned char *)"\x06\x03\x55\x1d\x1b", 5, 1, v, n + k);
    }
    if (p->idp_url != NULL) { /* issuingDistributionPoint (5.2.5): critical */
        k = dp_name(t, p->idp_url);
        if (p->only_user_certs)
            memcpy(t + k, "\x81\x01\xff", 3), k += 3;
        n = crl_der_hdr(v, 0x30, k);
        memcpy(v + n, t, k);
        put_ext(x, (const unsigned char *)"\x06\x03\x55\x1d\x1c", 5, 1, v, n + k);
    }
    if (p->freshest_url != NULL && p->delta_base == 0) { /* freshestCRL (5.2.6) */
        unsigned char dp[CRL_URL_MAX + 32];
        size_t dn = dp_name(dp + 8, p->freshest_url), dh = crl_der_hdr(t, 0x30, dn);
        memcpy(t + dh, dp + 8, dn);
        n = crl_der_hdr(v, 0x30, dh + dn);
        memcpy(v + n, t, dh + dn);
        put_ext(x, (const unsigned char *)"\x06\x03\x55\x1d\x2e", 5, 0, v, n + dh + dn);
    }
}

/* Checks what the caller gave. */
static enum signet_err params_ok(const struct crl_params *p, size_t *alg_len, char *detail)
{
    const EVP_MD *md;

    if (p->issuer_pub == NULL || crl_sig_alg(p->issuer_pub, alg_len, &md) == NULL) {
        sg_detail(detail, "CRL: the issuer's key type is not one Signet signs CRLs with");
        return SIGNET_E_USAGE;
    }
    if (p->issuer_name == NULL || p->issuer_name_len == 0 || p->issuer_name_len > 4096 ||
        p->issuer_keyid == NULL || p->issuer_keyid_len == 0 || p->issuer_keyid_len > 64 ||
        p->number == 0 || p->this_update >= p->next_update ||
        (p->idp_url && strlen(p->idp_url) >= CRL_URL_MAX) ||
        (p->freshest_url && strlen(p->freshest_url) >= CRL_URL_MAX) || p->shards > CRL_SHARDS_MAX ||
        (p->shards > 1 && p->shard >= p->shards)) {
        sg_detail(detail, "CRL: missing issuer name or key id, number 0, thisUpdate not before "
                          "nextUpdate, a URL too long, or a bad shard");
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

/* Writes the headers around the entries and the TBS (see the file comment). */
static void close_tbs(struct crl_doc *d, size_t prefix_len, size_t entries_len)
{
    unsigned char h[8];
    size_t hl = entries_len > 0 ? crl_der_hdr(h, 0x30, entries_len) : 0;
    size_t ps = RESERVE + SPARE - hl, tl;

    memmove(d->b.p + ps, d->b.p + RESERVE, prefix_len);
    memcpy(d->b.p + ps + prefix_len, h, hl);
    tl = crl_der_hdr(h, 0x30, d->b.len - ps);
    memcpy(d->b.p + ps - tl, h, tl);
    d->tbs_off = ps - tl;
    d->tbs_end = d->b.len;
}

/*
 * Room for one stream's CRL when the revoked index holds n entries (all CAs): at most ENTRY_MAX
 * bytes an entry (a 20-octet serial, GeneralizedTime, reason and invalidity date), a shard's
 * share of them, plus the header, extensions and signature; never more than the store keeps
 * for one CRL. Reserved address space only: the buffer maps pages as it fills.
 */
static size_t reserve_for(size_t n, unsigned shards)
{
    const size_t room = 65536, most = (STORE_CRL_MAX - room) / ENTRY_MAX;

    if (shards > 1)
        n = n / shards + n / shards / 8 + 1; /* serials are random: an eighth for the spread */
    return (n < most ? n : most) * ENTRY_MAX + room;
}

/* See crl.h. */
enum signet_err crl_build(struct store *st, uint32_t ca_id, const struct crl_params *p,
                          struct crl_doc **out, struct crl_stats *stats, char *detail)
{
    struct crl_doc *d = NULL;
    struct crl_buf x = {0};
    struct crl_stats s0;
    struct pass ps;
    unsigned char t[24], h[8];
    const EVP_MD *md;
    size_t alg_len = 0, prefix_len, entries_start, ext_start;
    enum signet_err err;

    *out = NULL;
    if (stats == NULL)
        stats = &s0;
    memset(stats, 0, sizeof(*stats));
    if ((err = params_ok(p, &alg_len, detail)) != SIGNET_OK)
        return err;
    if ((d = calloc(1, sizeof(*d))) == NULL)
        goto nomem;
    d->pub = p->issuer_pub;
    memset(&ps, 0, sizeof(ps));
    ps.total = store_revoked_total(st);
    crl_buf_reserve(&d->b, reserve_for(ps.total, p->shards));
    crl_buf_room(&d->b, RESERVE);
    crl_buf_put(&d->b, "\x02\x01\x01", 3); /* version v2 (5.1.2.1) */
    crl_buf_put(&d->b, crl_sig_alg(p->issuer_pub, &alg_len, &md), alg_len);
    crl_buf_put(&d->b, p->issuer_name, p->issuer_name_len);
    crl_buf_put(&d->b, t, crl_der_time(t, p->this_update));
    crl_buf_put(&d->b, t, crl_der_time(t, p->next_update));
    prefix_len = d->b.len - RESERVE;
    crl_buf_room(&d->b, SPARE);
    entries_start = d->b.len;
    ps.p = p;
    ps.b = &d->b;
    ps.stats = stats;
    if ((err = store_revoked_iter(st, ca_id, put_entry, &ps, detail)) != SIGNET_OK)
        goto out;
    if (d->b.err)
        goto nomem;
    ext_start = d->b.len;
    put_extensions(p, &x);
    if (x.err)
        goto nomem;
    {
        size_t sl = crl_der_hdr(t, 0x30, x.len);
        crl_buf_put(&d->b, h, crl_der_hdr(h, 0xa0, sl + x.len));
        crl_buf_put(&d->b, t, sl);
        crl_buf_put(&d->b, x.p, x.len);
    }
    if (d->b.err)
        goto nomem;
    close_tbs(d, prefix_len, ext_start - entries_start);
    err = SIGNET_OK;
    goto out;
nomem:
    sg_detail(detail, "CRL of CA %u: out of memory after %zu entries", ca_id, stats->entries);
    err = SIGNET_E_NOMEM;
out:
    free(x.p);
    if (err == SIGNET_OK) {
        *out = d;
        d = NULL;
    }
    crl_doc_free(d);
    return err;
}

void crl_doc_free(struct crl_doc *d)
{
    if (d == NULL)
        return;
    free(d->b.p);
    free(d);
}

const unsigned char *crl_doc_tbs(const struct crl_doc *d, size_t *out_len)
{
    *out_len = d->tbs_end - d->tbs_off;
    return d->b.p + d->tbs_off;
}

const unsigned char *crl_doc_der(const struct crl_doc *d, size_t *out_len)
{
    *out_len = d->der_off ? d->b.len - d->der_off : 0;
    return d->der_off ? d->b.p + d->der_off : NULL;
}

/* See internal.h. */
void crl_doc_view(struct crl_doc *d, struct crl_doc_view *v)
{
    v->b = &d->b;
    v->tbs_off = &d->tbs_off;
    v->tbs_end = &d->tbs_end;
    v->der_off = &d->der_off;
    v->pub = d->pub;
    v->dg = d->dg;
    v->dg_len = &d->dg_len;
}
