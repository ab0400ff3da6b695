/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of store/: create and reopen, schema versions, records, serial reuse, group commit
 * with nested-transaction isolation, a full map, unsafe flags, read-only opens, the audit chain
 * and iteration order. Some tests reach into the LMDB files directly, as an attacker or a broken
 * disk would, to show the store notices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char tmpdir[64];
static char sdir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/signet-store.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    snprintf(sdir, sizeof(sdir), "%s/store", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* ---- helpers ---- */

static struct store *open_ok(const struct store_options *o)
{
    struct store *st = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    enum signet_err err = store_open(sdir, o, &st, detail);
    if (err != SIGNET_OK)
        fail_msg("store_open: %s: %s", signet_err_name(err), detail);
    return st;
}

/* Adds a CA named name and returns its id. */
static uint32_t add_ca(struct store *st, const char *name)
{
    struct store_ca ca;
    unsigned char der[3] = {0x30, 0x01, 0x00};
    char detail[SIGNET_DETAIL_MAX] = "";

    memset(&ca, 0, sizeof(ca));
    snprintf(ca.name, sizeof(ca.name), "%s", name);
    snprintf(ca.key_uri, sizeof(ca.key_uri), "pkcs11:token=t;object=%s", name);
    ca.state = STORE_CA_ACTIVE;
    ca.cert_der = der;
    ca.cert_len = sizeof(der);
    assert_int_equal(store_ca_put(st, &ca, detail), SIGNET_OK);
    assert_true(ca.id > 0);
    return ca.id;
}

/* A certificate record with an 8-octet serial made from n; der is borrowed. */
static void make_cert(struct store_cert *c, uint32_t ca_id, uint64_t n, enum store_cert_state s,
                      unsigned char *der, size_t der_len)
{
    memset(c, 0, sizeof(*c));
    c->ca_id = ca_id;
    for (int i = 0; i < 8; i++)
        c->serial[i] = (unsigned char)(n >> (56 - 8 * i));
    c->serial[0] |= 0x40; /* positive, 8 significant octets */
    c->serial_len = 8;
    c->state = s;
    c->not_after = 1800000000 + (int64_t)(n % 1000);
    c->created = 1700000000;
    snprintf(c->profile, sizeof(c->profile), "tls-server");
    snprintf(c->requester, sizeof(c->requester), "client.demo");
    c->der = der;
    c->der_len = der_len;
    c->reason = -1;
}

static int count_cb(const struct store_cert *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
    return 1;
}

static size_t count_certs(struct store *st, uint32_t ca_id, enum store_cert_state s)
{
    size_t n = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    assert_int_equal(store_cert_iter(st, ca_id, s, count_cb, &n, detail), SIGNET_OK);
    return n;
}

/* Opens the store's LMDB files directly with one named database, for tampering. */
static void raw_open(MDB_env **env, MDB_txn **txn, const char *db, MDB_dbi *dbi)
{
    assert_int_equal(mdb_env_create(env), 0);
    assert_int_equal(mdb_env_set_maxdbs(*env, 16), 0);
    assert_int_equal(mdb_env_open(*env, sdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, db, 0, dbi), 0);
}

static void raw_close(MDB_env *env, MDB_txn *txn)
{
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* ---- tests ---- */

static void test_create_open_reopen(void **state)
{
    struct store *st = NULL;
    struct store_ca *ca = NULL;
    struct store_options ro = {.read_only = 1};
    unsigned char v[8];
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    /* read-only open of a store that does not exist: a clear error, nothing created */
    assert_int_equal(store_open(sdir, &ro, &st, detail), SIGNET_E_NOTFOUND);
    assert_null(st);
    assert_non_null(strstr(detail, sdir));
    assert_int_not_equal(access(sdir, F_OK), 0);

    st = open_ok(NULL);
    assert_int_equal(store_meta_get(st, "store.schema_version", v, sizeof(v), &len, detail),
                     SIGNET_OK);
    assert_int_equal(len, 4);
    assert_int_equal(v[3], STORE_SCHEMA_VERSION);
    assert_int_equal(add_ca(st, "root"), 1);
    assert_int_equal(add_ca(st, "issuing-1"), 2);
    store_close(st);

    st = open_ok(NULL);
    assert_int_equal(store_ca_get(st, "issuing-1", &ca, detail), SIGNET_OK);
    assert_int_equal(ca->id, 2);
    assert_string_equal(ca->key_uri, "pkcs11:token=t;object=issuing-1");
    store_ca_free(ca);
    assert_int_equal(store_ca_get(st, "nope", &ca, detail), SIGNET_E_NOTFOUND);
    assert_non_null(strstr(detail, "nope"));
    store_close(st);
    store_close(NULL);
}

static void test_schema_newer_refused(void **state)
{
    struct store *st = NULL;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    unsigned char ver[4] = {0, 0, 0, STORE_SCHEMA_VERSION + 1};
    MDB_val k = {strlen("store.schema_version"), "store.schema_version"}, v = {4, ver};
    MDB_val sk = {strlen("store.signet_version"), "store.signet_version"}, sv = {5, "9.1.0"};
    char detail[SIGNET_DETAIL_MAX] = "", want[64];
    (void)state;

    st = open_ok(NULL);
    store_close(st);
    raw_open(&env, &txn, "meta", &dbi);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_put(txn, dbi, &sk, &sv, 0), 0);
    raw_close(env, txn);

    st = NULL;
    assert_int_equal(store_open(sdir, NULL, &st, detail), SIGNET_E_CONFIG);
    assert_null(st);
    snprintf(want, sizeof(want), "schema version %d", STORE_SCHEMA_VERSION + 1);
    assert_non_null(strstr(detail, want));
    assert_non_null(strstr(detail, "Signet 9.1.0"));
}

static void test_records_round_trip(void **state)
{
    struct store *st = open_ok(NULL);
    struct store_cert c, *got = NULL;
    struct store_ca *ca = NULL, *list = NULL;
    unsigned char der[300];
    size_t n = 0;
    uint32_t id = add_ca(st, "issuing-1");
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    for (size_t i = 0; i < sizeof(der); i++)
        der[i] = (unsigned char)i;
    make_cert(&c, id, 42, STORE_CERT_REVOKED, der, sizeof(der));
    c.revoked_at = 1750000000;
    c.reason = 1;
    c.invalidity_date = 1749999000;
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
    assert_int_equal(store_cert_get(st, id, c.serial, c.serial_len, &got, detail), SIGNET_OK);
    assert_int_equal(got->ca_id, id);
    assert_memory_equal(got->serial, c.serial, 8);
    assert_int_equal(got->serial_len, 8);
    assert_int_equal(got->state, STORE_CERT_REVOKED);
    assert_int_equal(got->not_after, c.not_after);
    assert_int_equal(got->created, c.created);
    assert_string_equal(got->profile, "tls-server");
    assert_string_equal(got->requester, "client.demo");
    assert_int_equal(got->der_len, sizeof(der));
    assert_memory_equal(got->der, der, sizeof(der));
    assert_int_equal(got->revoked_at, 1750000000);
    assert_int_equal(got->reason, 1);
    assert_int_equal(got->invalidity_date, 1749999000);
    store_cert_free(got);
    assert_string_equal(store_cert_state_name(STORE_CERT_REVOKED), "revoked");

    assert_int_equal(store_ca_get_id(st, id, &ca, detail), SIGNET_OK);
    assert_string_equal(ca->name, "issuing-1");
    assert_int_equal(ca->cert_len, 3);
    assert_int_equal(ca->state, STORE_CA_ACTIVE);
    store_ca_free(ca);
    add_ca(st, "issuing-2");
    assert_int_equal(store_ca_list(st, &list, &n, detail), SIGNET_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "issuing-1");
    assert_string_equal(list[1].name, "issuing-2");
    assert_int_equal(list[1].id, id + 1);
    store_ca_list_free(list, n);

    /* bounds from outside */
    c.serial_len = STORE_SERIAL_MAX + 1;
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "RFC 5280 4.1.2.2"));
    c.serial_len = 8;
    c.der_len = STORE_DER_MAX + 1;
    assert_int_equal(store_cert_put(st, &c, 0, detail), SIGNET_E_USAGE);
    c.der_len = sizeof(der);
    c.ca_id = 99;
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_E_NOTFOUND);
    store_close(st);
}

