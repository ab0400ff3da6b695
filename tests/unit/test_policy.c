/* SPDX-License-Identifier: Apache-2.0 */
/* policy: profile parsing, file:line errors, key rules, SAN and subject rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
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

/* What policy sees of req: its DER through policy_csr_parse, which checks its signature. */
static struct policy_csr *csr_of(X509_REQ *req)
{
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(req, &der);
    struct policy_csr *c = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_true(len > 0);
    if (policy_csr_parse(der, (size_t)len, &c, detail) != SIGNET_OK)
        fail_msg("policy_csr_parse: %s", detail);
    OPENSSL_free(der);
    return c;
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
        struct policy_csr *c = csr_of(req);
        struct policy_decision *d = NULL;
        assert_int_equal(policy_evaluate(p, c, &d, detail), SIGNET_OK);
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
        policy_csr_free(c);
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

/* Hostile and malformed DNS names, each refused with a reason naming the problem. */
static void test_dns_names(void **state)
{
    static const struct {
        const char *name;
        int wildcard, ok;
        const char *expect;
    } cases[] = {
        {"www.example.test", 0, 1, ""},
        {"a-b.example.test", 0, 1, ""},
        {"xn--bcher-kva.example.test", 0, 1, ""},
        {"www.example.test.", 0, 0, "trailing dot"},
        {"WWW.example.test", 0, 0, "lowercase"},
        {"a..example.test", 0, 0, "empty label"},
        {".example.test", 0, 0, "empty label"},
        {"-a.example.test", 0, 0, "starts or ends with '-'"},
        {"a-.example.test", 0, 0, "starts or ends with '-'"},
        {"a_b.example.test", 0, 0, "0x5f"},
        {"a b.example.test", 0, 0, "0x20"},
        {"ab--c.example.test", 0, 0, "reserved label"},
        {"xn--.example.test", 0, 0, "ends with '-'"},
        {"xn--99999999999.example.test", 0, 0, "Punycode"},
        {"xn--abc-.example.test", 0, 0, "starts or ends"},
        {"xn--abc.example.test", 0, 0, "A-label"},
        {"xn--a-1xp.example.test", 0, 0, "U+2603"}, /* decodes to "a" + U+2603 snowman */
        {"xn--3ba.example.test", 0, 0, "U+00C0"},   /* an uppercase A-grave */
        {"xn--5ca.example.test", 0, 1, ""},         /* a-ring, allowed */
        {"xn--bcher-KVA.example.test", 0, 0, "lowercase"},
        {"*.example.test", 0, 0, "wildcard"},
        {"*.example.test", 1, 1, ""},
        {"*.test", 1, 0, "single label"},
        {"a.*.example.test", 1, 0, "'*'"},
        {"w*.example.test", 1, 0, "'*'"},
        {"*", 1, 0, "bare"},
        {"10.1.2.3", 0, 0, "all-numeric"},
    };
    char why[SIGNET_DETAIL_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok = policy_dns_name_ok(cases[i].name, strlen(cases[i].name), cases[i].wildcard, why);
        if (ok != cases[i].ok || (!ok && strstr(why, cases[i].expect) == NULL))
            fail_msg("'%s': ok %d, why '%s', wanted %d '%s'", cases[i].name, ok, ok ? "" : why,
                     cases[i].ok, cases[i].expect);
    }
}

/* Length limits: 63-byte labels and 253-byte names pass, one more byte fails; NUL fails. */
static void test_dns_lengths(void **state)
{
    char name[300], why[SIGNET_DETAIL_MAX];

    (void)state;
    memset(name, 'a', 63);
    strcpy(name + 63, ".example.test");
    assert_true(policy_dns_name_ok(name, strlen(name), 0, why));
    memset(name, 'a', 64);
    strcpy(name + 64, ".example.test");
    assert_false(policy_dns_name_ok(name, strlen(name), 0, why));
    assert_non_null(strstr(why, "at most 63"));
    /* 253 = 4 labels of 62 + dots + "test" (1 + 4) */
    for (int l = 0; l < 4; l++) {
        memset(name + l * 63, 'b', 62);
        name[l * 63 + 62] = '.';
    }
    strcpy(name + 4 * 63, "test");
    assert_int_equal(strlen(name), 256);
    assert_false(policy_dns_name_ok(name, strlen(name), 0, why));
    assert_non_null(strstr(why, "at most 253"));
    assert_true(policy_dns_name_ok(name + 3, strlen(name + 3), 0, why));  /* 253 bytes */
    assert_false(policy_dns_name_ok(name + 2, strlen(name + 2), 0, why)); /* 254 */
    assert_false(policy_dns_name_ok("a\0b.example.test", 16, 0, why));
    assert_non_null(strstr(why, "NUL or control"));
    assert_false(policy_dns_name_ok("a\tb.example.test", 16, 0, why));
}

/* A CSR for key k (NULL: fresh P-256) with subject text "/CN=x/O=y" and extension lines. */
static X509_REQ *make_req(EVP_PKEY *k, const char *subj, const char *const *exts, const EVP_MD *md)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *own = k ? NULL : key_of("EC", "P-256");
    X509_NAME *n = X509_REQ_get_subject_name(req);
    STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
    char buf[1024], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", subj ? subj : "");
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        char *eq = strchr(t, '=');
        assert_non_null(eq);
        *eq = 0;
        assert_true(
            X509_NAME_add_entry_by_txt(n, t, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0));
    }
    X509_REQ_set_pubkey(req, k ? k : own);
    for (size_t i = 0; exts && exts[i]; i += 2) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, NULL, exts[i], exts[i + 1]);
        assert_non_null(e);
        sk_X509_EXTENSION_push(sk, e);
    }
    if (sk_X509_EXTENSION_num(sk) > 0)
        X509_REQ_add_extensions(req, sk);
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(req, k ? k : own, md ? md : EVP_sha256()) > 0);
    EVP_PKEY_free(own);
    return req;
}

