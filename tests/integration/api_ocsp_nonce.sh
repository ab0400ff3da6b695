#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live nonce mode ([ca.NAME] ocsp_nonce = yes, RFC 9654): a request with a nonce is signed live by
# the ca process and echoes the nonce, verified by `openssl ocsp` (which checks the echo); one
# without a nonce still gets the pre-signed response; beyond ocsp_nonce_rate the answer is
# tryLater, and the web process never signs anything itself.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
sed -i '/^\[ca.issuing-1\]/a ocsp_nonce = yes\nocsp_nonce_rate = 2' "$CONF"
cat "$P/public/issuing-1.crt" "$P/public/root.crt" >"$W/cas.pem"
it_daemon_start --foreground

csr g.example.test g; body "$W/g.csr" tls-server >"$W/g.json"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary @"$W/g.json" "$URL/v1/certificates")
[ "$st" = 201 ] || fail "enrollment answered $st"
python3 -c 'import json,sys;open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["certificate"])' \
  "$W/r.json" "$W/g.crt"

q() { openssl ocsp -issuer "$P/public/issuing-1.crt" -cert "$W/g.crt" -url "$URL/ocsp" \
  -CAfile "$W/cas.pem" "$@" 2>&1; }
# without a nonce: the pre-signed response, once the refresher has signed it
ok=0; for _ in $(seq 1 100); do q -no_nonce | grep -q ": good" && { ok=1; break; }; sleep 0.1; done
[ $ok = 1 ] || fail "no pre-signed good answer within 10 s"
out=$(q -no_nonce); echo "$out" | grep -q "Response verify OK" || fail "pre-signed answer: $out"
sleep 1.2 # a full rate bucket
# with a nonce: signed live, nonce echoed (openssl warns "no nonce in response" otherwise)
out=$(q); echo "$out" | grep -q "Response verify OK" && echo "$out" | grep -q ": good" \
  || fail "live answer does not verify: $out"
echo "$out" | grep -qi "nonce" && fail "the live answer does not echo the nonce: $out"
# beyond the rate (2/s): tryLater, and the daemon keeps serving
for _ in $(seq 1 8); do q >>"$W/burst.log" || true; done
grep -qi "trylater\|try later" "$W/burst.log" || fail "8 live requests at once were all signed (rate 2/s)"
curl -fsS "$URL/metrics" | grep -Eq '^signet_ocsp_live_signed_total [1-9]' || fail "no live signatures counted"
curl -fsS "$URL/metrics" | grep -Eq '^signet_ocsp_live_refused_total [1-9]' || fail "no refusals counted"
curl -fsS "$URL/healthz" >/dev/null || fail "signetd stopped serving"
echo "ok: live nonce responses echo the nonce, verify, and are rate-limited"
