#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A subordinate CA taken in by SIGHUP: signetd runs with issuing-1; `signet ca create` makes
# issuing-2 (key on the online token, CSR out), the root signs it in a ceremony with the demo's
# custodian shares 1 and 2, `signet ca import-cert` installs it; before SIGHUP signetd does not
# issue under issuing-2, after it does (the certificate chains to the root with the chain it
# returns, and /ca/issuing-2.pem serves the imported certificate). A changed CA in use is refused
# on SIGHUP and issuance goes on as before.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
it_daemon_start

# issue NAME [CA]: POST a CSR for NAME under tls-server (and CA when given); prints the status
issue() {
  csr "$1" "$1"
  body "$W/$1.csr" tls-server "${2:-}" >"$W/$1.json"
  curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$W/$1.json" "$URL/v1/certificates"; }

# --- issuing-2: key and CSR, the root's ceremony, the import
sig ca create --name issuing-2 --parent root --token signet-online --type ec:P-256 \
  --subject "/CN=Signet Demo Issuing 2" --csr-out "$W/i2.csr" >"$W/o" 2>&1 || fail "ca create: $(cat "$W/o")"
grep -q '^\[ca.issuing-2\]' "$CONF" || fail "ca create did not add [ca.issuing-2]"
sign_subordinate root "$W/i2.csr" "$W/i2.crt" "$(utc_hour '+1 hour')" "$(utc_hour '+3 years')" >"$W/cer.conf"
sig ceremony run "$W/cer.conf" --dry-run --plan-out "$W/plan" >"$W/o" 2>&1 || fail "dry run: $(cat "$W/o")"
sig ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" --share "$(share 2)" >"$W/o" 2>&1 \
  || fail "ceremony: $(cat "$W/o")"
sig ca import-cert --name issuing-2 --cert "$W/i2.crt" >"$W/o" 2>&1 || fail "import-cert: $(cat "$W/o")"

# --- before SIGHUP: signetd does not know issuing-2
st=$(issue before.example.test issuing-2)
[ "$st" != 201 ] || fail "issued under issuing-2 before SIGHUP"
st=$(issue one.example.test); [ "$st" = 201 ] || fail "issuing-1 answered $st: $(cat "$W/r.json")"

# --- SIGHUP: taken in
kill -HUP "$DPID"
for _ in $(seq 1 50); do grep -q "reload: added CA issuing-2" "$W/d.log" && break; sleep 0.1; done
grep -q "reload: added CA issuing-2" "$W/d.log" || fail "SIGHUP did not add issuing-2: $(grep reload "$W/d.log")"
st=$(issue two.example.test issuing-2)
[ "$st" = 201 ] || fail "issuance under issuing-2 after SIGHUP answered $st: $(cat "$W/r.json")"
[ "$(field ca)" = issuing-2 ] || fail "issued by $(field ca), not issuing-2"
field certificate >"$W/two.crt"; field chain >"$W/two.chain"
openssl x509 -in "$W/two.crt" -noout -issuer | grep -q "Signet Demo Issuing 2" || fail "issuer is not issuing-2"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$W/two.chain" "$W/two.crt" >/dev/null \
  || fail "the certificate under issuing-2 does not chain to the root with the returned chain"
curl -fsS "$URL/ca/issuing-2.pem" | openssl x509 -noout -fingerprint -sha256 >"$W/f1" || fail "/ca/issuing-2.pem"
openssl x509 -in "$W/i2.crt" -noout -fingerprint -sha256 | cmp -s - "$W/f1" || fail "/ca/issuing-2.pem is not the imported certificate"
st=$(issue three.example.test); [ "$st" = 201 ] && [ "$(field ca)" = issuing-1 ] || fail "issuing-1 after SIGHUP: $st $(field ca)"

# --- a CA in use changed: refused by name, nothing else changes
cp "$CONF" "$W/conf.bak"
sed -i 's/^profiles = tls-server, tls-client, ocsp-responder$/profiles = tls-server, ocsp-responder/' "$CONF"
kill -HUP "$DPID"
for _ in $(seq 1 50); do grep -q "CAs kept as they were" "$W/d.log" && break; sleep 0.1; done
grep -q "reload: CAs kept as they were: CA issuing-1: profiles changed" "$W/d.log" \
  || fail "a changed CA was not refused: $(grep reload "$W/d.log" | tail -2)"
st=$(issue four.example.test issuing-2); [ "$st" = 201 ] || fail "issuing-2 after a refused reload: $st"
cp "$W/conf.bak" "$CONF"

kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
echo "PASS: a CA taken in by SIGHUP"
