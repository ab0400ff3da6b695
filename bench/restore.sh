#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/restore: RTO of `signet backup restore` for a PKI holding N (default 100,000)
# certificates, 1% revoked (goal: under 60 s). A fresh demo PKI's issuing-1 gets N certificate
# records (bench_restore_fill, compiled here against the build's static libraries), a backup is
# taken (`signet backup create`), the PKI and its tokens are deleted, and the restore into a new
# directory and token (shares 1,2 and the recipient key) is timed. Peer (the raw floor, same run):
# `openssl cms -decrypt` of the same backup plus copying the store file — getting the bytes back
# with no checks, no tokens and no re-signing. RESULT ratio = peer seconds / signet seconds.
# Usage: bench/restore.sh [N]    (SIGNET_BUILD = build directory, default build)
set -euo pipefail
N=${1:-100000}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
B=$(cd "${SIGNET_BUILD:-build}" && pwd)
W=$(mktemp -d /tmp/signet-bench-restore.XXXXXX)
trap 'rm -rf "$W"' EXIT
[ -x "$B/signet" ] && [ -f "$B/store/libsignet_store.a" ] || { echo "build signet first (ninja -C $B signet)" >&2; exit 2; }
cc -std=c11 -O2 -D_GNU_SOURCE -I"$SRC/store" -I"$SRC/common" "$HERE/restore_fill.c" \
  "$B/store/libsignet_store.a" "$B/common/libsignet_common.a" -llmdb -lcrypto -lpthread -o "$W/fill"
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

"$B/signet" demo init "$W/pki" >/dev/null
sed -i 's/^\[signet\]$/[signet]\nstore_map_size = 4294967296/' "$W/pki/signet.conf"
echo "filling $N certificates (1% revoked) ..."
"$W/fill" "$W/pki/store" issuing-1 "$N"
t0=$(now); "$B/signet" -c "$W/pki/signet.conf" backup create --out "$W/b.bk" >/dev/null; t1=$(now)
echo "backup create: $(secs "$t0" "$t1") s, $(stat -c %s "$W/b.bk") bytes (store $(stat -c %s "$W/pki/store/data.mdb") bytes)"
R=$W/pki/custodians/backup-recipient
t0=$(now)
openssl cms -decrypt -inform DER -in "$W/b.bk" -recip "$R.crt" -inkey "$R.key" -out "$W/plain"
cp "$W/pki/store/data.mdb" "$W/raw.mdb"; sync "$W/raw.mdb"
t1=$(now); peer=$(secs "$t0" "$t1")
echo "peer (openssl cms -decrypt + copy of the store): $peer s"
cp -r "$W/pki/custodians" "$W/cust"; rm -rf "$W/pki" "$W/plain" "$W/raw.mdb"
t0=$(now)
"$B/signet" backup restore "$W/b.bk" --dir "$W/pki2" --recipient-key "$W/cust/backup-recipient.key" \
  --share "$W/cust/share-1.share:$W/cust/share-1.pass" --share "$W/cust/share-2.share:$W/cust/share-2.pass" >"$W/rs.log"
t1=$(now); rto=$(secs "$t0" "$t1")
head -2 "$W/rs.log"
echo "restore (RTO): $rto s for $N certificates (goal: under 60 s)"
echo "RESULT bench=restore signet=$rto peer=$peer unit=s ratio=$(python3 -c "print(f'{$peer / $rto:.3f}')")"
