/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store records: CA and certificate records and their indexes (expiry, revoked), written inside
 * the committer's transactions and read in read-only transactions from any thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SERIAL_HEX                  (2 * STORE_SERIAL_MAX + 1)
#define CRL_REASON_CERTIFICATE_HOLD 6 /* RFC 5280 5.3.1: the only revocation that may be undone */

/* Begins a read-only transaction (MDB_NOTLS: any thread, several at once). */
static enum signet_err begin_read(struct store *st, MDB_txn **out, char *detail)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, out);
    if (rc != 0)
        *out = NULL;
    return store_lmdb_err(st, rc, "starting a read", detail);
}

/* Checks a CA record from a caller before it is written. */
static enum signet_err ca_check(const struct store_ca *ca, char *detail)
{
    if (!store_str_ok(ca->name, sizeof(ca->name)) || ca->name[0] == '\0' ||
        !store_str_ok(ca->parent, sizeof(ca->parent)) ||
        !store_str_ok(ca->key_uri, sizeof(ca->key_uri))) {
        sg_detail(detail, "CA record: name missing, or name, parent or key URI too long");
        return SIGNET_E_USAGE;
    }
    if (ca->state != STORE_CA_ACTIVE && ca->state != STORE_CA_RETIRED) {
        sg_detail(detail, "CA %s: unknown state %d", ca->name, (int)ca->state);
        return SIGNET_E_USAGE;
    }
    if (ca->cert_len > STORE_DER_MAX || (ca->cert_len > 0 && ca->cert_der == NULL)) {
        sg_detail(detail, "CA %s: certificate of %zu bytes (at most %u)", ca->name, ca->cert_len,
                  STORE_DER_MAX);
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

/* Checks a certificate record from a caller before it is written. */
static enum signet_err cert_check(const struct store_cert *c, char *detail)
{
    if (!store_serial_ok(c->serial, c->serial_len)) {
        sg_detail(detail, "certificate record: serial of %zu octets (RFC 5280 4.1.2.2: 1 to %d)",
                  c->serial_len, STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    if (c->state < STORE_CERT_PENDING || c->state > STORE_CERT_REVOKED || c->reason < -1 ||
        c->reason > 10 || !store_str_ok(c->profile, sizeof(c->profile)) ||
        !store_str_ok(c->requester, sizeof(c->requester))) {
        sg_detail(detail, "certificate record: bad state or reason, or profile or requester too "
                          "long");
        return SIGNET_E_USAGE;
    }
    if (c->der_len > STORE_DER_MAX || (c->der_len > 0 && c->der == NULL)) {
        sg_detail(detail, "certificate record: DER of %zu bytes (at most %u)", c->der_len,
                  STORE_DER_MAX);
        return SIGNET_E_USAGE;
    }
    return SIGNET_OK;
}

/*
 * Walks the ca database: finds the record named name (into *out_found when given, owned by the
 * caller) and the largest id in use. SIGNET_OK whether found or not; errors on corrupt records.
 */
static enum signet_err ca_scan(struct store *st, MDB_txn *txn, const char *name,
                               struct store_ca **out_found, uint32_t *out_max, char *detail)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct store_ca *ca = NULL;
    enum signet_err err = SIGNET_OK;
    int rc = mdb_cursor_open(txn, st->dbi[STORE_DB_CA], &cur);

    if (out_found != NULL)
        *out_found = NULL;
    if (out_max != NULL)
        *out_max = 0;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading CAs", detail);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((err = store_ca_decode(v.mv_data, v.mv_size, &ca, detail)) != SIGNET_OK)
            goto out;
        if (out_max != NULL && ca->id > *out_max)
            *out_max = ca->id;
        if (name != NULL && strcmp(ca->name, name) == 0 && out_found != NULL) {
            *out_found = ca;
            ca = NULL;
        }
        store_ca_free(ca);
        ca = NULL;
    }
    if (rc != MDB_NOTFOUND)
        err = store_lmdb_err(st, rc, "reading CAs", detail);
out:
    store_ca_free(ca);
    mdb_cursor_close(cur);
    return err;
}

/* See store.h. Ids are assigned as the largest in use plus one. */
enum signet_err store_txn_ca_put(struct store_txn *txn, struct store_ca *ca, char *detail)
{
    struct store_ca *same = NULL;
    struct store_wbuf w = {0};
    unsigned char key[4];
    uint32_t max = 0, id = ca->id, orig = ca->id;
    enum signet_err err = ca_check(ca, detail);
    MDB_val k = {sizeof(key), key}, v;
    int rc = 0;

    if (err != SIGNET_OK)
        return err;
    if ((err = ca_scan(txn->st, txn->txn, ca->name, &same, &max, detail)) != SIGNET_OK)
        goto out;
    if (same != NULL && same->id != ca->id) {
        sg_detail(detail, "a CA named %s already exists (id %u)", ca->name, same->id);
        err = SIGNET_E_EXISTS;
        goto out;
    }
    if (id == 0 && max == UINT32_MAX) {
        sg_detail(detail, "CA %s: no CA id left", ca->name);
        err = SIGNET_E_STORE;
        goto out;
    }
    if (id == 0)
        id = max + 1;
    store_put_u32(key, id);
    ca->id = id;
    if (!store_ca_encode(ca, &w)) {
        err = SIGNET_E_NOMEM;
        goto out;
    }
    v.mv_size = w.len;
    v.mv_data = w.p;
    rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_CA], &k, &v, 0);
    if (rc != 0) {
        char what[128];
        snprintf(what, sizeof(what), "writing CA %s", ca->name);
        err = store_lmdb_err(txn->st, rc, what, detail);
    }
out:
    if (err != SIGNET_OK)
        ca->id = orig;
    store_ca_free(same);
    store_wbuf_free(&w);
    return err;
}

