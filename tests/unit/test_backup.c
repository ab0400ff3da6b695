/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup: the archive format (manifest, hashes, bounds, truncation), CMS seal/open (signer
 * pinned, unknown signer refused, another recipient refused, tampering caught), the store copy
 * taken while the committer writes, and prune's retention rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../ca/internal.h" /* ca/internal.h: net/ has an internal.h too */

/* A self-signed certificate for key (enough for CMS). */
static X509 *cert_for(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    assert_non_null(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_version(x, 2);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    X509_NAME_free(n);
    return x;
}

static void make_arc(struct ca_bk_arc *a)
{
    memset(a, 0, sizeof(*a));
    assert_true(ca_bk_add(a, "conf/signet.conf", "[signet]\n", 9));
    assert_true(ca_bk_add(a, "files/public/root.crt", "PEM", 3));
    assert_true(ca_bk_add(a, "store/data.mdb", "", 0));
}

static void test_archive_roundtrip(void **state)
{
    struct ca_bk_arc a, b;
    unsigned char *buf = NULL;
    size_t len = 0;
    char detail[SIGNET_DETAIL_MAX] = "";

    (void)state;
    make_arc(&a);
    assert_false(ca_bk_add(&a, "conf/signet.conf", "x", 1)); /* duplicate */
    assert_false(ca_bk_add(&a, "../etc/passwd", "x", 1));
    assert_false(ca_bk_add(&a, "/abs", "x", 1));
    assert_false(ca_bk_add(&a, "sp ace", "x", 1));
    assert_int_equal(ca_bk_serialize(&a, &buf, &len, detail), SIGNET_OK);
    assert_int_equal(ca_bk_parse(buf, len, &b, detail), SIGNET_OK);
    assert_int_equal(b.n, 3);
    assert_memory_equal(ca_bk_get(&b, "files/public/root.crt")->data, "PEM", 3);
    ca_bk_arc_free(&b);

    /* a byte of a part changed: its hash no longer matches the manifest */
    unsigned char *p = memmem(buf, len, "[signet]", 8);
    assert_non_null(p);
    p[1] ^= 1;
    assert_int_equal(ca_bk_parse(buf, len, &b, detail), SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "conf/signet.conf does not match its SHA-256"));
    p[1] ^= 1;
    /* truncated anywhere: refused with the truncation message */
    for (size_t cut = 17; cut < len; cut += 7) {
        detail[0] = 0;
        assert_int_equal(ca_bk_parse(buf, cut, &b, detail), SIGNET_E_INVALID);
        assert_true(detail[0] != 0);
    }
    buf[0] = 'X';
    assert_int_equal(ca_bk_parse(buf, len, &b, detail), SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "bad magic"));
    free(buf);
    ca_bk_arc_free(&a);
}

static void test_cms_seal_open(void **state)
{
    EVP_PKEY *sk = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256"), *rk = EVP_RSA_gen(2048);
    EVP_PKEY *rk2 = EVP_RSA_gen(2048);
    X509 *sc = cert_for(sk, "signer"), *oc = cert_for(other, "intruder");
    X509 *rc = cert_for(rk, "recipient"), *rc2 = cert_for(rk2, "other recipient");
    STACK_OF(X509) *recips = sk_X509_new_null();
    unsigned char *sealed = NULL, *plain = NULL, *forged = NULL;
    size_t slen = 0, plen = 0, flen = 0;
    int embedded = -1;
    char detail[SIGNET_DETAIL_MAX] = "";
    static const unsigned char msg[] = "SIGNET-BACKUP-v1 payload";

    (void)state;
    sk_X509_push(recips, rc);
    assert_int_equal(ca_bk_seal(msg, sizeof(msg), sc, sk, recips, &sealed, &slen, detail),
                     SIGNET_OK);
    assert_int_equal(ca_bk_open(sealed, slen, rk, rc, sc, &plain, &plen, &embedded, detail),
                     SIGNET_OK);
    assert_int_equal(plen, sizeof(msg));
    assert_memory_equal(plain, msg, plen);
    assert_int_equal(embedded, 0);
    free(plain);
    plain = NULL;
    /* pinned to another signer: refused */
    assert_int_equal(ca_bk_open(sealed, slen, rk, rc, oc, &plain, &plen, &embedded, detail),
                     SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "signature does not verify"));
    /* a backup signed by an unknown key, encrypted to us: refused with the pinned signer */
    assert_int_equal(ca_bk_seal(msg, sizeof(msg), oc, other, recips, &forged, &flen, detail),
                     SIGNET_OK);
    assert_int_equal(ca_bk_open(forged, flen, rk, rc, sc, &plain, &plen, &embedded, detail),
                     SIGNET_E_INVALID);
    /* another recipient's key */
    assert_int_equal(ca_bk_open(sealed, slen, rk2, rc2, sc, &plain, &plen, &embedded, detail),
                     SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "cannot decrypt"));
    /* a flipped byte in the middle, a truncation */
    sealed[slen / 2] ^= 0x40;
    assert_int_not_equal(ca_bk_open(sealed, slen, rk, rc, sc, &plain, &plen, &embedded, detail),
                         SIGNET_OK);
    sealed[slen / 2] ^= 0x40;
    assert_int_equal(ca_bk_open(sealed, slen / 2, rk, rc, sc, &plain, &plen, &embedded, detail),
                     SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "not CMS EnvelopedData"));
    free(sealed);
    free(forged);
    sk_X509_free(recips);
    X509_free(sc);
    X509_free(oc);
    X509_free(rc);
    X509_free(rc2);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(rk2);
}

struct writer {
    struct store *st;
    volatile int stop, done;
    volatile unsigned n;
    char detail[SIGNET_DETAIL_MAX];
};

