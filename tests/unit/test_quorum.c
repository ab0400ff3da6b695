/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quorum shares (ca/quorum.c): split and seal, header checks, unseal, combine; and every
 * refusal a custodian can meet: wrong passphrase, altered share, another root, another split,
 * the same share twice, fewer than M.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../../ca/internal.h"

#define LOG2N 14 /* the smallest cost a share may carry: keeps the tests quick */

struct fixture {
    unsigned char root_id[CA_ROOT_ID_LEN];
    struct secret *secret;
    struct secret *pass[3];
    char *files[3];
    size_t lens[3];
};

static struct secret *sec(const char *s)
{
    struct secret *x = secret_new(64);
    secret_set(x, s, strlen(s));
    return x;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    unsigned char raw[CA_QUORUM_SECRET_LEN];
    char detail[SIGNET_DETAIL_MAX] = "";

    if (f == NULL || !ca_root_id("signet-root", "0123456789abcdef", f->root_id))
        return -1;
    RAND_bytes(raw, sizeof(raw));
    f->secret = secret_new(sizeof(raw));
    secret_set(f->secret, raw, sizeof(raw));
    f->pass[0] = sec("alpha passphrase");
    f->pass[1] = sec("bravo passphrase");
    f->pass[2] = sec("charlie passphrase");
    if (ca_quorum_split_seal(f->secret, f->root_id, 2, 3, f->pass, LOG2N, f->files, f->lens,
                             detail) != SIGNET_OK) {
        fprintf(stderr, "split: %s\n", detail);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < 3; i++) {
        free(f->files[i]);
        secret_free(f->pass[i]);
    }
    secret_free(f->secret);
    free(f);
    return 0;
}

static struct ca_share_in in_of(struct fixture *f, int i, struct secret *pass)
{
    struct ca_share_in in = {"share", f->files[i], f->lens[i], pass ? pass : f->pass[i]};
    return in;
}

/* Each share names its root, index and quorum, and says so in its first line. */
static void test_header(void **state)
{
    struct fixture *f = *state;
    struct ca_share_hdr h;

    for (int i = 0; i < 3; i++) {
        assert_true(ca_share_parse(f->files[i], f->lens[i], &h));
        assert_int_equal(h.index, i + 1);
        assert_int_equal(h.m, 2);
        assert_int_equal(h.n, 3);
        assert_int_equal(h.log2n, LOG2N);
        assert_memory_equal(h.root_id, f->root_id, CA_ROOT_ID_LEN);
    }
    assert_non_null(strstr(f->files[1], "Signet root share 2 of 3 (2 needed)"));
    assert_non_null(strstr(f->files[1], "-----BEGIN SIGNET ROOT SHARE-----"));
    assert_false(ca_share_parse("not a share", 11, &h));
}

/* Any two shares, or all three, rebuild the secret; the PIN halves are 64 hex characters. */
static void test_combine(void **state)
{
    struct fixture *f = *state;
    static const int pairs[][2] = {{0, 1}, {0, 2}, {1, 2}};
    char detail[SIGNET_DETAIL_MAX] = "";

    for (size_t p = 0; p < 3; p++) {
        struct ca_share_in in[2] = {in_of(f, pairs[p][0], NULL), in_of(f, pairs[p][1], NULL)};
        int use[2];
        struct secret *out = NULL;
        assert_int_equal(ca_quorum_check(f->root_id, in, 2, use, detail), SIGNET_OK);
        assert_int_equal(ca_quorum_combine(in, 2, use, &out, detail), SIGNET_OK);
        assert_true(secret_equal(out, f->secret));
        secret_free(out);
    }
    {
        struct ca_share_in in[3] = {in_of(f, 0, NULL), in_of(f, 1, NULL), in_of(f, 2, NULL)};
        int use[3];
        struct secret *out = NULL, *pin, *so;
        assert_int_equal(ca_quorum_check(f->root_id, in, 3, use, detail), SIGNET_OK);
        assert_int_equal(ca_quorum_combine(in, 3, use, &out, detail), SIGNET_OK);
        assert_true(secret_equal(out, f->secret));
        pin = ca_quorum_user_pin(out);
        so = ca_quorum_so_pin(out);
        assert_int_equal(secret_len(pin), 64);
        assert_int_equal(secret_len(so), 64);
        assert_false(secret_equal(pin, so));
        secret_free(pin);
        secret_free(so);
        secret_free(out);
    }
}

/* A wrong passphrase is told apart from an altered share, and names the share. */
static void test_wrong_passphrase(void **state)
{
    struct fixture *f = *state;
    struct secret *wrong = sec("bravo passphrasE"), *out = NULL;
    struct ca_share_in in[2] = {in_of(f, 0, NULL), in_of(f, 1, wrong)};
    char detail[SIGNET_DETAIL_MAX] = "";
    int use[2];

    assert_int_equal(ca_share_unseal(f->files[1], f->lens[1], wrong, &out, detail), SIGNET_E_PIN);
    assert_null(out);
    assert_non_null(strstr(detail, "wrong passphrase for share 2"));
    assert_int_equal(ca_quorum_check(f->root_id, in, 2, use, detail), SIGNET_OK);
    assert_int_equal(ca_quorum_combine(in, 2, use, &out, detail), SIGNET_E_PIN);
    assert_null(out);
    secret_free(wrong);
}