static void test_ca_duplicate_name(void **state)
{
    struct store *st = open_ok(NULL);
    struct store_ca ca;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    add_ca(st, "root");
    memset(&ca, 0, sizeof(ca));
    snprintf(ca.name, sizeof(ca.name), "root");
    ca.state = STORE_CA_ACTIVE;
    assert_int_equal(store_ca_put(st, &ca, detail), SIGNET_E_EXISTS);
    assert_non_null(strstr(detail, "root"));
    assert_int_equal(ca.id, 0);
    /* an update of the same id is not a duplicate */
    ca.id = 1;
    ca.crl_number = 7;
    assert_int_equal(store_ca_put(st, &ca, detail), SIGNET_OK);
    store_close(st);
}

/* A stored record cut short or padded is refused, never over-read. */
static void test_corrupt_record_refused(void **state)
{
    struct store *st = open_ok(NULL);
    struct store_cert c, *got = NULL;
    unsigned char der[64] = {0}, buf[512];
    uint32_t id = add_ca(st, "issuing-1");
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t full = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    make_cert(&c, id, 7, STORE_CERT_ISSUED, der, sizeof(der));
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
    store_close(st);
    for (size_t cut = 0;; cut++) {
        raw_open(&env, &txn, "cert", &dbi);
        assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
        assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
        if (full == 0) {
            full = v.mv_size;
            assert_true(full < sizeof(buf));
            memcpy(buf, v.mv_data, full);
        }
        mdb_cursor_close(cur);
        if (cut == full) {
            mdb_txn_abort(txn);
            mdb_env_close(env);
            break;
        }
        /* every proper prefix, then the whole record with one byte too many */
        v.mv_data = buf;
        v.mv_size = cut < full - 1 ? cut : full + 1;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        raw_close(env, txn);
        st = open_ok(NULL);
        assert_int_equal(store_cert_get(st, id, c.serial, 8, &got, detail), SIGNET_E_INVALID);
        assert_null(got);
        assert_non_null(strstr(detail, "corrupt"));
        store_close(st);
    }
}

