#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The offline root, as a user meets it (mirrors the acceptance check E-offline-root): the demo's
# root exists only as 2-of-3 sealed shares; ca create writes a CSR for a quorum parent; the
# ceremony's dry run prints the TBS hash and writes the plan; the real run with 2 shares signs
# exactly those bytes; one share, the same share twice, a wrong passphrase, an altered share, a
# share of another root, an unknown key, a plan of another file and a CA profile without
# keyCertSign are refused with nothing written; the subordinate verifies with OpenSSL, GnuTLS and
# NSS; import-cert refuses another key; `signet root init` (3 of 5) and a root-init ceremony make
# further offline roots, one cross-signs the demo root; signet audit verify sees a changed and a
# removed entry.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
# runs a command that must fail with exit 1 and one line naming why
refused() { local why=$1; shift
  if sig "$@" >"$W/out" 2>"$W/err"; then fail "accepted: $*"; fi
  [ "$(wc -l <"$W/err")" = 1 ] || fail "not one line: $(cat "$W/err")"
  grep -q -- "$why" "$W/err" || fail "expected '$why', got: $(cat "$W/err")"; }

ls "$P"/hsm/*root*.pin >/dev/null 2>&1 && fail "a root PIN file exists"
grep -A3 '^\[token.root\]' "$CONF" | grep -Eq '^pin *= *quorum' || fail "[token.root] is not pin = quorum"
for i in 1 2 3; do
  [ "$(stat -c %a "$P/custodians/share-$i.share")" = 600 ] || fail "share $i is not 0600"
  head -1 "$P/custodians/share-$i.share" | grep -q "Signet root share $i of 3 (2 needed)" || fail "share $i does not say what it is"
done

sig ca create --name issuing-2 --parent root --token signet-online --type ec:P-256 --subject "/CN=Signet Demo Issuing 2" \
  --csr-out "$W/i2.csr" >/dev/null 2>&1 || fail "ca create with a quorum parent"
openssl req -in "$W/i2.csr" -noout -verify >/dev/null 2>&1 || fail "the CSR does not verify"
sign_subordinate root "$W/i2.csr" "$W/i2.crt" "$(utc_hour '+1 hour')" "$(utc_hour '+3 years')" >"$W/cer.conf"
sig ceremony run "$W/cer.conf" --dry-run --plan-out "$W/plan" >"$W/dry.log" 2>&1 || { cat "$W/dry.log"; fail "dry run"; }
h1=$(grep -o 'TBS SHA-256: [0-9a-f]*' "$W/dry.log" | awk '{print $3}')
[ ${#h1} = 64 ] || fail "dry run printed no TBS SHA-256: $(cat "$W/dry.log")"
grep -q "^tbs-sha256 $h1" "$W/plan" || fail "the plan does not hold the TBS hash"
[ -e "$W/i2.crt" ] && fail "the dry run wrote a certificate"

refused "1 distinct share(s) given, 2 needed" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)"
refused "1 distinct share(s) given, 2 needed" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" --share "$(share 1)"
printf 'wrong\n' >"$W/wrong.pass"; chmod 600 "$W/wrong.pass"
refused "wrong passphrase for share 2" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" \
  --share "$P/custodians/share-2.share:$W/wrong.pass"
python3 - "$P/custodians/share-2.share" "$W/altered.share" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
b = lines.index('-----BEGIN SIGNET ROOT SHARE-----'); e = lines.index('-----END SIGNET ROOT SHARE-----')
raw = bytearray(base64.b64decode(''.join(lines[b + 1:e]))); raw[160] ^= 1   # a ciphertext byte
enc = base64.b64encode(bytes(raw)).decode()
open(sys.argv[2], 'w').write('\n'.join(lines[:b + 1] + [enc[i:i + 64] for i in range(0, len(enc), 64)] + lines[e:]) + '\n')
PY
refused "share 2 was altered" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" \
  --share "$W/altered.share:$P/custodians/share-2.pass"
"$B/signet" demo init "$W/other" >/dev/null 2>&1 || fail "second demo"
refused "belongs to another root" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" \
  --share "$W/other/custodians/share-2.share:$W/other/custodians/share-2.pass"
{ cat "$W/cer.conf"; echo "colour     = blue"; } >"$W/unknown.conf"
refused "unknown key 'colour'" ceremony run "$W/unknown.conf" --dry-run
{ cat "$W/cer.conf"; echo "# changed after the review"; } >"$W/changed.conf"
refused "another ceremony file" ceremony run "$W/changed.conf" --plan "$W/plan" --share "$(share 1)" --share "$(share 2)"
[ -e "$W/i2.crt" ] && fail "a refused ceremony wrote a certificate"

sig ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 1)" --share "$(share 3)" >"$W/real.log" 2>&1 \
  || { cat "$W/real.log"; fail "ceremony with shares 1 and 3"; }
h2=$(grep -o 'TBS SHA-256: [0-9a-f]*' "$W/real.log" | awk '{print $3}')
[ "$h1" = "$h2" ] || fail "the real run signed other bytes ($h1 vs $h2)"
h3=$(openssl x509 -in "$W/i2.crt" -outform DER | python3 -c '
import sys, hashlib
from cryptography import x509
print(hashlib.sha256(x509.load_der_x509_certificate(sys.stdin.buffer.read()).tbs_certificate_bytes).hexdigest())')
[ "$h1" = "$h3" ] || fail "the certificate's TBS is not the plan's ($h3)"
grep -q 'shares used: 1,3' "$W/real.log" || fail "the run did not name the shares used"

openssl verify -x509_strict -CAfile "$P/public/root.crt" "$W/i2.crt" >/dev/null || fail "OpenSSL rejects issuing-2"
openssl x509 -in "$W/i2.crt" -noout -text >"$W/i2.txt"
grep -q 'CA:TRUE, pathlen:0' "$W/i2.txt" || fail "issuing-2 lacks CA:TRUE, pathlen:0"
grep -A1 'Key Usage' "$W/i2.txt" | grep -q 'Certificate Sign' || fail "issuing-2 lacks keyCertSign"
certtool --verify --load-ca-certificate "$P/public/root.crt" --infile "$W/i2.crt" >/dev/null 2>&1 || fail "GnuTLS rejects issuing-2"
mkdir "$W/nss"; certutil -N -d "sql:$W/nss" --empty-password
certutil -A -d "sql:$W/nss" -n root -t "C,," -i "$P/public/root.crt"
vfychain -d "sql:$W/nss" -u 11 -a "$W/i2.crt" 2>&1 | grep -q "Chain is good" || fail "NSS rejects issuing-2"

# a CA profile without keyCertSign is refused when the profiles are read: nothing runs at all
cp -r "$P/policies" "$W/policies.saved"
printf '[profile]\nvalidity = 5y\nkey = ec:P-256\nsubject.CN = required\nextensions = ext\napproval = auto\n[ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature\n' \
  >"$P/policies/bad-ca.conf"
refused "keyCertSign" ceremony run "$W/cer.conf" --dry-run
rm "$P/policies/bad-ca.conf"

# the same plan cannot be signed twice (its serial is recorded under the root)
mv "$W/i2.crt" "$W/i2.saved"
refused "is already used" ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 2)" --share "$(share 3)"
[ -e "$W/i2.crt" ] && fail "a replayed plan wrote a certificate"
mv "$W/i2.saved" "$W/i2.crt"
sig cert list --ca root | grep -q "$(openssl x509 -in "$W/i2.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)" \
  || fail "the subordinate is not recorded under the root: $(sig cert list --ca root)"

refused "not the key of CA issuing-2" ca import-cert --name issuing-2 --cert "$P/public/issuing-1.crt"
sig ca import-cert --name issuing-2 --cert "$W/i2.crt" >/dev/null || fail "import-cert of issuing-2"
sig ca list | grep -q '^issuing-2 parent=root' || fail "ca list does not show issuing-2"

# a second offline root made with `signet root init` (3 of 5, passphrases from 0600 files), and a
# third from a root-init ceremony file; the second cross-signs the demo root
cat >>"$CONF" <<EOF

[token.offline2]
module = /usr/lib/softhsm/libsofthsm2.so
token  = signet-root-2
pin    = quorum

[ca.root-2]
key      = pkcs11:token=signet-root-2;object=root-2
cert     = public/root-2.crt
profiles = subordinate-ca

[token.offline3]
module = /usr/lib/softhsm/libsofthsm2.so
token  = signet-root-3
pin    = quorum

[ca.root-3]
key      = pkcs11:token=signet-root-3;object=root-3
cert     = public/root-3.crt
profiles = subordinate-ca
EOF
mkdir -m 700 "$W/pass2"; for i in 1 2 3 4 5; do (umask 077; echo "custodian $i of root 2" >"$W/pass2/share-$i.pass"); done
sig root init --name root-2 --token offline2 --subject "CN=Signet Root 2" --type ec:P-256 --days 3650 \
  --quorum 3/5 --shares-dir "$W/shares2" --pass-dir "$W/pass2" >"$W/r2.log" 2>&1 || { cat "$W/r2.log"; fail "root init"; }
[ "$(ls "$W/shares2" | wc -l)" = 5 ] || fail "root init did not write 5 shares: $(ls "$W/shares2")"
grep -rqs "custodian 1 of root 2" "$W/shares2" "$P/hsm" && fail "a passphrase was written in clear beside the shares"
openssl verify -x509_strict -CAfile "$P/public/root-2.crt" "$P/public/root-2.crt" >/dev/null || fail "root-2 is not self-signed"
refused "already has a certificate" root init --name root-2 --token offline2 --subject "CN=x" --type ec:P-256 \
  --quorum 2/3 --shares-dir "$W/shares2b" --pass-dir "$W/pass2"
s2() { echo "$W/shares2/share-$1.share:$W/pass2/share-$1.pass"; }
cat >"$W/cross.conf" <<CER
[ceremony]
operation  = cross-sign
ca         = root-2
cert       = $P/public/root.crt
profile    = subordinate-ca
not_before = $(date -u +%Y-%m-%dT%H:%M:%SZ)
not_after  = $(date -u -d '+1 year' +%Y-%m-%dT%H:00:00Z)
out        = $W/cross.crt
CER
refused "2 distinct share(s) given, 3 needed" ceremony run "$W/cross.conf" --share "$(s2 1)" --share "$(s2 4)"
refused "belongs to another root" ceremony run "$W/cross.conf" --share "$(s2 1)" --share "$(s2 4)" --share "$(share 1)"
sig ceremony run "$W/cross.conf" --share "$(s2 1)" --share "$(s2 4)" --share "$(s2 5)" >"$W/cross.log" 2>&1 \
  || { cat "$W/cross.log"; fail "cross-sign"; }
openssl verify -x509_strict -CAfile "$P/public/root-2.crt" "$W/cross.crt" >/dev/null || fail "the cross certificate does not verify"
[ "$(openssl x509 -in "$W/cross.crt" -noout -subject)" = "$(openssl x509 -in "$P/public/root.crt" -noout -subject)" ] \
  || fail "the cross certificate does not carry the demo root's subject"
cmp -s <(openssl x509 -in "$W/cross.crt" -noout -pubkey) <(openssl x509 -in "$P/public/root.crt" -noout -pubkey) \
  || fail "the cross certificate does not carry the demo root's key"
mkdir -m 700 "$W/pass3"; for i in 1 2; do (umask 077; echo "custodian $i of root 3" >"$W/pass3/share-$i.pass"); done
printf '[ceremony]\noperation = root-init\nca = root-3\ntoken = offline3\nsubject = CN=Signet Root 3\ntype = ec:P-256\nquorum = 2/2\nshares_dir = %s\npass_dir = %s\n' \
  "$W/shares3" "$W/pass3" >"$W/r3.conf"
sig ceremony run "$W/r3.conf" >"$W/r3.log" 2>&1 || { cat "$W/r3.log"; fail "root-init ceremony"; }
openssl verify -x509_strict -CAfile "$P/public/root-3.crt" "$P/public/root-3.crt" >/dev/null || fail "root-3 is not self-signed"
[ "$(ls "$W/shares3" | wc -l)" = 2 ] || fail "the root-init ceremony did not write 2 shares"

# the root CRL in a ceremony, after revoking issuing-2
i2serial=$(openssl x509 -in "$W/i2.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
sig revoke --ca root --serial "$i2serial" --reason superseded >/dev/null || fail "revoke issuing-2 under the root"
printf '[ceremony]\noperation = root-crl\nca = root\n' >"$W/crl.conf"
refused "2 needed" ceremony run "$W/crl.conf" --share "$(share 3)"
sig ceremony run "$W/crl.conf" --share "$(share 1)" --share "$(share 3)" >"$W/crl.log" 2>&1 || { cat "$W/crl.log"; fail "root-crl ceremony"; }
openssl crl -in "$P/public/crl/root.crl" -inform DER -out "$W/root.crl.pem" || fail "no root CRL"
openssl crl -in "$W/root.crl.pem" -noout -CAfile "$P/public/root.crt" 2>&1 | grep -q 'verify OK' || fail "the root CRL does not verify"
openssl crl -in "$W/root.crl.pem" -noout -text | grep -qi "$(echo "$i2serial" | tr a-f A-F)" || fail "the root CRL does not list issuing-2"
if openssl verify -crl_check -CAfile "$P/public/root.crt" -CRLfile "$W/root.crl.pem" "$W/i2.crt" >/dev/null 2>&1; then
  fail "issuing-2 still verifies with the root CRL"; fi

sig audit verify >"$W/audit.log" || fail "audit verify on an untouched store"
grep -q '3 ceremony transcripts verified' "$W/audit.log" || fail "audit verify: $(cat "$W/audit.log")"
# change one byte of the last audit entry, then remove the first: each is seen
mdb_dump -a -f "$W/dump" "$P/store"
cp -r "$P/store" "$W/store.saved"
python3 - "$W/dump" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().split('\n'); db = None; pairs = []
for i, l in enumerate(lines):
    if l.startswith('database='): db = l.split('=', 1)[1]
    if db == 'audit' and l.startswith(' '): pairs.append(i)
k = pairs[-1]                          # the last value line of the audit database
v = lines[k]; j = len(v) - 10
lines[k] = v[:j] + ('0' if v[j] != '0' else '1') + v[j + 1:]
open(path, 'w').write('\n'.join(lines))
PY
rm -rf "$P/store"; mkdir "$P/store"; mdb_load -f "$W/dump" "$P/store" 2>/dev/null
refused "audit entry" audit verify
rm -rf "$P/store"; cp -r "$W/store.saved" "$P/store"
mdb_dump -a -f "$W/dump" "$P/store"
python3 - "$W/dump" <<'PY'
import sys
lines = open(sys.argv[1]).read().split('\n'); out = []; i = 0; db = None; done = False
while i < len(lines):
    l = lines[i]
    if l.startswith('database='): db = l.split('=', 1)[1]
    if db == 'audit' and l == 'HEADER=END' and not done:
        out.append(l); i += 3; done = True; continue
    out.append(l); i += 1
open(sys.argv[1], 'w').write('\n'.join(out))
PY
rm -rf "$P/store"; mkdir "$P/store"; mdb_load -f "$W/dump" "$P/store" 2>/dev/null
refused "audit entry" audit verify
echo "cli_ceremony: ok"
