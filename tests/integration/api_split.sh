#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd's process split (docs/architecture.md): two signetd processes, the ca process (the one
# started) and its web child; the web child never maps the PKCS#11 module, holds no descriptor of
# the PIN file or the store's writer, has no PIN in its environment and runs unprivileged when
# started as root; SIGKILL to the web child: it is started again and issuance works; SIGTERM to
# the ca process: both exit, status 0; SIGKILL to the ca process: the web child exits by itself.
set -eEuo pipefail
# a command that stops the script under set -e says which (a bare exit status says nothing)
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR
. "$(dirname "$0")/lib/common.sh"
IT_LOG_LINES=8
it_workdir
D2=""; it_kill_at_exit D2
# (ps exits 1 when there is none, e.g. between a web child's death and its restart)
children() { { ps -o pid= --ppid "$1" -o comm= || true; } | awk '$2=="signetd"{print $1}'; }

it_demo_init
PIN=$(cat "$P/hsm/online.pin")
csr www.example.test l; body "$W/l.csr" tls-server >"$W/req.json"
post() { curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary @"$W/req.json" "$URL/v1/certificates"; }

it_daemon_start
[ "$(post)" = 201 ] || fail "enrollment through the split: $(cat "$W/r.json")"

# --- two processes: the ca process (started, no listening socket) and one web child
WEB=$(children "$DPID"); [ -n "$WEB" ] && [ "$(echo "$WEB" | wc -l)" = 1 ] || fail "no single web child of $DPID: '$WEB'"
grep -q signetd "/proc/$DPID/comm" || fail "the ca process is not signetd"
# the listening socket is the child's: only its descriptors hold a socket bound to PORT
inode() { awk -v p="$(printf ':%04X' "$PORT")" '$2 ~ p"$" && $4=="0A"{print $10}' /proc/net/tcp; }
LI=$(inode); [ -n "$LI" ] || fail "no listening socket on $PORT"
ls -l "/proc/$WEB/fd" | grep -q "socket:\[$LI\]" || fail "the web child does not hold the listening socket"
ls -l "/proc/$DPID/fd" | grep -q "socket:\[$LI\]" && fail "the ca process holds the listening socket"

# --- the web child holds no HSM, no PIN, no store writer
grep -q libsofthsm2 "/proc/$DPID/maps" || fail "the ca process has no PKCS#11 module mapped (test is blind)"
grep -q libsofthsm2 "/proc/$WEB/maps" && fail "the web child maps the PKCS#11 module"
ls -l "/proc/$WEB/fd" | grep -q 'online.pin' && fail "the web child has the PIN file open"
ls -l "/proc/$WEB/fd" | grep -q 'softhsm\|/tokens/' && fail "the web child has token files open"
tr '\0' '\n' <"/proc/$WEB/environ" | grep -qF "$PIN" && fail "the web child's environment holds the PIN"
tr '\0' '\n' <"/proc/$WEB/cmdline" | grep -qF "$PIN" && fail "the web child's argv holds the PIN"
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$WEB/status" || fail "the web child may gain privileges (no PR_SET_NO_NEW_PRIVS)"
if [ "$(id -u)" = 0 ]; then
  uid=$(awk '/^Uid:/{print $2}' "/proc/$WEB/status")
  [ "$uid" != 0 ] || fail "the web child kept root (log: $(grep -i 'web:' "$W/d.log" | tail -2))"
  grep -q "web: running as" "$W/d.log" || fail "no log line saying which user the web child runs as"
fi
# its store view is read-only: the writable data file is mapped/opened for writing only by the ca process
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/certificates/$(python3 -c 'import json;print(json.load(open("'"$W/r.json"'"))["serial"])')")" = 200 ] \
  || fail "the web child's read-only store view does not serve the new certificate"

# --- metrics: the web child's counters and the ca process's figures
curl -fsS "$URL/metrics" >"$W/m.txt" || fail "/metrics"
grep -q '^signet_ca_process_up 1$' "$W/m.txt" || fail "/metrics has no answer from the ca process"
grep -q '^signet_hsm_breaker_state{token="[^"]*"} 0$' "$W/m.txt" || fail "/metrics lacks the HSM breaker state"
grep -q '^signet_store_commit_batch_max [1-9]' "$W/m.txt" || fail "/metrics lacks the store commit figures"
grep -q '^signet_issuance_total{profile="tls-server",outcome="issued"} 1$' "$W/m.txt" || fail "/metrics lacks the web counters"

# --- SIGKILL to the web child: the ca process says so, starts another, issuance works again
kill -9 "$WEB"
for _ in $(seq 1 100); do NEW=$(children "$DPID"); [ -n "$NEW" ] && [ "$NEW" != "$WEB" ] && break; sleep 0.1; done
[ -n "$NEW" ] && [ "$NEW" != "$WEB" ] || fail "the web child was not started again"
grep -q 'the web process died of signal 9' "$W/d.log" || fail "the ca process did not log the web child's death"
it_wait_up 100 || fail "the restarted web child does not answer"
[ "$(post)" = 201 ] || fail "no issuance after the web child was restarted: $(cat "$W/r.json")"
grep -q libsofthsm2 "/proc/$NEW/maps" && fail "the restarted web child maps the PKCS#11 module"

# --- SIGTERM to the ca process: both stop, status 0, within 5 s
t0=$(date +%s%N)
kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
[ "$ms" -lt 5000 ] || fail "signetd took $ms ms to stop"
for _ in $(seq 1 50); do kill -0 "$NEW" 2>/dev/null || break; sleep 0.1; done
kill -0 "$NEW" 2>/dev/null && fail "the web child outlived SIGTERM"

# --- SIGKILL to the ca process: the web child notices the pair close and exits
PORT=$(port); URL=http://127.0.0.1:$PORT
"$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" >"$W/d.log" 2>&1 & D2=$!
it_wait_up 100 || fail "signetd did not come up again"
WEB=$(children "$D2"); [ -n "$WEB" ] || fail "no web child"
kill -9 "$D2"; wait "$D2" 2>/dev/null || true; D2=""
for _ in $(seq 1 50); do kill -0 "$WEB" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WEB" 2>/dev/null && fail "the web child kept running after the ca process died"
grep -q 'the ca process closed the socketpair' "$W/d.log" || fail "the web child did not say why it stopped"
echo "PASS: signetd process split (web child without HSM or PIN, restarted after SIGKILL; SIGTERM in $ms ms)"