static int blocked_cb(const unsigned char h[POLICY_SPKI_HASH], void *arg);

/* The DER of a CSR for k with one subject CN, signed by k. Caller frees. */
static int csr_der(EVP_PKEY *k, unsigned char **der)
{
    X509_REQ *req = X509_REQ_new();
    int len;

    assert_true(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                           (const unsigned char *)"k.example.test", -1, -1, 0));
    assert_true(X509_REQ_set_pubkey(req, k));
    assert_true(
        X509_REQ_sign(req, k, EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0);
    len = i2d_X509_REQ(req, der);
    X509_REQ_free(req);
    assert_true(len > 0);
    return len;
}

/*
 * The parser's keys: EC on a named curve (uncompressed and compressed points) and Ed25519 are
 * imported from their parameters, RSA goes through OpenSSL's decoder; each must be the key the
 * CSR was made with, the DER is kept as received and the SPKI copied into a certificate as it
 * stands. Blocking the certificate's SPKI (what a keyCompromise revocation does) refuses the key,
 * and so does blocking its usual (uncompressed) form. A key BIT STRING with unused bits, and a
 * signature made by another key, are refused.
 */
static void test_csr_keys(void **state)
{
    static const struct {
        const char *type, *arg;
        int compressed;
    } cases[] = {
        {"EC", "P-256", 0},   {"EC", "P-384", 0}, {"EC", "P-256", 1},
        {"ED25519", NULL, 0}, {"RSA", "2048", 0},
    };
    char detail[SIGNET_DETAIL_MAX] = "";
    struct policy_profile *p = NULL;

    assert_int_equal(load(*state, "keys", good_profile, &p, detail), SIGNET_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *k = key_of(cases[i].type, cases[i].arg);
        unsigned char *der = NULL, *a = NULL, *b = NULL;
        struct policy_csr *c = NULL;
        X509 *x = X509_new();
        const unsigned char *kept;
        size_t kept_len = 0;
        int len, alen, blen;

        if (cases[i].compressed)
            assert_true(
                EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                               OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED));
        len = csr_der(k, &der);
        if (policy_csr_parse(der, (size_t)len, &c, detail) != SIGNET_OK)
            fail_msg("case %zu: %s", i, detail);
        assert_int_equal(EVP_PKEY_eq(policy_csr_key(c), k), 1);
        kept = policy_csr_der(c, &kept_len);
        assert_int_equal(kept_len, (size_t)len);
        assert_memory_equal(kept, der, kept_len);
        /* the certificate's SPKI is the CSR's, byte for byte */
        assert_true(policy_csr_copy_spki(c, x));
        alen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &a);
        blen = i2d_PUBKEY(k, &b);
        assert_true(alen > 0);
        assert_int_equal(alen, blen);
        assert_memory_equal(a, b, (size_t)alen);
        /* blocked as certified, and blocked in its usual form: refused either way */
        for (int form = 0; form < 2; form++) {
            unsigned char hh[POLICY_SPKI_HASH];
            struct policy_eval_opts o = {blocked_cb, hh};
            struct policy_decision *d = NULL;
            if (form == 0)
                SHA256(a, (size_t)alen, hh);
            else
                assert_true(policy_spki_sha256(policy_csr_key(c), hh));
            assert_int_equal(policy_evaluate_ex(p, c, &o, &d, detail), SIGNET_OK);
            if (strstr(policy_decision_error(d), "blocked-key table") == NULL)
                fail_msg("case %zu form %d: not blocked: %s", i, form, policy_decision_error(d));
            policy_decision_free(d);
        }
        if (cases[i].compressed) { /* the two forms differ: both are checked */
            unsigned char h1[POLICY_SPKI_HASH], h2[POLICY_SPKI_HASH];
            SHA256(a, (size_t)alen, h1);
            assert_true(policy_spki_sha256(policy_csr_key(c), h2));
            assert_memory_not_equal(h1, h2, sizeof(h1));
        }
        OPENSSL_free(a);
        OPENSSL_free(b);
        X509_free(x);
        policy_csr_free(c);
        OPENSSL_free(der);
        EVP_PKEY_free(k);
    }

    /* unused bits in the key's BIT STRING (03 42 00 04 ... -> 03 42 01 04 ...) */
    {
        EVP_PKEY *k = key_of("EC", "P-256");
        unsigned char *der = NULL, *hit;
        struct policy_csr *c = NULL;
        int len = csr_der(k, &der);
        hit = memmem(der, (size_t)len, "\x03\x42\x00\x04", 4);
        assert_non_null(hit);
        hit[2] = 0x01;
        assert_int_equal(policy_csr_parse(der, (size_t)len, &c, detail), SIGNET_E_BADCSR);
        assert_null(c);
        assert_non_null(strstr(detail, "unused bits"));
        OPENSSL_free(der);
        EVP_PKEY_free(k);
    }
    /* signed by another key than the one it names */
    {
        EVP_PKEY *k = key_of("EC", "P-256"), *other = key_of("EC", "P-256");
        X509_REQ *req = X509_REQ_new();
        unsigned char *der = NULL;
        struct policy_csr *c = NULL;
        int len;
        assert_true(X509_REQ_set_pubkey(req, k));
        assert_true(X509_REQ_sign(req, other, EVP_sha256()) > 0);
        len = i2d_X509_REQ(req, &der);
        detail[0] = '\0';
        assert_int_equal(policy_csr_parse(der, (size_t)len, &c, detail), SIGNET_E_BADCSR);
        assert_non_null(strstr(detail, "does not verify with its own public key"));
        OPENSSL_free(der);
        X509_REQ_free(req);
        EVP_PKEY_free(k);
        EVP_PKEY_free(other);
    }
    /* parameters their RFCs forbid: RSA with a BOOLEAN, Ed25519 with a NULL (self-signed) */
    for (int t = 0; t < 2; t++) {
        EVP_PKEY *k = t == 0 ? key_of("RSA", "2048") : key_of("ED25519", NULL);
        X509_REQ *req = X509_REQ_new();
        X509_ALGOR *alg = NULL;
        unsigned char *der = NULL;
        struct policy_csr *c = NULL;
        int len;
        assert_true(X509_REQ_set_pubkey(req, k));
        assert_true(X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, X509_REQ_get_X509_PUBKEY(req)));
        if (t == 0)
            assert_true(
                X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_BOOLEAN, (void *)1));
        else
            assert_true(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_NULL, NULL));
        assert_true(X509_REQ_sign(req, k, t == 0 ? EVP_sha256() : NULL) > 0);
        len = i2d_X509_REQ(req, &der);
        assert_true(len > 0);
        detail[0] = '\0';
        assert_int_equal(policy_csr_parse(der, (size_t)len, &c, detail), SIGNET_E_BADCSR);
        assert_non_null(strstr(detail, t == 0 ? "must be NULL" : "must be absent"));
        OPENSSL_free(der);
        X509_REQ_free(req);
        EVP_PKEY_free(k);
    }
    /* RSASSA-PSS with SHA-1 (the default parameters' hash) is a broken hash like SHA-1 */
    {
        EVP_PKEY *k = key_of("RSA", "2048");
        X509_REQ *req = X509_REQ_new();
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pc = NULL;
        unsigned char *der = NULL;
        struct policy_csr *c = NULL;
        struct policy_decision *d = NULL;
        int len;
        assert_true(X509_REQ_set_pubkey(req, k));
        assert_true(EVP_DigestSignInit(m, &pc, EVP_sha1(), NULL, k) == 1);
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1);
        assert_true(X509_REQ_sign_ctx(req, m) > 0);
        len = i2d_X509_REQ(req, &der);
        assert_int_equal(policy_csr_parse(der, (size_t)len, &c, detail), SIGNET_OK);
        assert_int_equal(policy_evaluate(p, c, &d, detail), SIGNET_OK);
        assert_false(policy_decision_allowed(d));
        if (strstr(policy_decision_error(d), "signed with SHA1") == NULL)
            fail_msg("PSS with SHA-1: %s", policy_decision_error(d));
        policy_decision_free(d);
        policy_csr_free(c);
        OPENSSL_free(der);
        EVP_MD_CTX_free(m);
        X509_REQ_free(req);
        EVP_PKEY_free(k);
    }
    policy_profile_free(p);
}

