#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The approval queue (docs/approval.md) on a demo PKI with a manual-approval profile:
# `signet issue` queues instead of issuing and names the request; `signet request list` shows it;
# `request approve` issues a certificate that OpenSSL (-x509_strict) verifies against the chain;
# `request reject` records the reason; deciding twice, unknown ids and bad usage fail with one
# clear line. Over HTTP: a client reads its own request with GET /v1/requests/{id} (pending,
# then approved with the certificate); another client and no credential cannot.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init

# a manual-approval copy of tls-server, issued by issuing-1 and allowed to the demo client
sed 's/^approval *=.*/approval    = manual/' "$P/policies/tls-server.conf" >"$P/policies/manual-server.conf"
grep -q '^approval *= manual' "$P/policies/manual-server.conf" || fail "no manual profile"
sed -i 's/^profiles = tls-server, tls-client, ocsp-responder/profiles = tls-server, manual-server, tls-client, ocsp-responder/' "$CONF"
sed -i 's/^profiles     = tls-server, tls-client$/profiles     = tls-server, tls-client, manual-server/' "$CONF"
grep -q 'manual-server, tls-client, ocsp' "$CONF" && grep -q 'tls-client, manual-server' "$CONF" \
  || fail "could not add manual-server to signet.conf"
# a second client, to show that one client cannot read another's request
OTHER=other-client-token-$RANDOM$RANDOM
printf '\n[client.other]\ntoken_sha256 = %s\nprofiles     = tls-server\n' \
  "$(printf %s "$OTHER" | sha256sum | cut -d' ' -f1)" >>"$CONF"
sed -i 's/^clients = client.demo$/clients = client.demo, client.other/' "$CONF"

# --- signet issue queues: a line naming the request, no certificate, nothing issued
csr a.example.test a
before=$(sig --json cert list --ca issuing-1 | python3 -c 'import json,sys;print(len(json.load(sys.stdin)))')
rc=0; sig issue --ca issuing-1 --profile manual-server --csr "$W/a.csr" --out "$W/a.crt" >"$W/issue.out" 2>"$W/issue.err" || rc=$?
# 3 is the documented "queued" status (docs/approval.md)
[ "$rc" = 3 ] || fail "issue with a manual profile exited $rc, not 3 (queued)"
grep -q "queued" "$W/issue.out" "$W/issue.err" || fail "issue did not say queued: $(cat "$W/issue.err")"
ID=$(grep -ho 'request [0-9a-f]\{16\}' "$W/issue.out" "$W/issue.err" | head -1 | cut -d' ' -f2)
[ -n "$ID" ] || fail "issue did not name the request: $(cat "$W/issue.err")"
[ ! -e "$W/a.crt" ] || fail "a queued request wrote a certificate"
after=$(sig --json cert list --ca issuing-1 | python3 -c 'import json,sys;print(len(json.load(sys.stdin)))')
[ "$after" = "$before" ] || fail "a queued request added a certificate record ($before -> $after)"

# --- a request the profile refuses is refused, not queued
csr evil.example.org bad
rc=0; sig issue --ca issuing-1 --profile manual-server --csr "$W/bad.csr" >/dev/null 2>"$W/bad.err" || rc=$?
[ "$rc" = 1 ] && ! grep -q queued "$W/bad.err" || fail "a refused request was queued: $(cat "$W/bad.err")"

# --- list: the table and JSON show it pending
sig request list >"$W/list.txt" || fail "request list"
grep -E "^$ID +pending +issuing-1 +manual-server " "$W/list.txt" >/dev/null || fail "list: $(cat "$W/list.txt")"
grep -q "a.example.test" "$W/list.txt" || fail "list does not show the CSR's subject"
[ "$(grep -c '^[0-9a-f]\{16\} ' "$W/list.txt")" = 1 ] || fail "list shows more than the one request"
sig --json request list --status pending >"$W/list.json"
python3 - "$W/list.json" "$ID" <<'PY' || fail "request list --json: $(cat "$W/list.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 1 and v[0]["id"] == sys.argv[2] and v[0]["status"] == "pending", v
assert v[0]["profile"] == "manual-server" and v[0]["ca"] == "issuing-1", v
PY
[ "$(sig --json request list --status approved)" = "[]" ] || fail "an approved request before any approval"

