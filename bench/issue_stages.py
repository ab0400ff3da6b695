#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/issue_stages.py: where signetd's CPU time went during bench/issue.sh.

Reads `perf script` output (perf record --call-graph dwarf -p PID) on stdin and prints the
share of on-CPU samples by issuance stage. Each sample goes to the first stage, in the order
below, that has a frame in the sample's stack, so a verification inside hsm_sign counts as
verification and the decoding of a key inside parse_csr as decoding.
"""
import collections
import sys

# (stage, frames that put a sample in it); first match wins
STAGES = [
    ("signature verification (CSR, token result, certificate)",
     ("X509_verify", "X509_REQ_verify", "X509_REQ_verify_ex", "EVP_DigestVerifyFinal",
      "EVP_DigestVerify", "EVP_PKEY_verify")),
    ("public-key decoding (OpenSSL 3 decoders: CSR, TBS, response PEM)",
     ("OSSL_DECODER_CTX_new_for_pkey", "OSSL_DECODER_from_data", "OSSL_DECODER_from_bio",
      "d2i_PUBKEY", "X509_PUBKEY_get0", "x509_pubkey_ex_d2i_ex", "d2i_EC_PUBKEY")),
    ("HSM signature (SoftHSM C_SignInit + C_Sign)", ("hsm_token_run", "hsm_sign", "C_Sign",
                                                      "C_SignInit")),
    ("durable commit (committer thread: LMDB write, fdatasync)", ("committer_main",)),
    ("commit hand-off (queueing, waking writers)", ("store_write",)),
    ("lint (throwaway signature, lint set)", ("serial_and_tbs", "lint_tbs", "ca_lint_cert")),
    ("policy and key quality", ("policy_evaluate_ex", "policy_evaluate", "policy_check_key",
                                "policy_spki_sha256")),
    ("building the TBS and the response", ("build_tbs", "sign_and_record", "ca_issue",
                                           "net_h_enroll")),
    ("HTTP and JSON (libevent)", ("worker_main", "evhttp_", "bufferevent_")),
]


def frames(block):
    """The function names of one `perf script` sample, innermost first."""
    out = []
    for line in block.split("\n")[1:]:
        parts = line.split()
        if len(parts) > 1:
            out.append(parts[1].split("+")[0])
    return out


def stage_of(fr):
    """The first stage whose frames appear in the stack."""
    for name, keys in STAGES:
        for f in fr:
            if f in keys or any(k.endswith("_") and f.startswith(k) for k in keys):
                return name
    return "other (kernel, scheduler, allocator, other threads)"


def main():
    counts = collections.Counter()
    total = 0
    for block in sys.stdin.read().split("\n\n"):
        fr = frames(block.strip())
        if not fr:
            continue
        total += 1
        counts[stage_of(fr)] += 1
    if total == 0:
        print("  (no samples)")
        return
    for name, n in counts.most_common():
        print("  %5.1f%%  %s" % (100.0 * n / total, name))
    print("  (%d samples)" % total)


if __name__ == "__main__":
    main()
