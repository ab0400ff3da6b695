#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad input to `signet issue` and `signet hsm keygen`: a file that is not a CSR, a CSR whose
# signature does not verify, a key type the profile does not allow, a name outside the profile,
# an unknown CA or profile, a token that does not exist, a wrong PIN (one attempt only), an
# oversized CSR. Each exits 1 with exactly one line on stderr, and `signet cert list` is unchanged
# (no PENDING record for a refused request). Bad usage exits 2.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
csr() { # csr NAME KEYSPEC SUBJ SAN (not common.sh's csr: any key, subject and SAN)
  # shellcheck disable=SC2086
  openssl req -new -newkey $2 -nodes -keyout "$W/$1.key" -subj "$3" ${4:+-addext "subjectAltName=$4"} \
    -out "$W/$1.csr" 2>/dev/null || fail "openssl could not make CSR $1"
}
csr good "ec -pkeyopt ec_paramgen_curve:P-256" /CN=www.example.test DNS:www.example.test
sig issue --ca issuing-1 --profile tls-server --csr "$W/good.csr" --out "$W/good.crt" >/dev/null 2>&1 || fail "a good CSR was refused"
before=$(sig cert list --ca issuing-1)
[ "$(echo "$before" | wc -l)" = 1 ] || fail "cert list should show one certificate"

# refused WHAT EXPECT ARGS...: exit 1, one stderr line starting "signet: " and matching EXPECT
refused() {
  local what=$1 expect=$2; shift 2
  local rc=0
  "$B/signet" "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" = 1 ] || fail "$what: exit status $rc, wanted 1 ($(cat "$W/err"))"
  [ "$(wc -l <"$W/err")" = 1 ] || fail "$what: wanted one line on stderr, got: $(cat "$W/err")"
  grep -q '^signet: ' "$W/err" || fail "$what: message does not start with 'signet: ': $(cat "$W/err")"
  grep -qi -- "$expect" "$W/err" || fail "$what: message lacks '$expect': $(cat "$W/err")"
  [ "$(sig cert list --ca issuing-1)" = "$before" ] || fail "$what: the store changed"
  echo "  ok: $what -> $(cat "$W/err")"
}

echo "not a csr" >"$W/junk.csr"
refused "garbage CSR" "not a PKCS#10" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/junk.csr"
cp "$W/good.key" "$W/junk.der"; head -c 300 /dev/urandom >"$W/rand.der"
refused "random DER" "not a PKCS#10" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/rand.der"
openssl x509 -in "$W/good.crt" -outform DER -out "$W/cert.der"
refused "a certificate instead of a CSR" "not a PKCS#10" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/cert.der"

csr bad "ec -pkeyopt ec_paramgen_curve:P-256" /CN=other.example.test DNS:other.example.test
python3 - "$W/bad.csr" <<'PY'
import sys, base64
p = sys.argv[1]; t = open(p).read().split('\n')
b = base64.b64decode(''.join(l for l in t if l and not l.startswith('-----')))
b = b[:-3] + bytes([b[-3] ^ 1]) + b[-2:]
open(p, 'w').write('-----BEGIN CERTIFICATE REQUEST-----\n' + base64.encodebytes(b).decode() + '-----END CERTIFICATE REQUEST-----\n')
PY
refused "CSR with a broken signature" "does not verify" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/bad.csr"

