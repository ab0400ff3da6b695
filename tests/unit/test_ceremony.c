/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ceremony engine (ca/ceremony*.c) over a demo PKI: the dry run's TBS is the real run's,
 * byte for byte; a plan from another ceremony file, an unknown key, a profile that makes no CA
 * certificate and too few shares are refused with nothing written and the root never logged in
 * to; transcripts verify, and a forged one is caught by ca_audit_verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "../../ca/internal.h"

static char dir[64], pki[80], conf[128], csr[128];
static char s1[160], p1[160], s2[160], p2[160], s3[160], p3[160];

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fputs(text, f) >= 0;

    if (f)
        fclose(f);
    return ok;
}

/* A CSR for a fresh P-256 key, written to csr. 1 = ok. */
static int make_csr(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    FILE *f = fopen(csr, "w");
    int ok =
        k && r && n && f &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (unsigned char *)"Sub Test", -1, -1, 0) &&
        X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, k) &&
        X509_REQ_sign(r, k, EVP_sha256()) > 0 && PEM_write_X509_REQ(f, r);

    if (f)
        fclose(f);
    X509_NAME_free(n);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return ok;
}

static int group_setup(void **state)
{
    char detail[SIGNET_DETAIL_MAX] = "", cmd[400];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/signet-cer.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(pki, sizeof(pki), "%s/pki", dir);
    if (ca_demo_init(pki, detail) != SIGNET_OK) {
        fprintf(stderr, "demo: %s\n", detail);
        return -1;
    }
    snprintf(conf, sizeof(conf), "%s/signet.conf", pki);
    snprintf(csr, sizeof(csr), "%s/sub.csr", dir);
#define SHARE(s, p, i)                                                                             \
    snprintf(s, sizeof(s), "%s/custodians/share-%d.share", pki, i);                                \
    snprintf(p, sizeof(p), "%s/custodians/share-%d.pass", pki, i)
    SHARE(s1, p1, 1);
    SHARE(s2, p2, 2);
    SHARE(s3, p3, 3);
    /*
     * the root may use tls-client here, a profile that makes no CA certificate (a CA profile
     * without keyCertSign is refused earlier, when the profiles are compiled)
     */
    snprintf(cmd, sizeof(cmd),
             "sed -i 's/^profiles = subordinate-ca$/profiles = subordinate-ca, tls-client/' '%s'",
             conf);
    return system(cmd) == 0 && make_csr() ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes a sign-subordinate ceremony file name with profile, out and an extra line. */
static void ceremony(const char *name, const char *profile, const char *out, const char *extra)
{
    char text[1024], nb[32], na[32];

    sg_format_time(sg_now() + 3600, nb, sizeof(nb));
    sg_format_time(sg_now() + 2 * 365 * 86400, na, sizeof(na));
    snprintf(text, sizeof(text),
             "[ceremony]\noperation = sign-subordinate\nca = root\ncsr = %s\nprofile = %s\n"
             "not_before = %s\nnot_after = %s\nout = %s\n%s",
             csr, profile, nb, na, out, extra);
    assert_true(write_text(name, text));
}

static struct ca_ctx *open_ctx(void)
{
    struct ca_ctx *ctx = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    if (ca_ctx_open(conf, 0, &ctx, detail) != SIGNET_OK)
        fail_msg("open: %s", detail);
    return ctx;
}

static int root_logged_in(struct ca_ctx *ctx)
{
    return ca_token_ent_find(ctx, "root")->tok != NULL;
}

/* The dry run's TBS is the real run's, and the certificate holds exactly those bytes. */
static void test_dry_run_equals_real_run(void **state)
{
    struct ca_ctx *ctx = open_ctx();
    char file[128], plan[128], out[128], detail[SIGNET_DETAIL_MAX] = "", hash[65];
    struct ca_share_src src[2] = {{s1, p1}, {s3, p3}};
    struct ca_ceremony_opts dry = {file, 1, plan, NULL, NULL, 0},
                            real = {file, 0, NULL, plan, src, 2};
    struct ca_ceremony_result r1, r2;
    unsigned char *tbs = NULL;
    X509 *x;
    int len;

    (void)state;
    snprintf(file, sizeof(file), "%s/eq.cer", dir);
    snprintf(plan, sizeof(plan), "%s/eq.plan", dir);
    snprintf(out, sizeof(out), "%s/eq.crt", dir);
    ceremony(file, "subordinate-ca", out, "");
    if (ca_ceremony_run(ctx, &dry, &r1, detail) != SIGNET_OK)
        fail_msg("dry run: %s", detail);
    assert_int_equal(strlen(r1.tbs_sha256), 64);
    assert_int_equal(access(out, F_OK), -1);
    assert_false(root_logged_in(ctx));
    if (ca_ceremony_run(ctx, &real, &r2, detail) != SIGNET_OK)
        fail_msg("real run: %s", detail);
    assert_string_equal(r1.tbs_sha256, r2.tbs_sha256);
    assert_string_equal(r1.serial, r2.serial);
    assert_string_equal(r2.shares, "1,3");
    x = ca_load_cert_file(out, detail);
    assert_non_null(x);
    len = i2d_re_X509_tbs(x, &tbs);
    assert_true(len > 0);
    {
        unsigned char md[32];
        unsigned int n;
        EVP_Digest(tbs, (size_t)len, md, &n, EVP_sha256(), NULL);
        sg_hex_encode(md, 32, hash);
    }
    assert_string_equal(hash, r1.tbs_sha256);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(ca_ent_find(ctx, "root")->cert)), 1);
    OPENSSL_free(tbs);
    X509_free(x);
    ca_ctx_free(ctx);
}

