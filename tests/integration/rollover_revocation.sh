#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Revocation across a CA key rollover (docs/crl.md "After a key rollover"): the demo's issuing-1
# rolls over through a ceremony; one certificate issued before and one after are revoked; each
# generation's CRL (issuing-1.crl signed by the old key, issuing-1-g2.crl by the new one, one
# number sequence) makes `openssl verify -crl_check` report its own certificate revoked, lists
# only what its key issued, and is served by signetd; a good old certificate stays good. OCSP:
# each serial is answered (and verifies) under the generation that issued it, by a responder
# certificate of that generation; asked under the other generation's issuer it is unauthorized.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
PUB=$P/public
leaf() { csr "$1.example.test" "$1"
  sig issue --ca issuing-1 --profile tls-server --csr "$W/$1.csr" --out "$W/$1.crt" >/dev/null || fail "issue $1"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
crlpem() { openssl crl -inform DER -in "$1" -out "$2" 2>/dev/null || fail "$1 is not a DER CRL"; }
crlnum() { openssl crl -inform DER -in "$1" -noout -crlnumber | cut -d= -f2; }
# verify CERT ISSUER CRLPEM: openssl verify's output on one line
verify() { openssl verify -crl_check -CAfile "$PUB/root.crt" -untrusted "$2" -CRLfile "$3" "$1" 2>&1 | tr "\n" " " || true; }

leaf old; leaf oldgood
sig crl generate --ca issuing-1 >/dev/null || fail "CRL before the rollover"
n0=$(crlnum "$PUB/crl/issuing-1.crl")

# --- rollover of issuing-1 (offline parent: CSR, ceremony, import)
cp "$PUB/issuing-1.crt" "$W/i1.gen1"
sig ca rollover --name issuing-1 --csr-out "$W/i1.csr" >"$W/r1" 2>&1 || fail "CSR: $(cat "$W/r1")"
sign_subordinate root "$W/i1.csr" "$W/i1.new" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$(date -u -d "$(openssl x509 -in "$PUB/root.crt" -noout -enddate | cut -d= -f2) - 1 day" +%Y-%m-%dT00:00:00Z)" >"$W/cer.conf"
sig ceremony run "$W/cer.conf" --share "$(share 1)" --share "$(share 2)" >"$W/cer.log" 2>&1 || { cat "$W/cer.log"; fail "ceremony"; }
sig ca rollover --name issuing-1 --import-cert "$W/i1.new" >"$W/r2" 2>&1 || fail "import: $(cat "$W/r2")"
sed -n '/^\[ca.issuing-1\]/,/^\[/p' "$CONF" >"$W/sec"
grep -Eq '^previous_crl_url *= *http://127.0.0.1:8080/crl/issuing-1.crl$' "$W/sec" || fail "no previous_crl_url: $(cat "$W/sec")"
grep -Eq '^crl_url *= *http://127.0.0.1:8080/crl/issuing-1-g2.crl$' "$W/sec" || fail "crl_url not moved to -g2: $(cat "$W/sec")"

leaf new
openssl x509 -in "$W/new.crt" -noout -ext crlDistributionPoints | grep -q 'issuing-1-g2.crl' || fail "the new certificate's CDP is not the new generation's"
openssl x509 -in "$W/old.crt" -noout -ext crlDistributionPoints | grep -q 'issuing-1.crl' || fail "old CDP?"

sig revoke --ca issuing-1 --serial "$(serial "$W/old.crt")" --reason keyCompromise >/dev/null || fail "revoke old"
sig revoke --ca issuing-1 --serial "$(serial "$W/new.crt")" --reason superseded >/dev/null || fail "revoke new"
sig crl generate --ca issuing-1 >"$W/g.log" 2>&1 || fail "CRL generate after the rollover: $(cat "$W/g.log")"
[ -s "$PUB/crl/issuing-1-g2.crl" ] || fail "no issuing-1-g2.crl"
crlpem "$PUB/crl/issuing-1.crl" "$W/prev.pem"; crlpem "$PUB/crl/issuing-1-g2.crl" "$W/cur.pem"

# each CRL signed by its generation's key, with its AKI and IDP
openssl crl -in "$W/prev.pem" -noout -CAfile "$PUB/issuing-1-previous.crt" 2>&1 | grep -q "verify OK" || fail "previous CRL not signed by the old key"
openssl crl -in "$W/cur.pem" -noout -CAfile "$PUB/issuing-1.crt" 2>&1 | grep -q "verify OK" || fail "new CRL not signed by the new key"
if openssl crl -in "$W/prev.pem" -noout -CAfile "$PUB/issuing-1.crt" 2>&1 | grep -q "verify OK"; then fail "previous CRL verifies under the new key"; fi
ski() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' '; }
crlaki() { openssl crl -in "$1" -noout -text | grep -A1 'Authority Key Identifier' | tail -1 | tr -d ' ' | sed 's/^keyid://'; }
[ "$(crlaki "$W/prev.pem")" = "$(ski "$PUB/issuing-1-previous.crt")" ] || fail "previous CRL AKI"
[ "$(crlaki "$W/cur.pem")" = "$(ski "$PUB/issuing-1.crt")" ] || fail "new CRL AKI"
openssl crl -in "$W/prev.pem" -noout -text | grep -q 'URI:http://127.0.0.1:8080/crl/issuing-1.crl' || fail "previous CRL IDP"
openssl crl -in "$W/cur.pem" -noout -text | grep -q 'URI:http://127.0.0.1:8080/crl/issuing-1-g2.crl' || fail "new CRL IDP"
# the previous CRL holds only what the old key issued
openssl crl -in "$W/prev.pem" -noout -text | grep -q "Serial Number: $(serial "$W/old.crt")" || fail "old serial not in the previous CRL"
if openssl crl -in "$W/prev.pem" -noout -text | grep -q "Serial Number: $(serial "$W/new.crt")"; then fail "new serial in the previous CRL"; fi
openssl crl -in "$W/cur.pem" -noout -text | grep -q "Serial Number: $(serial "$W/new.crt")" || fail "new serial not in the new CRL"
# one increasing number sequence
np=$(crlnum "$PUB/crl/issuing-1.crl"); nc=$(crlnum "$PUB/crl/issuing-1-g2.crl")
python3 -c "import sys;a,b,c=(int(x,16) for x in sys.argv[1:]);sys.exit(0 if a<b and a<c and b!=c else 1)" "$n0" "$np" "$nc" \
  || fail "CRL numbers $n0 -> $np / $nc"