csr rsa1024 rsa:1024 /CN=a.example.test DNS:a.example.test
refused "RSA-1024 key" "rsa:1024 is not allowed" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/rsa1024.csr"
csr p521 "ec -pkeyopt ec_paramgen_curve:P-521" /CN=a.example.test DNS:a.example.test
refused "P-521 key" "P-521 is not allowed" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/p521.csr"
csr rsa3 "rsa:2048 -pkeyopt rsa_keygen_pubexp:3" /CN=a.example.test DNS:a.example.test
refused "RSA exponent 3" "exponent" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/rsa3.csr"
csr other "ec -pkeyopt ec_paramgen_curve:P-256" /CN=www.other.test DNS:www.other.test
refused "name outside the profile" "does not match" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/other.csr"
csr nosan "ec -pkeyopt ec_paramgen_curve:P-256" /CN=www.example.test ""
refused "no SAN where one is required" "san.dns: required" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/nosan.csr"
csr cnmismatch "ec -pkeyopt ec_paramgen_curve:P-256" /CN=x.example.test DNS:www.example.test
refused "CN that is not a SAN" "must also be one of the SANs" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/cnmismatch.csr"
csr org "ec -pkeyopt ec_paramgen_curve:P-256" "/CN=www.example.test/O=Evil" DNS:www.example.test
refused "forbidden subject attribute" "subject.O: forbidden" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/org.csr"
csr ip "ec -pkeyopt ec_paramgen_curve:P-256" /CN=www.example.test "DNS:www.example.test,IP:10.0.0.1"
refused "forbidden IP SAN" "san.ip: forbidden" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/ip.csr"
csr wild "ec -pkeyopt ec_paramgen_curve:P-256" "/CN=*.example.test" "DNS:*.example.test"
refused "wildcard name" "not a hostname" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/wild.csr"
head -c 70000 /dev/zero >"$W/big.csr"
refused "oversized CSR" "larger than" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/big.csr"
refused "missing CSR file" "good-missing.csr" -c "$CONF" issue --ca issuing-1 --profile tls-server --csr "$W/good-missing.csr"

refused "unknown CA" "no such CA" -c "$CONF" issue --ca no-such-ca --profile tls-server --csr "$W/good.csr"
refused "unknown profile" "no such profile" -c "$CONF" issue --ca issuing-1 --profile no-such-profile --csr "$W/good.csr"
refused "profile the CA does not issue" "does not issue profile" -c "$CONF" issue --ca issuing-1 --profile subordinate-ca --csr "$W/good.csr"
refused "token not in signet.conf" "no \[token.no-such-token\]" -c "$CONF" hsm keygen --token no-such-token --label x --type ec:P-256

# a configured token that the module does not have
 sed 's/signet-online/no-such-label/g' "$CONF" >"$P/missing-token.conf"
refused "token that does not exist" "no-such-label does not exist" -c "$P/missing-token.conf" issue --ca issuing-1 --profile tls-server --csr "$W/good.csr"

# wrong PIN: one attempt, then stop and say so (counted through SoftHSM's own log would need
# the fault module; the message says it and the second run still fails the same way)
umask 077; echo 00000000 >"$P/hsm/wrong.pin"
sed 's#pin    = file:hsm/online.pin#pin    = file:hsm/wrong.pin#' "$CONF" >"$P/wrong-pin.conf"
refused "wrong PIN" "PIN was refused after one attempt" -c "$P/wrong-pin.conf" issue --ca issuing-1 --profile tls-server --csr "$W/good.csr"
chmod 644 "$P/hsm/wrong.pin"
refused "PIN file readable by others" "chmod 600" -c "$P/wrong-pin.conf" issue --ca issuing-1 --profile tls-server --csr "$W/good.csr"
# the right PIN still works afterwards: the token was not locked by retries
sig issue --ca issuing-1 --profile tls-server --csr "$W/good.csr" --out "$W/good2.crt" >/dev/null 2>&1 || fail "good CSR refused after the wrong-PIN runs"
before=$(sig cert list --ca issuing-1)
sed 's/^\[signet\]/[signet]\nstore_map_size = 12/' "$CONF" >"$P/tiny-map.conf"
refused "store map size out of range" "store_map_size" -c "$P/tiny-map.conf" issue --ca issuing-1 --profile tls-server --csr "$W/good.csr"

# bad usage: exit 2
rc=0; sig issue --ca issuing-1 >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "missing options exit $rc, wanted 2"
rc=0; sig frobnicate >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "unknown command exit $rc, wanted 2"
rc=0; sig hsm keygen --token online --label x --type dsa:1024 >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "bad key type exit $rc, wanted 2"
[ "$(sig cert list --ca issuing-1 --status pending | wc -l)" = 0 ] || fail "a refused request left a PENDING record"
echo "cli_badinput: ok"
