/* SPDX-License-Identifier: Apache-2.0 */
/* policy: the compiled form of a profile, shared by the parser and the evaluator. */
#ifndef SIGNET_POLICY_INTERNAL_H
#define SIGNET_POLICY_INTERNAL_H

#include <openssl/conf.h>

#include "policy.h"

enum pol_need { POL_FORBIDDEN = 0, POL_OPTIONAL, POL_REQUIRED };

enum pol_san_kind { POL_SAN_DNS, POL_SAN_IP, POL_SAN_EMAIL, POL_SAN_URI, POL_SAN_KIND_MAX };

enum pol_key_kind {
    POL_KEY_EC_P256,
    POL_KEY_EC_P384,
    POL_KEY_EC_P521,
    POL_KEY_RSA,
    POL_KEY_ED25519
};

enum pol_csr_ext { POL_CSR_EXT_IGNORE = 0, POL_CSR_EXT_REFUSE };

#define POL_KEYS_MAX    16
#define POL_SUBJ_MAX    16
#define POL_CLIENTS_MAX 64
#define POL_ATTR_MAX    128 /* characters of a subject attribute with no RFC 5280 bound */

struct pol_key_rule {
    enum pol_key_kind kind;
    unsigned rsa_min, rsa_max; /* bits, POL_KEY_RSA only */
};

struct pol_subj_rule {
    int nid;       /* attribute type (NID_commonName, ...) */
    char name[32]; /* as written in the profile ("CN") */
    enum pol_need need;
    int must_be_san;  /* the value must equal one of the certificate's SANs */
    unsigned max_len; /* characters; set at load (maxlen= or the RFC 5280 upper bound) */
    char **values;    /* values= alternatives (NULL-terminated), NULL = any */
    char **patterns;  /* match= glob alternatives (NULL-terminated), NULL = any */
};

struct pol_cidr {
    int v6;                 /* 0: IPv4 (4 octets), 1: IPv6 (16) */
    unsigned char addr[16]; /* network, host bits zero */
    unsigned prefix;        /* bits */
};

struct pol_san_rule {
    enum pol_need need;
    unsigned max;          /* at most this many of this kind; 0 = the profile's san_max */
    char **patterns;       /* match= alternatives (NULL-terminated), NULL = any */
    int wildcard;          /* dns: wildcard names ("*.example.test") may be requested */
    struct pol_cidr *nets; /* ip: match= compiled; NULL = any address */
    size_t nnets;
};

struct policy_profile {
    char *name; /* file base name */
    char *path; /* where it was read from */
    char *description;
    int64_t validity;     /* seconds: the default */
    int64_t validity_max; /* seconds: the most a request may get */
    struct pol_key_rule keys[POL_KEYS_MAX];
    size_t nkeys;
    struct pol_subj_rule subj[POL_SUBJ_MAX]; /* in the order the issued subject uses */
    size_t nsubj;
    struct pol_san_rule san[POL_SAN_KIND_MAX];
    unsigned san_max; /* SANs of all kinds in one request */
    enum pol_csr_ext csr_ext;
    enum policy_approval approval;
    char **clients;                  /* clients = ... (NULL-terminated); NULL = any client */
    int is_ca;                       /* the extension section says CA:TRUE */
    int path_len;                    /* pathLenConstraint issued, -1 = none */
    STACK_OF(X509_EXTENSION) * exts; /* the extension section, compiled */
};

extern const char *const pol_san_kind_names[POL_SAN_KIND_MAX];

/* ---- parsing helpers (profile.c, rules.c) ---- */

struct pol_parse {
    const char *path;
    const char *text; /* the raw file, to find line numbers */
    CONF *conf;
    char *detail;
};