/* A plan made from another ceremony file is refused; nothing signed, no login. */
static void test_plan_of_another_file(void **state)
{
    struct ca_ctx *ctx = open_ctx();
    char file[128], plan[128], out[128], detail[SIGNET_DETAIL_MAX] = "";
    struct ca_share_src src[2] = {{s1, p1}, {s2, p2}};
    struct ca_ceremony_opts dry = {file, 1, plan, NULL, NULL, 0},
                            real = {file, 0, NULL, plan, src, 2};
    struct ca_ceremony_result r;

    (void)state;
    snprintf(file, sizeof(file), "%s/other.cer", dir);
    snprintf(plan, sizeof(plan), "%s/other.plan", dir);
    snprintf(out, sizeof(out), "%s/other.crt", dir);
    ceremony(file, "subordinate-ca", out, "");
    assert_int_equal(ca_ceremony_run(ctx, &dry, &r, detail), SIGNET_OK);
    ceremony(file, "subordinate-ca", out, "# reviewed again\n");
    assert_int_equal(ca_ceremony_run(ctx, &real, &r, detail), SIGNET_E_FORBIDDEN);
    assert_non_null(strstr(detail, "another ceremony file"));
    assert_int_equal(access(out, F_OK), -1);
    assert_false(root_logged_in(ctx));
    ca_ctx_free(ctx);
}

/* An unknown key and a profile that makes no CA certificate are refused before signing. */
static void test_bad_files(void **state)
{
    struct ca_ctx *ctx = open_ctx();
    char file[128], out[128], detail[SIGNET_DETAIL_MAX] = "";
    struct ca_ceremony_opts dry = {file, 1, NULL, NULL, NULL, 0};
    struct ca_ceremony_result r;

    (void)state;
    snprintf(file, sizeof(file), "%s/bad.cer", dir);
    snprintf(out, sizeof(out), "%s/bad.crt", dir);
    ceremony(file, "subordinate-ca", out, "colour = blue\n");
    assert_int_equal(ca_ceremony_run(ctx, &dry, &r, detail), SIGNET_E_USAGE);
    assert_non_null(strstr(detail, "unknown key 'colour'"));
    ceremony(file, "tls-client", out, "");
    assert_int_equal(ca_ceremony_run(ctx, &dry, &r, detail), SIGNET_E_POLICY);
    assert_non_null(strstr(detail, "does not make a CA certificate"));
    assert_int_equal(access(out, F_OK), -1);
    ca_ctx_free(ctx);
}

/* One share of 2-of-3, or the same share twice: refused, the token never logged in to. */
static void test_too_few_shares(void **state)
{
    struct ca_ctx *ctx = open_ctx();
    char file[128], out[128], detail[SIGNET_DETAIL_MAX] = "";
    struct ca_share_src src[2] = {{s2, p2}, {s2, p2}};
    struct ca_ceremony_opts one = {file, 0, NULL, NULL, src, 1},
                            twice = {file, 0, NULL, NULL, src, 2};
    struct ca_ceremony_result r;

    (void)state;
    snprintf(file, sizeof(file), "%s/few.cer", dir);
    snprintf(out, sizeof(out), "%s/few.crt", dir);
    ceremony(file, "subordinate-ca", out, "");
    assert_int_equal(ca_ceremony_run(ctx, &one, &r, detail), SIGNET_E_PIN);
    assert_non_null(strstr(detail, "2 needed"));
    assert_int_equal(ca_ceremony_run(ctx, &twice, &r, detail), SIGNET_E_PIN);
    assert_false(root_logged_in(ctx));
    assert_int_equal(access(out, F_OK), -1);
    ca_ctx_free(ctx);
}

/* Transcripts verify; a forged transcript (bad signature) is caught. */
static void test_audit(void **state)
{
    struct ca_ctx *ctx = open_ctx();
    char detail[SIGNET_DETAIL_MAX] = "";
    uint64_t entries = 0;
    size_t transcripts = 0;

    (void)state;
    assert_int_equal(ca_audit_verify(ctx, &entries, &transcripts, detail), SIGNET_OK);
    assert_true(transcripts >= 1);
    assert_true(entries > transcripts);
    assert_int_equal(ca_audit(ctx, "ceremony", "ceremony",
                              "signet-transcript 1\noperation sign-subordinate\nca root\n"
                              "signature 3006020101020101\n",
                              detail),
                     SIGNET_OK);
    assert_int_equal(ca_audit_verify(ctx, &entries, &transcripts, detail), SIGNET_E_INVALID);
    assert_non_null(strstr(detail, "does not verify"));
    ca_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_equals_real_run),
        cmocka_unit_test(test_plan_of_another_file),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_too_few_shares),
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests_name("ceremony", tests, group_setup, group_teardown);
}
