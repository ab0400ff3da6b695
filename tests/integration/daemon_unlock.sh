#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The online token without a PIN on disk: `signetd --split-pin` splits the demo's online PIN into
# 2-of-3 sealed shares; with pin = shares and the PIN file gone, signetd refuses to start without
# shares, with one share, and with a share of the offline root (naming it); with shares 1 and 3
# it starts, issues over HTTP, and after an HSM outage (the fault-injecting module's power loss
# and outage) logs in again by itself with the credential it keeps, and issues again. The PIN
# never appears in the log or in any process's command line.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
online_via_faulthsm "$CONF" "$CONF"
export FAULTHSM_CONTROL=$W/fault.ctl

# --- split the PIN the online token has now
PIN=$(cat "$P/hsm/online.pin")
mkdir -m 700 "$W/u"
for i in 1 2 3; do printf 'custodian %s passphrase\n' "$i" >"$W/u/share-$i.pass"; chmod 600 "$W/u/share-$i.pass"; done
"$B/signetd" -c "$CONF" --split-pin online --quorum 2/3 --shares-dir "$W/u" --pass-dir "$W/u" >"$W/split.log" 2>&1 \
  || fail "split-pin: $(cat "$W/split.log")"
grep -q "token online: 3 shares in $W/u, 2 of them unlock it" "$W/split.log" || fail "split said: $(cat "$W/split.log")"
for i in 1 2 3; do
  [ "$(stat -c %a "$W/u/share-$i.share")" = 600 ] || fail "share $i is not 0600"
  head -1 "$W/u/share-$i.share" | grep -q "share $i of 3 (2 needed)" || fail "share $i does not say what it is"
  grep -qF -- "$PIN" "$W/u/share-$i.share" && fail "share $i holds the PIN in clear"
done
"$B/signetd" -c "$CONF" --split-pin root --quorum 2/3 --shares-dir "$W/r" --pass-dir "$W/u" >"$W/o" 2>&1 \
  && fail "split-pin of the offline root accepted"
grep -q "token signet-root is offline (pin = quorum" "$W/o" || fail "root split refused with: $(cat "$W/o")"

# --- no PIN on disk any more
sed -i 's|^pin *= *file:hsm/online.pin|pin    = shares|' "$CONF"
grep -q '^pin    = shares' "$CONF" || fail "could not set pin = shares"
rm "$P/hsm/online.pin"

PORT=$(port); URL=http://127.0.0.1:$PORT
sh() { echo "$W/u/share-$1.share:$W/u/share-$1.pass"; }
# start_refused WHY ARGS...: signetd exits 1 before serving, saying WHY
start_refused() { local why=$1; shift
  if "$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" "$@" </dev/null >"$W/r.log" 2>&1; then fail "started with: $*"; fi
  grep -qF -- "$why" "$W/r.log" || fail "expected '$why', got: $(tail -3 "$W/r.log")"; }
start_refused "start signetd with --unlock-with-shares FILE[:PASSFILE]"
start_refused "1 distinct share(s) given, 2 needed" --unlock-with-shares "$(sh 1)"
start_refused "1 distinct share(s) given, 2 needed" --unlock-with-shares "$(sh 1)" --unlock-with-shares "$(sh 1)"
start_refused "$P/custodians/share-2.share: this share belongs to no pin = shares token" \
  --unlock-with-shares "$(sh 1)" --unlock-with-shares "$P/custodians/share-2.share:$P/custodians/share-2.pass"
printf 'wrong\n' >"$W/wrong.pass"; chmod 600 "$W/wrong.pass"
start_refused "wrong passphrase for share 3" --unlock-with-shares "$(sh 1)" --unlock-with-shares "$W/u/share-3.share:$W/wrong.pass"

# --- unlocked with shares 1 and 3
it_daemon_start --unlock-with-shares "$(sh 1)" --unlock-with-shares "$(sh 3)"
grep -q "unlocked by custodians' shares: online: shares 1,3" "$W/d.log" || fail "no unlock line in the log"
for p in $(pgrep -P "$DPID") "$DPID"; do
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$PIN" && fail "the PIN is on process $p's command line"
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qF -- "$PIN" && fail "the PIN is in process $p's environment"
done

issue() { # issue NAME: POST a CSR for NAME, prints the HTTP status
  csr "$1" "$1"; body "$W/$1.csr" tls-server >"$W/$1.json"
  curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$W/$1.json" "$URL/v1/certificates"; }
st=$(issue a.example.test); [ "$st" = 201 ] || fail "issuance after the unlock answered $st: $(cat "$W/r.json")"

# --- an HSM outage: power lost (sessions gone, nobody logged in), then the device away 400 ms
reconnects() { curl -fsS "$URL/metrics" | awk '/^signet_hsm_reconnects_total\{token="online"\}/{print $2}'; }
r0=$(reconnects)
# (an event fires on the first PKCS#11 call after the control file changes: /healthz probes)
printf 'outage 400\n' >"$W/f.tmp" && mv "$W/f.tmp" "$FAULTHSM_CONTROL"
curl -s -o /dev/null "$URL/healthz"
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$st" = 503 ] || fail "/healthz during the outage answered $st"
sleep 1
st=$(issue b.example.test); [ "$st" = 201 ] || { sleep 1; st=$(issue c.example.test); }
[ "$st" = 201 ] || fail "issuance after the outage answered $st: $(cat "$W/r.json")"
r1=$(reconnects)
[ "${r1:-0}" -gt "${r0:-0}" ] || fail "no reconnect after the outage (before $r0, after $r1)"
openssl verify -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" \
  <(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["certificate"])' "$W/r.json") >/dev/null \
  || fail "the certificate issued after the outage does not verify"
grep -qF -- "$PIN" "$W/d.log" && fail "the PIN is in the log"

kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
echo "PASS: online token unlocked by shares"
