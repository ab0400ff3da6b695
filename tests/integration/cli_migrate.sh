#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet key migrate: a key made elsewhere (pkcs11-tool, extractable) and the demo's issuing CA
# key (made for backup: extractable only under a trusted key, so the source SO PIN is needed)
# moved to another token by wrap/unwrap; the moved issuing key then signs a certificate that
# OpenSSL verifies under the ORIGINAL issuing-1 certificate. Refusals: a non-extractable key,
# a destination that already holds the label, a backup key without the SO PIN; each says why
# and leaves both tokens as they were (no transport object left behind).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
export SOFTHSM2_CONF=$P/hsm/softhsm2.conf
p11() { pkcs11-tool --module "$MOD" "$@"; }

# two more tokens: a source holding keys made outside Signet, and the destination
for t in src dest; do
  softhsm2-util --init-token --free --label "signet-$t" --pin 4321 --so-pin 8765 >/dev/null
  printf 4321 >"$P/hsm/$t.pin"
  chmod 600 "$P/hsm/$t.pin"
  printf '\n[token.%s]\nmodule = %s\ntoken  = signet-%s\npin    = file:hsm/%s.pin\n' "$t" "$MOD" "$t" "$t" \
    >>"$P/signet.conf"
done
p11 --token-label signet-src -l -p 4321 --keypairgen --key-type EC:prime256v1 --label portable \
  --id 0a0b --extractable --sensitive --private >/dev/null 2>&1 || fail "pkcs11-tool keypairgen"
p11 --token-label signet-src -l -p 4321 --keypairgen --key-type EC:prime256v1 --label sealed \
  --id 0c0d --sensitive --private >/dev/null 2>&1 || fail "pkcs11-tool keypairgen (sealed)"
# a certificate for "portable": its public key read from the token, signed by a throwaway CA
p11 --token-label signet-src -l -p 4321 -O >"$W/objs.txt" 2>/dev/null
python3 - "$W/objs.txt" "$W/portable.pub" <<'PY'
import base64, re, sys
t = open(sys.argv[1]).read()
for blk in re.split(r'\n(?=\S)', t):  # one block per object (its lines are indented)
    if blk.startswith('Public Key Object') and re.search(r'label:\s+portable\n', blk + '\n'):
        raw = bytes.fromhex(re.search(r'EC_POINT:\s+([0-9a-f]+)', blk).group(1))[2:]
        der = bytes.fromhex('3059301306072a8648ce3d020106082a8648ce3d030107034200') + raw
        open(sys.argv[2], 'w').write('-----BEGIN PUBLIC KEY-----\n' + base64.encodebytes(der).decode()
                                     + '-----END PUBLIC KEY-----\n')
PY
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tca.key" -subj /CN=tca \
  -out "$W/tca.crt" -days 30 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tmp.key" -subj /CN=portable \
  -out "$W/p.csr" 2>/dev/null
openssl x509 -req -in "$W/p.csr" -force_pubkey "$W/portable.pub" -CA "$W/tca.crt" -CAkey "$W/tca.key" \
  -out "$W/portable.crt" -days 30 2>/dev/null

list() { { sig hsm list 2>/dev/null || true; } | { grep "token=signet-$1;" || true; } | sed 's/;id=[^;]*//' | sort; }
list src >"$W/src.before"; list dest >"$W/dest.before"; list online >"$W/online.before"
[ -s "$W/src.before" ] || fail "no keys listed on the source token"

# 1. a non-extractable key: refused with the reason and what to do
if sig key migrate --from 'pkcs11:token=signet-src;object=sealed' --to 'pkcs11:token=signet-dest' \
  --cert "$W/portable.crt" >"$W/o1" 2>&1; then fail "a non-extractable key was migrated"; fi
grep -q "is not extractable" "$W/o1" || fail "no reason for the refusal: $(cat "$W/o1")"
grep -q "cross-sign" "$W/o1" || fail "the refusal does not say what to do: $(cat "$W/o1")"
# 2. the demo's issuing key without the SO PIN: refused, names the option
if sig key migrate --from 'pkcs11:token=signet-online;object=issuing-1' --to 'pkcs11:token=signet-dest' \
  >"$W/o2" 2>&1; then fail "a backup key was migrated without a trusted wrapping key"; fi
grep -q -- "--source-so-pin-file" "$W/o2" || fail "the refusal does not name --source-so-pin-file: $(cat "$W/o2")"
list src | diff - "$W/src.before" >/dev/null || fail "refusals changed the source token"
list dest | diff - "$W/dest.before" >/dev/null || fail "refusals changed the destination token"
list online | diff - "$W/online.before" >/dev/null || fail "refusals changed the online token"

# 3. the extractable key moves and is proven against its certificate
sig key migrate --from 'pkcs11:token=signet-src;object=portable' --to 'pkcs11:token=signet-dest' \
  --cert "$W/portable.crt" >"$W/o3" 2>&1 || fail "migrate portable: $(cat "$W/o3")"
