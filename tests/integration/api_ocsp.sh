#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The OCSP responder over HTTP on a demo PKI: certificates issued over the API get pre-signed
# responses that `openssl ocsp` verifies (with the chain and with -VAfile) by POST and by GET,
# good / revoked with its reason / a never-issued serial not good; SHA-256 CertIDs; RFC 5019
# caching headers; GnuTLS ocsptool reads and verifies the answer; hostile requests get
# malformedRequest, unauthorized, 405 or 413; /metrics shows the refresher.
# Needs signetd's ca process to run ca_ocsp_start (see docs/ocsp.md, "Wiring").
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
# enroll NAME: issues NAME over the API; writes $W/NAME.crt and prints the serial
enroll() {
  body "$W/$1.csr" tls-server >"$W/$1.json"
  local st; st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @"$W/$1.json" "$URL/v1/certificates")
  [ "$st" = 201 ] || fail "enrollment of $1 answered $st"
  python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));open(sys.argv[2],"w").write(d["certificate"]);print(d["serial"])' \
    "$W/r.json" "$W/$1.crt"; }
# q ARGS...: openssl ocsp by POST against signetd, verified with the chain
q() { openssl ocsp -issuer "$P/public/issuing-1.crt" -url "$URL/ocsp" -CAfile "$W/cas.pem" -no_nonce "$@" 2>&1; }
# until_ok SECONDS CMD...: retries CMD (the refresher signs asynchronously)
until_ok() { local n=$(($1 * 10)); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }
hdr() { grep -i "^$1:" "$W/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

it_demo_init
cat "$P/public/issuing-1.crt" "$P/public/root.crt" >"$W/cas.pem"
it_daemon_start --foreground

# --- the delegated responder is published
until_ok 10 test -s "$P/public/issuing-1-ocsp.crt" || fail "no public/issuing-1-ocsp.crt: is ca_ocsp_start wired?"
R=$P/public/issuing-1-ocsp.crt
openssl x509 -in "$R" -noout -ext extendedKeyUsage | grep -q "OCSP Signing" || fail "responder EKU is not OCSP Signing"
openssl x509 -in "$R" -noout -text | grep -q "OCSP No Check" || fail "responder lacks ocsp-nocheck"
openssl verify -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" -purpose ocsphelper "$R" >/dev/null \
  || fail "responder certificate does not chain to the root"

# --- good, by POST, verified with the chain, with -VAfile and with a SHA-256 CertID
csr good.example.test good.example.test; csr bad.example.test bad.example.test
enroll good.example.test >/dev/null; bad=$(enroll bad.example.test)
good_ok() { q -cert "$W/good.example.test.crt" >"$W/o" && grep -q "Response verify OK" "$W/o" && grep -q ": good" "$W/o"; }
until_ok 10 good_ok || { cat "$W/o"; fail "good certificate not answered good and verified"; }
openssl ocsp -issuer "$P/public/issuing-1.crt" -cert "$W/good.example.test.crt" -url "$URL/ocsp" -no_nonce \
  -VAfile "$R" 2>&1 | grep -q ": good" || fail "-VAfile with the responder certificate does not verify"
q -sha256 -cert "$W/good.example.test.crt" | grep -q ": good" || fail "SHA-256 CertID not answered good"

# --- revoked with its reason (API when served, else the operator tool; the refresher catches up)
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{"reason":"keyCompromise"}' "$URL/v1/certificates/$bad/revoke")
if [ "$st" != 200 ]; then
  "$B/signet" -c "$CONF" revoke --ca issuing-1 --serial "$bad" --reason keyCompromise >/dev/null 2>&1 || fail "revocation failed"
fi
bad_ok() { q -cert "$W/bad.example.test.crt" >"$W/o" && grep -q ": revoked" "$W/o"; }
until_ok 10 bad_ok || { cat "$W/o"; fail "revoked certificate not answered revoked within 10 s"; }
grep -q "Reason: keyCompromise" "$W/o" || fail "revocation reason missing"
grep -q "Response verify OK" "$W/o" || fail "revoked answer does not verify"

# --- never issued: unauthorized, never good
out=$(q -serial 0x0123456789abcdef0123 || true)
echo "$out" | grep -q ": good" && fail "a never-issued serial was answered good"
echo "$out" | grep -qi "unauthorized" || fail "a never-issued serial was not answered unauthorized: $out"

# --- GET: standard base64 escaped, URL-safe unpadded, leading //; caching headers
openssl ocsp -issuer "$P/public/issuing-1.crt" -cert "$W/good.example.test.crt" -no_nonce -reqout "$W/req.der" >/dev/null 2>&1
b64=$(python3 -c 'import base64,sys,urllib.parse;print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(),safe=""))' "$W/req.der")
b64u=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(open(sys.argv[1],"rb").read()).decode().rstrip("="))' "$W/req.der")
b64r=$(python3 -c 'import base64,sys;print(base64.b64encode(open(sys.argv[1],"rb").read()).decode())' "$W/req.der")
curl -fsS -D "$W/h" -o "$W/get.der" "$URL/ocsp/$b64" || fail "GET /ocsp/{base64} failed"
openssl ocsp -respin "$W/get.der" -issuer "$P/public/issuing-1.crt" -cert "$W/good.example.test.crt" -CAfile "$W/cas.pem" 2>&1 \
  | grep -q ": good" || fail "GET answer is not a verified good"
