# SPDX-License-Identifier: Apache-2.0
# What the integration tests share, sourced by tests/integration/*.sh after their `set` line:
#   . "$(dirname "$0")/lib/common.sh"
# It is not a test itself: CMake registers only the *.sh files directly in tests/integration/.
#
# Sourcing it sets B (the build directory, absolute: SIGNET_BUILD as CTest sets it, else build/),
# MOD (the SoftHSM2 module: SOFTHSM_MODULE, else Debian's path) and FAULT (the fault-injecting
# PKCS#11 module that the faulthsm target builds). The it_ functions set up a test and set the
# variables named beside them; the others are the small helpers the tests speak in.
# shellcheck disable=SC2034 # the variables set here are for the test that sources this file

B=$(cd "${SIGNET_BUILD:-build}" && pwd)
MOD=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
FAULT=$B/tests/faulthsm/libfaulthsm.so
IT_LOG_LINES=5       # how much of signetd's log fail shows
IT_KILL_VARS="DPID"  # the variables whose process it_cleanup stops

# fail MSG...: says why the test failed, with the end of signetd's log when there is one; exit 1
fail() {
  echo "FAIL: $*" >&2
  [ -f "${W:-}/d.log" ] && tail -"$IT_LOG_LINES" "$W/d.log" >&2
  exit 1
}

# it_workdir [PREFIX]: W, a new directory /tmp/PREFIX.XXXXXX (signet-it by default), and DPID,
# signetd's pid (empty for now); at exit it_cleanup runs
it_workdir() {
  W=$(mktemp -d "/tmp/${1:-signet-it}.XXXXXX")
  DPID=""
  trap it_cleanup EXIT
}

# it_kill_at_exit VAR...: at exit, it_cleanup also stops the process whose pid VAR holds then
# (a test empties VAR once it has waited for that process itself)
it_kill_at_exit() { IT_KILL_VARS="$* $IT_KILL_VARS"; }

# it_cleanup: stops the processes named by it_kill_at_exit and signetd, then removes W; with KEEP
# set W stays for a post-mortem and its name goes to stderr
it_cleanup() {
  local v
  for v in $IT_KILL_VARS; do
    [ -z "${!v:-}" ] || kill "${!v}" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}

# it_demo_init: a demo PKI in $W/pki (`signet demo init`, its output shown if it fails); P is
# that directory, CONF its signet.conf, TOKEN the demo client's bearer token
it_demo_init() {
  "$B/signet" demo init "$W/pki" >"$W/demo.log" 2>&1 || { cat "$W/demo.log"; fail "demo init"; }
  P=$W/pki
  CONF=$P/signet.conf
  TOKEN=$(cat "$P/clients/demo.token")
}

# port: a free TCP port on 127.0.0.1
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# it_daemon_start [ARGS...]: signetd on $CONF with ARGS, listening on a free loopback port (PORT,
# URL), its log in $W/d.log (started afresh), its pid in DPID; returns once /healthz answers,
# fails when it does not within 15 s
it_daemon_start() {
  PORT=$(port)
  URL=http://127.0.0.1:$PORT
  "$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" "$@" >"$W/d.log" 2>&1 &
  DPID=$!
  it_wait_up 150 || fail "signetd did not come up"
}

# it_wait_up TENTHS [CURL ARGS...]: polls $URL/healthz (curl with CURL ARGS) every 0.1 s, TENTHS
# times at most; returns 0 once it answers 2xx, 1 if it never did
it_wait_up() {
  local n=$1 _
  shift
  for _ in $(seq 1 "$n"); do
    curl -fsS "$@" "$URL/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# online_via_faulthsm SRC DST: DST, the signet.conf SRC (DST may be SRC) with [token.online] loaded
# through the fault-injecting module FAULT, which forwards to SoftHSM2 (docs/faulthsm.md)
online_via_faulthsm() {
  [ -f "$FAULT" ] || fail "$FAULT is not built (target faulthsm)"
  awk -v m="$FAULT" '/^\[token.online\]/{t=1} /^\[/{if(!/online/)t=0} t&&/^module/{$0="module = " m} {print}' \
    "$1" >"$2.tmp" && mv "$2.tmp" "$2"
  grep -q "module = $FAULT" "$2" || fail "could not point [token.online] at the fault module"
}

# sig ARGS...: the signet CLI on the test's PKI
sig() { "$B/signet" -c "$CONF" "$@"; }

# share N: custodian N's root share and its passphrase file, as --share takes them
share() { echo "$P/custodians/share-$1.share:$P/custodians/share-$1.pass"; }

# csr CN NAME [ARGS...]: a P-256 key $W/NAME.key and a CSR $W/NAME.csr for /CN=CN with the SAN
# DNS:CN; ARGS go to openssl req
csr() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$2.key" \
    -subj "/CN=$1" -addext "subjectAltName=DNS:$1" "${@:3}" -out "$W/$2.csr" 2>/dev/null
}

# body CSRFILE PROFILE [CA]: the JSON body of POST /v1/certificates (CA left out when empty)
body() {
  python3 -c 'import json,sys
b={"csr":open(sys.argv[1]).read(),"profile":sys.argv[2]}
if len(sys.argv) > 3 and sys.argv[3]: b["ca"]=sys.argv[3]
print(json.dumps(b))' "$@"
}

# field KEY [FILE]: the member KEY of the JSON object in FILE ($W/r.json, the last answer, by
# default); empty when there is none
field() {
  python3 -c 'import json,sys;print(json.load(open(sys.argv[1])).get(sys.argv[2],""))' "${2:-$W/r.json}" "$1"
}

# code: the problem code of the last answer ($W/r.json), the end of its type urn:signet:error:CODE
code() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["type"].rsplit(":",1)[1])' "$W/r.json"; }

# utc_hour WHEN: the start of the hour WHEN (a date -d expression, e.g. '+1 hour') in UTC, as a
# ceremony file's not_before / not_after take it
utc_hour() { date -u -d "$1" +%Y-%m-%dT%H:00:00Z; }

# sign_subordinate CA CSR OUT NOT_BEFORE NOT_AFTER: a ceremony file (docs/ceremonies.md) in which
# CA signs CSR under the subordinate-ca profile, valid from NOT_BEFORE to NOT_AFTER, into OUT
sign_subordinate() {
  cat <<CER
[ceremony]
operation  = sign-subordinate
ca         = $1
csr        = $2
profile    = subordinate-ca
not_before = $4
not_after  = $5
out        = $3
CER
}
