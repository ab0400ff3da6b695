#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet demo init, then `signet issue` for every leaf key type a profile allows; each certificate
# is checked by OpenSSL (-x509_strict), GnuTLS certtool and Python cryptography, never by our code.
# Also: the CSR cannot add extensions (CA:TRUE asked, CA:FALSE issued), cert list / show agree,
# and the demo layout of SPEC.md is there with the right modes.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init

for f in signet.conf policies/tls-server.conf policies/tls-client.conf policies/subordinate-ca.conf \
  policies/ocsp-responder.conf hsm/softhsm2.conf hsm/online.pin clients/demo.token \
  custodians/share-1.share custodians/share-2.share custodians/share-3.share \
  custodians/share-1.pass custodians/share-2.pass custodians/share-3.pass \
  public/root.crt public/issuing-1.crt public/chain.pem; do
  [ -s "$P/$f" ] || fail "demo PKI lacks $f"
done
[ -d "$P/hsm/tokens" ] && [ -d "$P/store" ] && [ -d "$P/public/crl" ] || fail "demo PKI lacks a directory"
[ ! -e "$P/hsm/root.pin" ] || fail "the root's PIN is on disk (it must exist only as shares)"
for f in hsm/online.pin clients/demo.token custodians/share-1.share custodians/share-1.pass; do
  [ "$(stat -c %a "$P/$f")" = 600 ] || fail "$f is not mode 0600"
done
# etc/policies holds the same profiles as the demo (after its SPDX line)
if [ -n "${SIGNET_SOURCE:-}" ]; then
  for f in "$SIGNET_SOURCE"/etc/policies/*.conf; do
    diff <(tail -n +2 "$f") "$P/policies/$(basename "$f")" >/dev/null || fail "etc/policies/$(basename "$f") differs from the demo's"
  done
fi
want=$(sha256sum <"$P/clients/demo.token" | cut -d' ' -f1)
grep -q "token_sha256 *= *$want" "$P/signet.conf" || fail "signet.conf does not hold the demo token's SHA-256"
# the demo PKI is refused a second time
if sig demo init "$P" >"$W/again.log" 2>&1; then fail "demo init over an existing PKI succeeded"; fi
grep -q "already holds a PKI" "$W/again.log" || fail "second demo init did not say why: $(cat "$W/again.log")"

openssl verify -x509_strict -CAfile "$P/public/root.crt" "$P/public/issuing-1.crt" >/dev/null \
  || fail "issuing-1 does not verify under the root"
openssl x509 -in "$P/public/issuing-1.crt" -noout -text >"$W/i1.txt"
grep -q "CA:TRUE, pathlen:0" "$W/i1.txt" || fail "issuing-1 lacks CA:TRUE, pathlen:0"
grep -q "Certificate Sign, CRL Sign" "$W/i1.txt" || fail "issuing-1 lacks keyCertSign, cRLSign"
grep -q "NIST CURVE: P-256" "$W/i1.txt" || fail "issuing-1 is not P-256"
openssl x509 -in "$P/public/root.crt" -noout -text | grep -q "NIST CURVE: P-384" || fail "root is not P-384"

check() { # check NAME: verify $W/NAME.crt three ways
  local n=$1
  openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/$n.crt" >/dev/null \
    || fail "$n: openssl verify -x509_strict"
  cat "$W/$n.crt" "$P/public/issuing-1.crt" >"$W/$n.chain"
  certtool --verify --load-ca-certificate "$P/public/root.crt" --infile "$W/$n.chain" >"$W/$n.gnutls" 2>&1 \
    || { tail -3 "$W/$n.gnutls"; fail "$n: GnuTLS certtool --verify"; }
  python3 -W ignore - "$W/$n.crt" "$P/public/issuing-1.crt" "$n.example.test" <<'PY' || fail "$n: Python cryptography"
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
leaf = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
iss = x509.load_pem_x509_certificate(open(sys.argv[2], 'rb').read())
iss.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
assert leaf.issuer == iss.subject
assert 0 < leaf.serial_number < 2**159 and leaf.serial_number.bit_length() >= 64
san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
assert san.get_values_for_type(x509.DNSName) == [sys.argv[3]], san
assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
ski = iss.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
assert aki.key_identifier == ski.digest, "AKI is not the issuer's SKI"
leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
assert leaf.not_valid_after <= iss.not_valid_after
days = (leaf.not_valid_after - leaf.not_valid_before).days
assert 89 <= days <= 90, days
names = {e.oid._name for e in leaf.extensions}
assert names == {"basicConstraints", "keyUsage", "extendedKeyUsage", "subjectAltName", "subjectKeyIdentifier",
                 "authorityKeyIdentifier", "cRLDistributionPoints", "authorityInfoAccess"}, names
PY
}

i=0
for kt in "ec -pkeyopt ec_paramgen_curve:P-256" "ec -pkeyopt ec_paramgen_curve:P-384" "rsa:2048" "rsa:3072" "ed25519"; do
  i=$((i + 1)); n=k$i
  # shellcheck disable=SC2086
  openssl req -new -newkey $kt -nodes -keyout "$W/$n.key" -subj "/CN=$n.example.test" \
    -addext "subjectAltName=DNS:$n.example.test" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" -addext "nsComment=from the CSR" -out "$W/$n.csr" 2>/dev/null \
    || fail "openssl could not make a $kt CSR"
  sig issue --ca issuing-1 --profile tls-server --csr "$W/$n.csr" --out "$W/$n.crt" >"$W/$n.log" 2>&1 \
    || { cat "$W/$n.log"; fail "issue for $kt"; }
  serial=$(sed -n 's/^serial \([0-9a-f]*\)$/\1/p' "$W/$n.log")
  [ ${#serial} -ge 16 ] || fail "issue did not print the serial: $(cat "$W/$n.log")"
  check "$n"
  got=$(openssl x509 -in "$W/$n.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
  [ "$got" = "$serial" ] || fail "printed serial $serial is not the certificate's $got"
  sig cert show --ca issuing-1 --serial "$serial" >"$W/$n.show" || fail "cert show $serial"
  grep -q "status: *issued" "$W/$n.show" || fail "cert show does not say issued"
  openssl x509 -in "$W/$n.show" -noout -serial >/dev/null 2>&1 || fail "cert show prints no certificate"
done

# PEM to stdout when there is no --out; serial on stderr
sig issue --ca issuing-1 --profile tls-server --csr "$W/k1.csr" >"$W/stdout.pem" 2>"$W/stderr.txt" || fail "issue to stdout"
openssl x509 -in "$W/stdout.pem" -noout || fail "issue without --out printed no PEM certificate"
grep -q '^serial ' "$W/stderr.txt" || fail "issue without --out did not print the serial on stderr"
# --json
sig --json issue --ca issuing-1 --profile tls-server --csr "$W/k1.csr" >"$W/j.json" || fail "issue --json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["serial"] and "BEGIN CERTIFICATE" in d["certificate"]' "$W/j.json" \
  || fail "issue --json is not the expected JSON"

[ "$(sig cert list --ca issuing-1 | wc -l)" = 7 ] || fail "cert list does not show 7 certificates"
[ "$(sig cert list --ca issuing-1 --status issued | grep -c ' issued ')" = 7 ] || fail "cert list --status issued"
[ "$(sig cert list --ca issuing-1 --status pending | wc -l)" = 0 ] || fail "pending records after clean issuance"
sig --json cert list --ca issuing-1 | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 7' || fail "cert list --json"
sig ca list | grep -q '^issuing-1 parent=root' || fail "ca list does not show issuing-1 under root"
echo "cli_issue: ok"