/* Formats "FILE:LINE: msg" for key in section into the detail. Returns SIGNET_E_CONFIG. */
enum signet_err pol_perr(struct pol_parse *ps, const char *section, const char *key,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

enum signet_err pol_parse_keys(struct pol_parse *ps, struct policy_profile *p, const char *v);
enum signet_err pol_parse_subject(struct pol_parse *ps, struct policy_profile *p, const char *key,
                                  const char *v);
enum signet_err pol_parse_san(struct pol_parse *ps, struct policy_profile *p, const char *key,
                              const char *v);
/* subject_order = CN, O, ...: reorders the subject rules. */
enum signet_err pol_parse_order(struct pol_parse *ps, struct policy_profile *p, const char *v);
enum signet_err pol_parse_clients(struct pol_parse *ps, struct policy_profile *p, const char *v);
/* The extension section plus path_len / name_constraints, and the CA/leaf consistency checks. */
enum signet_err pol_compile_extensions(struct pol_parse *ps, struct policy_profile *p,
                                       const char *section, const char *path_len,
                                       const char *name_constraints);
void pol_subj_rule_clear(struct pol_subj_rule *r);
void pol_san_rule_clear(struct pol_san_rule *r);

/* ---- names (names.c) ---- */

/*
 * Checks a requested DNS name: 1..253 bytes, no trailing dot, lowercase LDH labels of 1..63
 * bytes, no hyphen at either end of a label, reserved "??--" labels only as valid IDNA A-labels,
 * a wildcard only as the whole leftmost label and only when wildcard is set, not an IP address.
 * 1 = ok; 0 with the reason in why (cap bytes).
 */
int pol_dns_ok(const char *s, size_t len, int wildcard, char *why, size_t cap);
/* An RFC 5322 addr-spec without quoting or comments, and a valid lowercase domain. 1 = ok. */
int pol_email_ok(const char *s, size_t len, char *why, size_t cap);
/* An absolute URI of printable ASCII with a scheme (RFC 3986 3.1). 1 = ok. */
int pol_uri_ok(const char *s, size_t len, char *why, size_t cap);
/* 1 when len bytes hold no NUL, C0 control or DEL. */
int pol_no_controls(const unsigned char *s, size_t len);
/* Glob match: '*' any run, '?' one byte; no backtracking blow-up (O(len(p) * len(s))). */
int pol_glob_match(const char *pattern, const char *s);
/* 1 when a wildcard name "*.B" lies inside what pattern covers (see docs/profiles.md). */
int pol_dns_wildcard_match(const char *pattern, const char *name);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address. 1 = ok; host bits must be zero. */
int pol_cidr_parse(const char *s, struct pol_cidr *out);
/* 1 when the address (4 or 16 octets) is inside net. */
int pol_cidr_contains(const struct pol_cidr *net, const unsigned char *addr, size_t len);

/* ---- IDNA (punycode.c) ---- */

#define POL_PUNY_MAX 64 /* code points in one decoded label */

/*
 * RFC 3492 decoding of the part of an A-label after "xn--". Returns the number of code points
 * written to out (at most cap), or -1 when the input is not valid punycode or overflows.
 */
long pol_puny_decode(const char *in, size_t len, uint32_t *out, size_t cap);
/* RFC 3492 encoding; writes at most cap-1 bytes plus NUL. Returns the length or -1. */
long pol_puny_encode(const uint32_t *in, size_t n, char *out, size_t cap);
/*
 * Checks an A-label ("xn--...", lowercase): valid punycode that round-trips, decodes to at
 * least one non-ASCII code point, ASCII only as lowercase LDH, and no code point from the
 * disallowed subset of RFC 5891 / RFC 5892 documented in docs/profiles.md. 1 = ok.
 */
int pol_alabel_ok(const char *label, size_t len, char *why, size_t cap);

/* "ec:P-256", "rsa:2048", "ed25519": a key as profiles name it (key.c). */
void pol_key_desc(EVP_PKEY *pub, char *out, size_t cap);

/* ---- decisions (eval.c, sans.c) ---- */

#define POL_REASONS_MAX 192

struct pol_reason {
    char *rule;
    char *value; /* printable */
    char *why;
    char *text; /* "rule: ok (value)" or "rule: why" */
    int allowed;
};

struct policy_decision {
    int allowed;
    enum signet_err err; /* class of the first refusal */
    char error[SIGNET_DETAIL_MAX];
    struct pol_reason reasons[POL_REASONS_MAX];
    size_t n;
    X509_NAME *subject;  /* to issue */
    GENERAL_NAMES *sans; /* to issue; NULL when none */
    enum policy_approval approval;
};

/*
 * Records one rule's verdict on value (printable, may be ""): err SIGNET_OK allows, anything
 * else refuses (the first refusal names the decision's error class and message).
 */
void pol_verdict(struct policy_decision *d, enum signet_err err, const char *rule,
                 const char *value, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Copies len bytes of s into out (cap bytes) with non-printable bytes as \xNN, truncated. */
void pol_printable(const unsigned char *s, size_t len, char *out, size_t cap);
/* Evaluates the requested SANs (gens may be NULL) into d->sans. */
void pol_eval_sans(const struct policy_profile *p, const GENERAL_NAMES *gens,
                   struct policy_decision *d);
/* Evaluates the CSR's subject into d->subject, in the profile's order. */
void pol_eval_subject(const struct policy_profile *p, const struct policy_csr *req,
                      struct policy_decision *d);

/* The parts of a CSR that policy reads (policy/csr.c fills it). */
struct policy_csr {
    X509_NAME *subject;
    EVP_PKEY *pub;
    X509_ALGOR *spki_alg; /* the SubjectPublicKeyInfo as received */
    ASN1_BIT_STRING *spki_bits;
    STACK_OF(X509_ATTRIBUTE) * attrs; /* may be NULL: no attributes */
    int sig_nid;                      /* the self-signature's algorithm */
    X509_ALGOR *sig_alg;              /* ... with its parameters (RSASSA-PSS hashes) */
    unsigned char *spki_der; /* spki_alg + spki_bits as certified (what keyCompromise blocks) */
    size_t spki_der_len;
    unsigned char *der; /* the request as received */
    size_t der_len;
};

#endif