/* Evaluates req under p; checks allowed and that the error holds expect. */
static void expect(const struct policy_profile *p, X509_REQ *req, int allowed, const char *want,
                   const char *label)
{
    struct policy_decision *d = NULL;
    struct policy_csr *c = csr_of(req);
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(policy_evaluate(p, c, &d, detail), SIGNET_OK);
    if (policy_decision_allowed(d) != allowed || strstr(policy_decision_error(d), want) == NULL)
        fail_msg("%s: allowed %d, error '%s', wanted %d '%s'", label, policy_decision_allowed(d),
                 policy_decision_error(d), allowed, want);
    policy_decision_free(d);
    policy_csr_free(c);
    X509_REQ_free(req);
}

static const char rich_profile[] =
    "[profile]\n"
    "validity      = 30d\n"
    "validity_max  = 90d\n"
    "key           = ec:P-256, rsa:2048-4096\n"
    "subject.C     = optional\n"
    "subject.O     = optional, values=Example Ltd|Example Inc\n"
    "subject.CN    = required, must-be-a-SAN, maxlen=40\n"
    "subject.OU    = optional, match=team-*\n"
    "subject_order = C, O, OU, CN\n"
    "san.dns       = optional, max=4, wildcard=allowed, match=*.example.test|**.dev.example.test\n"
    "san.ip        = optional, match=10.0.0.0/8|2001:db8::/32\n"
    "san.email     = optional, match=example.test\n"
    "san.uri       = optional, match=spiffe://example.test/\n"
    "san_max       = 6\n"
    "csr_extensions = refuse\n"
    "extensions    = ext\n"
    "approval      = manual\n"
    "clients       = demo, client.ops\n"
    "[ext]\n"
    "basicConstraints = critical, CA:FALSE\n";

