#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hybrid custody across PKCS#11 modules: the root stays in SoftHSM2 (the on-premises HSM), an
# issuing CA's key is generated in NSS's softoken (libsoftokn3.so, standing for a cloud HSM; it
# needs module initialisation arguments: [token.cloud] init_args), the root signs that CA in a
# ceremony with two shares, signetd logs in to both online modules and issues under the NSS CA
# over HTTP, and the chain verifies with OpenSSL and GnuTLS. signetd refuses to start when a CA
# on the offline root token would serve clients.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
SOFTOKN=$(dpkg -L libnss3 2>/dev/null | grep '/libsoftokn3\.so$' | head -1 || true)
[ -n "$SOFTOKN" ] && [ -f "$SOFTOKN" ] || { echo "SKIP: libsoftokn3.so (libnss3) not installed"; exit 0; }

it_demo_init

# the "cloud HSM": an NSS key database with a password, read by signet from a 0600 file
mkdir -p "$P/hsm/nss"
(umask 077; openssl rand -hex 16 >"$P/hsm/cloud.pin")
certutil -N -d "sql:$P/hsm/nss" -f "$P/hsm/cloud.pin" || fail "certutil -N"
cat >>"$CONF" <<EOF

# an issuing CA in another vendor's module: NSS softoken standing for a cloud HSM
[token.cloud]
module    = $SOFTOKN
token     = NSS Certificate DB
pin       = file:hsm/cloud.pin
init_args = configdir=\\'sql:$P/hsm/nss\\' certPrefix=\\'\\' keyPrefix=\\'\\' secmod=\\'secmod.db\\' flags=
EOF
sig hsm list >"$W/list" 2>&1 || fail "hsm list: $(cat "$W/list")"
grep -q "^token cloud: label NSS Certificate DB, module $SOFTOKN" "$W/list" || fail "hsm list: $(cat "$W/list")"

sig ca create --name cloud-1 --parent root --token cloud --type ec:P-256 --subject "/CN=Signet Cloud Issuing 1" \
  --csr-out "$W/cloud.csr" >"$W/create.log" 2>&1 || { cat "$W/create.log"; fail "ca create in the NSS token"; }
grep -q 'key = pkcs11:token=NSS%20Certificate%20DB;object=cloud-1' <(sed 's/  */ /g' "$CONF") \
  || fail "the CA's key URI is not percent-encoded: $(grep -A1 'ca.cloud-1' "$CONF")"
# an online CA key is marked for backup: NSS keeps CKA_WRAP_WITH_TRUSTED, so it leaves the
# module only wrapped under a trusted key (never in clear, never under an ordinary key)
sig hsm list | grep -q 'token=NSS%20Certificate%20DB;object=cloud-1.*ec:P-256 private sensitive backup-wrap-only' \
  || fail "the NSS key is not listed as sensitive and backup-wrap-only: $(sig hsm list)"
sign_subordinate root "$W/cloud.csr" "$W/cloud-1.crt" "$(utc_hour '+1 hour')" "$(utc_hour '+2 years')" >"$W/cer.conf"
sig ceremony run "$W/cer.conf" --dry-run --plan-out "$W/plan" >"$W/dry.log" 2>&1 || { cat "$W/dry.log"; fail "dry run"; }
sig ceremony run "$W/cer.conf" --plan "$W/plan" --share "$(share 2)" --share "$(share 3)" >"$W/real.log" 2>&1 \
  || { cat "$W/real.log"; fail "ceremony"; }
[ "$(grep -o 'TBS SHA-256: .*' "$W/dry.log")" = "$(grep -o 'TBS SHA-256: .*' "$W/real.log")" ] || fail "dry run and real run differ"
sig ca import-cert --name cloud-1 --cert "$W/cloud-1.crt" >/dev/null || fail "import-cert into the NSS-backed CA"

it_daemon_start --foreground
csr www.example.test l; body "$W/l.csr" tls-server cloud-1 >"$W/req.json"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$W/req.json" "$URL/v1/certificates")
[ "$st" = 201 ] || fail "enrollment under cloud-1 answered $st: $(cat "$W/r.json")"
python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["certificate"])' "$W/r.json" >"$W/leaf.crt"
openssl x509 -in "$W/leaf.crt" -noout -issuer | grep -q 'Signet Cloud Issuing 1' || fail "the leaf was not issued by cloud-1"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$W/cloud-1.crt" "$W/leaf.crt" >/dev/null \
  || fail "OpenSSL rejects leaf -> cloud-1 (NSS) -> root (SoftHSM)"
cat "$W/leaf.crt" "$W/cloud-1.crt" >"$W/chain.pem"
certtool --verify --load-ca-certificate "$P/public/root.crt" --infile "$W/chain.pem" >/dev/null 2>&1 \
  || fail "GnuTLS rejects the hybrid chain"
kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""

# a key marked offline (the quorum root) in signetd's online set: signetd refuses to start
sed -i 's/^profiles = subordinate-ca$/profiles = subordinate-ca, tls-server/' "$CONF"
PORT=$(port)
if timeout 20 "$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" --foreground >"$W/d2.log" 2>&1; then
  fail "signetd started with the offline root in its online set"; fi
grep -q 'offline token signet-root' "$W/d2.log" || fail "signetd did not say why: $(cat "$W/d2.log")"
echo "hybrid_nss: ok"
