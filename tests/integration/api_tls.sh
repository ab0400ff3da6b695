#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd over TLS on a demo PKI: a server certificate and key made with openssl and a client CA
# with three client certificates. Enrollment over https with a bearer token (curl --cacert) and
# with a client certificate whose SPKI SHA-256 is a client's spki_sha256 (no token) answers 201;
# an unknown client certificate without a token answers 401; a certificate client asking for a
# profile outside its list answers 403; a certificate from another CA fails the handshake; TLS 1.1
# is refused; a tls_key readable by others stops start-up; plain HTTP to the TLS port fails and
# the daemon keeps serving; SIGTERM exits 0.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
# post FILE ARGS...: POST the JSON body over https with extra curl arguments; prints the status
post() { local f=$1; shift
  curl -s -o "$W/r.json" -w '%{http_code}' --cacert "$W/tlsca.crt" "$@" \
    -H 'Content-Type: application/json' --data-binary @"$f" "$URL/v1/certificates"; }
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
# mkcert NAME CN CA: an EC key and a certificate for CN signed by CA (tlsca or other)
mkcert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$1.key" \
    -subj "/CN=$2" -out "$W/$1.csr" 2>/dev/null
  openssl x509 -req -in "$W/$1.csr" -CA "$W/$3.crt" -CAkey "$W/$3.key" -CAcreateserial -days 2 \
    -extfile <(printf '%s\n' "${@:4}") -out "$W/$1.crt" 2>/dev/null
}

it_demo_init

# --- a throwaway TLS CA, the server's certificate and three client certificates
for ca in tlsca other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$ca.key" \
    -subj "/CN=$ca" -days 2 -out "$W/$ca.crt" 2>/dev/null
done
mkcert server localhost tlsca "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth"
mkcert robot robot tlsca "extendedKeyUsage=clientAuth"
mkcert narrow narrow tlsca "extendedKeyUsage=clientAuth"
mkcert stranger stranger tlsca "extendedKeyUsage=clientAuth"
mkcert outsider outsider other "extendedKeyUsage=clientAuth"
chmod 600 "$W/server.key"

cat >>"$CONF" <<EOF

[client.robot]
spki_sha256 = $(spki "$W/robot.crt")
profiles    = tls-server, tls-client

[client.narrow]
spki_sha256 = $(spki "$W/narrow.crt")
profiles    = tls-client
EOF
sed -i "s|^\[daemon\]\$|[daemon]\ntls_cert = $W/server.crt\ntls_key = $W/server.key\ntls_client_ca = $W/tlsca.crt|" "$CONF"
sed -i 's/^clients = client.demo$/clients = client.demo, client.robot, client.narrow/' "$CONF"
grep -q '^tls_key' "$CONF" && grep -q 'client.narrow$' "$CONF" || fail "could not configure TLS"
# the narrow client's rule: tls-client's profile must allow it (profiles may name their clients)
PORT=$(port); URL=https://127.0.0.1:$PORT

# --- a key file others can read is refused at start
chmod 644 "$W/server.key"
rc=0; timeout 20 "$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" >"$W/bad.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "tls_key" "$W/bad.log" || fail "a 0644 tls_key was accepted (rc $rc): $(tail -2 "$W/bad.log")"
chmod 600 "$W/server.key"

"$B/signetd" -c "$CONF" --listen "127.0.0.1:$PORT" --foreground >"$W/d.log" 2>&1 & DPID=$!
it_wait_up 150 --cacert "$W/tlsca.crt" || fail "signetd did not come up over TLS"

# --- a bearer token over https
csr a.example.test a; body "$W/a.csr" tls-server >"$W/a.json"
st=$(post "$W/a.json" -H "Authorization: Bearer $TOKEN")
[ "$st" = 201 ] || fail "enrollment with a token over TLS answered $st: $(cat "$W/r.json")"

# --- a client certificate whose SPKI is configured, no token
csr b.example.test b; body "$W/b.csr" tls-server >"$W/b.json"
st=$(post "$W/b.json" --cert "$W/robot.crt" --key "$W/robot.key")
[ "$st" = 201 ] || fail "enrollment with robot's certificate answered $st: $(cat "$W/r.json")"
python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["certificate"])' "$W/r.json" >"$W/b.crt"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" \
  "$W/b.crt" >/dev/null || fail "the certificate issued to robot does not verify"

# --- an unknown client certificate and no token: 401
st=$(post "$W/b.json" --cert "$W/stranger.crt" --key "$W/stranger.key")
[ "$st" = 401 ] && [ "$(code)" = unauthorized ] || fail "an unknown client certificate answered $st"
# --- no certificate and no token: 401
st=$(post "$W/b.json"); [ "$st" = 401 ] || fail "no credential over TLS answered $st"
# --- a client allowed tls-client only asking for tls-server: 403
st=$(post "$W/b.json" --cert "$W/narrow.crt" --key "$W/narrow.key")
[ "$st" = 403 ] && [ "$(code)" = forbidden ] || fail "narrow asking for tls-server answered $st"
# --- a certificate from a CA other than tls_client_ca: the handshake fails
rc=0; post "$W/b.json" --cert "$W/outsider.crt" --key "$W/outsider.key" >/dev/null || rc=$?
[ "$rc" != 0 ] || fail "a client certificate from another CA was accepted"
# --- TLS 1.1 is refused; TLS 1.2 works
rc=0; openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 </dev/null >"$W/s11.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "TLS 1.1 was accepted"
curl -fsS --tlsv1.2 --tls-max 1.2 --cacert "$W/tlsca.crt" "$URL/healthz" >/dev/null || fail "TLS 1.2 refused"

# --- plain HTTP to the TLS port fails cleanly; the daemon keeps serving
rc=0; st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz") || rc=$?
[ "$rc" != 0 ] || [ "$st" != 200 ] || fail "plain HTTP was served on the TLS port"
st=$(post "$W/a.json" -H "Authorization: Bearer $TOKEN"); [ "$st" = 201 ] || fail "after plain HTTP: $st"
kill -0 "$DPID" || fail "signetd died"

kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
echo "api_tls: ok"
