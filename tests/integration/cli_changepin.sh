#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet hsm change-pin on the demo's online token while signetd issues: a wrong old PIN is
# refused with a clear message and changes nothing (token and pin file); the change rewrites
# hsm/online.pin (0600) atomically; signetd, sent SIGHUP, keeps issuing with no failed request;
# the old PIN no longer logs in, the new one does, and signetd restarts with it. A quorum token
# is refused (only a ceremony changes it); a PIN is never taken from argv.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
LPID=""; it_kill_at_exit LPID

it_demo_init
export SOFTHSM2_CONF=$P/hsm/softhsm2.conf
login_ok() { pkcs11-tool --module "$MOD" --token-label signet-online -l -p "$1" -O >/dev/null 2>&1; }
OLD=$(cat "$P/hsm/online.pin")
it_daemon_start --foreground
csr pin.example.test l; body "$W/l.csr" tls-server >"$W/b.json"
# load: sequential issuance until told to stop; every status goes to codes.txt
( while [ ! -e "$W/stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data-binary @"$W/b.json" "$URL/v1/certificates" >>"$W/codes.txt"
  done ) & LPID=$!
sleep 1

# a wrong old PIN: refused, nothing changed
printf 'not-the-pin' >"$W/wrong"; printf 'n3w-PIN-2468' >"$W/new"; chmod 600 "$W/wrong" "$W/new"
sum=$(sha256sum <"$P/hsm/online.pin")
if sig hsm change-pin --token online --old-pin-file "$W/wrong" --new-pin-file "$W/new" >"$W/o1" 2>&1; then
  fail "a wrong old PIN changed the PIN"; fi
grep -q "the old PIN is wrong" "$W/o1" || fail "wrong old PIN not explained: $(cat "$W/o1")"
grep -q "Nothing was changed" "$W/o1" || fail "the refusal does not say nothing changed: $(cat "$W/o1")"
grep -q "n3w-PIN\|not-the-pin" "$W/o1" && fail "a PIN appears in the message"
[ "$(sha256sum <"$P/hsm/online.pin")" = "$sum" ] || fail "the pin file changed after a refusal"
login_ok "$OLD" || fail "the old PIN no longer logs in after a refused change"
# PINs are never taken from argv
if sig hsm change-pin --token online --old-pin "$OLD" --new-pin x >"$W/o2" 2>&1; then fail "--old-pin accepted"; fi
# a quorum token: only a ceremony
if sig hsm change-pin --token root --old-pin-file "$W/wrong" --new-pin-file "$W/new" >"$W/o3" 2>&1; then
  fail "the quorum token's PIN was changed"; fi
grep -q "ceremony" "$W/o3" || fail "quorum refusal does not point to a ceremony: $(cat "$W/o3")"
# a new PIN file that is readable by others is refused (secret_load's rule), nothing changed
cp "$W/new" "$W/new644"; chmod 644 "$W/new644"
if sig hsm change-pin --token online --old-pin-file "$P/hsm/online.pin" --new-pin-file "$W/new644" >"$W/o4" 2>&1; then
  fail "a world-readable new PIN file was used"; fi
login_ok "$OLD" || fail "the PIN changed after a refused new-PIN file"

# the change, while signetd issues; then SIGHUP
cp "$P/hsm/online.pin" "$W/old"
sig hsm change-pin --token online --old-pin-file "$W/old" --new-pin-file "$W/new" >"$W/o5" 2>&1 \
  || fail "change-pin: $(cat "$W/o5")"
grep -q "online.pin rewritten" "$W/o5" || fail "the pin file was not reported rewritten: $(cat "$W/o5")"
[ "$(cat "$P/hsm/online.pin")" = "n3w-PIN-2468" ] || fail "online.pin does not hold the new PIN"
[ "$(stat -c %a "$P/hsm/online.pin")" = 600 ] || fail "online.pin is not 0600"
login_ok "$OLD" && fail "the old PIN still logs in"
login_ok "n3w-PIN-2468" || fail "the new PIN does not log in"
kill -HUP "$DPID"
sleep 2
touch "$W/stop"; wait "$LPID"; LPID=""
n=$(wc -l <"$W/codes.txt"); bad=$(grep -vc '^201$' "$W/codes.txt" || true)
[ "$n" -ge 5 ] || fail "too few requests during the change ($n)"
[ "$bad" = 0 ] || fail "$bad of $n requests failed during the PIN change: $(sort "$W/codes.txt" | uniq -c | tr '\n' ' ')"
kill -0 "$DPID" 2>/dev/null || fail "signetd exited after SIGHUP"
grep -q "n3w-PIN" "$W/d.log" && fail "the new PIN appears in signetd's log"
# a restart logs in with the new PIN from the rewritten file
kill "$DPID"; wait "$DPID" || true; DPID=""
it_daemon_start --foreground
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$W/b.json" "$URL/v1/certificates")
[ "$st" = 201 ] || fail "issuance after a restart with the new PIN answered $st"
echo "PASS: hsm change-pin ($n requests during the change, none failed)"