static void test_serial_never_reused(void **state)
{
    struct store *st = open_ok(NULL);
    struct store_cert c, *got = NULL;
    unsigned char tbs[10] = {1}, cert[20] = {2};
    uint32_t id = add_ca(st, "issuing-1");
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    make_cert(&c, id, 1234, STORE_CERT_PENDING, tbs, sizeof(tbs));
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_E_EXISTS);
    assert_non_null(strstr(detail, "never reused"));
    /* a serial whose leading zero octet is spelled out is the same serial */
    memmove(c.serial + 1, c.serial, 8);
    c.serial[0] = 0;
    c.serial_len = 9;
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_E_EXISTS);
    memmove(c.serial, c.serial + 1, 8);
    c.serial_len = 8;

    /* PENDING -> ISSUED replaces the record; going back is refused */
    c.state = STORE_CERT_ISSUED;
    c.der = cert;
    c.der_len = sizeof(cert);
    assert_int_equal(store_cert_put(st, &c, 0, detail), SIGNET_OK);
    c.state = STORE_CERT_PENDING;
    assert_int_equal(store_cert_put(st, &c, 0, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "issued back to pending"));
    assert_int_equal(store_cert_get(st, id, c.serial, 8, &got, detail), SIGNET_OK);
    assert_int_equal(got->state, STORE_CERT_ISSUED);
    assert_memory_equal(got->der, cert, sizeof(cert));
    store_cert_free(got);
    store_close(st);
}

/* ---- group commit ---- */

struct wjob {
    struct store *st;
    uint32_t ca_id;
    uint64_t first;
    unsigned count;
    int fail; /* the write function stores, then fails */
    enum signet_err rc;
    char detail[SIGNET_DETAIL_MAX];
};

static enum signet_err put_then_maybe_fail(struct store_txn *txn, void *arg, char *detail)
{
    struct wjob *j = arg;
    struct store_cert c;
    unsigned char der[32] = {0x30};
    enum signet_err err = SIGNET_OK;

    make_cert(&c, j->ca_id, j->first, STORE_CERT_PENDING, der, sizeof(der));
    err = store_txn_cert_put(txn, &c, 1, detail);
    if (err == SIGNET_OK)
        err = store_txn_audit(txn, "test", "issue", "a certificate", detail);
    if (err == SIGNET_OK && j->fail) {
        sg_detail(detail, "job %llu refuses after writing", (unsigned long long)j->first);
        return SIGNET_E_POLICY;
    }
    return err;
}

