#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signet revoke and signet crl generate on a demo PKI: two certificates issued, one revoked for
# keyCompromise; the published CRL is checked by OpenSSL (signature, -crl_check revoked / good),
# GnuTLS certtool and Python cryptography; bad input (unknown reason, non-hex serial, unknown
# serial, another CA's certificate, revoking twice) exits 1 with a clear line and changes nothing;
# the CRL number increases from one generation to the next; GET /crl/ serves the same bytes.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
for n in good bad; do
  csr "$n.example.test" "$n"
  sig issue --ca issuing-1 --profile tls-server --csr "$W/$n.csr" --out "$W/$n.crt" >/dev/null \
    || fail "issue $n"
done
s=$(openssl x509 -in "$W/bad.crt" -noout -serial | cut -d= -f2)

# the store as it is before each bad input, to show nothing changed
state() { sig cert list --ca issuing-1 --status revoked 2>&1; }
before=$(state)
bad_input() { # expected-text args...
  local want=$1; shift
  if sig "$@" >"$W/out" 2>"$W/err"; then fail "signet $* succeeded"; fi
  rc=0; sig "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 1 ] || fail "signet $* exited $rc, not 1"
  [ "$(wc -l <"$W/err")" = 1 ] || fail "signet $* did not answer with one line: $(cat "$W/err")"
  grep -q "$want" "$W/err" || fail "signet $* did not say '$want': $(cat "$W/err")"
  [ "$(state)" = "$before" ] || fail "signet $* changed the store"
}
bad_input "not an RFC 5280 reason" revoke --ca issuing-1 --serial "$s" --reason notAReason
bad_input "removeFromCRL" revoke --ca issuing-1 --serial "$s" --reason removeFromCRL
bad_input "not a hex serial" revoke --ca issuing-1 --serial 12zz --reason superseded
bad_input "not a hex serial" revoke --ca issuing-1 --serial "$(printf 'ab%.0s' $(seq 1 21))" --reason superseded
bad_input "no certificate with serial" revoke --ca issuing-1 --serial 00ff00ff00ff00ff --reason superseded
bad_input "issuing-1 issued it" revoke --ca root --serial "$s" --reason superseded
bad_input "no such CA" revoke --ca nosuch --serial "$s" --reason superseded

sig revoke --ca issuing-1 --serial "$s" --reason keyCompromise >"$W/rev.out" || fail "revoke"
grep -q "revoked issuing-1/" "$W/rev.out" || fail "revoke said: $(cat "$W/rev.out")"
before=$(state)
bad_input "already revoked" revoke --ca issuing-1 --serial "$s" --reason superseded

sig crl generate --ca issuing-1 >"$W/gen.out" || fail "crl generate"
C=$P/public/crl/issuing-1.crl
[ -s "$C" ] || fail "no $C"
openssl crl -inform DER -in "$C" -out "$W/c1.pem" 2>/dev/null || fail "OpenSSL cannot read the CRL"
openssl crl -in "$W/c1.pem" -noout -CAfile "$P/public/issuing-1.crt" 2>&1 | grep -q "verify OK" \
  || fail "the CRL's signature does not verify against issuing-1"
openssl verify -crl_check -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" \
  -CRLfile "$W/c1.pem" "$W/bad.crt" >"$W/v.txt" 2>&1 || true
grep -q "certificate revoked" "$W/v.txt" || fail "openssl -crl_check does not report the revoked certificate: $(cat "$W/v.txt")"
openssl verify -crl_check -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" \
  -CRLfile "$W/c1.pem" "$W/good.crt" >/dev/null 2>&1 || fail "openssl -crl_check rejects the good certificate"
certtool --crl-info --inder --infile "$C" >"$W/gnutls.txt" 2>&1 || fail "GnuTLS cannot read the CRL"
grep -qi "$s" "$W/gnutls.txt" || fail "GnuTLS does not list the revoked serial"
python3 - "$C" "$s" "$P/public/issuing-1.crt" <<'PY' || fail "Python cryptography disagrees with the CRL"
import sys
from cryptography import x509
c = x509.load_der_x509_crl(open(sys.argv[1], 'rb').read())
ca = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read())
assert c.is_signature_valid(ca.public_key())
e = c.get_revoked_certificate_by_serial_number(int(sys.argv[2], 16))
assert e is not None, "revoked serial missing"
assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
assert len(list(c)) == 1
assert 0 < (c.next_update_utc - c.last_update_utc).days <= 10
aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
assert aki == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
idp = c.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
assert idp.critical and idp.value.only_contains_user_certs
PY
n1=$(openssl crl -in "$W/c1.pem" -noout -crlnumber | sed 's/.*=//')
sig crl generate --ca issuing-1 >/dev/null || fail "second crl generate"
n2=$(openssl crl -inform DER -in "$C" -noout -crlnumber | sed 's/.*=//')
[ $((16#${n2#0x})) -gt $((16#${n1#0x})) ] || fail "CRL number did not increase ($n1 -> $n2)"

# the web server serves the newest CRL from the store with its caching headers
it_daemon_start --foreground
curl -fsS -D "$W/h" -o "$W/web.crl" "$URL/crl/issuing-1.crl" || fail "GET /crl/issuing-1.crl"
cmp -s "$W/web.crl" "$C" || fail "the served CRL differs from public/crl/issuing-1.crl"
grep -qi '^content-type: application/pkix-crl' "$W/h" || fail "no application/pkix-crl"
grep -qi '^cache-control: public, max-age=' "$W/h" || fail "no Cache-Control max-age"
grep -qi '^last-modified:' "$W/h" || fail "no Last-Modified"
etag=$(grep -i '^etag:' "$W/h" | cut -d' ' -f2 | tr -d '\r')
[ -n "$etag" ] || fail "no ETag"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/crl/issuing-1.crl")
[ "$code" = 304 ] || fail "If-None-Match answered $code, not 304"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/crl/nosuch.crl")
[ "$code" = 404 ] || fail "an unknown CA's CRL answered $code, not 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/crl/issuing-1.crl")
[ "$code" = 405 ] || fail "POST answered $code, not 405"
echo "ok: revoke, crl generate, OpenSSL / GnuTLS / Python agree, bad input refused, GET /crl/"
