/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `signet demo init DIR`: the demo PKI of SPEC.md. The online token with random credentials
 * (files 0600, never argv), the root token whose credential exists only as 2-of-3 sealed shares
 * (custodians/), signet.conf, profiles, a bearer token, the store, the root and issuing-1.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_ROOT_DAYS    3650
#define DEMO_ISSUING_DAYS 1825
#define RANDOM_BYTES      16 /* PINs and the bearer token: 128 bits, written as hex */

static const char *const demo_profiles[][2] = {
    {"tls-server", "# TLS server certificates for names under example.test (see docs/profiles.md)\n"
                   "[profile]\n"
                   "description = TLS server certificates under example.test\n"
                   "validity    = 90d\n"
                   "key         = ec:P-256, ec:P-384, rsa:2048-4096, ed25519\n"
                   "subject.CN  = optional, must-be-a-SAN\n"
                   "subject.O   = forbidden\n"
                   "san.dns     = required, max=20, match=example.test|*.example.test\n"
                   "san.ip      = forbidden\n"
                   "extensions  = ext\n"
                   "approval    = auto\n"
                   "\n"
                   "[ext]\n"
                   "basicConstraints = critical, CA:FALSE\n"
                   "keyUsage         = critical, digitalSignature\n"
                   "extendedKeyUsage = serverAuth\n"},
    {"tls-client",
     "# TLS client certificates: a CN naming the client, optional names under example.test\n"
     "[profile]\n"
     "description = TLS client certificates\n"
     "validity    = 30d\n"
     "key         = ec:P-256, ec:P-384, rsa:2048-4096, ed25519\n"
     "subject.CN  = required\n"
     "subject.O   = optional\n"
     "subject.OU  = optional\n"
     "san.dns     = optional, max=5, match=**.example.test\n"
     "san.email   = optional, max=5, match=example.test\n"
     "extensions  = ext\n"
     "approval    = auto\n"
     "\n"
     "[ext]\n"
     "basicConstraints = critical, CA:FALSE\n"
     "keyUsage         = critical, digitalSignature\n"
     "extendedKeyUsage = clientAuth\n"},
    {"subordinate-ca", "# Subordinate (issuing) CAs signed by the root in a ceremony\n"
                       "[profile]\n"
                       "description = Issuing CAs under the root; no further CAs below them\n"
                       "validity    = 5y\n"
                       "key         = ec:P-256, ec:P-384, rsa:3072-4096\n"
                       "subject.CN  = required\n"
                       "subject.O   = optional\n"
                       "subject.C   = optional\n"
                       "extensions  = ext\n"
                       "approval    = auto\n"
                       "\n"
                       "[ext]\n"
                       "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                       "keyUsage         = critical, keyCertSign, cRLSign\n"},
    {"ocsp-responder",
     "# Delegated OCSP responders (RFC 6960 4.2.2.2): short-lived, id-kp-OCSPSigning\n"
     "[profile]\n"
     "description = Delegated OCSP responder certificates\n"
     "validity    = 30d\n"
     "key         = ec:P-256, ec:P-384, rsa:2048-4096, ed25519\n"
     "subject.CN  = required\n"
     "subject.O   = optional\n"
     "extensions  = ext\n"
     "approval    = auto\n"
     "\n"
     "[ext]\n"
     "basicConstraints = critical, CA:FALSE\n"
     "keyUsage         = critical, digitalSignature\n"
     "extendedKeyUsage = OCSPSigning\n"
     "noCheck          = ignored\n"},
};

static const char demo_conf[] =
    "# signet.conf of the demo PKI made by `signet demo init` (see docs/operator.md)\n"
    "[signet]\n"
    "store         = store\n"
    "policies      = policies\n"
    "public        = public\n"
    "softhsm2_conf = hsm/softhsm2.conf\n"
    "\n"
    "[token.online]\n"
    "module = %s\n"
    "token  = signet-online\n"
    "pin    = file:hsm/online.pin\n"
    "# the security officer imports the trusted backup wrapping key (docs/backup.md)\n"
    "so_pin = file:hsm/online.so-pin\n"
    "\n"
    "# The root token: signetd never opens it. Its credential exists only as 2-of-3 sealed\n"
    "# shares in custodians/ (docs/custody.md); `signet ceremony run` activates it.\n"
    "[token.root]\n"
    "module = %s\n"
    "token  = signet-root\n"
    "pin    = quorum\n"
    "\n"
    "[ca.root]\n"
    "key      = pkcs11:token=signet-root;object=root\n"
    "cert     = public/root.crt\n"
    "profiles = subordinate-ca\n"
    "\n"
    "[ca.issuing-1]\n"
    "key      = pkcs11:token=signet-online;object=issuing-1\n"
    "cert     = public/issuing-1.crt\n"
    "parent   = root\n"
    "profiles = tls-server, tls-client, ocsp-responder\n"
    "crl_url  = http://127.0.0.1:8080/crl/issuing-1.crl\n"
    "ocsp_url = http://127.0.0.1:8080/ocsp\n"
    "\n"
    "[daemon]\n"
    "listen  = 127.0.0.1:8080\n"
    "clients = client.demo\n"
    "\n"
    "# signet backup (docs/backup.md): signed in the HSM, encrypted to the recipients; the demo\n"
    "# keeps the recipient's private key beside the custodians' shares for backup verify\n"
    "[backup]\n"
    "signer_key    = pkcs11:token=signet-online;object=backup-signer\n"
    "signer_cert   = custodians/backup-signer.crt\n"
    "recipients    = custodians/backup-recipient.crt\n"
    "recipient_key = custodians/backup-recipient.key\n"
    "\n"
    "[client.demo]\n"
    "token_sha256 = %s\n"
    "profiles     = tls-server, tls-client\n";

/* A random credential as hex, in a secret buffer. NULL on failure. */
static struct secret *random_secret(void)
{
    unsigned char raw[RANDOM_BYTES];
    char hex[2 * RANDOM_BYTES + 1];
    struct secret *s = secret_new(sizeof(hex));

    if (s == NULL || RAND_priv_bytes(raw, sizeof(raw)) != 1) {
        secret_free(s);
        return NULL;
    }
    sg_hex_encode(raw, sizeof(raw), hex);
    secret_set(s, hex, strlen(hex));
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    return s;
}

/* Writes a secret to dir/name with mode 0600. */
static enum signet_err write_secret(const char *dir, const char *name, const struct secret *s,
                                    char *detail)
{
    char path[PATH_MAX + 64];

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        sg_detail(detail, "%s: path too long", dir);
        return SIGNET_E_USAGE;
    }
    return sg_write_file(path, secret_data(s), secret_len(s), 0600, detail);
}