static void *write_one(void *arg)
{
    struct wjob *j = arg;
    j->rc = store_write(j->st, put_then_maybe_fail, j, j->detail);
    return NULL;
}

static void test_nested_failure_isolated(void **state)
{
    struct store_options o = {.batch_max = 3, .batch_wait_us = 10 * 1000 * 1000};
    struct store *st = open_ok(NULL);
    struct store_stats s0, s1;
    struct store_cert *got = NULL;
    struct wjob jobs[3];
    pthread_t th[3];
    uint64_t entries = 0;
    uint32_t id = add_ca(st, "issuing-1");
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    store_close(st);
    /* the committer waits until three writes are queued, so they share one batch */
    st = open_ok(&o);
    store_stats(st, &s0);
    for (int i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].st = st;
        jobs[i].ca_id = id;
        jobs[i].first = 100 + (uint64_t)i;
        jobs[i].fail = i == 1;
        assert_int_equal(pthread_create(&th[i], NULL, write_one, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    store_stats(st, &s1);
    assert_int_equal(s1.commits - s0.commits, 1);
    assert_int_equal(s1.writes - s0.writes, 3);
    assert_int_equal(s1.batch_max, 3);
    assert_int_equal(jobs[0].rc, SIGNET_OK);
    assert_int_equal(jobs[1].rc, SIGNET_E_POLICY);
    assert_non_null(strstr(jobs[1].detail, "job 101 refuses"));
    assert_int_equal(jobs[2].rc, SIGNET_OK);
    store_close(st);

    st = open_ok(NULL);
    assert_int_equal(count_certs(st, id, 0), 2);
    for (int i = 0; i < 3; i++) {
        struct store_cert c;
        make_cert(&c, id, jobs[i].first, STORE_CERT_PENDING, NULL, 0);
        assert_int_equal(store_cert_get(st, id, c.serial, 8, &got, detail),
                         i == 1 ? SIGNET_E_NOTFOUND : SIGNET_OK);
        store_cert_free(got);
        got = NULL;
    }
    /* the failed write's audit entry went with it: the chain has two links, no gap */
    assert_int_equal(store_audit_verify(st, &entries, detail), SIGNET_OK);
    assert_int_equal(entries, 2);
    store_close(st);
}

static enum signet_err put_many(struct store_txn *txn, void *arg, char *detail)
{
    struct wjob *j = arg;
    struct store_cert c;
    unsigned char der[200] = {0x30};

    make_cert(&c, j->ca_id, j->first, STORE_CERT_ISSUED, der, sizeof(der));
    return store_txn_cert_put(txn, &c, 1, detail);
}

static void *write_many(void *arg)
{
    struct wjob *j = arg;
    struct wjob one = *j;

    for (unsigned i = 0; i < j->count && j->rc == SIGNET_OK; i++) {
        one.first = j->first + i;
        j->rc = store_write(j->st, put_many, &one, j->detail);
    }
    return NULL;
}

/* Runs nthreads writers of per writes each; returns writes per second. */
static double run_writers(struct store *st, uint32_t id, unsigned nthreads, unsigned per,
                          uint64_t base)
{
    struct wjob jobs[16];
    pthread_t th[16];
    uint64_t t0 = sg_mono_ms(), t1 = 0;

    assert_true(nthreads <= 16);
    for (unsigned i = 0; i < nthreads; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].st = st;
        jobs[i].ca_id = id;
        jobs[i].first = base + (uint64_t)i * 1000000;
        jobs[i].count = per;
        assert_int_equal(pthread_create(&th[i], NULL, write_many, &jobs[i]), 0);
    }
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    t1 = sg_mono_ms();
    for (unsigned i = 0; i < nthreads; i++) {
        if (jobs[i].rc != SIGNET_OK)
            fail_msg("writer %u: %s: %s", i, signet_err_name(jobs[i].rc), jobs[i].detail);
    }
    return (double)nthreads * per * 1000.0 / (double)(t1 > t0 ? t1 - t0 : 1);
}

static void test_group_commit_batches(void **state)
{
    struct store *st = open_ok(NULL);
    struct store_stats s;
    uint32_t id = add_ca(st, "issuing-1");
    double rate = 0;
    (void)state;

    rate = run_writers(st, id, 16, 200, 1);
    store_stats(st, &s);
    print_message("16 threads x 200 writes: %.0f writes/s, %llu commits for %llu writes, "
                  "largest batch %llu\n",
                  rate, (unsigned long long)s.commits, (unsigned long long)s.writes,
                  (unsigned long long)s.batch_max);
    assert_int_equal(s.writes, 3200 + 1);
    assert_true(s.commits < s.writes);
    assert_true(s.batch_max > 1);
    store_close(st);

    st = open_ok(NULL);
    assert_int_equal(count_certs(st, id, 0), 3200);
    assert_int_equal(count_certs(st, id, STORE_CERT_ISSUED), 3200);
    assert_int_equal(count_certs(st, id, STORE_CERT_PENDING), 0);
    store_close(st);
}

/*
 * Not an assertion: durable writes per second with 1 and 16 writers. SIGNET_STORE_BENCH_N sets
 * the writes per run (default 800); SIGNET_STORE_BENCH_DIR a new directory
 * (on the disk to measure, left in place) to hold the store instead of the test's own.
 */
static void test_measure_throughput(void **state)
{
    const char *ns = getenv("SIGNET_STORE_BENCH_N"), *bdir = getenv("SIGNET_STORE_BENCH_DIR");
    uint64_t n = 800;
    struct store *st = NULL;
    struct store_stats s;
    double r1 = 0, r16 = 0;
    uint32_t id = 0;
    (void)state;

    if (ns != NULL && !sg_parse_u64(ns, 16, 10000000, &n))
        fail_msg("SIGNET_STORE_BENCH_N=%s is not a count in [16, 10000000]", ns);
    if (bdir != NULL)
        snprintf(sdir, sizeof(sdir), "%s", bdir);
    st = open_ok(NULL);
    id = add_ca(st, "issuing-1");
    r1 = run_writers(st, id, 1, (unsigned)n, 1);
    store_stats(st, &s);
    print_message("store: 1 thread:   %6.0f durable writes/s (%llu commits)\n", r1,
                  (unsigned long long)s.commits);
    r16 = run_writers(st, id, 16, (unsigned)(n / 16), 1ull << 40);
    store_stats(st, &s);
    print_message("store: 16 threads: %6.0f durable writes/s (%llu commits in all, largest "
                  "batch %llu); ratio %.1fx\n",
                  r16, (unsigned long long)s.commits, (unsigned long long)s.batch_max, r16 / r1);
    store_close(st);
}

/* ---- map full, flags, read-only ---- */

static enum signet_err put_sized(struct store_txn *txn, void *arg, char *detail)
{
    static unsigned char der[60 * 1024];
    struct wjob *j = arg;
    struct store_cert c;

    make_cert(&c, j->ca_id, j->first, STORE_CERT_ISSUED, der, j->count);
    return store_txn_cert_put(txn, &c, 1, detail);
}

static void *write_sized(void *arg)
{
    struct wjob *j = arg;
    j->rc = store_write(j->st, put_sized, j, j->detail);
    return NULL;
}

/* In one batch on a nearly full map: the write that does not fit fails alone. */
static void mixed_batch_with_full_write(uint32_t id, size_t stored)
{
    struct store_options o = {
        .map_size = 256 * 1024, .batch_max = 2, .batch_wait_us = 10 * 1000 * 1000};
    struct store *st = open_ok(&o);
    struct store_stats s;
    struct wjob jobs[2];
    pthread_t th[2];

    for (int i = 0; i < 2; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].st = st;
        jobs[i].ca_id = id;
        jobs[i].first = 500 + (uint64_t)i;
        jobs[i].count = i == 0 ? 60 * 1024 : 16;
        assert_int_equal(pthread_create(&th[i], NULL, write_sized, &jobs[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    store_stats(st, &s);
    assert_int_equal(jobs[0].rc, SIGNET_E_STORE_FULL);
    assert_int_equal(jobs[1].rc, SIGNET_OK);
    assert_int_equal(s.commits, 1);
    assert_int_equal(s.batch_max, 2);
    store_close(st);
    st = open_ok(NULL);
    assert_int_equal(count_certs(st, id, 0), stored + 1);
    store_close(st);
}

static void test_map_full(void **state)
{
    struct store_options small = {.map_size = 256 * 1024};
    struct store_options big = {.map_size = 8 * 1024 * 1024};
    struct store *st = open_ok(&small);
    struct store_cert c;
    static unsigned char der[16 * 1024];
    uint32_t id = add_ca(st, "issuing-1");
    enum signet_err err = SIGNET_OK;
    size_t stored = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    memset(der, 0xab, sizeof(der));
    for (uint64_t i = 1; i < 100; i++) {
        make_cert(&c, id, i, STORE_CERT_ISSUED, der, sizeof(der));
        err = store_cert_put(st, &c, 1, detail);
        if (err != SIGNET_OK)
            break;
        stored++;
    }
    assert_int_equal(err, SIGNET_E_STORE_FULL);
    assert_true(stored > 2);
    assert_non_null(strstr(detail, "is full at 256 KiB"));
    assert_non_null(strstr(detail, "[signet] store_map_size ="));
    assert_non_null(strstr(detail, sdir));
    /* what was written before is intact, and the store still answers */
    assert_int_equal(count_certs(st, id, 0), stored);
    store_close(st);
    mixed_batch_with_full_write(id, stored);
    stored++;

    st = open_ok(&big);
    assert_int_equal(count_certs(st, id, 0), stored);
    make_cert(&c, id, 1000, STORE_CERT_ISSUED, der, sizeof(der));
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
    store_close(st);
}

static void test_unsafe_flags_refused(void **state)
{
    static const struct {
        unsigned flag;
        const char *name;
    } bad[] = {{MDB_NOSYNC, "MDB_NOSYNC"},
               {MDB_NOMETASYNC, "MDB_NOMETASYNC"},
               {MDB_MAPASYNC | MDB_WRITEMAP, "MDB_MAPASYNC"},
               {MDB_WRITEMAP, "MDB_WRITEMAP"}};
    struct store_options o = {0};
    struct store *st = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.lmdb_flags = bad[i].flag;
        detail[0] = '\0';
        assert_int_equal(store_open(sdir, &o, &st, detail), SIGNET_E_CONFIG);
        assert_null(st);
        assert_non_null(strstr(detail, bad[i].name));
        assert_non_null(strstr(detail, "refusing"));
    }
    o.lmdb_flags = MDB_RDONLY;
    assert_int_equal(store_open(sdir, &o, &st, detail), SIGNET_E_USAGE);
    /* a harmless flag is accepted */
    o.lmdb_flags = MDB_NORDAHEAD;
    st = open_ok(&o);
    store_close(st);
}

static void test_read_only_cannot_write(void **state)
{
    struct store_options ro = {.read_only = 1};
    struct store *st = open_ok(NULL);
    struct store_cert c, *got = NULL;
    struct store_ca ca;
    unsigned char der[8] = {0};
    uint32_t id = add_ca(st, "issuing-1");
    char detail[SIGNET_DETAIL_MAX] = "";
    uint64_t entries = 0;
    (void)state;

    make_cert(&c, id, 5, STORE_CERT_ISSUED, der, sizeof(der));
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
    store_close(st);

    st = open_ok(&ro);
    assert_int_equal(store_cert_get(st, id, c.serial, 8, &got, detail), SIGNET_OK);
    store_cert_free(got);
    c.serial[7] ^= 1;
    assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "read-only"));
    memset(&ca, 0, sizeof(ca));
    snprintf(ca.name, sizeof(ca.name), "other");
    ca.state = STORE_CA_ACTIVE;
    assert_int_equal(store_ca_put(st, &ca, detail), SIGNET_E_USAGE);
    assert_int_equal(store_audit_verify(st, &entries, detail), SIGNET_OK);
    store_close(st);

    st = open_ok(NULL);
    assert_int_equal(count_certs(st, id, 0), 1);
    store_close(st);
}

/* ---- audit ---- */

static enum signet_err audit_n(struct store_txn *txn, void *arg, char *detail)
{
    char obj[32];
    int n = *(int *)arg;
    enum signet_err err = SIGNET_OK;

    for (int i = 0; i < n && err == SIGNET_OK; i++) {
        snprintf(obj, sizeof(obj), "object-%d", i);
        err = store_txn_audit(txn, "alice", "ca.create", obj, detail);
    }
    return err;
}

static int audit_collect(const struct store_audit_entry *e, void *arg)
{
    char *buf = arg;
    size_t len = strlen(buf);
    snprintf(buf + len, 512 - len, "%llu:%s:%s;", (unsigned long long)e->seq, e->actor, e->object);
    return 1;
}

/* Runs raw on the audit database: 0 flips the actor of entry 3, 1 deletes entry 1, 2 the last. */
static void tamper(int how)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    unsigned char key[8] = {0}, copy[256];
    MDB_val k = {8, key}, v;

    raw_open(&env, &txn, "audit", &dbi);
    key[7] = how == 0 ? 3 : how == 1 ? 1 : 5;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    if (how == 0) {
        assert_true(v.mv_size < sizeof(copy));
        memcpy(copy, v.mv_data, v.mv_size);
        copy[2 + 8 + 8 + 2] ^= 0x20; /* tag, version, seq, time, actor length: 'a' -> 'A' */
        v.mv_data = copy;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    } else {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    }
    raw_close(env, txn);
}

