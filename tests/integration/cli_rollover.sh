#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet ca rollover: an online sub-CA (parent online) gets a new key and certificate for the
# same name; certificates issued before verify under public/N-previous.crt, those issued after
# carry the new key identifier and verify under public/N.crt (OpenSSL -x509_strict); one previous
# generation at a time; --retire-previous is refused while the old key's certificates live. The
# demo's issuing-1 (parent: the quorum root) goes through a CSR, a sign-subordinate ceremony and
# --import-cert (a wrong certificate refused). A quorum root is refused. signetd issues under the
# new key after the rollover.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
PUB=$P/public
ski() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' '; }
aki() { openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://'; }
leaf() { csr "$1.example.test" "$1"; }
keys() { sig hsm list 2>/dev/null | grep 'token=signet-online;' | sed 's/;id=[^;]*//' | sort || true; }

sig ca create --name oroot --parent none --token online --type ec:P-256 --subject "CN=Online Root" >/dev/null
sig ca create --name osub --parent oroot --token online --type ec:P-256 --subject "CN=Online Sub" \
  --profiles tls-server >/dev/null
leaf before; sig issue --ca osub --profile tls-server --csr "$W/before.csr" --out "$W/before.crt" >/dev/null
cp "$PUB/osub.crt" "$W/osub.gen1"

# --- rollover of osub: its parent signs now
sig ca rollover --name osub >"$W/r1" 2>&1 || fail "rollover: $(cat "$W/r1")"
day=$(date -u +%Y%m%d)
grep -q "new key pkcs11:token=signet-online;object=osub-$day certified" "$W/r1" || fail "output: $(cat "$W/r1")"
sed -n '/^\[ca.osub\]/,/^\[/p' "$CONF" >"$W/sec"
grep -Eq "^key *= *pkcs11:token=signet-online;object=osub-$day$" "$W/sec" || fail "key = not switched: $(cat "$W/sec")"
grep -Eq '^previous_key *= *pkcs11:token=signet-online;object=osub$' "$W/sec" || fail "no previous_key"
grep -Eq '^previous_cert *= *public/osub-previous.crt$' "$W/sec" || fail "no previous_cert"
grep -Eq '^parent *= *oroot$' "$W/sec" || fail "the section lost its other lines"
cmp -s "$PUB/osub-previous.crt" "$W/osub.gen1" || fail "osub-previous.crt is not the old certificate"
cmp -s "$PUB/osub.crt" "$W/osub.gen1" && fail "osub.crt was not replaced"
[ "$(openssl x509 -in "$PUB/osub.crt" -noout -subject)" = "$(openssl x509 -in "$W/osub.gen1" -noout -subject)" ] \
  || fail "the new certificate has another subject"
[ "$(ski "$PUB/osub.crt")" != "$(ski "$W/osub.gen1")" ] || fail "the new certificate has the old key"
openssl verify -x509_strict -CAfile "$PUB/oroot.crt" "$PUB/osub.crt" >/dev/null || fail "new osub does not verify"
keys | grep -q "object=osub;type=private" || fail "the old key left the token"
keys | grep -q "object=osub-$day;type=private" || fail "no new key on the token"

# --- issuance after: the new key; before: still verifies under the previous certificate
leaf after; sig issue --ca osub --profile tls-server --csr "$W/after.csr" --out "$W/after.crt" >/dev/null
[ "$(aki "$W/after.crt")" = "$(ski "$PUB/osub.crt")" ] || fail "a new certificate is not issued under the new key"
[ "$(aki "$W/before.crt")" = "$(ski "$PUB/osub-previous.crt")" ] || fail "the old certificate's AKI changed?"
openssl verify -x509_strict -CAfile "$PUB/oroot.crt" -untrusted "$PUB/osub.crt" "$W/after.crt" >/dev/null \
  || fail "the new certificate does not verify under osub.crt"
openssl verify -x509_strict -CAfile "$PUB/oroot.crt" -untrusted "$PUB/osub-previous.crt" "$W/before.crt" >/dev/null \
  || fail "the old certificate does not verify under osub-previous.crt"
if openssl verify -CAfile "$PUB/oroot.crt" -untrusted "$PUB/osub.crt" "$W/before.crt" >/dev/null 2>&1; then
  fail "the old certificate verifies under the new key (the test proves nothing)"; fi

# --- one previous generation at a time; retire refused while the old key's certificates live
if sig ca rollover --name osub >"$W/r2" 2>&1; then fail "a second rollover with a previous generation"; fi
grep -q "already has a previous key generation" "$W/r2" || fail "second rollover: $(cat "$W/r2")"
if sig ca rollover --name osub --retire-previous >"$W/r3" 2>&1; then fail "retired with live certificates"; fi
grep -q "issued 1 certificates that have not expired" "$W/r3" || fail "retire: $(cat "$W/r3")"
grep -q '^previous_key' <(sed -n '/^\[ca.osub\]/,/^\[/p' "$CONF") || fail "a refused retire changed the configuration"

# --- an online root rolls over to a new self-signed certificate
sig ca rollover --name oroot >"$W/r4" 2>&1 || fail "root rollover: $(cat "$W/r4")"
openssl verify -x509_strict -CAfile "$PUB/oroot.crt" "$PUB/oroot.crt" >/dev/null || fail "new oroot not self-signed"
[ "$(ski "$PUB/oroot.crt")" != "$(ski "$PUB/oroot-previous.crt")" ] || fail "oroot kept its key"

# --- the quorum root: a ceremony's work
if sig ca rollover --name root >"$W/r5" 2>&1; then fail "the quorum root rolled over"; fi
grep -q "ceremony" "$W/r5" || fail "quorum root refusal: $(cat "$W/r5")"

# --- issuing-1: parent offline. Without --csr-out: refused, nothing made
keys >"$W/k0"
if sig ca rollover --name issuing-1 >"$W/r6" 2>&1; then fail "rolled over with an offline parent"; fi
grep -q -- "--csr-out" "$W/r6" || fail "offline parent refusal: $(cat "$W/r6")"
keys | diff - "$W/k0" >/dev/null || fail "a refused rollover left a key on the token"
cp "$PUB/issuing-1.crt" "$W/i1.gen1"
sig ca rollover --name issuing-1 --csr-out "$W/i1.csr" >"$W/r7" 2>&1 || fail "CSR: $(cat "$W/r7")"
openssl req -in "$W/i1.csr" -noout -verify >/dev/null 2>&1 || fail "the rollover CSR does not verify"
[ "$(openssl req -in "$W/i1.csr" -noout -subject)" = "$(openssl x509 -in "$W/i1.gen1" -noout -subject)" ] \
  || fail "the CSR's subject is not issuing-1's"
cmp -s "$PUB/issuing-1.crt" "$W/i1.gen1" || fail "the CSR step replaced the certificate"
sign_subordinate root "$W/i1.csr" "$W/i1.new" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$(date -u -d "$(openssl x509 -in "$PUB/root.crt" -noout -enddate | cut -d= -f2) - 1 day" +%Y-%m-%dT00:00:00Z)" >"$W/cer.conf"
sig ceremony run "$W/cer.conf" --share "$(share 1)" --share "$(share 2)" >"$W/cer.log" 2>&1 || { cat "$W/cer.log"; fail "ceremony"; }
if sig ca rollover --name issuing-1 --import-cert "$W/i1.gen1" >"$W/r8" 2>&1; then fail "imported the old certificate"; fi
grep -q "not for the pending key" "$W/r8" || fail "wrong import: $(cat "$W/r8")"
sig ca rollover --name issuing-1 --import-cert "$W/i1.new" >"$W/r9" 2>&1 || fail "import: $(cat "$W/r9")"
cmp -s "$PUB/issuing-1-previous.crt" "$W/i1.gen1" || fail "issuing-1-previous.crt is not the old certificate"
cmp -s <(openssl x509 -in "$PUB/issuing-1.crt") <(openssl x509 -in "$W/i1.new") || fail "issuing-1.crt is not the ceremony's"

# --- signetd issues under the new issuing-1 key
it_daemon_start --foreground
leaf web; body "$W/web.csr" tls-server >"$W/b.json"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$W/b.json" "$URL/v1/certificates")
[ "$st" = 201 ] || fail "signetd after the rollover answered $st: $(cat "$W/r.json")"
python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["certificate"])' "$W/r.json" >"$W/web.crt"
openssl verify -x509_strict -CAfile "$PUB/root.crt" -untrusted "$PUB/issuing-1.crt" "$W/web.crt" >/dev/null \
  || fail "signetd's certificate does not verify under the new issuing-1"
[ "$(aki "$W/web.crt")" = "$(ski "$PUB/issuing-1.crt")" ] || fail "signetd issued under the old key"
echo "PASS: ca rollover (online parent, online root, ceremony and import; signetd under the new key)"