static void test_rich_profile(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    const char *const san_ok[] = {"subjectAltName",
                                  "DNS:a.example.test, DNS:*.dev.example.test, IP:10.9.8.7, "
                                  "IP:2001:db8::1, email:ops@example.test, "
                                  "URI:spiffe://example.test/web",
                                  NULL};
    struct policy_decision *d = NULL;
    struct policy_csr *c;
    X509_REQ *req;

    assert_int_equal(load(*state, "rich", rich_profile, &p, detail), SIGNET_OK);
    assert_int_equal(policy_profile_validity(p), 30 * 86400);
    assert_int_equal(policy_profile_validity_for(p, 0), 30 * 86400);
    assert_int_equal(policy_profile_validity_for(p, 60 * 86400), 60 * 86400);
    assert_int_equal(policy_profile_validity_for(p, 900 * 86400), 90 * 86400);
    assert_int_equal(policy_profile_approval(p), POLICY_APPROVAL_MANUAL);
    assert_true(policy_profile_allows_client(p, "demo"));
    assert_true(policy_profile_allows_client(p, "client.demo"));
    assert_true(policy_profile_allows_client(p, "ops"));
    assert_false(policy_profile_allows_client(p, "other"));
    assert_false(policy_profile_allows_client(p, NULL));
    assert_false(policy_profile_is_ca(p));
    assert_int_equal(policy_profile_path_len(p), -1);

    /* allowed, and the subject comes out in the profile's order */
    req = make_req(NULL, "/CN=a.example.test/OU=team-web/O=Example Ltd/C=DE", san_ok, NULL);
    c = csr_of(req);
    assert_int_equal(policy_evaluate(p, c, &d, detail), SIGNET_OK);
    if (!policy_decision_allowed(d))
        fail_msg("refused: %s", policy_decision_error(d));
    assert_int_equal(policy_decision_approval(d), POLICY_APPROVAL_MANUAL);
    assert_int_equal(sk_GENERAL_NAME_num(policy_decision_sans(d)), 6);
    {
        char line[256];
        X509_NAME_oneline(policy_decision_subject(d), line, sizeof(line));
        assert_string_equal(line, "/C=DE/O=Example Ltd/OU=team-web/CN=a.example.test");
    }
    policy_decision_free(d);
    policy_csr_free(c);
    X509_REQ_free(req);

#define SAN(v) ((const char *const[]){"subjectAltName", v, NULL})
    expect(p, make_req(NULL, "/CN=a.example.test/O=Evil Corp", SAN("DNS:a.example.test"), NULL), 0,
           "subject.O: 'Evil Corp' is not one of the profile's values=", "values");
    expect(p, make_req(NULL, "/CN=a.example.test/OU=ops", SAN("DNS:a.example.test"), NULL), 0,
           "match= patterns", "glob");
    expect(p, make_req(NULL, "/CN=a.example.test/C=de", SAN("DNS:a.example.test"), NULL), 0,
           "country code", "country");
    expect(p,
           make_req(NULL, "/CN=abcdefghijabcdefghijabcdefghijabcdefghij.example.test",
                    SAN("DNS:abcdefghijabcdefghijabcdefghijabcdefghij.example.test"), NULL),
           0, "more than the 40 allowed", "maxlen");
    expect(p, make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, IP:192.168.1.1"), NULL),
           0, "san.ip: '192.168.1.1' does not match", "cidr v4");
    expect(p, make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, IP:2001:db9::1"), NULL),
           0, "san.ip: '2001:db9::1' does not match", "cidr v6");
    expect(p,
           make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, email:x@evil.test"), NULL),
           0, "san.email: 'x@evil.test' does not match", "email domain");
    expect(p,
           make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, email:a@@example.test"),
                    NULL),
           0, "e-mail", "email syntax");
    expect(p,
           make_req(NULL, "/CN=a.example.test",
                    SAN("DNS:a.example.test, URI:https://example.test/"), NULL),
           0, "san.uri: 'https://example.test/' does not match", "uri prefix");
    expect(p, make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, URI:noscheme"), NULL),
           0, "URI", "uri syntax");
    expect(
        p,
        make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, DNS:A.example.test"), NULL),
        0, "lowercase", "uppercase SAN");
    expect(
        p,
        make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, DNS:a.example.test"), NULL),
        0, "requested twice", "duplicate");
    expect(
        p,
        make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test, DNS:*.a.example.test"), NULL),
        0, "does not match", "wildcard over exact base");
    expect(p,
           make_req(NULL, "/CN=a.example.test",
                    SAN("DNS:a.example.test,DNS:b.example.test,DNS:c.example.test,DNS:d.example."
                        "test,DNS:e.example.test"),
                    NULL),
           0, "more than max=4", "max per type");
    expect(p,
           make_req(NULL, "/CN=a.example.test",
                    SAN("DNS:a.example.test,IP:10.0.0.1,IP:10.0.0.2,IP:10.0.0.3,IP:10.0.0.4,IP:10."
                        "0.0.5,IP:10.0.0.6"),
                    NULL),
           0, "7 SANs, more than the 6 allowed", "san_max");
    expect(p,
           make_req(NULL, "/CN=a.example.test",
                    (const char *const[]){"subjectAltName", "DNS:a.example.test",
                                          "basicConstraints", "critical,CA:TRUE", NULL},
                    NULL),
           0, "csr_extensions = refuse", "csr_extensions refuse");
    expect(p, make_req(NULL, "/CN=a.example.test", SAN("DNS:a.example.test"), EVP_sha1()), 0,
           "broken hash", "sha1 signature");
    expect(p, make_req(NULL, "/CN=b.example.test", SAN("DNS:a.example.test"), NULL), 0,
           "must also be one of the SANs", "cn not a san");
