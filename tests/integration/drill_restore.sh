#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Disaster-recovery drill (docs/backup.md): issue and revoke under load, take a backup while
# signetd issues, keep issuing (what comes after the backup point is the RPO), destroy the PKI
# directory and its tokens, restore into a new directory and new tokens with the custodians'
# shares and the backup recipient's key, start signetd again and check that every certificate
# and revocation acknowledged before the backup is there, OCSP answers good/revoked as it should
# (openssl ocsp), the CRL verifies, lists the revocations and has a higher number, and issuance
# resumes. Prints RTO (restore seconds) and RPO (acknowledged after the backup point and lost).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir signet-drill
LPID=""; it_kill_at_exit LPID
# enroll NAME [keep]: issues a tls-server certificate; on 201 prints the serial (and with keep,
# writes NAME.crt). Shell only on the load path: a python start costs more than an issuance here.
enroll() { local n=$1
  csr "$n.example.test" "$n"
  printf '{"profile":"tls-server","csr":"%s"}' "$(awk '{printf "%s\\n", $0}' "$W/$n.csr")" >"$W/$n.json"
  [ "$(curl -s -o "$W/$n.r" -w '%{http_code}' -H 'Expect:' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary @"$W/$n.json" "$URL/v1/certificates")" = 201 ] || return 1
  [ -z "${2:-}" ] || field certificate "$W/$n.r" >"$W/$n.crt"
  grep -o '"serial": *"[0-9a-f]*"' "$W/$n.r" | sed 's/.*"\([0-9a-f]*\)"$/\1/'; }
revoke() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{"reason":"keyCompromise"}' "$URL/v1/certificates/$1/revoke")" = 200 ]; }
crlnum() { curl -fsS "$URL/crl/issuing-1.crl" | openssl crl -inform DER -noout -crlnumber | sed 's/.*=//'; }
ocsp() { openssl ocsp -issuer "$P/public/issuing-1.crt" -cert "$W/$1.crt" -url "$URL/ocsp" -CAfile "$W/cas.pem" \
  -no_nonce 2>&1 | grep "^$W/$1.crt:" | awk '{print $2}'; }

it_demo_init
cat "$P/public/root.crt" "$P/public/issuing-1.crt" >"$W/cas.pem"
it_daemon_start --foreground

# --- acknowledged before the backup: 24 issued, 6 of them revoked
: >"$W/issued"; : >"$W/revoked"
for i in $(seq 1 24); do s=$(enroll "pre$i" keep) || fail "issuance pre$i"; echo "pre$i $s" >>"$W/issued"; done
for i in 1 5 9 13 17 21; do s=$(awk -v n="pre$i" '$1==n{print $2}' "$W/issued"); revoke "$s" || fail "revoke pre$i"
  echo "pre$i $s" >>"$W/revoked"; done
"$B/signet" -c "$P/signet.conf" crl generate --ca issuing-1 >/dev/null 2>&1 || fail "crl generate"
n1=$(crlnum)

# --- load while the backup runs and after it: every acknowledgement is stamped
: >"$W/load"
( set +e; i=0; while :; do i=$((i+1)); if s=$(enroll "load$i" 2>>"$W/load.err"); then echo "load$i $s $(date +%s.%N)" >>"$W/load"
  else echo "load$i failed: $(head -c 200 "$W/load$i.r" 2>/dev/null)" >>"$W/load.err"; fi; done ) 2>/dev/null & LPID=$!
sleep 1
t_backup=$(date +%s.%N)
"$B/signet" -c "$P/signet.conf" backup create --out "$W/b.bk" >"$W/bk.log" 2>&1 || { cat "$W/bk.log"; fail "backup create under load"; }
t_backup_end=$(date +%s.%N)
sleep 1
kill "$LPID"; wait "$LPID" 2>/dev/null || true; LPID=""
"$B/signet" -c "$P/signet.conf" backup verify "$W/b.bk" >/dev/null 2>&1 || fail "backup verify"
"$B/signet" -c "$P/signet.conf" crl generate --ca issuing-1 >/dev/null 2>&1 || fail "crl generate after backup"
n_disaster=$(crlnum)

