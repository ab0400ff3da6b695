/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_crl_fill STOREDIR CA COUNT INDEX_TXT: fills a CA's revoked index with COUNT entries
 * (random positive 16-octet serials, revocation times over the last 30 days, reasons cycling
 * through the RFC 5280 codes, every tenth with an invalidity date, certificates valid 90 days
 * more) in big batches, and writes the equivalent OpenSSL CA index.txt ("R" lines) for
 * `openssl ca -gencrl`. Only the revoked index is written: a CRL pass reads nothing else.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define BATCH 50000

static const int reasons[] = {0, 1, 3, 4, 5}; /* the names openssl ca knows */

struct batch {
    uint32_t ca;
    struct store_revoked *r;
    size_t n;
};

static enum signet_err put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct batch *b = arg;
    enum signet_err err = SIGNET_OK;

    for (size_t i = 0; i < b->n && err == SIGNET_OK; i++)
        err = store_txn_revoked_put(txn, b->ca, &b->r[i], detail);
    return err;
}

/* YYMMDDHHMMSSZ as OpenSSL's index.txt writes it. */
static void idx_time(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, cap, "%y%m%d%H%M%SZ", &tm);
}

static const char *const reason_words[] = {
    "unspecified",   "keyCompromise",        "CACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", "",
    "removeFromCRL", "privilegeWithdrawn",   "AACompromise"};

int main(int argc, char **argv)
{
    struct store_options so = {0};
    struct store *st = NULL;
    struct store_ca *ca = NULL;
    struct batch b = {0};
    char detail[SIGNET_DETAIL_MAX] = "", hex[40], exp[20], rev[20];
    uint64_t count;
    int64_t now = sg_now();
    FILE *idx;

    if (argc != 5 || !sg_parse_u64(argv[3], 1, 100000000, &count)) {
        fprintf(stderr, "usage: bench_crl_fill STOREDIR CA COUNT INDEX_TXT\n");
        return 2;
    }
    so.map_size = (size_t)4 << 30;
    if (store_open(argv[1], &so, &st, detail) != SIGNET_OK ||
        store_ca_get(st, argv[2], &ca, detail) != SIGNET_OK) {
        fprintf(stderr, "bench_crl_fill: %s\n", detail);
        return 1;
    }
    if ((idx = fopen(argv[4], "w")) == NULL || (b.r = calloc(BATCH, sizeof(*b.r))) == NULL)
        return 1;
    b.ca = ca->id;
    for (uint64_t done = 0; done < count;) {
        b.n = count - done < BATCH ? (size_t)(count - done) : BATCH;
        for (size_t i = 0; i < b.n; i++) {
            struct store_revoked *r = &b.r[i];
            unsigned rnd;
            RAND_bytes(r->serial, 16);
            RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
            r->serial[0] = (unsigned char)((r->serial[0] & 0x7f) | 0x01);
            r->serial_len = 16;
            r->revoked_at = now - (int64_t)(rnd % (30 * 86400));
            r->reason = reasons[(done + i) % 5];
            r->invalidity_date = (done + i) % 10 == 0 ? r->revoked_at - 3600 : 0;
            r->not_after = now + 90 * 86400;
            for (int k = 0; k < 16; k++)
                sprintf(hex + 2 * k, "%02X", r->serial[k]);
            idx_time(r->not_after, exp, sizeof(exp));
            idx_time(r->revoked_at, rev, sizeof(rev));
            fprintf(idx, "R\t%s\t%s%s%s\t%s\tunknown\t/CN=bench-%llu.example.test\n", exp, rev,
                    r->reason > 0 ? "," : "", r->reason > 0 ? reason_words[r->reason] : "", hex,
                    (unsigned long long)(done + i));
        }
        if (store_write(st, put_fn, &b, detail) != SIGNET_OK) {
            fprintf(stderr, "bench_crl_fill: %s\n", detail);
            return 1;
        }
        done += b.n;
    }
    fclose(idx);
    printf("filled %llu revoked entries for CA %s (id %u)\n", (unsigned long long)count, argv[2],
           ca->id);
    free(b.r);
    store_ca_free(ca);
    store_close(st);
    return 0;
}
