/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unit_unlock: the online token's PIN split into 2-of-3 sealed shares (ca_unlock_split), a
 * pin = shares token refused without shares, refused with one share, a root share, a wrong
 * passphrase (none of them logging in), unlocked with two, and then signing; and the CA-set
 * reload (ca_reload_cas): a CA created by another process is taken in with its certificate and
 * chain, while a CA removed or changed in signet.conf is refused by name. On a demo PKI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../ca/internal.h"
#include "pkifix.h"

static struct pkifix pki;

/* Writes text to path, mode 0600. 1 = ok. */
static int put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return 0;
    fputs(text, f);
    fclose(f);
    return chmod(path, 0600) == 0;
}

static int group_setup(void **state)
{
    char path[256];

    (void)state;
    if (!pkifix_demo_make(&pki, "/tmp/signet-unlock.XXXXXX"))
        return -1;
    snprintf(path, sizeof(path), "%s/unlock", pki.dir);
    mkdir(path, 0700);
    for (int i = 1; i <= 3; i++) {
        char text[32];
        snprintf(path, sizeof(path), "%s/unlock/share-%d.pass", pki.dir, i);
        snprintf(text, sizeof(text), "custodian passphrase %d\n", i);
        if (!put(path, text))
            return -1;
    }
    snprintf(path, sizeof(path), "%s/wrong.pass", pki.dir);
    return put(path, "not it\n") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return pkifix_demo_remove(&pki) ? 0 : -1;
}

/* A share source: dir/unlock/share-I.share with passphrase file pass (NULL: its own). */
static void src(struct ca_share_src *s, char (*buf)[2][256], int i, const char *pass)
{
    snprintf((*buf)[0], sizeof((*buf)[0]), "%s/unlock/share-%d.share", pki.dir, i);
    if (pass != NULL)
        snprintf((*buf)[1], sizeof((*buf)[1]), "%s", pass);
    else
        snprintf((*buf)[1], sizeof((*buf)[1]), "%s/unlock/share-%d.pass", pki.dir, i);
    s->path = (*buf)[0];
    s->pass = (*buf)[1];
}

/* 1 when the online token is open in ctx. */
static int online_open(struct ca_ctx *ctx)
{
    struct ca_token_ent *t = ca_token_ent_find(ctx, "online");

    return t != NULL && t->tok != NULL;
}

/* Split, then refusals, then the unlock and a signature with issuing-1's key. */
static void test_split_and_unlock(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct ca_share_src s[3];
    char bufs[3][2][256], detail[SIGNET_DETAIL_MAX] = "", report[256] = "", path[256], wrong[256];
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *m = NULL;
    unsigned char sig[256];
    size_t siglen = sizeof(sig);
    struct stat st;

    (void)state;
    snprintf(path, sizeof(path), "%s/unlock", pki.dir);
    snprintf(wrong, sizeof(wrong), "%s/wrong.pass", pki.dir);
    assert_int_equal(ca_ctx_open(pki.conf, 0, &ctx, detail), SIGNET_OK);
    assert_int_equal(ca_unlock_split(ctx, "root", 2, 3, path, path, detail), SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "offline"));
    assert_int_equal(ca_unlock_split(ctx, "online", 4, 3, path, path, detail), SIGNET_E_USAGE);
    assert_int_equal(ca_unlock_split(ctx, "online", 2, 3, path, path, detail), SIGNET_OK);
    ca_ctx_free(ctx);
    snprintf(path, sizeof(path), "%s/unlock/share-3.share", pki.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* no PIN on disk any more: pin = shares */
    assert_true(pkifix_sed_conf(&pki, "s|^pin    = file:hsm/online.pin|pin    = shares|"));
    snprintf(path, sizeof(path), "%s/hsm/online.pin", pki.dir);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(ca_ctx_open(pki.conf, CA_OPEN_LOGIN_ONLINE, &ctx, detail), SIGNET_E_PIN);
    assert_non_null(strstr(detail, "--unlock-with-shares"));
    assert_int_equal(ca_ctx_open(pki.conf, 0, &ctx, detail), SIGNET_OK);
    assert_true(ca_unlock_needed(ctx));

    src(&s[0], &bufs[0], 1, NULL);
    assert_int_equal(ca_unlock_with_shares(ctx, s, 1, report, sizeof(report), detail),
                     SIGNET_E_PIN);
    assert_non_null(strstr(detail, "1 distinct share(s) given, 2 needed"));
    assert_false(online_open(ctx));

    /* a share of the offline root is refused by name */
    snprintf(bufs[1][0], sizeof(bufs[1][0]), "%s/custodians/share-1.share", pki.dir);
    snprintf(bufs[1][1], sizeof(bufs[1][1]), "%s/custodians/share-1.pass", pki.dir);
    s[1].path = bufs[1][0];
    s[1].pass = bufs[1][1];
    assert_int_equal(ca_unlock_with_shares(ctx, s, 2, report, sizeof(report), detail),
                     SIGNET_E_FORBIDDEN);
    assert_non_null(strstr(detail, "custodians/share-1.share: this share belongs to no"));
    assert_false(online_open(ctx));

    src(&s[1], &bufs[1], 3, wrong);
    assert_int_equal(ca_unlock_with_shares(ctx, s, 2, report, sizeof(report), detail),
                     SIGNET_E_PIN);
    assert_non_null(strstr(detail, "wrong passphrase for share 3"));
    assert_false(online_open(ctx));

    src(&s[1], &bufs[1], 3, NULL);
    assert_int_equal(ca_unlock_with_shares(ctx, s, 2, report, sizeof(report), detail), SIGNET_OK);
    assert_string_equal(report, "online: shares 1,3");
    assert_true(online_open(ctx));
    assert_int_equal(ca_ctx_login_online(ctx, detail), SIGNET_OK);

    assert_int_equal(ca_ent_key(ctx, ca_ent_find(ctx, "issuing-1"), &key, detail), SIGNET_OK);
    assert_non_null(m = EVP_MD_CTX_new());
    assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(m, sig, &siglen, (const unsigned char *)"x", 1), 1);
    EVP_MD_CTX_free(m);
    assert_non_null(m = EVP_MD_CTX_new());
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL,
                                          X509_get0_pubkey(ca_ent_find(ctx, "issuing-1")->cert)),
                     1);
    assert_int_equal(EVP_DigestVerify(m, sig, siglen, (const unsigned char *)"x", 1), 1);
    EVP_MD_CTX_free(m);
    ca_ctx_free(ctx);
}

