#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The root-rollover ceremony on the demo PKI: refusals first (a profile the new root does not
# list, an unknown key, one share) with nothing written; the dry run writes nothing; the real run
# with shares 1 and 3 makes root-2 (new key on the root token, self-signed) and the two cross
# certificates. Relying parties with either root then chain: issuing-1 (under the old root)
# verifies from root-2 through root-by-root-2, and issuing-3 (signed later by root-2 in a
# ceremony) verifies from the old root through root-2-by-root, with OpenSSL and GnuTLS. The
# transcript verifies; a second rollover to root-2 is refused.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
refused() { local why=$1; shift
  if sig "$@" >"$W/out" 2>"$W/err"; then fail "accepted: $*"; fi
  grep -qF -- "$why" "$W/err" || fail "expected '$why', got: $(cat "$W/err")"; }
nothing_written() {
  [ -e "$P/public/root-2.crt" ] && fail "root-2.crt written by a refused or dry run"
  [ -e "$W/cross" ] && fail "cross certificates written by a refused or dry run"; true; }

cat >"$P/policies/root-cross.conf" <<'EOF'
[profile]
description = A root's key certified by another root (rollover)
validity    = 10y
key         = ec:P-256, ec:P-384, rsa:3072-4096
subject.CN  = required
subject.O   = optional
extensions  = ext
[ext]
basicConstraints = critical, CA:TRUE, pathlen:1
keyUsage         = critical, keyCertSign, cRLSign
EOF
sed -i 's/^profiles = subordinate-ca$/profiles = subordinate-ca, root-cross/' "$CONF"
cat >>"$CONF" <<'EOF'

[ca.root-2]
key      = pkcs11:token=signet-root;object=root-2
cert     = public/root-2.crt
profiles = subordinate-ca
EOF
cer() { cat <<CER
[ceremony]
operation = root-rollover
ca        = root
new_ca    = root-2
subject   = CN=Signet Demo Root 2,O=Signet Demo
type      = ec:P-384
days      = 3650
profile   = root-cross
out_dir   = cross
$1
CER
}
cer "" >"$W/roll.cer"
refused "profile root-cross must be in the profiles of both root and root-2" ceremony run "$W/roll.cer" --dry-run
nothing_written
sed -i 's/^profiles = subordinate-ca$/profiles = subordinate-ca, root-cross/' "$CONF"
cer "colour = blue" >"$W/bad.cer"
refused "unknown key 'colour' in [ceremony] for operation root-rollover" ceremony run "$W/bad.cer" --dry-run
refused "1 distinct share(s) given, 2 needed" ceremony run "$W/roll.cer" --share "$(share 1)"
nothing_written

sig ceremony run "$W/roll.cer" --dry-run >"$W/dry.log" 2>&1 || fail "dry run: $(cat "$W/dry.log")"
grep -q "ceremony root-rollover (dry run: nothing signed)" "$W/dry.log" || fail "dry run said: $(cat "$W/dry.log")"
nothing_written

sig ceremony run "$W/roll.cer" --share "$(share 1)" --share "$(share 3)" >"$W/run.log" 2>&1 || fail "rollover: $(cat "$W/run.log")"
grep -q "shares used: 1,3" "$W/run.log" || fail "no shares line: $(cat "$W/run.log")"
grep -q "written: $P/public/root-2.crt" "$W/run.log" || fail "no new root written: $(cat "$W/run.log")"
for f in "$P/public/root-2.crt" "$W/cross/root-2-by-root.crt" "$W/cross/root-by-root-2.crt"; do
  [ -s "$f" ] || fail "$f missing"; done
openssl x509 -in "$P/public/root-2.crt" -noout -subject | grep -q "Signet Demo Root 2" || fail "root-2 subject"
openssl verify -x509_strict -CAfile "$P/public/root-2.crt" "$P/public/root-2.crt" >/dev/null || fail "root-2 is not self-signed"
cmp -s <(openssl x509 -in "$P/public/root-2.crt" -noout -pubkey) <(openssl x509 -in "$W/cross/root-2-by-root.crt" -noout -pubkey) \
  || fail "root-2-by-root does not certify root-2's key"
cmp -s <(openssl x509 -in "$P/public/root.crt" -noout -pubkey) <(openssl x509 -in "$W/cross/root-by-root-2.crt" -noout -pubkey) \
  || fail "root-by-root-2 does not certify the old root's key"

# a relying party that trusts only root-2 verifies what the old root issued
openssl verify -x509_strict -CAfile "$P/public/root-2.crt" -untrusted "$W/cross/root-by-root-2.crt" \
  "$P/public/issuing-1.crt" >/dev/null || fail "issuing-1 does not chain to root-2"
certtool --verify --load-ca-certificate "$P/public/root-2.crt" \
  --infile <(cat "$P/public/issuing-1.crt" "$W/cross/root-by-root-2.crt") >"$W/ct" 2>&1 \
  || fail "GnuTLS: issuing-1 via root-by-root-2: $(tail -2 "$W/ct")"

# root-2 signs a subordinate; a relying party that trusts only the old root verifies it
sig ca create --name issuing-3 --parent root-2 --token signet-online --type ec:P-256 \
  --subject "/CN=Signet Demo Issuing 3" --csr-out "$W/i3.csr" >/dev/null 2>&1 || fail "ca create under root-2"
sign_subordinate root-2 "$W/i3.csr" "$W/i3.crt" "$(utc_hour '+1 hour')" "$(utc_hour '+3 years')" >"$W/i3.cer"
sig ceremony run "$W/i3.cer" --share "$(share 2)" --share "$(share 3)" >"$W/o" 2>&1 || fail "root-2 ceremony: $(cat "$W/o")"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$W/cross/root-2-by-root.crt" "$W/i3.crt" \
  >/dev/null || fail "issuing-3 does not chain to the old root"
openssl verify -x509_strict -CAfile "$P/public/root-2.crt" "$W/i3.crt" >/dev/null || fail "issuing-3 does not chain to root-2"
certtool --verify --load-ca-certificate "$P/public/root.crt" \
  --infile <(cat "$W/i3.crt" "$W/cross/root-2-by-root.crt") >"$W/ct" 2>&1 \
  || fail "GnuTLS: issuing-3 via root-2-by-root: $(tail -2 "$W/ct")"

sig audit verify >"$W/a" 2>&1 || fail "audit verify: $(cat "$W/a")"
grep -q "2 ceremony transcripts verified" "$W/a" || fail "audit: $(cat "$W/a")"
rm -rf "$W/cross2"; sed -i 's/^out_dir   = cross$/out_dir   = cross2/' "$W/roll.cer"
refused "CA root-2 already has a certificate" ceremony run "$W/roll.cer" --dry-run
echo "PASS: root rollover"
