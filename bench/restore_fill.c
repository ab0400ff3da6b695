/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_restore_fill STOREDIR CA COUNT: adds COUNT certificate records to a CA (as issuance
 * leaves them: ISSUED, a 700-byte body standing in for the DER, 90 days left) with 1% revoked
 * (REVOKED record, revoked index entry, and an OCSP record that already says revoked, as the
 * re-signing after a revocation leaves it), in batches, so bench/restore.sh can time a restore
 * of a store of realistic size without issuing COUNT certificates through the HSM first.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define BATCH 5000

struct batch {
    uint32_t ca;
    size_t first, n;
    int64_t now;
};

static enum signet_err put_fn(struct store_txn *txn, void *arg, char *detail)
{
    struct batch *b = arg;
    static unsigned char der[700];
    enum signet_err err = SIGNET_OK;

    for (size_t i = 0; i < b->n && err == SIGNET_OK; i++) {
        size_t k = b->first + i;
        struct store_cert c;
        memset(&c, 0, sizeof(c));
        c.ca_id = b->ca;
        c.serial_len = 16;
        if (RAND_bytes(c.serial, 16) != 1)
            return SIGNET_E_CRYPTO;
        c.serial[0] = (unsigned char)(0x10 | (c.serial[0] & 0x3f));
        c.state = k % 100 == 0 ? STORE_CERT_REVOKED : STORE_CERT_ISSUED;
        c.not_after = b->now + 90 * 86400;
        c.created = b->now - 3600;
        snprintf(c.profile, sizeof(c.profile), "tls-server");
        snprintf(c.requester, sizeof(c.requester), "client:bench");
        der[0] = 0x30;
        c.der = der;
        c.der_len = sizeof(der);
        c.reason = -1;
        if (c.state == STORE_CERT_REVOKED) {
            c.revoked_at = b->now - 60;
            c.reason = 4;
        }
        err = store_txn_cert_put(txn, &c, 1, detail);
        if (err == SIGNET_OK && c.state == STORE_CERT_REVOKED) {
            struct store_revoked r;
            struct store_ocsp o;
            memset(&r, 0, sizeof(r));
            memcpy(r.serial, c.serial, 16);
            r.serial_len = 16;
            r.revoked_at = c.revoked_at;
            r.reason = 4;
            r.not_after = c.not_after;
            memset(&o, 0, sizeof(o));
            o.this_update = b->now;
            o.next_update = b->now + 86400;
            o.status = 1;
            o.der[0] = der;
            o.der_len[0] = 300;
            o.der[1] = der;
            o.der_len[1] = 300;
            if ((err = store_txn_revoked_put(txn, b->ca, &r, detail)) == SIGNET_OK)
                err = store_txn_ocsp_put(txn, b->ca, c.serial, 16, &o, detail);
        }
    }
    return err;
}

int main(int argc, char **argv)
{
    struct store *st = NULL;
    struct store_ca *ca = NULL;
    struct store_options opts = {0};
    char detail[SIGNET_DETAIL_MAX] = "";
    uint64_t count = 0;
    enum signet_err err;

    if (argc != 4 || !sg_parse_u64(argv[3], 1, 100000000, &count)) {
        fprintf(stderr, "usage: bench_restore_fill STOREDIR CA COUNT\n");
        return 2;
    }
    opts.map_size = (size_t)4 << 30;
    if ((err = store_open(argv[1], &opts, &st, detail)) != SIGNET_OK ||
        (err = store_ca_get(st, argv[2], &ca, detail)) != SIGNET_OK) {
        fprintf(stderr, "bench_restore_fill: %s\n", detail);
        store_close(st);
        return 1;
    }
    for (size_t done = 0; done < count && err == SIGNET_OK;) {
        struct batch b = {ca->id, done, count - done < BATCH ? count - done : BATCH, sg_now()};
        err = store_write(st, put_fn, &b, detail);
        done += b.n;
    }
    store_ca_free(ca);
    store_close(st);
    if (err != SIGNET_OK) {
        fprintf(stderr, "bench_restore_fill: %s\n", detail);
        return 1;
    }
    return 0;
}