# --- over HTTP: the client reads its own request; others cannot
it_daemon_start --foreground
get() { curl -s -o "$W/r.json" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$URL/v1/requests/$1"; }
csr h.example.test h
body "$W/h.csr" manual-server >"$W/h.json"
st=$(curl -s -o "$W/r.json" -D "$W/hdr" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary @"$W/h.json" "$URL/v1/certificates")
HID=$(sig --json request list --status pending | python3 -c '
import json,sys
print([r["id"] for r in json.load(sys.stdin) if r["requester"] == "client:demo"][0])') \
  || fail "POST of a manual-profile request did not queue it (HTTP $st: $(cat "$W/r.json"))"
[ "$st" = 202 ] || fail "POST of a queued request answered $st, not 202: $(cat "$W/r.json")"
[ "$(field request)" = "$HID" ] && [ "$(field status)" = pending ] \
  || fail "202 body: $(cat "$W/r.json")"
grep -qi "^Location: /v1/requests/$HID" "$W/hdr" || fail "202 without its Location"
st=$(get "$HID" "$TOKEN"); [ "$st" = 200 ] && [ "$(field status)" = pending ] \
  || fail "GET own pending request: $st $(cat "$W/r.json")"
[ "$(field request)" = "$HID" ] && [ -z "$(field certificate)" ] \
  || fail "pending document: $(cat "$W/r.json")"
st=$(get "$HID" "$OTHER"); [ "$st" = 404 ] || fail "another client read the request: $st"
st=$(get "$HID" ""); [ "$st" = 401 ] || fail "no credential answered $st"
st=$(get "$ID" "$TOKEN"); [ "$st" = 404 ] || fail "the demo client read the CLI's request: $st"
st=$(get "0123456789abcdef" "$TOKEN"); [ "$st" = 404 ] || fail "unknown id answered $st"
st=$(get "../../etc/passwd" "$TOKEN"); [ "$st" = 404 ] || fail "a malformed id answered $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOKEN" "$URL/v1/requests/$HID")
[ "$st" = 405 ] || fail "DELETE answered $st"

# --- approve: a certificate that verifies against the chain, recorded with its serial
sig request approve --id "$ID" --out "$W/a.crt" >"$W/approve.out" 2>&1 || fail "approve: $(cat "$W/approve.out")"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/a.crt" \
  >/dev/null || fail "the approved certificate does not verify"
openssl x509 -in "$W/a.crt" -noout -pubkey | cmp -s - <(openssl pkey -in "$W/a.key" -pubout) \
  || fail "the approved certificate does not carry the CSR's key"
serial=$(openssl x509 -in "$W/a.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
grep -q "serial $serial" "$W/approve.out" || fail "approve did not print the serial: $(cat "$W/approve.out")"
sig request list --status approved | grep -E "^$ID +approved .*serial $serial" >/dev/null \
  || fail "list does not show the approval: $(sig request list)"
sig cert show --ca issuing-1 --serial "$serial" >"$W/show.txt" || fail "cert show of the approved serial"
grep -q "issued" "$W/show.txt" || fail "the approved certificate is not recorded as issued"

sig request approve --id "$HID" --out "$W/h.crt" >/dev/null 2>&1 || fail "approve the HTTP request"
st=$(get "$HID" "$TOKEN"); [ "$st" = 200 ] && [ "$(field status)" = approved ] \
  || fail "GET after approval: $st $(cat "$W/r.json")"
field certificate >"$W/h2.crt"
cmp -s <(openssl x509 -in "$W/h2.crt") <(openssl x509 -in "$W/h.crt") || fail "GET returns another certificate"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/h2.crt" \
  >/dev/null || fail "the certificate from GET does not verify"
kill -TERM "$DPID"; wait "$DPID" || true; DPID=""

# --- reject another, with a reason
csr b.example.test b
rc=0; sig issue --ca issuing-1 --profile manual-server --csr "$W/b.csr" >"$W/b.out" 2>&1 || rc=$?
BID=$(grep -o 'request [0-9a-f]\{16\}' "$W/b.out" | head -1 | cut -d' ' -f2)
[ -n "$BID" ] || fail "second request not queued: $(cat "$W/b.out")"
sig request reject --id "$BID" --reason "not one of ours" >"$W/rej.out" 2>&1 || fail "reject: $(cat "$W/rej.out")"
sig --json request list --status rejected >"$W/rej.json"
python3 - "$W/rej.json" "$BID" <<'PY' || fail "rejected list: $(cat "$W/rej.json")"
import json, sys
v = json.load(open(sys.argv[1]))
assert [r["id"] for r in v] == [sys.argv[2]] and v[0]["reason"] == "not one of ours", v
assert v[0]["decided_by"].startswith("cli:uid="), v
PY

# --- deciding again, unknown ids, bad usage: one clear line each
expect() { # expect STATUS PATTERN command...: exit status and one line matching PATTERN
  local want=$1 pat=$2; shift 2; local rc=0
  "$@" >"$W/x.out" 2>"$W/x.err" || rc=$?
  [ "$rc" = "$want" ] || fail "$* exited $rc, not $want: $(cat "$W/x.err")"
  [ "$(wc -l <"$W/x.err")" = 1 ] && grep -q "$pat" "$W/x.err" || fail "$*: said '$(cat "$W/x.err")'"
}
expect 1 "is not pending: approved by cli:uid=.*serial $serial" sig request approve --id "$ID"
expect 1 "is not pending: rejected by .*not one of ours" sig request approve --id "$BID"
expect 1 "is not pending: approved" sig request reject --id "$ID" --reason again
expect 1 "is not pending: rejected" sig request reject --id "$BID" --reason again
expect 1 "no such request" sig request approve --id 0123456789abcdef
expect 1 "no such request" sig request reject --id nothex --reason x
expect 1 "no such request" sig request show --id ffffffffffffffff
expect 2 "required" sig request approve
expect 2 "" sig request frobnicate
expect 2 "status" sig request list --status maybe
sig request show --id "$BID" | grep -q "^reason: *not one of ours" || fail "request show"
echo "PASS: approval queue"
