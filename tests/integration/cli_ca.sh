#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CA set-up commands: hsm list / keygen, ca create signed at once by a usable parent, ca create
# writing a CSR when the parent's token cannot be used (quorum), the ceremony's certificate
# imported with ca import-cert (a certificate for another key refused), and issuance under the
# new CAs checked with openssl verify -x509_strict and GnuTLS.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
cd "$W"

sig hsm list >"$W/list" || fail "hsm list"
# issuing-1 is marked for backup: it leaves the token only wrapped under a trusted key
grep -q 'pkcs11:token=signet-online;object=issuing-1;.*ec:P-256 private sensitive backup-wrap-only' "$W/list" \
  || fail "hsm list does not show issuing-1 as a sensitive, backup-wrap-only P-256 key: $(cat "$W/list")"
# the root token is offline: hsm list names it but does not open it
grep -q '^token root: label signet-root' "$W/list" || fail "hsm list does not name the root token"
grep -q 'quorum' "$W/list" || fail "hsm list does not say the root token needs a quorum: $(cat "$W/list")"
grep -q 'object=root' "$W/list" && fail "hsm list opened the offline root token"

uri=$(sig hsm keygen --token online --label spare --type ed25519) || fail "hsm keygen"
[ "$uri" = "pkcs11:token=signet-online;object=spare" ] || echo "$uri" | grep -q '^pkcs11:token=signet-online;object=spare' \
  || fail "hsm keygen printed '$uri'"
sig hsm list | grep -q 'object=spare.*ed25519 private' || fail "the new key is not listed"
if sig hsm keygen --token online --label spare --type ed25519 >/dev/null 2>"$W/err"; then fail "a second key with the same label was made"; fi
[ "$(wc -l <"$W/err")" = 1 ] || fail "duplicate label: not one line: $(cat "$W/err")"

# a CA signed at once by a parent whose token is usable (a lab root on the online token)
sig ca create --name lab-root --parent "" --token online --type ec:P-256 --subject "CN=Lab Root" --pathlen 1 \
  --profiles "subordinate-ca, tls-server" >"$W/c1.log" 2>&1 || { cat "$W/c1.log"; fail "ca create lab-root"; }
sig ca create --name issuing-2 --parent lab-root --token online --type ec:P-384 --subject "CN=Issuing 2,O=Signet Demo" \
  --pathlen 0 >"$W/c2.log" 2>&1 || { cat "$W/c2.log"; fail "ca create issuing-2"; }
[ -s "$P/public/issuing-2.crt" ] || fail "ca create wrote no public/issuing-2.crt"
openssl verify -x509_strict -CAfile "$P/public/lab-root.crt" "$P/public/issuing-2.crt" >/dev/null || fail "issuing-2 does not verify"
sig ca list | grep -q '^issuing-2 parent=lab-root' || fail "ca list lacks issuing-2"
csr www.example.test l
sig issue --ca issuing-2 --profile tls-server --csr "$W/l.csr" --out "$W/l2.crt" >/dev/null || fail "issue under issuing-2"
openssl verify -x509_strict -CAfile "$P/public/lab-root.crt" -untrusted "$P/public/issuing-2.crt" "$W/l2.crt" >/dev/null \
  || fail "leaf under issuing-2 does not verify"
if sig ca create --name issuing-2 --parent lab-root --token online --type ec:P-256 --subject CN=x >/dev/null 2>&1; then
  fail "a second CA named issuing-2 was created"; fi

# the root is activated by quorum: ca create writes a CSR for the ceremony instead
sigo() { sig "$@"; }
sigo ca create --name issuing-3 --parent root --token online --type ec:P-256 --subject "CN=Issuing 3" \
  --csr-out "$W/i3.csr" >"$W/c3.log" 2>&1 || { cat "$W/c3.log"; fail "ca create issuing-3 (CSR)"; }
grep -q 'CSR written' "$W/c3.log" || fail "ca create did not say it wrote a CSR"
openssl req -in "$W/i3.csr" -noout -verify >/dev/null 2>&1 || fail "the CA's CSR does not verify"
[ ! -e "$P/public/issuing-3.crt" ] || fail "a certificate was written without the parent"
# without --csr-out it says what to do
if sigo ca create --name issuing-4 --parent root --token online --type ec:P-256 --subject CN=x >/dev/null 2>"$W/err"; then
  fail "ca create without a usable parent and without --csr-out succeeded"; fi
grep -q -- '--csr-out' "$W/err" || fail "ca create did not point to --csr-out: $(cat "$W/err")"

# the ceremony: the root signs the CSR under the subordinate-ca profile with 2 of its 3 shares
cer() { sign_subordinate "$1" "$W/i3.csr" "$2" "$(utc_hour '+1 hour')" "$(utc_hour '+2 years')"; }
cer root "$W/i3.crt" >"$W/i3.cer"
sig ceremony run "$W/i3.cer" --share "$(share 2)" --share "$(share 3)" >"$W/cer.log" 2>&1 || { cat "$W/cer.log"; fail "the root did not sign issuing-3"; }
# the same CSR signed by another CA than the configured parent is refused at import
cer lab-root "$W/i3-lab.crt" >"$W/i3-lab.cer"
sig ceremony run "$W/i3-lab.cer" >"$W/lab.log" 2>&1 || { cat "$W/lab.log"; fail "lab-root did not sign issuing-3's CSR"; }
if sigo ca import-cert --name issuing-3 --cert "$W/i3-lab.crt" >/dev/null 2>"$W/err"; then
  fail "a certificate from another issuer than the parent was imported"; fi
grep -q 'not issued by the configured parent CA root' "$W/err" || fail "wrong-parent import: $(cat "$W/err")"
if sigo ca import-cert --name issuing-3 --cert "$P/public/issuing-1.crt" >/dev/null 2>"$W/err"; then
  fail "a certificate for another key was imported"; fi
grep -q 'not the key of CA issuing-3' "$W/err" || fail "wrong-key import: $(cat "$W/err")"
sigo ca import-cert --name issuing-3 --cert "$W/i3.crt" >/dev/null || fail "ca import-cert"
cmp -s <(openssl x509 -in "$W/i3.crt" -outform DER) <(openssl x509 -in "$P/public/issuing-3.crt" -outform DER) \
  || fail "import-cert did not write public/issuing-3.crt"
sigo issue --ca issuing-3 --profile tls-server --csr "$W/l.csr" --out "$W/l3.crt" >/dev/null || fail "issue under issuing-3"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-3.crt" "$W/l3.crt" >/dev/null \
  || fail "leaf under issuing-3 does not verify"
cat "$W/l3.crt" "$P/public/issuing-3.crt" >"$W/chain3.pem"
certtool --verify --load-ca-certificate "$P/public/root.crt" --infile "$W/chain3.pem" >/dev/null 2>&1 \
  || fail "GnuTLS does not verify the chain under issuing-3"
echo "cli_ca: ok"
