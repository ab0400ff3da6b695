/* SPDX-License-Identifier: Apache-2.0 */
/* policy: profile parsing, file:line errors, key rules, SAN and subject rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static const char good_profile[] =
    "# a comment line\n"
    "[profile]\n"
    "description = TLS servers\n"
    "validity    = 90d\n"
    "key         = ec:P-256, ec:P-384, rsa:2048-4096, ed25519\n"
    "subject.CN  = optional, must-be-a-SAN\n"
    "subject.O   = forbidden\n"
    "san.dns     = required, max=3, match=example.test|*.example.test\n"
    "san.ip      = forbidden\n"
    "extensions  = ext\n"
    "approval    = auto\n"
    "\n"
    "[ext]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage         = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n";

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/signet-policy.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Writes text to DIR/name.conf; loads it; returns the error (profile in *out on success). */
static enum signet_err load(struct fx *f, const char *name, const char *text,
                            struct policy_profile **out, char *detail)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s.conf", f->dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return policy_profile_load(path, out, detail);
}

/* The good profile with line `line` (1-based) replaced by repl. */
static char *edit(int line, const char *repl)
{
    char *out = calloc(1, sizeof(good_profile) + strlen(repl) + 2);
    const char *p = good_profile;

    for (int n = 1; *p; n++) {
        const char *e = strchr(p, '\n');
        size_t len = (size_t)(e - p) + 1;
        if (n == line) {
            strcat(out, repl);
            strcat(out, "\n");
        } else {
            strncat(out, p, len);
        }
        p += len;
    }
    return out;
}

static void test_parse_good(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(load(*state, "tls-server", good_profile, &p, detail), SIGNET_OK);
    assert_string_equal(policy_profile_name(p), "tls-server");
    assert_string_equal(policy_profile_description(p), "TLS servers");
    assert_int_equal(policy_profile_validity(p), 90 * 86400);
    policy_profile_free(p);
}

/* Each broken line is refused with FILE:LINE naming that line. */
static void test_errors_have_file_line(void **state)
{
    static const struct {
        int line;
        const char *text, *expect;
    } cases[] = {
        {5, "key = ec:secp256k1", ":5: key: unknown key type 'ec:secp256k1'"},
        {5, "key = rsa:1024-4096", ":5: key: unknown key type"},
        {4, "validity = ninety days", ":4: validity"},
        {6, "colour = blue", ":6: unknown key 'colour'"},
        {6, "subject.XYZZY = optional", ":6: subject.XYZZY: unknown subject attribute"},
        {8, "san.dns = required, maximum=3", ":8: san.dns: unknown word 'maximum=3'"},
        {8, "san.dns = max=3", ":8: san.dns: say required, optional or forbidden"},
        {8, "san.x400 = optional", ":8: san.x400: unknown SAN type"},
        {11, "approval = sometimes", ":11: approval: 'sometimes'"},
        {15, "keyUsage = critical, notAUsage", ":15: [ext] keyUsage: OpenSSL refuses"},
        {15, "subjectAltName = DNS:evil.test", ":15: [ext] subjectAltName: set by the CA itself"},
        {15, "authorityKeyIdentifier = keyid", ":15: [ext] authorityKeyIdentifier: set by the CA"},
        {10, "extensions = nosuch", ":10: extensions: no section [nosuch]"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_profile *p = NULL;
        char detail[SIGNET_DETAIL_MAX] = "", *text = edit(cases[i].line, cases[i].text);
        enum signet_err rc = load(*state, "broken", text, &p, detail);
        if (rc != SIGNET_E_CONFIG || strstr(detail, cases[i].expect) == NULL)
            fail_msg("case %zu (%s): rc %d, detail '%s', wanted '%s'", i, cases[i].text, rc, detail,
                     cases[i].expect);
        assert_null(p);
        assert_non_null(strstr(detail, "broken.conf:"));
        free(text);
    }
}

static void test_missing_keys_and_syntax(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(
        load(*state, "a", "[profile]\nvalidity = 1d\nextensions = e\n[e]\n", &p, detail),
        SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "needs key"));
    assert_int_equal(load(*state, "b", "[profile\nvalidity = 1d\n", &p, detail), SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "b.conf:1"));
    assert_int_equal(load(*state, "c", "[other]\nx = y\n", &p, detail), SIGNET_E_CONFIG);
    assert_non_null(strstr(detail, "no [profile] section"));
}

static EVP_PKEY *key_of(const char *type, const char *arg)
{
    EVP_PKEY *k = arg == NULL ? EVP_PKEY_Q_keygen(NULL, NULL, type)
                  : strcmp(type, "RSA") == 0
                      ? EVP_PKEY_Q_keygen(NULL, NULL, type, (size_t)strtoul(arg, NULL, 10))
                      : EVP_PKEY_Q_keygen(NULL, NULL, type, arg);
    assert_non_null(k);
    return k;
}

static void test_key_rules(void **state)
{
    static const struct {
        const char *type, *arg;
        enum signet_err want;
    } cases[] = {
        {"EC", "P-256", SIGNET_OK},
        {"EC", "P-384", SIGNET_OK},
        {"EC", "P-521", SIGNET_E_BADKEY} /* allowed by name only */,
        {"EC", "secp256k1", SIGNET_E_BADKEY},
        {"RSA", "2048", SIGNET_OK},
        {"RSA", "1024", SIGNET_E_BADKEY},
        {"ED25519", NULL, SIGNET_OK},
        {"ED448", NULL, SIGNET_E_BADKEY},
    };
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(load(*state, "k", good_profile, &p, detail), SIGNET_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *k = key_of(cases[i].type, cases[i].arg);
        enum signet_err rc = policy_check_key(p, k, detail);
        if (rc != cases[i].want)
            fail_msg("%s %s: got %d (%s)", cases[i].type, cases[i].arg ? cases[i].arg : "", rc,
                     detail);
        EVP_PKEY_free(k);
    }
    policy_profile_free(p);
}