/* Refuses a directory that already holds a PKI. */
static enum signet_err check_fresh(const char *dir, char *detail)
{
    static const char *const marks[] = {"signet.conf", "hsm/tokens", "store/data.mdb",
                                        "public/root.crt"};
    char path[PATH_MAX + 64];

    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, marks[i]);
        if (access(path, F_OK) == 0) {
            sg_detail(detail,
                      "%s already holds a PKI (%s exists); use it with -c %s/signet.conf "
                      "or choose an empty directory",
                      dir, marks[i], dir);
            return SIGNET_E_EXISTS;
        }
    }
    return SIGNET_OK;
}

/* Directories, softhsm2.conf and SOFTHSM2_CONF. */
static enum signet_err make_dirs(const char *dir, char *detail)
{
    static const struct {
        const char *sub;
        unsigned mode;
    } dirs[] = {{"policies", 0755}, {"hsm", 0700},    {"hsm/tokens", 0700}, {"clients", 0700},
                {"store", 0700},    {"public", 0755}, {"public/crl", 0755}, {"custodians", 0700}};
    char path[PATH_MAX + 64], text[PATH_MAX + 128];
    enum signet_err rc;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, dirs[i].sub);
        if ((rc = sg_mkdirs(path, dirs[i].mode, detail)) != SIGNET_OK)
            return rc;
    }
    snprintf(
        text, sizeof(text),
        "# SoftHSM2 configuration of the demo PKI\n"
        "directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
        dir);
    snprintf(path, sizeof(path), "%s/hsm/softhsm2.conf", dir);
    if ((rc = sg_write_file(path, text, strlen(text), 0600, detail)) != SIGNET_OK)
        return rc;
    setenv("SOFTHSM2_CONF", path, 1);
    return SIGNET_OK;
}