r=$(verify "$W/old.crt" "$PUB/issuing-1-previous.crt" "$W/prev.pem"); echo "$r" | grep -q "certificate revoked" || fail "old: $r"
r=$(verify "$W/new.crt" "$PUB/issuing-1.crt" "$W/cur.pem"); echo "$r" | grep -q "certificate revoked" || fail "new: $r"
r=$(verify "$W/oldgood.crt" "$PUB/issuing-1-previous.crt" "$W/prev.pem"); [ "$r" = "$W/oldgood.crt: OK " ] || fail "good old: $r"

# a second cycle keeps the entries and the numbers go on
sig crl generate --ca issuing-1 >/dev/null || fail "second CRL cycle"
np2=$(crlnum "$PUB/crl/issuing-1.crl")
python3 -c "import sys;sys.exit(0 if int(sys.argv[1],16)>int(sys.argv[2],16) else 1)" "$np2" "$nc" || fail "number did not go on"
crlpem "$PUB/crl/issuing-1.crl" "$W/prev2.pem"
r=$(verify "$W/old.crt" "$PUB/issuing-1-previous.crt" "$W/prev2.pem"); echo "$r" | grep -q "certificate revoked" || fail "old after 2nd cycle: $r"

# --- signetd serves both generations' CRLs
it_daemon_start --foreground
curl -fsS "$URL/crl/issuing-1.crl" -o "$W/s1.crl" || fail "GET issuing-1.crl"
curl -fsS "$URL/crl/issuing-1-g2.crl" -o "$W/s2.crl" || fail "GET issuing-1-g2.crl"
openssl crl -inform DER -in "$W/s1.crl" -noout -CAfile "$PUB/issuing-1-previous.crt" 2>&1 | grep -q "verify OK" || fail "served previous CRL"
openssl crl -inform DER -in "$W/s2.crl" -noout -CAfile "$PUB/issuing-1.crt" 2>&1 | grep -q "verify OK" || fail "served new CRL"