static void test_rsa_range(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *text = edit(5, "key = rsa:3072-4096");
    EVP_PKEY *k2048 = key_of("RSA", "2048");

    assert_int_equal(load(*state, "r", text, &p, detail), SIGNET_OK);
    assert_int_equal(policy_check_key(p, k2048, detail), SIGNET_E_BADKEY);
    assert_non_null(strstr(detail, "rsa:2048 is not allowed"));
    assert_non_null(strstr(detail, "rsa:3072-4096"));
    EVP_PKEY_free(k2048);
    policy_profile_free(p);
    free(text);
}

static void test_dns_match(void **state)
{
    (void)state;
    assert_true(policy_dns_match("example.test", "example.test"));
    assert_true(policy_dns_match("example.test", "EXAMPLE.test"));
    assert_false(policy_dns_match("example.test", "www.example.test"));
    assert_true(policy_dns_match("*.example.test", "www.example.test"));
    assert_false(policy_dns_match("*.example.test", "a.b.example.test"));
    assert_false(policy_dns_match("*.example.test", "example.test"));
    assert_false(policy_dns_match("*.example.test", "wwwexample.test"));
    assert_false(policy_dns_match("*.example.test", "www.example.test.evil"));
    assert_true(policy_dns_match("**.example.test", "a.b.example.test"));
    assert_false(policy_dns_match("**.example.test", "example.test"));
    assert_false(policy_dns_match("**.example.test", "badexample.test"));
}

/* A CSR for a fresh P-256 key with subject dn ("/CN=x/O=y") and SAN text (NULL = none). */
static X509_REQ *make_csr(const char *cn, const char *org, const char *san)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *k = key_of("EC", "P-256");
    X509_NAME *n = X509_REQ_get_subject_name(req);

    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (org)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0);
    X509_REQ_set_pubkey(req, k);
    if (san) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
        X509_REQ_add_extensions(req, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    EVP_PKEY_free(k);
    return req;
}

static void test_evaluate(void **state)
{
    static const struct {
        const char *cn, *org, *san;
        int allowed;
        const char *expect;
    } cases[] = {
        {"www.example.test", NULL, "DNS:www.example.test", 1, ""},
        {NULL, NULL, "DNS:example.test, DNS:a.example.test", 1, ""},
        {"www.example.test", NULL, "DNS:www.other.test", 0, "does not match"},
        {"www.example.test", NULL, NULL, 0, "san.dns: required"},
        {"x.example.test", NULL, "DNS:www.example.test", 0, "must also be one of the SANs"},
        {"www.example.test", "Evil", "DNS:www.example.test", 0, "subject.O: forbidden"},
        {NULL, NULL, "DNS:www.example.test, IP:10.1.2.3", 0, "san.ip: forbidden"},
        {NULL, NULL, "DNS:a.example.test,DNS:b.example.test,DNS:c.example.test,DNS:d.example.test",
         0, "more than max=3"},
        {NULL, NULL, "DNS:bad_name.example.test", 0, "not a hostname"},
        {NULL, NULL, "email:a@example.test, DNS:example.test", 0, "san.email: forbidden"},
    };
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(load(*state, "tls-server", good_profile, &p, detail), SIGNET_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509_REQ *req = make_csr(cases[i].cn, cases[i].org, cases[i].san);
        struct policy_decision *d = NULL;
        assert_int_equal(policy_evaluate(p, req, &d, detail), SIGNET_OK);
        if (policy_decision_allowed(d) != cases[i].allowed ||
            strstr(policy_decision_error(d), cases[i].expect) == NULL)
            fail_msg("case %zu: allowed %d, error '%s', wanted '%s'", i, policy_decision_allowed(d),
                     policy_decision_error(d), cases[i].expect);
        if (cases[i].allowed) {
            assert_int_equal(policy_decision_err(d), SIGNET_OK);
            assert_non_null(policy_decision_sans(d));
            assert_true(policy_decision_count(d) >= 2);
        } else {
            assert_int_equal(policy_decision_err(d), SIGNET_E_POLICY);
        }
        policy_decision_free(d);
        X509_REQ_free(req);
    }
    policy_profile_free(p);
}

static void test_set_load(void **state)
{
    struct fx *f = *state;
    struct policy_set *set = NULL;
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *bad = edit(6, "nonsense = 1");

    assert_int_equal(load(f, "b-second", good_profile, &p, detail), SIGNET_OK);
    policy_profile_free(p);
    assert_int_equal(load(f, "a-first", good_profile, &p, detail), SIGNET_OK);
    policy_profile_free(p);
    assert_int_equal(policy_set_load(f->dir, &set, detail), SIGNET_OK);
    assert_int_equal(policy_set_count(set), 2);
    assert_string_equal(policy_profile_name(policy_set_at(set, 0)), "a-first");
    assert_non_null(policy_set_get(set, "b-second"));
    assert_null(policy_set_get(set, "c"));
    policy_set_free(set);
    /* one broken profile refuses the set, naming its file and line */
    assert_int_equal(load(f, "c-broken", bad, &p, detail), SIGNET_E_CONFIG);
    assert_int_equal(policy_set_load(f->dir, &set, detail), SIGNET_E_CONFIG);
    assert_null(set);
    assert_non_null(strstr(detail, "c-broken.conf:6:"));
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_have_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_keys_and_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_range, setup, teardown),
        cmocka_unit_test(test_dns_match),
        cmocka_unit_test_setup_teardown(test_evaluate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
