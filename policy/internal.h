/* SPDX-License-Identifier: Apache-2.0 */
/* policy: the compiled form of a profile, shared by the parser and the evaluator. */
#ifndef SIGNET_POLICY_INTERNAL_H
#define SIGNET_POLICY_INTERNAL_H

#include "policy.h"

enum pol_need { POL_FORBIDDEN = 0, POL_OPTIONAL, POL_REQUIRED };

enum pol_san_kind { POL_SAN_DNS, POL_SAN_IP, POL_SAN_EMAIL, POL_SAN_URI, POL_SAN_KIND_MAX };

enum pol_key_kind { POL_KEY_EC_P256, POL_KEY_EC_P384, POL_KEY_RSA, POL_KEY_ED25519 };

#define POL_KEYS_MAX 16
#define POL_SUBJ_MAX 16

struct pol_key_rule {
    enum pol_key_kind kind;
    unsigned rsa_min, rsa_max; /* bits, POL_KEY_RSA only */
};

struct pol_subj_rule {
    int nid;       /* attribute type (NID_commonName, ...) */
    char name[32]; /* as written in the profile ("CN") */
    enum pol_need need;
    int must_be_san; /* the value must equal one of the certificate's SANs */
};

struct pol_san_rule {
    enum pol_need need;
    unsigned max;    /* at most this many of this kind; 0 = POLICY_SAN_MAX */
    char **patterns; /* match= alternatives (NULL-terminated), NULL = any */
};

struct policy_profile {
    char *name; /* file base name */
    char *path; /* where it was read from */
    char *description;
    int64_t validity; /* seconds */
    struct pol_key_rule keys[POL_KEYS_MAX];
    size_t nkeys;
    struct pol_subj_rule subj[POL_SUBJ_MAX];
    size_t nsubj;
    struct pol_san_rule san[POL_SAN_KIND_MAX];
    STACK_OF(X509_EXTENSION) * exts; /* the extension section, compiled */
};

extern const char *const pol_san_kind_names[POL_SAN_KIND_MAX];

#endif
