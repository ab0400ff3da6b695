#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The enrollment API over HTTP on a demo PKI: a certificate issued by POST /v1/certificates
# verifies with OpenSSL (-x509_strict), GnuTLS certtool and NSS vfychain; its status is served;
# the CA endpoints serve what public/ holds; credentials, profiles, methods and limits are
# enforced with the right status and problem code; hostile bodies leave the daemon serving;
# /metrics counts what happened; SIGTERM exits 0.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
# post FILE [token]: POST the JSON body in FILE; prints the status, body in $W/r.json
post() { local t=${2-$TOKEN}
  curl -s -o "$W/r.json" -w '%{http_code}' ${t:+-H "Authorization: Bearer $t"} \
    -H 'Content-Type: application/json' --data-binary @"$1" "$URL/v1/certificates"; }

it_demo_init
it_daemon_start --foreground

# --- issuance, verified by three independent implementations
csr www.example.test leaf; body "$W/leaf.csr" tls-server >"$W/leaf.json"
st=$(post "$W/leaf.json"); [ "$st" = 201 ] || fail "enrollment answered $st: $(cat "$W/r.json")"
field certificate >"$W/leaf.crt"; field chain >"$W/chain.pem"; serial=$(field serial)
[[ "$serial" =~ ^[0-9a-f]+$ ]] || fail "serial '$serial' is not lowercase hex"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" \
  "$W/leaf.crt" >/dev/null || fail "openssl -x509_strict rejects the certificate"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$W/chain.pem" "$W/leaf.crt" \
  >/dev/null || fail "the returned chain does not verify the certificate"
[ "$(openssl x509 -in "$W/leaf.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)" = "$serial" ] \
  || fail "the serial field differs from the certificate's serial"
openssl x509 -in "$W/leaf.crt" -noout -pubkey | cmp -s - <(openssl pkey -in "$W/leaf.key" -pubout) \
  || fail "the certificate does not carry the CSR's key"
cat "$W/leaf.crt" "$P/public/issuing-1.crt" >"$W/gnutls.pem"
certtool --verify --load-ca-certificate "$P/public/root.crt" --infile "$W/gnutls.pem" >"$W/ct.log" 2>&1 \
  || fail "GnuTLS rejects the chain: $(tail -3 "$W/ct.log")"
mkdir "$W/nss"; certutil -N -d "sql:$W/nss" --empty-password
certutil -A -d "sql:$W/nss" -n root -t "C,," -i "$P/public/root.crt"
vfychain -d "sql:$W/nss" -u 1 -a "$W/leaf.crt" -a "$P/public/issuing-1.crt" 2>&1 | grep -q "Chain is good" \
  || fail "NSS vfychain rejects the certificate"

# --- status
curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/certificates/$serial" >"$W/st"
[ "$(cat "$W/st")" = 200 ] && [ "$(field status)" = issued ] || fail "status: $(cat "$W/r.json")"
field certificate | cmp -s - "$W/leaf.crt" || fail "status returns another certificate"
[ -n "$(field not_after)" ] || fail "status has no not_after"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' "$URL/v1/certificates/$serial")
[ "$st" = 401 ] || fail "status without a credential answered $st"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/certificates/00ff00")
[ "$st" = 404 ] && [ "$(code)" = notFound ] || fail "an unknown serial answered $st"

# --- CA endpoints
curl -fsS "$URL/ca/issuing-1.pem" | cmp -s - <(openssl x509 -in "$P/public/issuing-1.crt") \
  || curl -fsS "$URL/ca/issuing-1.pem" | cmp -s - "$P/public/issuing-1.crt" || fail "/ca/issuing-1.pem differs"
curl -fsS "$URL/ca/issuing-1.crt" | openssl x509 -inform DER -noout -subject | grep -q "Issuing" \
  || fail "/ca/issuing-1.crt is not the DER certificate"
[ "$(curl -fsS "$URL/ca/issuing-1/chain.pem" | grep -c 'BEGIN CERTIFICATE')" = 2 ] || fail "chain.pem"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' "$URL/ca/nope.pem"); [ "$st" = 404 ] || fail "/ca/nope.pem: $st"