/* Another process adds issuing-x (signed by issuing-1 at once) while ctx is open. */
static void create_elsewhere(void)
{
    int p[2];
    pid_t pid;
    char c = 0;
    int st = 0;

    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ca_ctx *ctx = NULL;
        struct ca_create_opts o = {.name = "issuing-x",
                                   .parent = "issuing-1",
                                   .token = "online",
                                   .type = "ec:P-256",
                                   .subject = "CN=Issuing X",
                                   .pathlen = 0,
                                   .profiles = "tls-server"};
        struct ca_share_src s[2];
        char bufs[2][2][256], detail[SIGNET_DETAIL_MAX] = "";
        enum ca_create_result res;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(3);
        src(&s[0], &bufs[0], 2, NULL);
        src(&s[1], &bufs[1], 3, NULL);
        if (ca_ctx_open(pki.conf, 0, &ctx, detail) != SIGNET_OK ||
            ca_unlock_with_shares(ctx, s, 2, NULL, 0, detail) != SIGNET_OK ||
            ca_create(ctx, &o, &res, detail) != SIGNET_OK) {
            fprintf(stderr, "child: %s\n", detail);
            _exit(1);
        }
        ca_ctx_free(ctx);
        _exit(res == CA_CREATED_SIGNED ? 0 : 2);
    }
    close(p[0]);
    assert_int_equal(write(p[1], &c, 1), 1);
    close(p[1]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The reload hook: counts its calls. */
static void count_call(void *arg)
{
    (*(int *)arg)++;
}

static void test_reload_cas(void **state)
{
    struct ca_ctx *ctx = NULL;
    struct ca_share_src s[2];
    char bufs[2][2][256], detail[SIGNET_DETAIL_MAX] = "", report[256] = "", *pem = NULL;
    size_t changed = 9, n = 0;
    struct ca_info *v = NULL;
    const char *p;
    int certs = 0, called = 0;

    (void)state;
    src(&s[0], &bufs[0], 1, NULL);
    src(&s[1], &bufs[1], 2, NULL);
    assert_int_equal(ca_ctx_open(pki.conf, 0, &ctx, detail), SIGNET_OK);
    assert_int_equal(ca_unlock_with_shares(ctx, s, 2, NULL, 0, detail), SIGNET_OK);
    assert_int_equal(ca_reload_cas(ctx, NULL, NULL, report, sizeof(report), &changed, detail),
                     SIGNET_OK);
    assert_int_equal(changed, 0);
    assert_string_equal(report, "");
    assert_null(ca_ent_find(ctx, "issuing-x"));

    create_elsewhere();
    assert_null(ca_ent_find(ctx, "issuing-x"));
    assert_int_equal(
        ca_reload_cas(ctx, count_call, &called, report, sizeof(report), &changed, detail),
        SIGNET_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(called, 1);
    assert_string_equal(report, "added CA issuing-x");
    assert_non_null(ca_ent_find(ctx, "issuing-x"));
    assert_true(ca_profile_allowed(ctx, "issuing-x", "tls-server"));
    assert_int_equal(ca_list(ctx, &v, &n, detail), SIGNET_OK);
    assert_int_equal(n, 3);
    assert_true(v[2].has_cert && v[2].store_id != 0);
    free(v);
    assert_int_equal(ca_cert_pem(ctx, "issuing-x", 1, &pem, detail), SIGNET_OK);
    for (p = pem; (p = strstr(p, "BEGIN CERTIFICATE")) != NULL; p++)
        certs++;
    assert_int_equal(certs, 3);
    free(pem);

    /* a second reload finds nothing new */
    assert_int_equal(
        ca_reload_cas(ctx, count_call, &called, report, sizeof(report), &changed, detail),
        SIGNET_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(called, 1); /* nothing changes: the hook is not run */

    /* a CA in use changed or removed: refused by name, nothing taken */
    assert_true(
        pkifix_sed_conf(&pki, "s/^profiles = tls-server$/profiles = tls-server, tls-client/"));
    assert_int_equal(ca_reload_cas(ctx, NULL, NULL, report, sizeof(report), &changed, detail),
                     SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "CA issuing-x: profiles changed in [ca.issuing-x]"));
    assert_false(ca_profile_allowed(ctx, "issuing-x", "tls-client"));
    assert_true(pkifix_sed_conf(&pki, "s/^\\[ca.issuing-x\\]/[ca.issuing-y]/"));
    assert_int_equal(ca_reload_cas(ctx, NULL, NULL, report, sizeof(report), &changed, detail),
                     SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "CA issuing-x: its [ca.issuing-x] section is gone"));
    assert_null(ca_ent_find(ctx, "issuing-y"));
    ca_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_and_unlock),
        cmocka_unit_test(test_reload_cas),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
