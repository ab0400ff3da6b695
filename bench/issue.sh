#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/issue.sh: certificates per second over HTTP, Signet (signetd on a demo PKI, ECDSA P-256
# issuing key on SoftHSM2, every certificate linted, verified and durably recorded) against
# `cfssl serve` (Debian's golang-cfssl, P-256 file key, no database) on the same machine, in the
# same run, under the same load: wrk with many keep-alive connections POSTing one fixed valid
# CSR. Prints certs/s and p50/p99 latency for both and ends with SPEC.md's RESULT line
# (signet = Signet certs/s, peer = cfssl certs/s, ratio = signet / peer). See docs/bench.md.
#
# Builds nothing: uses signet and signetd from $SIGNET_BUILD or build/. Installs wrk and
# golang-cfssl with apt-get when they are missing. Settings (environment):
#   SIGNET_BENCH_SECONDS      length of each measured run (default 10)
#   SIGNET_BENCH_ROUNDS       measured runs per server, alternating Signet and cfssl (default 2)
#   SIGNET_BENCH_THREADS      wrk threads (default 2)
#   SIGNET_BENCH_CONNECTIONS  wrk keep-alive connections (default 32)
#   SIGNET_BENCH_WORKERS      signetd [daemon] workers (default: signetd's own, 4)
#   SIGNET_BENCH_PERF=1       also profile signetd with perf during the first round and print
#                             the share of its CPU time by issuance stage (bench/issue_stages.py)
#   SIGNET_BENCH_PERF_KEEP=F  with SIGNET_BENCH_PERF=1: keep perf's data in file F
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${SIGNET_BUILD:-$root/build}
seconds=${SIGNET_BENCH_SECONDS:-10}
rounds=${SIGNET_BENCH_ROUNDS:-2}
threads=${SIGNET_BENCH_THREADS:-2}
conns=${SIGNET_BENCH_CONNECTIONS:-32}
workers=${SIGNET_BENCH_WORKERS:-}
warmup=3
lua=$root/bench/issue_post.lua

die() {
  echo "bench/issue.sh: $*" >&2
  exit 1
}

for v in "$seconds" "$rounds" "$threads" "$conns" ${workers:+"$workers"}; do
  case $v in
    '' | *[!0-9]* | 0) die "SIGNET_BENCH_* settings are positive whole numbers (got '$v')" ;;
  esac
done
for p in signet signetd; do
  [ -x "$build/$p" ] || die "$build/$p not found; build it first:" \
    "cmake -S $root -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&" \
    "cmake --build $build --target signet signetd -j2 (or SIGNET_BUILD=DIR)"
done

# --- tools: installed when missing (Debian's archive) -----------------------------------------
need=""
command -v wrk >/dev/null || need="$need wrk"
command -v cfssl >/dev/null && command -v cfssljson >/dev/null || need="$need golang-cfssl"
command -v curl >/dev/null || need="$need curl"
command -v openssl >/dev/null || need="$need openssl"
if [ -n "$need" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing:$need"
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q $need >/dev/null; } || die "cannot install$need"
fi

# --- temporary directory, servers, cleanup ------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/signet-bench-issue.XXXXXX")
signetd_pid=""
cfssl_pid=""
perf_pid=""
cleanup() {
  for p in $perf_pid $signetd_pid $cfssl_pid; do
    kill "$p" 2>/dev/null || true
  done
  for p in $perf_pid $signetd_pid $cfssl_pid; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free TCP port found"
}

# Waits until URL answers (any HTTP status) or the process PID dies.
wait_http() {
  local url=$1 pid=$2 name=$3 log=$4
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited at start (log above)"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" != 000 ] && return 0
    sleep 0.1
  done
  die "$name did not answer on $url within 10 s"
}

# Total CPU seconds (user + system) used so far by process PID.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}

# signetd's processes, comma-separated: the ca process and its web process(es).
signetd_pids() {
  local kids
  kids=$(pgrep -P "$signetd_pid" | paste -sd, -)
  echo "$signetd_pid${kids:+,$kids}"
}

