#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/crl: a CRL over N (default 1,000,000) revoked entries. Signet: a fresh demo PKI whose
# issuing-1 (P-256 on SoftHSM2) gets N entries in its revoked index (bench_crl_fill), then
# `signet crl generate --ca issuing-1` (number persisted, one cursor pass, throwaway-key lint,
# token signature, verification, store and public/crl/). Peer: `openssl ca -gencrl` with a P-256
# software key over an index.txt holding the same N "R" lines. Prints time and peak RSS of both,
# the CRL sizes, and the RESULT line (ratio = openssl seconds / signet seconds).
# Usage: bench/crl.sh [N]    (SIGNET_BUILD = build directory, default build)
set -euo pipefail
N=${1:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${SIGNET_BUILD:-build}" && pwd)
W=$(mktemp -d /tmp/signet-bench-crl.XXXXXX)
trap 'rm -rf "$W"' EXIT
for t in signet bench_crl_fill; do
  [ -x "$B/$t" ] || [ -x "$B/bench/$t" ] || { echo "build $t first (ninja -C $B signet bench_crl_fill)" >&2; exit 2; }
done
FILL=$B/bench/bench_crl_fill
[ -x "$FILL" ] || FILL=$B/bench_crl_fill

"$B/signet" demo init "$W/pki" >/dev/null
CONF=$W/pki/signet.conf
sed -i 's/^\[signet\]$/[signet]\nstore_map_size = 4294967296/' "$CONF"
echo "filling $N revoked entries (and an index.txt) ..."
"$FILL" "$W/pki/store" issuing-1 "$N" "$W/index.txt"

# the peer: an OpenSSL CA of the same key type over the same entries
mkdir -p "$W/ossl"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ossl/ca.key" \
  -subj "/CN=Bench OpenSSL CA" -days 365 -out "$W/ossl/ca.crt" 2>/dev/null
cp "$W/index.txt" "$W/ossl/index.txt"
echo 1000 >"$W/ossl/crlnumber"
cat >"$W/ossl/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
dir = $W/ossl
database = \$dir/index.txt
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
default_md = sha256
default_crl_days = 7
crl_extensions = crlext
unique_subject = no
[crlext]
authorityKeyIdentifier = keyid:always
CNF

echo "signet crl generate ..."
read -r s_sec s_rss < <(python3 "$HERE/crl_run.py" "$B/signet" -c "$CONF" crl generate --ca issuing-1)
s_size=$(stat -c %s "$W/pki/public/crl/issuing-1.crl")
s_entries=$(openssl crl -inform DER -in "$W/pki/public/crl/issuing-1.crl" -noout -text | grep -c 'Serial Number' || true)
echo "openssl ca -gencrl ..."
read -r o_sec o_rss < <(python3 "$HERE/crl_run.py" openssl ca -gencrl -config "$W/ossl/ca.cnf" -out "$W/ossl/crl.pem")
openssl crl -in "$W/ossl/crl.pem" -outform DER -out "$W/ossl/crl.der"
o_size=$(stat -c %s "$W/ossl/crl.der")

echo "signet:  ${s_sec} s, peak RSS $((s_rss / 1024)) MiB, CRL ${s_size} bytes DER, ${s_entries} entries"
echo "openssl: ${o_sec} s, peak RSS $((o_rss / 1024)) MiB, CRL ${o_size} bytes DER"
python3 - "$s_rss" "$s_size" <<'PY'
import sys
rss, size = int(sys.argv[1]) * 1024, int(sys.argv[2])
print(f"signet peak RSS / CRL size = {rss / size:.2f} (target at most 2)")
PY
ratio=$(python3 -c "print(f'{$o_sec / $s_sec:.2f}')")
echo "RESULT bench=crl signet=${s_sec} peer=${o_sec} unit=s ratio=${ratio}"