/* Reads the cert record at key in txn. SIGNET_E_NOTFOUND (without a detail) when absent. */
static enum signet_err cert_read(struct store *st, MDB_txn *txn,
                                 const unsigned char key[STORE_CERT_KEY_LEN],
                                 struct store_cert **out, char *detail)
{
    MDB_val k = {STORE_CERT_KEY_LEN, (void *)key}, v;
    int rc = mdb_get(txn, st->dbi[STORE_DB_CERT], &k, &v);

    *out = NULL;
    if (rc == MDB_NOTFOUND)
        return SIGNET_E_NOTFOUND;
    if (rc != 0)
        return store_lmdb_err(st, rc, "reading a certificate", detail);
    return store_cert_decode(v.mv_data, v.mv_size, out, detail);
}

/*
 * Refuses a state change that goes backwards (a PENDING record never replaces an ISSUED one, a
 * revocation is undone only when it was certificateHold, RFC 5280 5.3.1).
 */
static enum signet_err transition_ok(const struct store_cert *old, const struct store_cert *c,
                                     const char *hex, char *detail)
{
    if (c->state >= old->state)
        return SIGNET_OK;
    if (old->state == STORE_CERT_REVOKED && c->state == STORE_CERT_ISSUED &&
        old->reason == CRL_REASON_CERTIFICATE_HOLD)
        return SIGNET_OK;
    sg_detail(detail, "certificate %s of CA %u: cannot go from %s back to %s", hex, c->ca_id,
              store_cert_state_name(old->state), store_cert_state_name(c->state));
    return SIGNET_E_USAGE;
}