# --- authentication and authorization
st=$(post "$W/leaf.json" ""); [ "$st" = 401 ] && [ "$(code)" = unauthorized ] || fail "no token: $st"
curl -s -o /dev/null -D "$W/h" --data-binary @"$W/leaf.json" "$URL/v1/certificates"
grep -qi '^WWW-Authenticate: Bearer' "$W/h" || fail "401 without WWW-Authenticate"
st=$(post "$W/leaf.json" "not-the-token"); [ "$st" = 401 ] || fail "a wrong token answered $st"
body "$W/leaf.csr" subordinate-ca >"$W/sub.json"
st=$(post "$W/sub.json"); [ "$st" = 403 ] && [ "$(code)" = forbidden ] || fail "a profile not allowed: $st"

# --- policy refusals
csr evil.example.org out; body "$W/out.csr" tls-server >"$W/out.json"
st=$(post "$W/out.json"); [ "$st" = 400 ] && [ "$(code)" = policyViolation ] || fail "outside name: $st $(cat "$W/r.json")"
openssl req -new -newkey rsa:1024 -nodes -keyout "$W/weak.key" -subj "/CN=weak.example.test" \
  -addext "subjectAltName=DNS:weak.example.test" -out "$W/weak.csr" 2>/dev/null
body "$W/weak.csr" tls-server >"$W/weak.json"
st=$(post "$W/weak.json"); [ "$st" = 400 ] && [ "$(code)" = badKey ] || fail "RSA-1024: $st $(cat "$W/r.json")"
python3 -c 'import json;print(json.dumps({"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n","profile":"tls-server"}))' >"$W/bad.json"
st=$(post "$W/bad.json"); [ "$st" = 400 ] && [ "$(code)" = badCSR ] || fail "a broken CSR: $st"

# --- methods and limits
st=$(curl -s -o "$W/r.json" -D "$W/h" -w '%{http_code}' -X DELETE "$URL/v1/certificates")
[ "$st" = 405 ] && grep -qi '^Allow: POST' "$W/h" || fail "DELETE answered $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/healthz"); [ "$st" = 405 ] || fail "POST /healthz: $st"
head -c 2000000 /dev/zero | tr '\0' A >"$W/big"
st=$(post "$W/big"); [ "$st" = 413 ] || fail "a 2 MB body answered $st"
head -c 70000 /dev/zero | tr '\0' A >"$W/mid"
st=$(post "$W/mid"); [ "$st" = 413 ] || fail "a 70 KB body answered $st"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "X-Pad: $(head -c 9000 /dev/zero | tr '\0' a)" "$URL/healthz")
[ "$st" = 431 ] && [ "$(code)" = tooLarge ] || fail "9 KB of headers answered $st"

# --- hostile bodies: each refused with 400, daemon still serving
i=0
for b in '' '{' '[]' '"x"' '{"csr":1,"profile":"tls-server"}' '{"csr":"a","csr":"b","profile":"tls-server"}' \
  '{"csr":"a","profile":"tls-server","extra":1}' '{"csr":"\u0000","profile":"tls-server"}' \
  '{"csr":"\ud800","profile":"tls-server"}' '{"profile":"../../etc/passwd","csr":"x"}' \
  "$(printf '{"csr":"\xc0\xaf","profile":"tls-server"}')" "$(printf '{"csr":"a\x01","profile":"tls-server"}')" \
  "$(python3 -c 'print("["*5000)')" '{"csr":"x","profile":"tls-server"} trailing'; do
  printf '%s' "$b" >"$W/h$i.json"
  st=$(post "$W/h$i.json"); [ "$st" = 400 ] || fail "hostile body $i answered $st: $(cat "$W/r.json")"
  i=$((i + 1))
done
curl -fsS "$URL/healthz" >/dev/null || fail "signetd stopped serving after hostile input"

# --- keep-alive: two requests on one connection
curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$URL/healthz" "$URL/healthz" >"$W/nc"
[ "$(paste -sd+ "$W/nc" | bc)" = 1 ] || fail "keep-alive: $(cat "$W/nc") connects for two requests"

# --- metrics
curl -fsS "$URL/metrics" >"$W/m" || fail "/metrics"
grep -q '^signet_issuance_total{profile="tls-server",outcome="issued"} 1$' "$W/m" || fail "issued count: $(grep tls-server "$W/m" | head -3)"
grep -q '^signet_issuance_total{profile="tls-server",outcome="badKey"} 1$' "$W/m" || fail "badKey count"
grep -q '^signet_hsm_breaker_state{token="online"} 0$' "$W/m" || fail "no breaker state"
grep -q '^signet_store_commit_batch_max ' "$W/m" || fail "no commit batch metric"
grep -q '^signet_issuance_seconds_count{profile="tls-server"} ' "$W/m" || fail "no latency histogram"

# --- SIGTERM
kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
echo "PASS: enrollment API"