/* A fresh store holding five audit entries. */
static void five_entries(void)
{
    struct store *st = NULL;
    uint64_t entries = 0;
    int n = 5;
    char detail[SIGNET_DETAIL_MAX] = "", cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    assert_int_equal(system(cmd), 0);
    st = open_ok(NULL);
    assert_int_equal(store_audit_verify(st, &entries, detail), SIGNET_OK);
    assert_int_equal(entries, 0);
    assert_int_equal(store_write(st, audit_n, &n, detail), SIGNET_OK);
    assert_int_equal(store_audit_verify(st, &entries, detail), SIGNET_OK);
    assert_int_equal(entries, 5);
    store_close(st);
}

static void test_audit_chain(void **state)
{
    static const char *const want[] = {"entry 4 does not chain to entry 3", "entry 1 is missing",
                                       "chain ends at entry 4 but its head says 5"};
    struct store *st = NULL;
    uint64_t entries = 0;
    char detail[SIGNET_DETAIL_MAX] = "", seen[512] = "";
    (void)state;

    five_entries();
    st = open_ok(NULL);
    assert_int_equal(store_audit_iter(st, 4, audit_collect, seen, detail), SIGNET_OK);
    assert_string_equal(seen, "4:alice:object-3;5:alice:object-4;");
    store_close(st);

    /* change entry 3, remove the first, remove the last: each is seen */
    for (int how = 0; how < 3; how++) {
        five_entries();
        tamper(how);
        st = open_ok(NULL);
        assert_int_equal(store_audit_verify(st, &entries, detail), SIGNET_E_INVALID);
        if (strstr(detail, want[how]) == NULL)
            fail_msg("tamper %d: %s", how, detail);
        store_close(st);
    }
}

