#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A subordinate CA taken in by SIGHUP: signetd runs with issuing-1; `signet ca create` makes
# issuing-2 (key on the online token, CSR out), the root signs it in a ceremony with the demo's
# custodian shares 1 and 2, `signet ca import-cert` installs it; before SIGHUP signetd does not
# issue under issuing-2, after it does (the certificate chains to the root with the chain it
# returns, and /ca/issuing-2.pem serves the imported certificate). A changed CA in use is refused
# on SIGHUP and issuance goes on as before.
set -euo pipefail
B=$(cd "${SIGNET_BUILD:-build}" && pwd)
W=$(mktemp -d /tmp/signet-it.XXXXXX)
DPID=""
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$W/d.log" ] && tail -5 "$W/d.log" >&2; exit 1; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' "$W/r.json" "$1"; }

"$B/signet" demo init "$W/pki" >"$W/demo.log" 2>&1 || { cat "$W/demo.log"; fail "demo init"; }
P=$W/pki; CONF=$P/signet.conf; TOKEN=$(cat "$P/clients/demo.token")
sig() { "$B/signet" -c "$CONF" "$@"; }
sh() { echo "$P/custodians/share-$1.share:$P/custodians/share-$1.pass"; }
PORT=$(port); URL=http://127.0.0.1:$PORT
"$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" >"$W/d.log" 2>&1 & DPID=$!
for _ in $(seq 1 150); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$URL/healthz" >/dev/null || fail "signetd did not come up"

# issue NAME [CA]: POST a CSR for NAME under tls-server (and CA when given); prints the status
issue() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$1.key" -subj "/CN=$1" \
    -addext "subjectAltName=DNS:$1" -out "$W/$1.csr" 2>/dev/null
  python3 -c 'import json,sys
b={"csr":open(sys.argv[1]).read(),"profile":"tls-server"}
if sys.argv[2]: b["ca"]=sys.argv[2]
print(json.dumps(b))' "$W/$1.csr" "${2:-}" >"$W/$1.json"
  curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$W/$1.json" "$URL/v1/certificates"; }

# --- issuing-2: key and CSR, the root's ceremony, the import
sig ca create --name issuing-2 --parent root --token signet-online --type ec:P-256 \
  --subject "/CN=Signet Demo Issuing 2" --csr-out "$W/i2.csr" >"$W/o" 2>&1 || fail "ca create: $(cat "$W/o")"
grep -q '^\[ca.issuing-2\]' "$CONF" || fail "ca create did not add [ca.issuing-2]"
cat >"$W/cer.conf" <<CER
[ceremony]
operation  = sign-subordinate
ca         = root
csr        = $W/i2.csr
profile    = subordinate-ca
not_before = $(date -u -d '+1 hour' +%Y-%m-%dT%H:00:00Z)
not_after  = $(date -u -d '+3 years' +%Y-%m-%dT%H:00:00Z)
out        = $W/i2.crt
CER
sig ceremony run "$W/cer.conf" --dry-run --plan-out "$W/plan" >"$W/o" 2>&1 || fail "dry run: $(cat "$W/o")"
sig ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(sh 1)" --share "$(sh 2)" >"$W/o" 2>&1 \
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