grep -q "migrated to pkcs11:token=signet-dest;object=portable" "$W/o3" || fail "no new URI: $(cat "$W/o3")"
grep -q "proof: the new key signed" "$W/o3" || fail "no proof line: $(cat "$W/o3")"
list dest | grep -q "object=portable;type=private" || fail "no private key on the destination"
list dest | grep -q "object=portable;type=public" || fail "no public key object on the destination"
list dest | grep -q "signet-migrate" && fail "transport objects left on the destination"
list src | grep -q "signet-migrate" && fail "transport key left on the source"
# 4. the same label again: refused, nothing overwritten
list dest >"$W/dest.mid"
if sig key migrate --from 'pkcs11:token=signet-src;object=portable' --to 'pkcs11:token=signet-dest' \
  --cert "$W/portable.crt" >"$W/o4" 2>&1; then fail "migrated onto an existing label"; fi
grep -q "already holds a key labelled 'portable'" "$W/o4" || fail "label clash not explained: $(cat "$W/o4")"
list dest | diff - "$W/dest.mid" >/dev/null || fail "the refused migration changed the destination"

# 4b. another vendor's module (NSS softoken) as the destination: SoftHSM 2.6 zero-pads the
# wrapped PKCS#8, NSS refuses it; the refusal says so and nothing is left in the NSS token
SOFTOKN=$(dpkg -L libnss3 2>/dev/null | grep '/libsoftokn3\.so$' | head -1 || true)
if [ -n "$SOFTOKN" ] && [ -f "$SOFTOKN" ]; then
  mkdir -p "$P/hsm/nss"; (umask 077; openssl rand -hex 16 >"$P/hsm/cloud.pin")
  certutil -N -d "sql:$P/hsm/nss" -f "$P/hsm/cloud.pin" || fail "certutil -N"
  printf "\n[token.cloud]\nmodule    = %s\ntoken     = NSS Certificate DB\npin       = file:hsm/cloud.pin\ninit_args = configdir=\\\\'sql:%s\\\\' certPrefix=\\\\'\\\\' keyPrefix=\\\\'\\\\' secmod=\\\\'secmod.db\\\\' flags=\n" \
    "$SOFTOKN" "$P/hsm/nss" >>"$P/signet.conf"
  if sig key migrate --from 'pkcs11:token=signet-src;object=portable' --to 'pkcs11:token=NSS%20Certificate%20DB' \
    --cert "$W/portable.crt" >"$W/o4b" 2>&1; then fail "SoftHSM to NSS unexpectedly worked: update docs/keys.md"; fi
  grep -q "zero-pads the PKCS#8" "$W/o4b" || fail "cross-module refusal not explained: $(cat "$W/o4b")"
  sig hsm list 2>/dev/null | grep -q 'token=NSS%20Certificate%20DB;' && fail "objects left in the NSS token"
  list src | grep -q "signet-migrate" && fail "transport key left on the source after the NSS refusal"
else
  echo "note: libsoftokn3.so not installed, cross-module case not run"
fi

# 5. the issuing CA's key with the source SO PIN; then issuance under the moved key
[ -s "$P/hsm/online.so-pin" ] || fail "the demo PKI has no hsm/online.so-pin"
sig --json key migrate --from 'pkcs11:token=signet-online;object=issuing-1' --to 'pkcs11:token=signet-dest' \
  --source-so-pin-file "$P/hsm/online.so-pin" >"$W/o5" 2>"$W/e5" || fail "migrate issuing-1: $(cat "$W/e5")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["proven"] is True and d["ca"]=="issuing-1" and d["uri"]=="pkcs11:token=signet-dest;object=issuing-1", d' "$W/o5" \
  || fail "migrate --json: $(cat "$W/o5")"
list online | grep -q "signet-migrate" && fail "trusted transport key left on the online token"
sed -i 's|^key *= *pkcs11:token=signet-online;object=issuing-1$|key      = pkcs11:token=signet-dest;object=issuing-1|' "$P/signet.conf"
grep -q 'object=issuing-1' <(grep 'signet-dest;object=issuing-1' "$P/signet.conf") || fail "conf not switched"
# the old key is gone from the online token's point of view: remove it, so only the moved one can sign
p11 --token-label signet-online -l -p "$(cat "$P/hsm/online.pin")" --delete-object --type privkey \
  --label issuing-1 >/dev/null 2>&1 || fail "removing the source key"
csr moved.example.test leaf
sig issue --ca issuing-1 --profile tls-server --csr "$W/leaf.csr" --out "$W/leaf.crt" >"$W/o6" 2>&1 \
  || fail "issue under the moved key: $(cat "$W/o6")"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/leaf.crt" \
  >/dev/null || fail "a certificate signed by the moved key does not verify under the original issuing-1"
echo "PASS: key migrate (refusals, proof, issuance under the moved key)"