/* One token with random user and SO PINs, kept in hsm/NAME.pin and hsm/NAME.so-pin (0600). */
static enum signet_err make_token(const char *dir, const char *name, const char *label,
                                  char *detail)
{
    struct secret *pin = random_secret(), *so = random_secret();
    char hsm[PATH_MAX + 16], file[64];
    enum signet_err rc = SIGNET_E_CRYPTO;

    snprintf(hsm, sizeof(hsm), "%s/hsm", dir);
    if (pin == NULL || so == NULL) {
        sg_detail(detail, "no random bytes for the %s token's PINs", label);
        goto out;
    }
    snprintf(file, sizeof(file), "%s.pin", name);
    if ((rc = write_secret(hsm, file, pin, detail)) != SIGNET_OK)
        goto out;
    snprintf(file, sizeof(file), "%s.so-pin", name);
    if ((rc = write_secret(hsm, file, so, detail)) != SIGNET_OK)
        goto out;
    rc = hsm_token_init(SIGNET_SOFTHSM_MODULE, NULL, label, so, pin, detail);
out:
    secret_free(pin);
    secret_free(so);
    return rc;
}

/* Profiles, the demo bearer token and signet.conf. */
static enum signet_err write_files(const char *dir, char *detail)
{
    struct secret *tok = random_secret();
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hash[65], path[PATH_MAX + 64], *conf = NULL;
    size_t cap = sizeof(demo_conf) + 2 * strlen(SIGNET_SOFTHSM_MODULE) + 80;
    enum signet_err rc = SIGNET_E_CRYPTO;

    for (size_t i = 0; i < sizeof(demo_profiles) / sizeof(demo_profiles[0]); i++) {
        snprintf(path, sizeof(path), "%s/policies/%s.conf", dir, demo_profiles[i][0]);
        if ((rc = sg_write_file(path, demo_profiles[i][1], strlen(demo_profiles[i][1]), 0644,
                                detail)) != SIGNET_OK)
            goto out;
    }
    rc = SIGNET_E_CRYPTO;
    if (tok == NULL ||
        !EVP_Digest(secret_data(tok), secret_len(tok), md, &mdlen, EVP_sha256(), NULL))
        goto out;
    if ((rc = write_secret(dir, "clients/demo.token", tok, detail)) != SIGNET_OK)
        goto out;
    sg_hex_encode(md, 32, hash);
    rc = SIGNET_E_NOMEM;
    if ((conf = malloc(cap)) == NULL)
        goto out;
    snprintf(conf, cap, demo_conf, SIGNET_SOFTHSM_MODULE, SIGNET_SOFTHSM_MODULE, hash);
    snprintf(path, sizeof(path), "%s/signet.conf", dir);
    rc = sg_write_file(path, conf, strlen(conf), 0644, detail);
out:
    if (rc == SIGNET_E_CRYPTO)
        sg_detail(detail, "cannot make the demo client token");
    free(conf);
    secret_free(tok);
    return rc;
}

/* ---- backup material (docs/backup.md) ---- */

/*
 * issuing-1: as ca_make, but its key is marked for backup (HSM_KEYGEN_BACKUP: extractable only
 * under a trusted wrapping key), so `signet backup` can carry it wrapped.
 */
static enum signet_err make_issuing(struct ca_ctx *ctx, const X509_NAME *subject, char *detail)
{
    struct ca_ent *ca = ca_ent_find(ctx, "issuing-1"), *root = ca_ent_find(ctx, "root");
    struct hsm_token *tok = NULL;
    EVP_PKEY *rk = NULL;
    X509 *x = NULL;
    enum signet_err rc;

    if (ca == NULL || root == NULL)
        return SIGNET_E_CONFIG;
    if ((rc = ca_token(ctx, "online", &tok, detail)) != SIGNET_OK ||
        (rc = hsm_keygen(tok, "issuing-1", HSM_KEY_EC_P256, HSM_KEYGEN_BACKUP, &ca->key, detail)) !=
            SIGNET_OK ||
        (rc = hsm_key_evp(ca->key, &ca->evp, detail)) != SIGNET_OK ||
        (rc = ca_ent_key(ctx, root, &rk, detail)) != SIGNET_OK)
        return rc;
    struct ca_cert_params cp = {subject, hsm_key_public(ca->key), root->cert,
                                rk,      DEMO_ISSUING_DAYS,       0};
    if ((rc = ca_build_ca_cert(&cp, &x, detail)) != SIGNET_OK)
        return rc;
    X509_free(ca->cert);
    ca->cert = x;
    if (!hsm_key_pin_public(ca->key, X509_get0_pubkey(x))) {
        sg_detail(detail, "CA issuing-1: its key does not match its new certificate");
        return SIGNET_E_HSM;
    }
    if ((rc = ca_write_cert(ca->cert_path, x, detail)) != SIGNET_OK)
        return rc;
    return ca_store_ca(ctx, ca, detail);
}