[ "$(hdr content-type)" = application/ocsp-response ] || fail "GET Content-Type is $(hdr content-type)"
cc=$(hdr cache-control)
for want in "max-age=" public no-transform must-revalidate; do
  [[ "$cc" == *"$want"* ]] || fail "Cache-Control '$cc' lacks $want"; done
age=${cc#max-age=}; age=${age%%,*}
[ "$age" -gt 0 ] && [ "$age" -le 86400 ] || fail "max-age $age is not within the response's validity"
[[ "$(hdr etag)" =~ ^\"[0-9a-f]{64}\"$ ]] || fail "ETag '$(hdr etag)' is not a quoted SHA-256"
[ -n "$(hdr last-modified)" ] && [ -n "$(hdr expires)" ] || fail "Last-Modified or Expires missing"
curl -fsS -o "$W/get2.der" "$URL/ocsp/$b64u" && cmp -s "$W/get.der" "$W/get2.der" || fail "URL-safe unpadded GET differs"
curl -fsS -o "$W/get3.der" "$URL/ocsp//$b64r" && cmp -s "$W/get.der" "$W/get3.der" || fail "GET with // and raw base64 differs"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/ocsp/$b64")" = 200 ] || fail "HEAD not answered 200"

# --- GnuTLS reads and verifies the response (trusting the issuing CA for the responder)
ocsptool -j --infile "$W/get.der" >/dev/null 2>&1 || ocsptool -j --inder --infile "$W/get.der" >/dev/null 2>&1 \
  || fail "GnuTLS ocsptool cannot read the response"
ocsptool -e --load-trust "$P/public/issuing-1.crt" --infile "$W/get.der" >"$W/gt" 2>&1 || true
grep -q "Verifying OCSP Response: Success" "$W/gt" || { cat "$W/gt"; fail "GnuTLS ocsptool does not verify the response"; }
openssl ocsp -respin "$W/get.der" -resp_text -noverify 2>/dev/null | grep -A1 "Responder Id" | grep -qE "[0-9A-F]{40}" \
  || fail "responder ID is not byKey"

# --- hostile requests
mal() { openssl ocsp -respin "$1" -resp_text -noverify >"$W/mo" 2>&1 || true; grep -qi malformedrequest "$W/mo"; }
echo garbage >"$W/junk"
st=$(curl -s -D "$W/h" -o "$W/junk.der" -w '%{http_code}' -H 'Content-Type: application/ocsp-request' --data-binary @"$W/junk" "$URL/ocsp")
[ "$st" = 200 ] && mal "$W/junk.der" || fail "garbage did not get HTTP 200 malformedRequest ($st)"
[[ "$(hdr cache-control)" == *no-store* ]] || fail "an error answer is cacheable"
{ cat "$W/req.der"; printf 'x'; } >"$W/trail.der"
curl -s -o "$W/trail.out" -H 'Content-Type: application/ocsp-request' --data-binary @"$W/trail.der" "$URL/ocsp"
mal "$W/trail.out" || fail "trailing garbage not malformedRequest"
curl -s -o "$W/badget.der" "$URL/ocsp/not*base64"; mal "$W/badget.der" || fail "bad GET base64 not malformedRequest"
openssl ocsp -md5 -issuer "$P/public/issuing-1.crt" -cert "$W/good.example.test.crt" -no_nonce -reqout "$W/md5.der" >/dev/null 2>&1
curl -s -o "$W/md5.out" -H 'Content-Type: application/ocsp-request' --data-binary @"$W/md5.der" "$URL/ocsp"
mal "$W/md5.out" || fail "an MD5 CertID was not answered malformedRequest"
openssl ocsp -issuer "$P/public/issuing-1.crt" -cert "$W/good.example.test.crt" -cert "$W/bad.example.test.crt" \
  -no_nonce -reqout "$W/two.der" >/dev/null 2>&1
curl -s -o "$W/two.out" -H 'Content-Type: application/ocsp-request' --data-binary @"$W/two.der" "$URL/ocsp"
mal "$W/two.out" || fail "two CertIDs were not answered malformedRequest"
openssl ocsp -issuer "$P/public/root.crt" -cert "$W/good.example.test.crt" -url "$URL/ocsp" -no_nonce -noverify \
  >"$W/o" 2>&1 || true
grep -qi unauthorized "$W/o" || fail "the root as issuer was not answered unauthorized"
head -c 300000 /dev/urandom >"$W/big"
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/ocsp-request' --data-binary @"$W/big" "$URL/ocsp")
[ "$st" = 413 ] || fail "a 300 KB body answered $st, not 413"
st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$W/req.der" "$URL/ocsp")
[ "$st" = 405 ] || fail "PUT /ocsp answered $st, not 405"
curl -fsS "$URL/healthz" >/dev/null || fail "signetd stopped serving after hostile OCSP input"

# --- metrics
curl -fsS "$URL/metrics" >"$W/m"
awk '$1=="signet_ocsp_signed_total"{exit !($2>=2)}' "$W/m" || fail "signet_ocsp_signed_total below 2"
grep -q '^signet_ocsp_stale 0$' "$W/m" || fail "stale responses reported"
grep -q '^signet_ocsp_responders 1$' "$W/m" || fail "signet_ocsp_responders is not 1"
awk -F' ' '/^signet_ocsp_answers_total\{answer="malformedRequest"\}/{exit !($2>=4)}' "$W/m" || fail "malformed answers not counted"
echo "ok: OCSP responder"