/* Removes the index entries of an existing record before it is replaced. */
static int drop_indexes(struct store_txn *txn, const struct store_cert *old,
                        const unsigned char key[STORE_CERT_KEY_LEN])
{
    unsigned char ek[STORE_EXPIRY_KEY_LEN];
    MDB_val k = {sizeof(ek), ek}, rk = {STORE_CERT_KEY_LEN, (void *)key};
    int rc = 0;

    store_expiry_key(ek, old->ca_id, old->not_after, old->serial, old->serial_len);
    rc = mdb_del(txn->txn, txn->st->dbi[STORE_DB_EXPIRY], &k, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = mdb_del(txn->txn, txn->st->dbi[STORE_DB_REVOKED], &rk, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Writes the cert record and its expiry (and revoked) index entries. */
static int put_cert_and_indexes(struct store_txn *txn, const struct store_cert *c,
                                const unsigned char key[STORE_CERT_KEY_LEN], struct store_wbuf *w)
{
    unsigned char ek[STORE_EXPIRY_KEY_LEN];
    MDB_val k = {STORE_CERT_KEY_LEN, (void *)key}, v = {w->len, w->p};
    MDB_val xk = {sizeof(ek), ek}, none = {0, NULL};
    int rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_CERT], &k, &v, 0);

    store_expiry_key(ek, c->ca_id, c->not_after, c->serial, c->serial_len);
    if (rc == 0)
        rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_EXPIRY], &xk, &none, 0);
    if (rc == 0 && c->state == STORE_CERT_REVOKED) {
        w->len = 0;
        if (!store_revoked_encode(c, w))
            return ENOMEM;
        v.mv_size = w->len;
        v.mv_data = w->p;
        rc = mdb_put(txn->txn, txn->st->dbi[STORE_DB_REVOKED], &k, &v, 0);
    }
    return rc;
}

/* See store.h. */
enum signet_err store_txn_cert_put(struct store_txn *txn, const struct store_cert *c,
                                   int must_be_new, char *detail)
{
    unsigned char key[STORE_CERT_KEY_LEN], cakey[4];
    char hex[SERIAL_HEX], what[128];
    struct store_cert *old = NULL;
    struct store_wbuf w = {0};
    MDB_val ck = {sizeof(cakey), cakey}, cv;
    enum signet_err err = cert_check(c, detail);
    int rc = 0;

    if (err != SIGNET_OK)
        return err;
    sg_hex_encode(c->serial, c->serial_len, hex);
    store_put_u32(cakey, c->ca_id);
    rc = mdb_get(txn->txn, txn->st->dbi[STORE_DB_CA], &ck, &cv);
    if (rc != 0) {
        snprintf(what, sizeof(what), "certificate %s: CA id %u", hex, c->ca_id);
        return store_lmdb_err(txn->st, rc, what, detail);
    }
    store_cert_key(key, c->ca_id, c->serial, c->serial_len);
    err = cert_read(txn->st, txn->txn, key, &old, detail);
    if (err == SIGNET_E_NOTFOUND)
        err = SIGNET_OK;
    else if (err == SIGNET_OK && must_be_new) {
        sg_detail(detail, "serial %s of CA %u is already recorded (%s): a serial is never reused",
                  hex, c->ca_id, store_cert_state_name(old->state));
        err = SIGNET_E_EXISTS;
    } else if (err == SIGNET_OK && (err = transition_ok(old, c, hex, detail)) == SIGNET_OK) {
        rc = drop_indexes(txn, old, key);
    }
    if (err != SIGNET_OK)
        goto out;
    if (rc == 0 && !store_cert_encode(c, &w))
        rc = ENOMEM;
    if (rc == 0)
        rc = put_cert_and_indexes(txn, c, key, &w);
    snprintf(what, sizeof(what), "writing certificate %s of CA %u", hex, c->ca_id);
    err = store_lmdb_err(txn->st, rc, what, detail);
out:
    store_cert_free(old);
    store_wbuf_free(&w);
    return err;
}

/* Reads one certificate in txn; SIGNET_E_NOTFOUND names it. */
static enum signet_err cert_get_in(struct store *st, MDB_txn *txn, uint32_t ca_id,
                                   const unsigned char *serial, size_t serial_len,
                                   struct store_cert **out, char *detail)
{
    unsigned char key[STORE_CERT_KEY_LEN];
    char hex[SERIAL_HEX];
    enum signet_err err = SIGNET_OK;