# --- disaster: the PKI directory and its tokens are gone; the custodians kept their material
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
cp -r "$P/custodians" "$W/custodians"; cp "$P/clients/demo.token" "$W/demo.token"; rm -rf "$P"
t0=$(date +%s.%N)
"$B/signet" backup restore "$W/b.bk" --dir "$W/pki2" --recipient-key "$W/custodians/backup-recipient.key" \
  --share "$W/custodians/share-1.share:$W/custodians/share-1.pass" \
  --share "$W/custodians/share-3.share:$W/custodians/share-3.pass" >"$W/rs.log" 2>&1 || { cat "$W/rs.log"; fail "restore"; }
rto=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
grep -q "activated by shares 1,3" "$W/rs.log" || fail "restore did not check the root with the shares: $(cat "$W/rs.log")"
[ ! -e "$W/pki" ] || fail "restore wrote into the old directory"
P=$W/pki2; CONF=$P/signet.conf; it_daemon_start --foreground
show() { "$B/signet" -c "$P/signet.conf" cert show --ca issuing-1 --serial "$1" 2>&1; }

# --- everything acknowledged before the backup is there
while read -r n s; do show "$s" | grep -qi "issued\|revoked" || fail "$n ($s) acknowledged before the backup is missing"; done <"$W/issued"
while read -r n s; do show "$s" | grep -qi revoked || fail "revocation of $n ($s) lost"; done <"$W/revoked"
lost=0; kept=0; lost_before=0
while read -r n s t; do
  if show "$s" | grep -qi "issued"; then kept=$((kept+1)); else
    lost=$((lost+1)); python3 -c "import sys; sys.exit(0 if $t < $t_backup else 1)" && lost_before=$((lost_before+1)); fi
done <"$W/load"
[ "$lost_before" = 0 ] || fail "$lost_before certificates acknowledged before the backup started are missing"

# --- OCSP and CRL answer correctly
for _ in $(seq 1 100); do [ "$(ocsp pre2)" = good ] && break; sleep 0.1; done
[ "$(ocsp pre2)" = good ] || fail "OCSP for pre2 is '$(ocsp pre2)', not good"
for n in pre1 pre13 pre21; do [ "$(ocsp $n)" = revoked ] || fail "OCSP for revoked $n answers '$(ocsp $n)'"; done
curl -fsS "$URL/crl/issuing-1.crl" -o "$W/after.crl" || fail "no CRL served after restore"
openssl crl -inform DER -in "$W/after.crl" -noout -CAfile "$W/cas.pem" 2>&1 | grep -q "verify OK" || fail "the CRL does not verify"
crl_serials=$(openssl crl -inform DER -in "$W/after.crl" -noout -text | awk '/Serial Number:/{print tolower($3)}')
while read -r n s; do echo "$crl_serials" | grep -qix "$s" || fail "the CRL lacks $n ($s)"; done <"$W/revoked"
n2=$(crlnum)
python3 -c "import sys; sys.exit(0 if int('$n2',16) > int('$n_disaster',16) > int('$n1',16) else 1)" \
  || fail "CRL number after restore ($n2) is not above the last one before the disaster ($n_disaster)"

# --- issuance resumes and the new CRL number keeps rising
s=$(enroll after keep) || fail "issuance does not resume after restore"
revoke "$s" || fail "revocation does not resume after restore"
"$B/signet" -c "$P/signet.conf" crl generate --ca issuing-1 >/dev/null 2>&1 || fail "crl generate after restore"
n3=$(crlnum); python3 -c "import sys; sys.exit(0 if int('$n3',16) > int('$n2',16) else 1)" || fail "CRL number did not rise ($n2 -> $n3)"
total=$(wc -l <"$W/load")
win=$(python3 -c "print(f'{$t_backup_end - $t_backup:.2f}')")
echo "drill: RTO ${rto}s (restore of $(wc -l <"$W/issued") + $total certificates)"
echo "drill: RPO $lost of $total certificates acknowledged under load were lost (all acknowledged after the backup began; backup took ${win}s); $kept kept"
echo "drill: CRL numbers $n1 -> $n_disaster (disaster) -> $n2 (restored) -> $n3"
echo "PASS"