/* Re-armours the share after flipping one byte at off. Caller frees. */
static char *tamper(const char *file, size_t len, size_t off, size_t *out_len)
{
    BIO *in = BIO_new_mem_buf(file, (int)len), *b = BIO_new(BIO_s_mem());
    char *name = NULL, *hdr = NULL, *out;
    unsigned char *data = NULL;
    long n = 0;
    BUF_MEM *m;

    assert_true(PEM_read_bio(in, &name, &hdr, &data, &n));
    assert_true((size_t)n > off);
    data[off] ^= 0x01;
    PEM_write_bio(b, name, "", data, n);
    BIO_get_mem_ptr(b, &m);
    out = malloc(m->length);
    memcpy(out, m->data, m->length);
    *out_len = m->length;
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    OPENSSL_free(data);
    BIO_free(in);
    BIO_free(b);
    return out;
}

/* A flipped bit in the ciphertext, the tag or an authenticated header field is refused. */
static void test_tampered(void **state)
{
    struct fixture *f = *state;
    static const size_t offsets[] = {150 /* ciphertext */, 142 + 64 + 3 /* tag */,
                                     10 /* M: authenticated data */, 60 /* commitment */};
    char detail[SIGNET_DETAIL_MAX];

    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        size_t len = 0;
        char *bad = tamper(f->files[2], f->lens[2], offsets[i], &len);
        struct secret *out = NULL;
        detail[0] = 0;
        assert_int_equal(ca_share_unseal(bad, len, f->pass[2], &out, detail), SIGNET_E_INVALID);
        assert_null(out);
        assert_non_null(strstr(detail, "altered"));
        free(bad);
    }
}

/* A share of another root is refused by name before any passphrase is needed. */
static void test_other_root(void **state)
{
    struct fixture *f = *state;
    unsigned char other[CA_ROOT_ID_LEN];
    struct ca_share_in in[2] = {in_of(f, 0, NULL), in_of(f, 1, NULL)};
    char detail[SIGNET_DETAIL_MAX] = "";
    int use[2];

    in[0].pass = in[1].pass = NULL;
    assert_true(ca_root_id("signet-root", "fedcba9876543210", other));
    assert_int_equal(ca_quorum_check(other, in, 2, use, detail), SIGNET_E_FORBIDDEN);
    assert_non_null(strstr(detail, "belongs to another root"));
}

/* Shares of two different splits of the same root do not mix. */
static void test_other_split(void **state)
{
    struct fixture *f = *state;
    unsigned char raw[CA_QUORUM_SECRET_LEN];
    struct secret *s2 = secret_new(sizeof(raw));
    char *files[3] = {0}, detail[SIGNET_DETAIL_MAX] = "";
    size_t lens[3];
    int use[2];

    RAND_bytes(raw, sizeof(raw));
    secret_set(s2, raw, sizeof(raw));
    assert_int_equal(
        ca_quorum_split_seal(s2, f->root_id, 2, 3, f->pass, LOG2N, files, lens, detail), SIGNET_OK);
    {
        struct ca_share_in in[2] = {in_of(f, 0, NULL), {"other", files[1], lens[1], f->pass[1]}};
        assert_int_equal(ca_quorum_check(f->root_id, in, 2, use, detail), SIGNET_E_FORBIDDEN);
        assert_non_null(strstr(detail, "another split"));
    }
    for (int i = 0; i < 3; i++)
        free(files[i]);
    secret_free(s2);
}

/* The same share twice counts once; one share of 2-of-3 is not enough. */
static void test_too_few(void **state)
{
    struct fixture *f = *state;
    struct ca_share_in twice[2] = {in_of(f, 0, NULL), in_of(f, 0, NULL)};
    struct ca_share_in one[1] = {in_of(f, 2, NULL)};
    char detail[SIGNET_DETAIL_MAX] = "";
    int use[2];

    assert_int_equal(ca_quorum_check(f->root_id, twice, 2, use, detail), SIGNET_E_PIN);
    assert_non_null(strstr(detail, "1 distinct share(s) given, 2 needed"));
    assert_int_equal(use[0] + use[1], 1);
    detail[0] = 0;
    assert_int_equal(ca_quorum_check(f->root_id, one, 1, use, detail), SIGNET_E_PIN);
    assert_non_null(strstr(detail, "bring 1 more custodian"));
}

/* Bad quorum parameters are refused. */
static void test_bad_quorum(void **state)
{
    struct fixture *f = *state;
    char *files[3] = {0}, detail[SIGNET_DETAIL_MAX] = "";
    size_t lens[3];

    assert_int_equal(
        ca_quorum_split_seal(f->secret, f->root_id, 3, 2, f->pass, LOG2N, files, lens, detail),
        SIGNET_E_USAGE);
    assert_int_equal(
        ca_quorum_split_seal(f->secret, f->root_id, 0, 3, f->pass, LOG2N, files, lens, detail),
        SIGNET_E_USAGE);
    assert_int_equal(
        ca_quorum_split_seal(f->secret, f->root_id, 2, 3, f->pass, 10, files, lens, detail),
        SIGNET_E_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),           cmocka_unit_test(test_combine),
        cmocka_unit_test(test_wrong_passphrase), cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_other_root),       cmocka_unit_test(test_other_split),
        cmocka_unit_test(test_too_few),          cmocka_unit_test(test_bad_quorum),
    };
    return cmocka_run_group_tests_name("quorum", tests, setup, teardown);
}