#undef SAN
    policy_profile_free(p);
}

/* Control characters and NUL in subject values; multi-valued RDNs. */
static void test_subject_hostile(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    X509_REQ *req;
    EVP_PKEY *k = key_of("EC", "P-256");
    const char *const san[] = {"subjectAltName", "DNS:a.example.test", NULL};

    assert_int_equal(load(*state, "rich", rich_profile, &p, detail), SIGNET_OK);
    req = make_req(k, "/CN=a.example.test", san, NULL);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "O", V_ASN1_UTF8STRING,
                               (const unsigned char *)"Example\0Ltd", 11, -1, 0);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    expect(p, req, 0, "NUL or control", "NUL in O");
    req = make_req(NULL, "/CN=a.example.test/O=Example\x07Ltd", san, NULL);
    expect(p, req, 0, "NUL or control", "BEL in O");
    req = make_req(NULL, "/CN=a.example.test/O=Example\xc2\x85Ltd", san, NULL);
    expect(p, req, 0, "NUL or control", "C1 control");
    req = make_req(k, "/CN=a.example.test", san, NULL);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "O", MBSTRING_UTF8,
                               (const unsigned char *)"Example Ltd", -1, -1, -1);
    assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
    expect(p, req, 0, "multi-valued RDN", "multi-valued RDN");
    req = make_req(NULL, "/CN=a.example.test/serialNumber=1", san, NULL);
    expect(p, req, 0, "forbidden", "unknown attribute");
    EVP_PKEY_free(k);
    policy_profile_free(p);
}