static enum signet_err bad_inputs(struct store_txn *txn, void *arg, char *detail)
{
    static char longword[STORE_AUDIT_WORD_MAX + 1];
    unsigned char v = 1;
    (void)arg;

    memset(longword, 'x', STORE_AUDIT_WORD_MAX);
    if (store_txn_audit(txn, "", "a", "o", detail) != SIGNET_E_USAGE ||
        store_txn_audit(txn, "a", NULL, "o", detail) != SIGNET_E_USAGE ||
        store_txn_audit(txn, longword, "a", "o", detail) != SIGNET_E_USAGE ||
        store_txn_meta_put(txn, "store.schema_version", &v, 1, detail) != SIGNET_E_USAGE ||
        store_txn_meta_put(txn, "x", &v, STORE_META_VALUE_MAX + 1, detail) != SIGNET_E_USAGE)
        return SIGNET_E_INTERNAL;
    return store_txn_meta_put(txn, "crl.next", &v, 1, detail);
}

static enum signet_err reenter(struct store_txn *txn, void *arg, char *detail)
{
    (void)txn;
    return store_write(arg, bad_inputs, NULL, detail);
}

static void test_audit_and_meta_bounds(void **state)
{
    struct store *st = open_ok(NULL);
    unsigned char buf[4] = {0}, ver[4];
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    assert_int_equal(store_write(st, bad_inputs, NULL, detail), SIGNET_OK);
    /* a write function that calls store_write is refused instead of waiting for itself */
    assert_int_equal(store_write(st, reenter, st, detail), SIGNET_E_INTERNAL);
    assert_non_null(strstr(detail, "wait for itself"));
    assert_int_equal(store_meta_get(st, "crl.next", buf, sizeof(buf), &len, detail), SIGNET_OK);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 1);
    assert_int_equal(store_meta_get(st, "store.schema_version", ver, 2, &len, detail),
                     SIGNET_E_USAGE);
    assert_int_equal(len, 4);
    assert_int_equal(store_meta_get(st, "missing", buf, sizeof(buf), &len, detail),
                     SIGNET_E_NOTFOUND);
    store_close(st);
}

