#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# bench/sign.sh: signatures per second through hsmbind (hsm_sign and the provider's EVP path)
# beside raw C_Sign on the same SoftHSM2 token and `openssl speed` on the same machine, for
# 1 thread, 2 threads and 2 processes. Builds nothing: uses build/ or $SIGNET_BUILD.
# Ends with SPEC.md's RESULT line: P-256, 1 thread, signet = provider path, peer = raw C_Sign.
# SIGNET_BENCH_SECONDS (default 2) sets the length of each figure. See docs/bench.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${SIGNET_BUILD:-$root/build}
bin=$build/bench/bench_sign
seconds=${SIGNET_BENCH_SECONDS:-2}
if [ ! -x "$bin" ]; then
  echo "bench/sign.sh: $bin not found; build it first: cmake --build $build --target bench_sign" >&2
  exit 1
fi

out=$(mktemp)
trap 'rm -f "$out" "$out.1" "$out.2"' EXIT INT TERM

echo "== Signet hsmbind vs raw PKCS#11 (SoftHSM2), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" --seconds "$seconds" >"$out"
grep -v '^MEASURE' "$out"

osec=$(awk -v s="$seconds" 'BEGIN {s = int(s + 0.5); print (s < 1 ? 1 : s)}')
echo
echo "== openssl speed -seconds $osec (software keys in memory, default provider)"
algs="ecdsap256 ecdsap384 rsa2048 ed25519"
# shellcheck disable=SC2086
openssl speed -mr -seconds "$osec" $algs 2>/dev/null | grep '^+F' >"$out.1"
# shellcheck disable=SC2086
openssl speed -mr -multi 2 -seconds "$osec" $algs 2>/dev/null | grep '^+F' >"$out.2"

# sign/s of one key type in an `openssl speed -mr` output file
speed_rate() {
  case $1 in
    ec:P-256) awk -F: '$1=="+F4" && $3=="256" {print int($4)}' "$2" ;;
    ec:P-384) awk -F: '$1=="+F4" && $3=="384" {print int($4)}' "$2" ;;
    rsa:2048) awk -F: '$1=="+F2" && $3=="2048" {print int($4)}' "$2" ;;
    ed25519) awk -F: '$1=="+F6" && $4=="Ed25519" {print int($5)}' "$2" ;;
  esac
}
printf '%-10s %-18s %10s %10s %10s\n' key path "1 process" "" "2 procs"
for k in ec:P-256 ec:P-384 rsa:2048 ed25519; do
  printf '%-10s %-18s %10s %10s %10s\n' "$k" "openssl speed" "$(speed_rate "$k" "$out.1")" "" \
    "$(speed_rate "$k" "$out.2")"
done

# one figure from the C program: key path mode
measure() {
  awk -v k="key=$1" -v p="path=$2" -v m="mode=$3" \
    '$1=="MEASURE" && $2==k && $3==p && $4==m {sub("rate=","",$5); print $5}' "$out"
}

for base in raw rawv; do
  echo
  if [ "$base" = raw ]; then
    echo "== hsmbind / raw C_Sign (1.00 = no overhead)"
  else
    echo "== hsmbind / (raw C_Sign + OpenSSL verify): hsmbind's own cost beyond the check it must make"
  fi
  printf '%-10s %-18s %10s %10s %10s\n' key path "1 thread" "2 threads" "2 procs"
  for k in ec:P-256 ec:P-384 rsa:2048 ed25519; do
    for p in hsm evp; do
      row=""
      for m in 1t 2t 2p; do
        row="$row $(awk -v a="$(measure "$k" "$p" "$m")" -v b="$(measure "$k" "$base" "$m")" \
          'BEGIN {if (b > 0) printf "%10.2f", a / b; else printf "%10s", "-"}')"
      done
      printf '%-10s %-18s%s\n' "$k" "$([ "$p" = hsm ] && echo hsm_sign || echo provider EVP)" "$row"
    done
  done
done

signet=$(measure ec:P-256 evp 1t)
peer=$(measure ec:P-256 raw 1t)
echo
echo "signet = ec:P-256 EVP_DigestSign through the signet-hsm provider, 1 thread;" \
  "peer = raw C_SignInit+C_Sign on the same token, 1 thread (both ${seconds}s, alternating rounds)"
awk -v s="$signet" -v p="$peer" \
  'BEGIN {printf "RESULT bench=sign signet=%d peer=%d unit=sig/s ratio=%.2f\n", s, p, (p > 0 ? s / p : 0)}'