/*
 * A NUL and control characters inside a SAN; 2,000 SANs (a CSR holds at most 64 KiB; the
 * hostile corpus sends 10,000 short ones over HTTP) refused before any is examined.
 */
static void test_san_hostile(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_REQ *req;
    struct policy_csr *c;
    EVP_PKEY *k = key_of("EC", "P-256");
    struct policy_decision *d = NULL;

    assert_int_equal(load(*state, "tls-server", good_profile, &p, detail), SIGNET_OK);
    for (int i = 0; i < 2000; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        char name[32];
        snprintf(name, sizeof(name), "n%d.example.test", i);
        ASN1_STRING_set(s, name, -1);
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    req = X509_REQ_new();
    X509_REQ_set_pubkey(req, k);
    {
        STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
        sk_X509_EXTENSION_push(sk, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
        X509_REQ_add_extensions(req, sk);
        sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    }
    X509_REQ_sign(req, k, EVP_sha256());
    c = csr_of(req);
    assert_int_equal(policy_evaluate(p, c, &d, detail), SIGNET_OK);
    assert_false(policy_decision_allowed(d));
    assert_non_null(strstr(policy_decision_error(d), "2000 SANs, more than the 100 allowed"));
    assert_true(policy_decision_count(d) < 10); /* no verdict per name */
    policy_decision_free(d);
    policy_csr_free(c);
    X509_REQ_free(req);
    GENERAL_NAMES_free(gens);

    /* a NUL inside an IA5String name */
    gens = sk_GENERAL_NAME_new_null();
    {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, "www.example.test\0.evil.test", 27);
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    req = X509_REQ_new();
    X509_REQ_set_pubkey(req, k);
    {
        STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
        sk_X509_EXTENSION_push(sk, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
        X509_REQ_add_extensions(req, sk);
        sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    }
    X509_REQ_sign(req, k, EVP_sha256());
    expect(p, req, 0, "NUL or control", "NUL in SAN");
    GENERAL_NAMES_free(gens);
    EVP_PKEY_free(k);
    policy_profile_free(p);
}

/* Subordinate-CA profiles: path_len, name constraints and the RFC 5280 consistency checks. */
static void test_ca_profiles(void **state)
{
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\n[e]\nbasicConstraints=critical,CA:"
         "TRUE\nkeyUsage=critical,keyCertSign\n",
         "must bound the path"},
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\npath_len=0\n[e]\nkeyUsage=critical,"
         "digitalSignature\n",
         "keyCertSign"},
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\n[e]\nbasicConstraints=CA:TRUE,"
         "pathlen:0\nkeyUsage=critical,keyCertSign\n",
         "must be critical"},
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\n[e]\nbasicConstraints=critical,CA:"
         "FALSE\nkeyUsage=critical,keyCertSign\n",
         "without CA:TRUE"},
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\nname_constraints=permitted;DNS:"
         "example.test\n[e]\nbasicConstraints=critical,CA:FALSE\n",
         "only in a CA"},
        {"[profile]\nvalidity=5y\nkey=ec:P-256\nextensions=e\npath_len=1\n[e]\nbasicConstraints="
         "critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n",
         "keep one"},
        {"[profile]\nvalidity=90d\nvalidity_max=30d\nkey=ec:P-256\nextensions=e\n[e]\n",
         ":3: validity_max: shorter"},
        {"[profile]\nvalidity=90d\nkey=ec:P-256\nextensions=e\nsan.ip=optional,match=10.0.0.1/8\n"
         "[e]\n",
         ":5: san.ip: '10.0.0.1/8' is not a network"},
        {"[profile]\nvalidity=90d\nkey=ec:P-256\nextensions=e\nsan.dns=optional,match=Bad_Name\n"
         "[e]\n",
         ":5: san.dns: pattern 'Bad_Name'"},
        {"[profile]\nvalidity=90d\nkey=ec:P-256\nextensions=e\nsubject.CN=optional\n"
         "subject_order=O\n[e]\n",
         "subject_order: 'O' has no subject.O rule"},
        {"[profile]\nvalidity=90d\nkey=ec:P-256\nextensions=e\ncsr_extensions=copy\n[e]\n",
         ":5: csr_extensions: 'copy'"},
        {"[profile]\nvalidity=90d\nkey=ec:P-256\nextensions=e\nclients=a b\n[e]\n",
         ":5: clients: 'a b'"},
    };
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";

    assert_int_equal(load(*state, "sub",
                          "[profile]\nvalidity=5y\nkey=ec:P-256\nsubject.CN=required\n"
                          "extensions=e\npath_len=0\n"
                          "name_constraints=permitted;DNS:example.test\n"
                          "[e]\nkeyUsage=critical,keyCertSign,cRLSign\n",
                          &p, detail),
                     SIGNET_OK);
    assert_true(policy_profile_is_ca(p));
    assert_int_equal(policy_profile_path_len(p), 0);
    {
        X509 *x = X509_new();
        int crit = 0;
        BASIC_CONSTRAINTS *bc;
        NAME_CONSTRAINTS *nc;
        assert_true(policy_add_extensions(p, x));
        bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
        assert_non_null(bc);
        assert_true(bc->ca && crit);
        nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
        assert_non_null(nc);
        assert_true(crit);
        BASIC_CONSTRAINTS_free(bc);
        NAME_CONSTRAINTS_free(nc);
        X509_free(x);
    }
    policy_profile_free(p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = NULL;
        if (load(*state, "bad", bad[i].text, &p, detail) != SIGNET_E_CONFIG ||
            strstr(detail, bad[i].expect) == NULL)
            fail_msg("case %zu: '%s', wanted '%s'", i, detail, bad[i].expect);
        assert_null(p);
    }
}

