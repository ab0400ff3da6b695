#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety (DESIGN.md, issuance pipeline): signetd is killed with SIGKILL again and again while
# four keep-alive clients enroll, and restarted each time; then every certificate a client received
# must be in the store as issued with the same DER (signet cert list/show, mdb_dump), no serial
# twice, every record issued or pending, each start-up reporting the PENDING records the kills
# left, no PENDING serial ever issued later, every certificate passing openssl verify -x509_strict.
# The scenario and its checks are tests/crash/crash_run.py; docs/crash-safety.md explains them.
#   CRASH_SEED=N repeats a run's kill schedule; CRASH_SECONDS sets phase A's length (default 20).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/signet-crash.XXXXXX)
# on any exit: let the driver stop its signetd (SIGTERM, 5 s), then SIGKILL what is left
cleanup() {
  local pid i
  if [ -n "${RPID:-}" ]; then
    kill -TERM "$RPID" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RPID" 2>/dev/null || true
  fi
  pid=$(cat "$W/signetd.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    pkill -KILL -P "$pid" 2>/dev/null || true # its web processes, by parent pid
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
[ -x "$B/signetd" ] && [ -x "$B/signet" ] || fail "$B/signetd or $B/signet is not built"
[ -f "$FAULT" ] || fail "$FAULT is not built (target faulthsm)"
command -v mdb_dump >/dev/null || fail "mdb_dump (lmdb-utils) is not installed"

it_demo_init
seed=()
[ -n "${CRASH_SEED:-}" ] && seed=(--seed "$CRASH_SEED")
rc=0
python3 "$HERE/../crash/crash_run.py" --build "$B" --pki "$W/pki" --work "$W" \
  --pidfile "$W/signetd.pid" --faulthsm "$FAULT" --seconds "${CRASH_SECONDS:-20}" "${seed[@]}" &
RPID=$!
wait "$RPID" || rc=$?
RPID=""
if [ "$rc" != 0 ]; then
  for f in "$W"/signetd-*.log; do [ -f "$f" ] && { echo "--- ${f##*/}"; tail -5 "$f"; }; done >&2
  fail "crash safety: see the findings above"
fi
echo "PASS: crash safety"