/* A self-signed end-entity certificate for key (signed by sign), digitalSignature / keyEnc. */
static X509 *self_cert(const char *cn, EVP_PKEY *pub, EVP_PKEY *sign, int for_signing)
{
    X509 *x = X509_new();
    X509_NAME *n = ca_parse_dn(cn);
    unsigned char serial[16];
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    int ok = x != NULL && n != NULL && ca_new_serial(serial);

    if (ok) {
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ok = sn && bn && BN_to_ASN1_INTEGER(bn, sn) && X509_set_serialNumber(x, sn) &&
             X509_set_version(x, 2) && X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
             X509_set_pubkey(x, pub) && X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
             X509_time_adj_ex(X509_getm_notAfter(x), DEMO_ROOT_DAYS, 0, NULL);
        ASN1_INTEGER_free(sn);
        BN_free(bn);
    }
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (ok && (ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
                                         for_signing ? "critical, digitalSignature"
                                                     : "critical, keyEncipherment")) != NULL)
        ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok || X509_sign(x, sign, ca_sign_md(sign)) <= 0) {
        X509_free(x);
        x = NULL;
    }
    X509_NAME_free(n);
    return x;
}

/*
 * The backup signer (backup-signer on the online token, marked for backup, self-signed
 * certificate in custodians/backup-signer.crt) and the demo's backup recipient (an RSA-3072
 * key of a custodian's own, custodians/backup-recipient.key and .crt: RSA, because the tokens'
 * backup key-encryption keys leave them only with RSA-OAEP).
 */
static enum signet_err make_backup_material(struct ca_ctx *ctx, const char *dir, char *detail)
{
    struct hsm_token *tok = NULL;
    struct hsm_key *key = NULL;
    EVP_PKEY *evp = NULL, *rk = NULL;
    X509 *sc = NULL, *rc_ = NULL;
    char path[PATH_MAX + 64];
    BIO *b = NULL;
    char *pem = NULL;
    long len;
    enum signet_err rc;