static enum signet_err put_cert(struct store_txn *txn, void *arg, char *detail)
{
    struct writer *w = arg;
    struct store_cert c;
    unsigned char der[8] = {0x30, 0x03, 0x02, 0x01, 0x01};

    memset(&c, 0, sizeof(c));
    c.ca_id = 1;
    c.serial_len = 4;
    c.serial[0] = 1;
    c.serial[1] = (unsigned char)(w->n >> 16);
    c.serial[2] = (unsigned char)(w->n >> 8);
    c.serial[3] = (unsigned char)w->n;
    c.state = STORE_CERT_ISSUED;
    c.not_after = 2000000000;
    c.der = der;
    c.der_len = 5;
    c.reason = -1;
    snprintf(c.profile, sizeof(c.profile), "p");
    return store_txn_cert_put(txn, &c, 1, detail);
}

static void *write_loop(void *arg)
{
    struct writer *w = arg;

    while (!w->stop && w->n < 100000) {
        if (store_write(w->st, put_cert, w, w->detail) != SIGNET_OK)
            break;
        w->n++;
    }
    w->done = 1;
    return NULL;
}

static int count(const struct store_cert *c, void *arg)
{
    (void)c;
    (*(unsigned *)arg)++;
    return 1;
}

static void test_store_copy_while_writing(void **state)
{
    char dir[64] = "/tmp/signet-bk.XXXXXX", copy[128], cmd[300];
    char detail[SIGNET_DETAIL_MAX] = "";
    struct store *st = NULL, *cp = NULL;
    struct store_options ro = {0};
    struct writer w = {0};
    pthread_t th;
    unsigned before, seen = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(copy, sizeof(copy), "%s/copy", dir);
    assert_int_equal(sg_mkdirs(copy, 0700, detail), SIGNET_OK);
    assert_int_equal(store_open(dir, NULL, &st, detail), SIGNET_OK);
    struct store_ca ca = {0};
    snprintf(ca.name, sizeof(ca.name), "issuing");
    snprintf(ca.key_uri, sizeof(ca.key_uri), "pkcs11:token=t;object=issuing");
    ca.state = STORE_CA_ACTIVE;
    assert_int_equal(store_ca_put(st, &ca, detail), SIGNET_OK);
    assert_int_equal(ca.id, 1);
    w.st = st;
    assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
    while (w.n < 50 && !w.done)
        sg_sleep_ms(1);
    if (w.done)
        fail_msg("the writer stopped: %s", w.detail);
    before = w.n;
    assert_int_equal(store_backup_copy(st, copy, detail), SIGNET_OK);
    w.stop = 1;
    pthread_join(th, NULL);
    /* a second copy into a non-empty directory is refused */
    assert_int_equal(store_backup_copy(st, copy, detail), SIGNET_E_EXISTS);
    store_close(st);
    ro.read_only = 1;
    assert_int_equal(store_open(copy, &ro, &cp, detail), SIGNET_OK);
    assert_int_equal(store_cert_iter(cp, 1, 0, count, &seen, detail), SIGNET_OK);
    store_close(cp);
    /* every write acknowledged before the copy began is in it; nothing written after is */
    assert_true(seen >= before);
    assert_true(seen <= w.n);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Writes a file that looks like a backup (DER EnvelopedData header) or not, aged days. */
static void file_at(const char *dir, const char *name, int backup, int days)
{
    static const unsigned char head[] = {0x30, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2a, 0x86, 0x48,
                                         0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x00, 0x00};
    char path[256];
    FILE *f;
    struct timeval tv[2];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "wb"));
    if (backup)
        fwrite(head, 1, sizeof(head), f);
    else
        fputs("notes: not a backup, prune must leave me alone\n", f);
    fclose(f);
    tv[0].tv_sec = tv[1].tv_sec = time(NULL) - (time_t)days * 86400 - 60;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    assert_int_equal(utimes(path, tv), 0);
}

static int exists(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void test_prune(void **state)
{
    char dir[64] = "/tmp/signet-prune.XXXXXX", detail[SIGNET_DETAIL_MAX] = "", cmd[128];
    size_t del = 0, kept = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    file_at(dir, "b-0", 1, 0);
    file_at(dir, "b-1", 1, 1);
    file_at(dir, "b-10", 1, 10);
    file_at(dir, "b-40", 1, 40);
    file_at(dir, "README", 0, 100);
    /* dry run deletes nothing */
    assert_int_equal(ca_backup_prune(dir, 2, 0, 1, &del, &kept, detail), SIGNET_OK);
    assert_int_equal(del, 2);
    assert_true(exists(dir, "b-40"));
    /* keep 3 newest, and none older than 5 days among them (b-10 goes) */
    assert_int_equal(ca_backup_prune(dir, 3, 5 * 86400, 0, &del, &kept, detail), SIGNET_OK);
    assert_int_equal(del, 2);
    assert_int_equal(kept, 2);
    assert_true(exists(dir, "b-0") && exists(dir, "b-1"));
    assert_false(exists(dir, "b-10") || exists(dir, "b-40"));
    assert_true(exists(dir, "README"));
    /* max age never removes the newest backup */
    assert_int_equal(ca_backup_prune(dir, 5, 1, 0, &del, &kept, detail), SIGNET_OK);
    assert_true(exists(dir, "b-0"));
    assert_false(exists(dir, "b-1"));
    assert_int_equal(ca_backup_prune("/nonexistent/dir", 1, 0, 0, &del, &kept, detail),
                     SIGNET_E_NOTFOUND);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive_roundtrip),
        cmocka_unit_test(test_cms_seal_open),
        cmocka_unit_test(test_store_copy_while_writing),
        cmocka_unit_test(test_prune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