# --- OCSP for both generations (docs/ocsp.md "After a key rollover"): each serial answered by
# the generation that issued it, under that generation's issuer hashes
cat "$PUB/issuing-1-previous.crt" "$PUB/root.crt" >"$W/chain-prev.pem"
cat "$PUB/issuing-1.crt" "$PUB/root.crt" >"$W/chain-cur.pem"
# ocspq ISSUER CERT CAFILE [DIGEST]: openssl ocsp's output on one line
ocspq() { openssl ocsp ${4:+"-$4"} -issuer "$1" -cert "$2" -url "$URL/ocsp" -CAfile "$3" -no_nonce 2>&1 | tr "\n" " " || true; }
# until_said WANT ARGS...: retries (responses are signed by the refresher; the web's issuer table
# is rebuilt every 5 s) until the answer holds WANT
until_said() { local want=$1 r=""; shift; for _ in $(seq 1 60); do r=$(ocspq "$@"); case "$r" in *"$want"*) echo "$r"; return 0;; esac; sleep 0.5; done; echo "$r"; return 1; }
for _ in $(seq 1 100); do [ -s "$PUB/issuing-1-previous-ocsp.crt" ] && break; sleep 0.1; done
RP=$PUB/issuing-1-previous-ocsp.crt
[ -s "$RP" ] || fail "no public/issuing-1-previous-ocsp.crt: $(grep -i ocsp "$W/d.log" | tail -3)"
openssl verify -CAfile "$PUB/root.crt" -untrusted "$PUB/issuing-1-previous.crt" -purpose ocsphelper "$RP" >/dev/null 2>&1 \
  || fail "the previous responder does not chain to the old key"
if openssl verify -CAfile "$PUB/root.crt" -untrusted "$PUB/issuing-1.crt" "$RP" >/dev/null 2>&1; then fail "previous responder verifies under the new key"; fi
openssl x509 -in "$RP" -noout -text | grep -q "OCSP No Check" || fail "previous responder lacks ocsp-nocheck"
openssl x509 -in "$RP" -noout -ext extendedKeyUsage | grep -q "OCSP Signing" || fail "previous responder EKU"
r=$(until_said "old.crt: revoked" "$PUB/issuing-1-previous.crt" "$W/old.crt" "$W/chain-prev.pem") || fail "old (revoked) by OCSP: $r"
echo "$r" | grep -q "Response verify OK" || fail "old: response does not verify: $r"
echo "$r" | grep -q "Reason: keyCompromise" || fail "old: reason: $r"
r=$(until_said "oldgood.crt: good" "$PUB/issuing-1-previous.crt" "$W/oldgood.crt" "$W/chain-prev.pem") || fail "good old by OCSP: $r"
echo "$r" | grep -q "Response verify OK" || fail "good old: response does not verify: $r"
r=$(until_said "oldgood.crt: good" "$PUB/issuing-1-previous.crt" "$W/oldgood.crt" "$W/chain-prev.pem" sha256) || fail "good old by OCSP (SHA-256 CertID): $r"
echo "$r" | grep -q "Response verify OK" || fail "good old (SHA-256): response does not verify: $r"
r=$(until_said "new.crt: revoked" "$PUB/issuing-1.crt" "$W/new.crt" "$W/chain-cur.pem") || fail "new (revoked) by OCSP: $r"
echo "$r" | grep -q "Response verify OK" || fail "new: response does not verify: $r"
# a serial asked under the other generation's issuer: unauthorized, never good
r=$(ocspq "$PUB/issuing-1.crt" "$W/oldgood.crt" "$W/chain-cur.pem")
echo "$r" | grep -q "unauthorized" || fail "old serial under the new issuer: $r"
r=$(ocspq "$PUB/issuing-1.crt" "$W/oldgood.crt" "$W/chain-cur.pem" sha256)
echo "$r" | grep -q "unauthorized" || fail "old serial under the new issuer (SHA-256): $r"
r=$(ocspq "$PUB/issuing-1-previous.crt" "$W/new.crt" "$W/chain-prev.pem")
echo "$r" | grep -q "unauthorized" || fail "new serial under the previous issuer: $r"
echo "PASS: rollover revocation (each key generation's CRL, one number sequence, served; OCSP per generation)"