    if ((rc = ca_token(ctx, "online", &tok, detail)) != SIGNET_OK ||
        (rc = hsm_keygen(tok, "backup-signer", HSM_KEY_EC_P256, HSM_KEYGEN_BACKUP, &key, detail)) !=
            SIGNET_OK ||
        (rc = hsm_key_evp(key, &evp, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_CRYPTO;
    if ((sc = self_cert("CN=Signet Demo Backup Signer,O=Signet Demo", hsm_key_public(key), evp,
                        1)) == NULL ||
        (rk = EVP_RSA_gen(3072)) == NULL ||
        (rc_ = self_cert("CN=Signet Demo Backup Recipient,O=Signet Demo", rk, rk, 0)) == NULL) {
        sg_detail(detail, "cannot make the demo's backup signer and recipient certificates");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/custodians/backup-signer.crt", dir);
    if ((rc = ca_write_cert(path, sc, detail)) != SIGNET_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/custodians/backup-recipient.crt", dir);
    if ((rc = ca_write_cert(path, rc_, detail)) != SIGNET_OK)
        goto out;
    rc = SIGNET_E_CRYPTO;
    if ((b = BIO_new(BIO_s_secmem())) == NULL ||
        !PEM_write_bio_PrivateKey(b, rk, NULL, NULL, 0, NULL, NULL) ||
        (len = BIO_get_mem_data(b, &pem)) <= 0)
        goto out;
    snprintf(path, sizeof(path), "%s/custodians/backup-recipient.key", dir);
    rc = sg_write_file(path, pem, (size_t)len, 0600, detail);
out:
    BIO_free(b);
    X509_free(sc);
    X509_free(rc_);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(evp);
    hsm_key_free(key);
    return rc;
}

/*
 * The online token's trusted backup key-encryption key, made by its Security Officer before
 * anything logs in as the user (docs/backup.md).
 */
static enum signet_err make_backup_kek(const char *dir, char *detail)
{
    struct ca_token_ent t;
    struct secret *so = NULL;
    enum signet_err rc;

    memset(&t, 0, sizeof(t));
    t.name = "online";
    t.module = SIGNET_SOFTHSM_MODULE;
    t.label = "signet-online";
    if ((rc = secret_load("file:hsm/online.so-pin", dir, "SO PIN", &so, detail)) == SIGNET_OK)
        rc = ca_bk_kek_init(&t, so, 0, detail);
    secret_free(so);
    return rc;
}

/*
 * The root (ec:P-384 on signet-root, its credential split 2 of 3 among the demo custodians, with
 * random passphrases in custodians/share-N.pass: a demo convenience), then issuing-1 (ec:P-256),
 * signed by the root once shares 1 and 2 have activated it again from their files.
 */
static enum signet_err make_cas(const char *dir, char *detail)
{
    struct ca_ctx *ctx = NULL;
    X509_NAME *in = ca_parse_dn("CN=Signet Demo Issuing CA 1,O=Signet Demo");
    struct ca_root_init_opts ro = {"root",
                                   "root",
                                   "CN=Signet Demo Root CA,O=Signet Demo",
                                   "ec:P-384",
                                   DEMO_ROOT_DAYS,
                                   2,
                                   3,
                                   NULL,
                                   NULL,
                                   1,
                                   0};
    char conf[PATH_MAX + 64], custody[PATH_MAX + 64], s1[PATH_MAX + 64], p1[PATH_MAX + 64];
    char s2[PATH_MAX + 64], p2[PATH_MAX + 64], *chain = NULL;
    struct ca_share_src src[2] = {{s1, p1}, {s2, p2}};
    enum signet_err rc = SIGNET_E_NOMEM;

    snprintf(conf, sizeof(conf), "%s/signet.conf", dir);
    snprintf(custody, sizeof(custody), "%s/custodians", dir);
    snprintf(s1, sizeof(s1), "%s/custodians/share-1.share", dir);
    snprintf(p1, sizeof(p1), "%s/custodians/share-1.pass", dir);
    snprintf(s2, sizeof(s2), "%s/custodians/share-2.share", dir);
    snprintf(p2, sizeof(p2), "%s/custodians/share-2.pass", dir);
    ro.shares_dir = custody;
    sg_no_core_dumps(); /* this process holds the root's credential for a moment */
    if (in == NULL || (rc = ca_ctx_open(conf, 0, &ctx, detail)) != SIGNET_OK ||
        (rc = ca_root_init(ctx, &ro, detail)) != SIGNET_OK)
        goto out;
    /* a fresh context: the root token is closed again and only the shares open it */
    ca_ctx_free(ctx);
    ctx = NULL;
    if ((rc = ca_ctx_open(conf, 0, &ctx, detail)) != SIGNET_OK ||
        (rc = ca_quorum_activate(ctx, "root", src, 2, NULL, 0, detail)) != SIGNET_OK ||
        (rc = make_issuing(ctx, in, detail)) != SIGNET_OK ||
        (rc = make_backup_material(ctx, dir, detail)) != SIGNET_OK)
        goto out;
    if ((rc = ca_cert_pem(ctx, "issuing-1", 1, &chain, detail)) != SIGNET_OK)
        goto out;
    snprintf(conf, sizeof(conf), "%s/public/chain.pem", dir);
    if ((rc = sg_write_file(conf, chain, strlen(chain), 0644, detail)) != SIGNET_OK)
        goto out;
    rc = ca_audit(ctx, "operator", "demo-init", "issuing-1 signed by root (shares 1,2)", detail);
out:
    free(chain);
    X509_NAME_free(in);
    ca_ctx_free(ctx);
    return rc;
}

enum signet_err ca_demo_init(const char *dir_arg, char *detail)
{
    char dir[PATH_MAX];
    enum signet_err rc;

    if ((rc = sg_mkdirs(dir_arg, 0755, detail)) != SIGNET_OK)
        return rc;
    if (realpath(dir_arg, dir) == NULL) {
        sg_detail(detail, "%s: %s", dir_arg, strerror(errno));
        return SIGNET_E_IO;
    }
    if ((rc = check_fresh(dir, detail)) != SIGNET_OK ||
        (rc = make_dirs(dir, detail)) != SIGNET_OK ||
        (rc = make_token(dir, "online", "signet-online", detail)) != SIGNET_OK ||
        (rc = write_files(dir, detail)) != SIGNET_OK ||
        (rc = make_backup_kek(dir, detail)) != SIGNET_OK)
        return rc;
    return make_cas(dir, detail);
}
