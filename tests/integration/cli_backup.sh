#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet backup on bad input (docs/backup.md): a tampered, truncated or foreign backup, a backup
# signed by another PKI's signer, restore into a non-empty directory, restore with a wrong
# share, prune next to files that are not backups; each one line on stderr, exit 1, nothing
# overwritten. The archive opens with plain openssl cms (decrypt, then verify the signature with
# the backup signer's certificate) and lists its manifest.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir signet-clibk
S=$B/signet
# refused CMD...: exit 1 and exactly one line on stderr; prints that line
refused() { local rc=0; "$@" >"$W/out" 2>"$W/err" || rc=$?
  [ "$rc" = 1 ] || fail "$* exited $rc (want 1): $(cat "$W/err")"
  [ "$(wc -l <"$W/err")" = 1 ] || fail "$* printed $(wc -l <"$W/err") lines on stderr: $(cat "$W/err")"
  cat "$W/err"; }

"$S" demo init "$W/a" >/dev/null 2>&1 || fail "demo init a"
"$S" demo init "$W/b" >/dev/null 2>&1 || fail "demo init b"
A="$S -c $W/a/signet.conf"
$A backup create --out "$W/a.bk" >"$W/create.out" 2>&1 || fail "backup create: $(cat "$W/create.out")"
grep -q "2 wrapped keys" "$W/create.out" || fail "create does not report issuing-1 and backup-signer wrapped: $(cat "$W/create.out")"
[ "$(stat -c %a "$W/a.bk")" = 600 ] || fail "backup file mode is $(stat -c %a "$W/a.bk")"
$A backup verify "$W/a.bk" | grep -q "2 CAs" || fail "verify does not report the CAs"

# plain OpenSSL opens it: decrypt with the recipient key, verify with the signer certificate
R=$W/a/custodians/backup-recipient
openssl cms -decrypt -inform DER -in "$W/a.bk" -recip "$R.crt" -inkey "$R.key" -out "$W/signed.der" \
  || fail "openssl cms -decrypt"
openssl cms -verify -inform DER -in "$W/signed.der" -binary -CAfile "$W/a/custodians/backup-signer.crt" \
  -purpose any -out "$W/arc" 2>/dev/null || fail "openssl cms -verify with the backup signer"
head -c 16 "$W/arc" | grep -q "SIGNET-BACKUP-v1" || fail "the content is not a Signet archive"
grep -a -q "store/data.mdb" "$W/arc" || fail "the manifest lists no store"
grep -a -q "share-1" "$W/arc" && fail "custodian shares must not be in a backup"
grep -a -q "BEGIN PRIVATE KEY" "$W/arc" && fail "the recipient's private key must not be in a backup"

# tampered, truncated, foreign, signed by another PKI
cp "$W/a.bk" "$W/t.bk"; python3 -c 'import sys;p=sys.argv[1];b=bytearray(open(p,"rb").read());b[len(b)//2]^=0x40;open(p,"wb").write(b)' "$W/t.bk"
refused $A backup verify "$W/t.bk" | grep -qi "altered\|signature\|not CMS" || fail "tampered: $(cat "$W/err")"
head -c 1000 "$W/a.bk" >"$W/tr.bk"
refused $A backup verify "$W/tr.bk" | grep -q "truncated" || fail "truncated: $(cat "$W/err")"
refused $A backup verify "$W/a/signet.conf" >/dev/null
"$S" -c "$W/b/signet.conf" backup create --out "$W/b.bk" >/dev/null 2>&1 || fail "backup create b"
refused $A backup verify "$W/b.bk" | grep -q "cannot decrypt" || fail "foreign backup: $(cat "$W/err")"
refused $A backup verify "$W/b.bk" --recipient-key "$W/b/custodians/backup-recipient.key" \
  | grep -q "unknown key" || fail "a backup signed by another PKI's signer: $(cat "$W/err")"

# restore refusals: a non-empty directory (left as it was), a wrong share passphrase
mkdir "$W/busy"; echo keep >"$W/busy/file"
refused "$S" backup restore "$W/a.bk" --dir "$W/busy" --recipient-key "$R.key" | grep -q "not empty" \
  || fail "restore into a non-empty directory: $(cat "$W/err")"
[ "$(cat "$W/busy/file")" = keep ] && [ "$(ls "$W/busy")" = file ] || fail "restore touched a non-empty directory"
refused "$S" backup restore "$W/a.bk" --dir "$W/r0" --recipient-key "$W/b/custodians/backup-recipient.key" >/dev/null
[ ! -e "$W/r0" ] || [ -z "$(ls -A "$W/r0")" ] || fail "a refused restore wrote files"
C=$W/a/custodians
refused "$S" backup restore "$W/a.bk" --dir "$W/r1" --recipient-key "$R.key" \
  --share "$C/share-1.share:$C/share-1.pass" --share "$C/share-2.share:$C/share-3.pass" >/dev/null
# a good restore: the shares of another root are refused, then 2 and 3 work
"$S" backup restore "$W/a.bk" --dir "$W/r2" --recipient-key "$R.key" \
  --share "$C/share-2.share:$C/share-2.pass" --share "$C/share-3.share:$C/share-3.pass" >"$W/rs" 2>&1 \
  || fail "restore: $(cat "$W/rs")"
grep -q "activated by shares 2,3" "$W/rs" || fail "restore did not check the root: $(cat "$W/rs")"
# the restored PKI can back itself up (its new token got a new backup KEK) and verify it
"$S" -c "$W/r2/signet.conf" backup create --out "$W/r2.bk" >/dev/null 2>&1 || fail "backup of the restored PKI"
"$S" -c "$W/r2/signet.conf" backup verify "$W/r2.bk" --recipient-key "$R.key" >/dev/null 2>&1 \
  || fail "verify of the restored PKI's backup"

# prune: only backups, newest kept
mkdir "$W/bks"; cp "$W/a.bk" "$W/bks/1"; cp "$W/a.bk" "$W/bks/2"; cp "$W/a.bk" "$W/bks/3"; echo notes >"$W/bks/README"
touch -d '-3 days' "$W/bks/1"; touch -d '-2 days' "$W/bks/2"
$A backup prune "$W/bks" --keep 1 | grep -q "deleted 2" || fail "prune --keep 1"
[ "$(ls "$W/bks" | tr '\n' ' ')" = "3 README " ] || fail "prune left $(ls "$W/bks")"
rc=0; $A backup prune "$W/bks" --keep 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "prune --keep 0 exited $rc (want 2: usage)"
echo PASS