/* RSA key quality: exponent 3, a small factor, a near-square modulus. */
static EVP_PKEY *rsa_from(BIGNUM *n, unsigned long e_word)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *e = BN_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *k = NULL;

    BN_set_word(e, e_word);
    OSSL_PARAM_BLD_push_BN(b, "n", n);
    OSSL_PARAM_BLD_push_BN(b, "e", e);
    params = OSSL_PARAM_BLD_to_param(b);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    BN_free(e);
    return k;
}

static void test_rsa_quality(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    EVP_PKEY *good = key_of("RSA", "2048"), *k;
    BIGNUM *n = NULL, *pr = BN_new(), *q = BN_new();
    BN_CTX *bctx = BN_CTX_new();

    assert_int_equal(load(*state, "k", good_profile, &p, detail), SIGNET_OK);
    assert_int_equal(policy_check_key(p, good, detail), SIGNET_OK);
    assert_true(EVP_PKEY_get_bn_param(good, "n", &n));
    k = rsa_from(n, 3);
    assert_int_equal(policy_check_key(p, k, detail), SIGNET_E_BADKEY);
    assert_non_null(strstr(detail, "not 65537"));
    EVP_PKEY_free(k);
    /* n * 7919 would grow; take n with its low bits so that it is divisible by 7919 */
    BN_sub_word(n, BN_mod_word(n, 7919));
    k = rsa_from(n, 65537);
    assert_int_equal(policy_check_key(p, k, detail), SIGNET_E_BADKEY);
    assert_non_null(strstr(detail, "divisible by"));
    EVP_PKEY_free(k);
    /* p and q next to each other: Fermat finds them */
    assert_true(BN_generate_prime_ex(pr, 1024, 0, NULL, NULL, NULL));
    BN_copy(q, pr);
    do
        BN_add_word(q, 2);
    while (BN_check_prime(q, bctx, NULL) != 1);
    BN_mul(n, pr, q, bctx);
    k = rsa_from(n, 65537);
    assert_int_equal(policy_check_key(p, k, detail), SIGNET_E_BADKEY);
    assert_non_null(strstr(detail, "Fermat"));
    EVP_PKEY_free(k);
    EVP_PKEY_free(good);
    BN_free(n);
    BN_free(pr);
    BN_free(q);
    BN_CTX_free(bctx);
    policy_profile_free(p);
}

