#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd on a demo PKI: /healthz answers 200 with the token logged in, unknown paths get a
# problem+json 404, SIGTERM exits 0, and a wrong online PIN stops start-up with a clear message
# after one login attempt (the daemon does not keep retrying the PIN).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init

it_daemon_start --foreground
body=$(curl -sS -w ' %{http_code}' "$URL/healthz") || fail "no answer on /healthz"
[ "$body" = "ok
 200" ] || [ "$body" = "ok 200" ] || fail "/healthz said '$body', wanted 'ok' and 200"

ct=$(curl -sS -o "$W/nf.json" -w '%{http_code} %{content_type}' "$URL/no/such/thing")
[ "$ct" = "404 application/problem+json" ] || fail "unknown path answered '$ct'"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]==404 and d["type"]=="urn:signet:error:notFound", d' "$W/nf.json" \
  || fail "404 body is not the problem+json of SPEC.md"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$URL/healthz")
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