/* ---- iteration ---- */

struct order {
    char seen[1024];
};

static int order_cb(const struct store_cert *c, void *arg)
{
    struct order *o = arg;
    char hex[2 * STORE_SERIAL_MAX + 1];
    size_t len = strlen(o->seen);
    sg_hex_encode(c->serial, c->serial_len, hex);
    snprintf(o->seen + len, sizeof(o->seen) - len, "%s%s", len ? "," : "", hex);
    return 1;
}

static int stop_first(const struct store_cert *c, void *arg)
{
    (void)c;
    (*(int *)arg)++;
    return 0;
}

static void test_iteration_order(void **state)
{
    static const char *const serials[] = {"7f",
                                          "0100",
                                          "05",
                                          "00ff",
                                          "0102030405060708090a",
                                          "7fffffffffffffffffffffffffffffffffffffff",
                                          "0a"};
    struct store *st = open_ok(NULL);
    struct store_cert c;
    struct order o;
    unsigned char der[4] = {0};
    uint32_t id1 = add_ca(st, "issuing-1"), id2 = add_ca(st, "issuing-2");
    size_t n = 0;
    int calls = 0;
    char detail[SIGNET_DETAIL_MAX] = "";
    (void)state;

    for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
        for (uint32_t id = id1; id <= id2; id++) {
            make_cert(&c, id, 0, i % 2 ? STORE_CERT_REVOKED : STORE_CERT_ISSUED, der, sizeof(der));
            c.serial_len = (size_t)sg_hex_decode(serials[i], c.serial, sizeof(c.serial));
            c.not_after = 2000000000 - (int64_t)i;
            if (c.state == STORE_CERT_REVOKED) {
                c.revoked_at = 1750000000;
                c.reason = 4;
            }
            assert_int_equal(store_cert_put(st, &c, 1, detail), SIGNET_OK);
        }
    }
    memset(&o, 0, sizeof(o));
    assert_int_equal(store_cert_iter(st, id1, 0, order_cb, &o, detail), SIGNET_OK);
    assert_string_equal(o.seen, "05,0a,7f,00ff,0100,0102030405060708090a,"
                                "7fffffffffffffffffffffffffffffffffffffff");
    memset(&o, 0, sizeof(o));
    assert_int_equal(store_cert_iter(st, id2, STORE_CERT_REVOKED, order_cb, &o, detail), SIGNET_OK);
    assert_string_equal(o.seen, "00ff,0100,7fffffffffffffffffffffffffffffffffffffff");
    memset(&o, 0, sizeof(o));
    assert_int_equal(store_cert_iter(st, id2, STORE_CERT_ISSUED, order_cb, &o, detail), SIGNET_OK);
    assert_string_equal(o.seen, "05,0a,7f,0102030405060708090a");
    /* the expiry index: earliest not-after first, up to a bound */
    memset(&o, 0, sizeof(o));
    assert_int_equal(store_expiry_iter(st, id1, 2000000000 - 5, order_cb, &o, detail), SIGNET_OK);
    assert_string_equal(o.seen, "0a,7fffffffffffffffffffffffffffffffffffffff");
    assert_int_equal(store_expiry_iter(st, id2, INT64_MAX, count_cb, &n, detail), SIGNET_OK);
    assert_int_equal(n, 7);
    assert_int_equal(store_cert_iter(st, id1, 0, stop_first, &calls, detail), SIGNET_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(count_certs(st, 77, 0), 0);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_duplicate_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_failure_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_flags_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_cannot_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_and_meta_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iteration_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