/* The blocked-key callback is asked with the SPKI hash; blocked keys are badKey. */
static int blocked_cb(const unsigned char h[POLICY_SPKI_HASH], void *arg)
{
    const unsigned char *want = arg;
    return memcmp(h, want, POLICY_SPKI_HASH) == 0 ? 1 : want[0] == 0xee ? -1 : 0;
}

static void test_blocked_key(void **state)
{
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "";
    EVP_PKEY *k = key_of("EC", "P-256");
    unsigned char h[POLICY_SPKI_HASH], other[POLICY_SPKI_HASH];
    struct policy_eval_opts o = {blocked_cb, h};
    const char *const san[] = {"subjectAltName", "DNS:a.example.test", NULL};
    struct policy_decision *d = NULL;
    struct policy_csr *req;
    X509_REQ *x;

    assert_int_equal(load(*state, "k", good_profile, &p, detail), SIGNET_OK);
    assert_true(policy_spki_sha256(k, h));
    x = make_req(k, NULL, san, NULL);
    req = csr_of(x);
    X509_REQ_free(x);
    assert_int_equal(policy_evaluate_ex(p, req, &o, &d, detail), SIGNET_OK);
    assert_false(policy_decision_allowed(d));
    assert_int_equal(policy_decision_err(d), SIGNET_E_BADKEY);
    assert_non_null(strstr(policy_decision_error(d), "blocked-key table"));
    policy_decision_free(d);
    memset(other, 0x01, sizeof(other));
    o.key_blocked_arg = other;
    assert_int_equal(policy_evaluate_ex(p, req, &o, &d, detail), SIGNET_OK);
    assert_true(policy_decision_allowed(d));
    policy_decision_free(d);
    memset(other, 0xee, sizeof(other)); /* the table cannot be read: fail closed */
    assert_int_equal(policy_evaluate_ex(p, req, &o, &d, detail), SIGNET_OK);
    assert_false(policy_decision_allowed(d));
    assert_int_equal(policy_decision_err(d), SIGNET_E_STORE);
    policy_decision_free(d);
    policy_csr_free(req);
    EVP_PKEY_free(k);
    policy_profile_free(p);
}

/* Punycode against RFC 3492 7.1 samples and round trips. */
static void test_punycode_reload(void **state)
{
    struct fx *f = *state;
    struct policy_set *set = NULL, *keep;
    struct policy_profile *p = NULL;
    char detail[SIGNET_DETAIL_MAX] = "", *bad = edit(6, "nonsense = 1");
    char why[SIGNET_DETAIL_MAX];

    assert_true(policy_dns_name_ok("xn--egbpdaj6bu4bxfgehfvwxn.test", 31, 0, why)); /* Arabic */
    assert_true(policy_dns_name_ok("xn--ihqwcrb4cv8a8dqg056pqjye.test", 33, 0, why));
    assert_true(policy_dns_name_ok("xn--mnchen-3ya.example.test", 27, 0, why));
    assert_false(policy_dns_name_ok("xn--mnchen-3y.example.test", 26, 0, why));
    /* reload keeps the old set when a profile breaks */
    assert_int_equal(load(f, "one", good_profile, &p, detail), SIGNET_OK);
    policy_profile_free(p);
    assert_int_equal(policy_set_load(f->dir, &set, detail), SIGNET_OK);
    keep = set;
    assert_int_equal(load(f, "two", bad, &p, detail), SIGNET_E_CONFIG);
    assert_int_equal(policy_set_reload(f->dir, &set, detail), SIGNET_E_CONFIG);
    assert_ptr_equal(set, keep);
    assert_int_equal(policy_set_count(set), 1);
    assert_non_null(strstr(detail, "two.conf:6:"));
    assert_int_equal(load(f, "two", good_profile, &p, detail), SIGNET_OK);
    policy_profile_free(p);
    assert_int_equal(policy_set_reload(f->dir, &set, detail), SIGNET_OK);
    assert_int_equal(policy_set_count(set), 2);
    policy_set_free(set);
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
        cmocka_unit_test(test_dns_names),
        cmocka_unit_test(test_dns_lengths),
        cmocka_unit_test_setup_teardown(test_rich_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_san_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsa_quality, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocked_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_punycode_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csr_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
