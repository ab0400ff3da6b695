#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A signature that fails after PENDING was recorded: the token (through the fault-injecting
# module) corrupts every signature, hsmbind refuses to return one, `signet issue` fails with one
# line, and the PENDING record stays (possibly issued; its serial is never reused). A later
# issuance through the real module works and the PENDING record is still listed.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
online_via_faulthsm "$CONF" "$P/fault.conf"
csr www.example.test l

rc=0
FAULTHSM_RULES="corrupt every 1" "$B/signet" -c "$P/fault.conf" issue --ca issuing-1 --profile tls-server \
  --csr "$W/l.csr" --out "$W/x.crt" >"$W/out" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] || fail "issue with corrupted signatures exited $rc: $(cat "$W/err")"
[ "$(wc -l <"$W/err")" = 1 ] || fail "not one line: $(cat "$W/err")"
[ ! -s "$W/x.crt" ] || fail "a certificate was written although its signature was bad"
pending=$("$B/signet" -c "$P/signet.conf" cert list --ca issuing-1 --status pending)
[ "$(echo "$pending" | grep -c ' pending ')" = 1 ] || fail "wanted one PENDING record, got: $pending"
serial=${pending%% *}
"$B/signet" -c "$P/signet.conf" cert show --ca issuing-1 --serial "$serial" | grep -q 'possibly issued' \
  || fail "cert show does not explain the pending record"

"$B/signet" -c "$P/signet.conf" issue --ca issuing-1 --profile tls-server --csr "$W/l.csr" --out "$W/ok.crt" >/dev/null \
  || fail "issuance through the real module failed"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/ok.crt" >/dev/null \
  || fail "certificate does not verify"
[ "$("$B/signet" -c "$P/signet.conf" cert list --ca issuing-1 | wc -l)" = 2 ] || fail "wanted 2 records (1 pending, 1 issued)"
"$B/signet" -c "$P/signet.conf" cert list --ca issuing-1 --status pending | grep -q "^$serial pending" \
  || fail "the PENDING record was lost"
new=$(openssl x509 -in "$W/ok.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
[ "$new" != "$serial" ] || fail "a pending serial was reused"
echo "cli_pending: ok"
