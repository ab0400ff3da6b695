#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd on a demo PKI: /healthz answers 200 with the token logged in, unknown paths get a
# problem+json 404, SIGTERM exits 0, and a wrong online PIN stops start-up with a clear message
# after one login attempt (the daemon does not keep retrying the PIN).
set -euo pipefail
B=${SIGNET_BUILD:-build}
W=$(mktemp -d /tmp/signet-it.XXXXXX)
DPID=""
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$W/d.log" ] && tail -5 "$W/d.log" >&2; exit 1; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

"$B/signet" demo init "$W/pki" >"$W/demo.log" 2>&1 || { cat "$W/demo.log"; fail "demo init"; }
CONF=$W/pki/signet.conf

P=$(port)
"$B/signetd" -c "$CONF" --listen "127.0.0.1:$P" --foreground >"$W/d.log" 2>&1 & DPID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$P/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
body=$(curl -sS -w ' %{http_code}' "http://127.0.0.1:$P/healthz") || fail "no answer on /healthz"
[ "$body" = "ok
 200" ] || [ "$body" = "ok 200" ] || fail "/healthz said '$body', wanted 'ok' and 200"

ct=$(curl -sS -o "$W/nf.json" -w '%{http_code} %{content_type}' "http://127.0.0.1:$P/no/such/thing")
[ "$ct" = "404 application/problem+json" ] || fail "unknown path answered '$ct'"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]==404 and d["type"]=="urn:signet:error:notFound", d' "$W/nf.json" \
  || fail "404 body is not the problem+json of SPEC.md"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$P/healthz")
[ "$st" = 405 ] || fail "POST /healthz answered $st, wanted 405"

kill -TERM "$DPID"
rc=0; wait "$DPID" || rc=$?
DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM, wanted 0"

# A wrong PIN: start-up fails at once, says why, and the PIN is not in the log.
pin=$(cat "$W/pki/hsm/online.pin")
printf 'wrong-pin-%s\n' "$RANDOM" >"$W/pki/hsm/online.pin"
rc=0; timeout 20 "$B/signetd" -c "$CONF" --listen "127.0.0.1:$(port)" >"$W/d2.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "signetd with a wrong PIN exited $rc, wanted 1"
grep -qi "pin" "$W/d2.log" || fail "the start-up error does not mention the PIN: $(cat "$W/d2.log")"
grep -q "wrong-pin" "$W/d2.log" && fail "the log contains the PIN itself"
printf '%s\n' "$pin" >"$W/pki/hsm/online.pin"

# A credential file others can read is refused with a message saying so.
chmod 0644 "$W/pki/hsm/online.pin"
rc=0; timeout 20 "$B/signetd" -c "$CONF" --listen "127.0.0.1:$(port)" >"$W/d3.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "chmod 600" "$W/d3.log" || fail "a 0644 PIN file was not refused clearly: $(cat "$W/d3.log")"
echo "PASS: signetd health, errors, shutdown and credential refusal"