# CPU seconds of a comma-separated list of processes, summed.
cpu_sum() {
  local t=0 p
  for p in ${1//,/ }; do
    t=$(awk -v a="$t" -v b="$(cpu_secs "$p" 2>/dev/null || echo 0)" 'BEGIN {print a + b}')
  done
  echo "$t"
}

# The PEM file $1 as one JSON string (newlines escaped).
json_pem() {
  awk 'BEGIN {printf "\""} {printf "%s\\n", $0} END {printf "\""}' "$1"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== bench/issue: $(nproc) CPUs, load average $(loadavg) at start"
echo "   signet $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') ($build)," \
  "$(openssl version | cut -d' ' -f1-2), cfssl $(cfssl version 2>/dev/null | awk '/^Version/ {print $2}'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"

# --- Signet: demo PKI (issuing-1 is ec:P-256 on SoftHSM2), signetd ------------------------------
demo=$tmp/demo
"$build/signet" demo init "$demo" >"$tmp/demo-init.log" 2>&1 ||
  { cat "$tmp/demo-init.log" >&2; die "signet demo init failed (log above)"; }
conf=$demo/signet.conf
if [ -n "$workers" ]; then
  sed -i "s/^\[daemon\]\$/[daemon]\nworkers = $workers/" "$conf"
fi
sport=$(free_port)
"$build/signetd" -c "$conf" --listen "127.0.0.1:$sport" >"$tmp/signetd.log" 2>&1 &
signetd_pid=$!
wait_http "http://127.0.0.1:$sport/healthz" "$signetd_pid" signetd "$tmp/signetd.log"
surl="http://127.0.0.1:$sport/v1/certificates"
token=$(cat "$demo/clients/demo.token")

# --- cfssl: a P-256 CA and a signing profile equivalent to Signet's tls-server ------------------
cat >"$tmp/ca-csr.json" <<'EOF'
{"CN": "cfssl bench issuing CA", "key": {"algo": "ecdsa", "size": 256},
 "names": [{"O": "Signet bench"}], "ca": {"expiry": "43800h"}}
EOF
(cd "$tmp" && cfssl genkey -initca ca-csr.json 2>"$tmp/cfssl-genkey.log" | cfssljson -bare ca) ||
  { cat "$tmp/cfssl-genkey.log" >&2; die "cfssl genkey -initca failed (log above)"; }
cport=$(free_port)
while [ "$cport" = "$sport" ]; do cport=$(free_port); done
# Same validity (90 days), key usage, EKU, CRL and OCSP URLs as the demo's tls-server profile;
# cfssl adds SKI and AKI itself. cfssl keeps its default log level, which logs every signature,
# as signetd logs every issuance.
cat >"$tmp/cfssl-config.json" <<EOF
{"signing": {"default": {"expiry": "2160h", "usages": ["digital signature", "server auth"],
  "crl_url": "http://127.0.0.1:$cport/crl/ca.crl", "ocsp_url": "http://127.0.0.1:$cport/ocsp"}}}
EOF
cfssl serve -address 127.0.0.1 -port "$cport" -ca "$tmp/ca.pem" -ca-key "$tmp/ca-key.pem" \
  -config "$tmp/cfssl-config.json" >"$tmp/cfssl.log" 2>&1 &
cfssl_pid=$!
wait_http "http://127.0.0.1:$cport/api/v1/cfssl/info" "$cfssl_pid" "cfssl serve" "$tmp/cfssl.log"
curl_="http://127.0.0.1:$cport/api/v1/cfssl/sign"

# --- the CSR both servers sign: P-256, CN and DNS SAN inside the demo profile --------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/leaf.key" \
  -subj "/CN=www.example.test" -addext "subjectAltName=DNS:www.example.test" \
  -out "$tmp/leaf.csr" 2>/dev/null || die "openssl req failed"
printf '{"csr": %s, "profile": "tls-server"}' "$(json_pem "$tmp/leaf.csr")" >"$tmp/signet.json"
printf '{"certificate_request": %s}' "$(json_pem "$tmp/leaf.csr")" >"$tmp/cfssl.json"

# one request each, checked, before any load
code=$(curl -s -o "$tmp/one.out" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' --data-binary "@$tmp/signet.json" "$surl")
[ "$code" = 201 ] || { cat "$tmp/one.out" >&2; die "signetd answered $code to the CSR, not 201"; }
code=$(curl -s -o "$tmp/one.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "@$tmp/cfssl.json" "$curl_")
if [ "$code" != 200 ] || ! grep -q '"success":true' "$tmp/one.out"; then
  cat "$tmp/one.out" >&2
  die "cfssl serve answered $code to the CSR, not a success"
fi

# Runs wrk against $2 with body file $3 and token $4 for $5 seconds; the WRKSTAT line to $1.
run_wrk() {
  local full=$tmp/wrk-output.txt
  BENCH_BODY=$3 BENCH_TOKEN=$4 wrk -t "$threads" -c "$conns" -d "${5}s" --timeout 10s \
    -s "$lua" "$2" >"$full" 2>&1 || { cat "$full" >&2; die "wrk failed against $2"; }
  grep '^WRKSTAT' "$full" >"$1" || { cat "$full" >&2; die "wrk printed no WRKSTAT line"; }
}

# One field of a WRKSTAT file.
wrkstat() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" "$1"; }

echo "== warm-up: ${warmup}s each, not counted"
run_wrk "$tmp/warm.s" "$surl" "$tmp/signet.json" "$token" "$warmup"
run_wrk "$tmp/warm.c" "$curl_" "$tmp/cfssl.json" "" "$warmup"

# store contents and commit counters before the measured runs
metric() { curl -s "http://127.0.0.1:$sport/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
commits0=$(metric signet_store_commits_total)
ocsp0=$(metric signet_ocsp_signed_total)
count0=$("$build/signet" -c "$conf" cert list --ca issuing-1 --status issued | wc -l)

echo "== measured: $rounds rounds of ${seconds}s per server, alternating; wrk $threads threads," \
  "$conns keep-alive connections, one fixed P-256 CSR"
printf '%-7s %-6s %9s %8s %7s %9s %9s %9s %6s\n' server round requests non-2xx errors certs/s \
  "p50 ms" "p99 ms" CPUs
for r in $(seq 1 "$rounds"); do
  for s in signet cfssl; do
    if [ "$s" = signet ]; then
      pid=$(signetd_pids) url=$surl body=$tmp/signet.json tok=$token
    else
      pid=$cfssl_pid url=$curl_ body=$tmp/cfssl.json tok=""
    fi
    if [ "$s" = signet ] && [ "$r" = 1 ] && [ "${SIGNET_BENCH_PERF:-0}" = 1 ]; then
      if command -v perf >/dev/null; then
        perf record -q -F 499 --call-graph dwarf,16384 -p "$(signetd_pids)" -o "$tmp/perf.data" \
          -- sleep $((seconds > 6 ? seconds - 2 : seconds)) >/dev/null 2>&1 &
        perf_pid=$!
      else
        echo "   (SIGNET_BENCH_PERF=1: perf is not installed; apt-get install linux-perf)"
      fi
    fi
    c0=$(cpu_sum "$pid")
    run_wrk "$tmp/$s.$r" "$url" "$body" "$tok" "$seconds"
    c1=$(cpu_sum "$pid")
    f=$tmp/$s.$r
    awk -v s="$s" -v r="$r" -v n="$(wrkstat "$f" requests)" -v x="$(wrkstat "$f" non2xx)" \
      -v e="$(wrkstat "$f" errors)" -v t="$(wrkstat "$f" seconds)" -v a="$(wrkstat "$f" p50_ms)" \
      -v b="$(wrkstat "$f" p99_ms)" -v c0="$c0" -v c1="$c1" \
      'BEGIN {printf "%-7s %-6s %9d %8d %7d %9.0f %9.1f %9.1f %6.2f\n", s, r, n, x, e,
              (n - x) / t, a, b, (c1 - c0) / t}'
    if [ -n "$perf_pid" ]; then
      wait "$perf_pid" 2>/dev/null || true
      perf_pid=""
    fi
  done
done
echo "   load average $(loadavg) after the runs"

# --- totals --------------------------------------------------------------------------------------
# certs/s = all 2xx answers / all measured seconds; p50 = mean of the rounds' p50; p99 = worst round
total() {
  cat "$tmp/$1".[0-9]* | awk '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      n += v["requests"]; x += v["non2xx"]; e += v["errors"]; t += v["seconds"]
      p50 += v["p50_ms"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"]; k++ }
    END {printf "%d %d %d %.0f %.1f %.1f\n", n - x, x, e, (n - x) / t, p50 / k, p99}'
}
read -r s_ok s_bad s_err s_rate s_p50 s_p99 <<<"$(total signet)"
read -r c_ok c_bad c_err c_rate c_p50 c_p99 <<<"$(total cfssl)"
commits1=$(metric signet_store_commits_total)
batch_max=$(metric signet_store_commit_batch_max)

# Each certificate's OCSP responses (SHA-1 and SHA-256 CertIDs; signet_ocsp_signed_total counts
# certificates) are signed by signetd's refresher thread, which may fall behind while the rounds
# run: how far, and how long it took to catch up.
ocsp1=$(metric signet_ocsp_signed_total)
t0=$(date +%s)
while [ "$(metric signet_ocsp_signed_total)" -lt $((ocsp0 + s_ok)) ] &&
  [ $(($(date +%s) - t0)) -lt 300 ]; do
  sleep 1
done
catchup=$(($(date +%s) - t0))
ocsp2=$(metric signet_ocsp_signed_total)

# stop signetd (SIGTERM finishes what is in flight), then count what the store holds
kill "$signetd_pid"
wait "$signetd_pid" || die "signetd did not exit 0 on SIGTERM"
signetd_pid=""
count1=$("$build/signet" -c "$conf" cert list --ca issuing-1 --status issued | wc -l)
stored=$((count1 - count0))
inflight=$((rounds * conns))

echo
echo "== summary (certs/s over all rounds; p50 = mean of rounds, p99 = worst round)"
printf '%-8s %10s %9s %9s %9s %9s %9s\n' server certs/s "p50 ms" "p99 ms" 2xx non-2xx errors
printf '%-8s %10s %9s %9s %9s %9s %9s\n' signet "$s_rate" "$s_p50" "$s_p99" "$s_ok" "$s_bad" "$s_err"
printf '%-8s %10s %9s %9s %9s %9s %9s\n' cfssl "$c_rate" "$c_p50" "$c_p99" "$c_ok" "$c_bad" "$c_err"
awk -v c="$((commits1 - commits0))" -v n="$stored" -v b="$batch_max" \
  'BEGIN {printf "signetd: %.2f durable store commits per certificate, largest group commit %d" \
          " writes\n", (n > 0 ? c / n : 0), b}'
echo "store: $stored certificates recorded during the measured runs; wrk counted $s_ok answered 2xx" \
  "(wrk does not count the up to $inflight requests in flight when each run ends)"

ok=1
if [ "$s_bad" -ne 0 ] || [ "$s_err" -ne 0 ]; then
  echo "WARNING: Signet answered $s_bad non-2xx responses and wrk saw $s_err socket errors;" \
    "signetd's log:"
  grep -v ' info: issued serial ' "$tmp/signetd.log" | tail -5
  ok=0
fi
if [ "$stored" -lt "$s_ok" ] || [ "$stored" -gt $((s_ok + inflight)) ]; then
  echo "WARNING: the store holds $stored new certificates for $s_ok answered 201 (expected" \
    "$s_ok to $((s_ok + inflight)))"
  ok=0
fi
if [ "$c_bad" -ne 0 ] || [ "$c_err" -ne 0 ]; then
  echo "note: cfssl answered $c_bad non-2xx responses, $c_err socket errors (not counted as certs)"
fi

echo "OCSP: the responses of $((ocsp1 - ocsp0)) certificates were pre-signed during the measured" \
  "rounds, of $((ocsp2 - ocsp0)) ${catchup}s after the last round (wrk counted $s_ok certificates)"

# The floor: the cryptography one issuance needs at the least, on this machine, in this run
# (bench_sign --issue-floor; see bench/sign.c issue_once), without HTTP, policy, encoding or store.
if [ -x "$build/bench/bench_sign" ]; then
  "$build/bench/bench_sign" --issue-floor --seconds 3 >"$tmp/floor.out" 2>&1 ||
    { cat "$tmp/floor.out" >&2; die "bench_sign --issue-floor failed"; }
  fl() { awk -v p="$1" -v m="$2" '$1 == "MEASURE" && $3 == "path=" p && $4 == "mode=" m {
      sub("rate=", "", $5); print $5}' "$tmp/floor.out"; }
  echo
  echo "== the floor: CSR signature verified, then for the certificate and its OCSP response a"
  echo "   throwaway-key signature and a SoftHSM signature verified by hsm_sign; nothing else"
  for p in issue issue-cert; do
    awk -v n="$p" -v a="$(fl "$p" 1t)" -v b="$(fl "$p" 2p)" -v c="$c_rate" 'BEGIN {
        printf "%-32s %7d/s 1 thread %7d/s 2 processes = %.2fx cfssl\n",
          (n == "issue" ? "certificate and OCSP response" : "certificate alone"), a, b,
          (c > 0 ? b / c : 0)}'
  done
else
  echo "(the floor needs $build/bench/bench_sign: cmake --build $build --target bench_sign)"
fi

if [ -f "$tmp/perf.data" ]; then
  echo
  echo "== signetd's CPU time by stage (perf, first Signet round)"
  perf script -i "$tmp/perf.data" 2>/dev/null | python3 "$root/bench/issue_stages.py"
  if [ -n "${SIGNET_BENCH_PERF_KEEP:-}" ]; then
    cp "$tmp/perf.data" "$SIGNET_BENCH_PERF_KEEP" && echo "   perf data kept in $SIGNET_BENCH_PERF_KEEP"
  fi
fi

echo
echo "signet = signetd POST /v1/certificates (profile tls-server, issuing-1 ec:P-256 on SoftHSM2," \
  "lint, verification, durable PENDING and ISSUED records); peer = cfssl serve" \
  "/api/v1/cfssl/sign (P-256 file key, no database); both certs/s counting 2xx only"
awk -v s="$s_rate" -v p="$c_rate" \
  'BEGIN {printf "RESULT bench=issue signet=%d peer=%d unit=certs/s ratio=%.2f\n", s, p,
          (p > 0 ? s / p : 0)}'
[ "$ok" = 1 ]