    *out = NULL;
    if (!store_serial_ok(serial, serial_len)) {
        sg_detail(detail, "serial of %zu octets (RFC 5280 4.1.2.2: 1 to %d)", serial_len,
                  STORE_SERIAL_MAX);
        return SIGNET_E_USAGE;
    }
    store_cert_key(key, ca_id, serial, serial_len);
    err = cert_read(st, txn, key, out, detail);
    if (err == SIGNET_E_NOTFOUND) {
        sg_hex_encode(serial, serial_len, hex);
        sg_detail(detail, "no certificate with serial %s for CA %u", hex, ca_id);
    }
    return err;
}

enum signet_err store_txn_cert_get(struct store_txn *txn, uint32_t ca_id,
                                   const unsigned char *serial, size_t serial_len,
                                   struct store_cert **out, char *detail)
{
    return cert_get_in(txn->st, txn->txn, ca_id, serial, serial_len, out, detail);
}

/* See store.h. */
enum signet_err store_cert_get(struct store *st, uint32_t ca_id, const unsigned char *serial,
                               size_t serial_len, struct store_cert **out, char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err = begin_read(st, &txn, detail);

    *out = NULL;
    if (err != SIGNET_OK)
        return err;
    err = cert_get_in(st, txn, ca_id, serial, serial_len, out, detail);
    mdb_txn_abort(txn);
    return err;
}

/* Finds a CA by name in txn; SIGNET_E_NOTFOUND names it. */
static enum signet_err ca_get_in(struct store *st, MDB_txn *txn, const char *name,
                                 struct store_ca **out, char *detail)
{
    enum signet_err err = SIGNET_OK;

    *out = NULL;
    if (name == NULL || strlen(name) >= STORE_NAME_MAX) {
        sg_detail(detail, "CA name missing or longer than %d", STORE_NAME_MAX - 1);
        return SIGNET_E_USAGE;
    }
    err = ca_scan(st, txn, name, out, NULL, detail);
    if (err == SIGNET_OK && *out == NULL) {
        sg_detail(detail, "no CA named %s in the store", name);
        err = SIGNET_E_NOTFOUND;
    }
    return err;
}

enum signet_err store_txn_ca_get(struct store_txn *txn, const char *name, struct store_ca **out,
                                 char *detail)
{
    return ca_get_in(txn->st, txn->txn, name, out, detail);
}

/* See store.h. */
enum signet_err store_ca_get(struct store *st, const char *name, struct store_ca **out,
                             char *detail)
{
    MDB_txn *txn = NULL;
    enum signet_err err = begin_read(st, &txn, detail);

    *out = NULL;
    if (err != SIGNET_OK)
        return err;
    err = ca_get_in(st, txn, name, out, detail);
    mdb_txn_abort(txn);
    return err;
}

/* See store.h. */
enum signet_err store_ca_get_id(struct store *st, uint32_t id, struct store_ca **out, char *detail)
{
    MDB_txn *txn = NULL;
    unsigned char key[4];
    MDB_val k = {sizeof(key), key}, v;
    enum signet_err err = begin_read(st, &txn, detail);
    int rc = 0;

    *out = NULL;
    if (err != SIGNET_OK)
        return err;
    store_put_u32(key, id);
    rc = mdb_get(txn, st->dbi[STORE_DB_CA], &k, &v);
    if (rc == MDB_NOTFOUND) {
        sg_detail(detail, "no CA with id %u in the store", id);
        err = SIGNET_E_NOTFOUND;
    } else if (rc != 0) {
        err = store_lmdb_err(st, rc, "reading a CA", detail);
    } else {
        err = store_ca_decode(v.mv_data, v.mv_size, out, detail);
    }
    mdb_txn_abort(txn);
    return err;
}
