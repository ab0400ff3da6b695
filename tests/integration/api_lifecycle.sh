#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd's life cycle: READY=1 and STOPPING=1 reach $NOTIFY_SOCKET; SIGHUP reloads profiles
# (clients rule, broken profile kept out, file:line) and adds a client from
# signet.conf and keeps the clients in force when the new configuration is broken; SIGTERM in the
# middle of concurrent enrollments lets every accepted request finish with its certificate (no
# reset connections, no half replies) and exits 0 within 5 s.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir
NPID=""; it_kill_at_exit NPID

it_demo_init
csr www.example.test l; body "$W/l.csr" tls-server >"$W/req.json"

# a notify socket that records every datagram
python3 - "$W/notify" "$W/notify.log" <<'EOF' & NPID=$!
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode() + "\n")
EOF
for _ in $(seq 1 50); do [ -S "$W/notify" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$W/notify it_daemon_start
for _ in $(seq 1 20); do grep -q READY=1 "$W/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^READY=1$' "$W/notify.log" || fail "no READY=1 on NOTIFY_SOCKET"

post() { curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $1" --data-binary @"$W/req.json" "$URL/v1/certificates"; }

# --- SIGHUP: a second client appears
T2=second-client-token-$RANDOM
H2=$(printf %s "$T2" | sha256sum | cut -d' ' -f1)
[ "$(post "$T2")" = 401 ] || fail "an unknown client was let in"
cp "$CONF" "$W/conf.orig"
sed -i 's/^clients = client.demo$/clients = client.demo, client.two/' "$CONF"
printf '\n[client.two]\ntoken_sha256 = %s\nprofiles = tls-server\n' "$H2" >>"$CONF"
kill -HUP "$DPID"
for _ in $(seq 1 50); do [ "$(post "$T2")" = 201 ] && break; sleep 0.1; done
[ "$(post "$T2")" = 201 ] || fail "the client added to signet.conf is refused after SIGHUP: $(cat "$W/r.json")"
grep -q 'client:two' "$W/d.log" || fail "the issuance log does not name client:two"

# --- SIGHUP with a broken client: the clients in force stay
sed -i "s/^token_sha256 = $H2$/token_sha256 = nothex/" "$CONF"
kill -HUP "$DPID"
for _ in $(seq 1 50); do grep -q 'clients kept as they were' "$W/d.log" && break; sleep 0.1; done
grep -q 'clients kept as they were' "$W/d.log" || fail "a broken client section was not reported"
[ "$(post "$T2")" = 201 ] || fail "a broken reload dropped the clients in force"
[ "$(post "$TOKEN")" = 201 ] || fail "a broken reload dropped the demo client"
kill -0 "$DPID" || fail "signetd died on a broken reload"

# --- SIGHUP reloads the profiles: a clients rule that leaves the demo client out takes effect,
# a broken profile leaves the set in force, and the fixed profile lets the client in again.
cp "$W/conf.orig" "$CONF"
TS=$P/policies/tls-server.conf
cp "$TS" "$W/tls-server.orig"
sed -i 's/^\[profile\]$/[profile]\nclients = someone-else/' "$TS"
kill -HUP "$DPID"
for _ in $(seq 1 50); do [ "$(post "$TOKEN")" = 403 ] && break; sleep 0.1; done
[ "$(post "$TOKEN")" = 403 ] || fail "after SIGHUP, a profile whose clients rule leaves the demo client out still let it in"
grep -q 'urn:signet:error:forbidden' "$W/r.json" || fail "the 403 is not a forbidden problem: $(cat "$W/r.json")"
cp "$W/tls-server.orig" "$TS"
sed -i 's/^\[profile\]$/[profile]\nfrobnicate = 1/' "$TS"
kill -HUP "$DPID"
for _ in $(seq 1 50); do grep -q 'profiles kept as they were' "$W/d.log" && break; sleep 0.1; done
grep -q 'profiles kept as they were.*tls-server.conf:[0-9]' "$W/d.log" || fail "a broken profile was not reported with file:line"
[ "$(post "$TOKEN")" = 403 ] || fail "a broken profile replaced the profiles in force"
cp "$W/tls-server.orig" "$TS"
kill -HUP "$DPID"
for _ in $(seq 1 50); do [ "$(post "$TOKEN")" = 201 ] && break; sleep 0.1; done
[ "$(post "$TOKEN")" = 201 ] || fail "the fixed profile did not take effect after SIGHUP: $(cat "$W/r.json")"

# --- SIGTERM during concurrent enrollments: 32 connections each send a whole request, then
# SIGTERM; every one must get a complete 201 with a certificate (none reset, none cut short).
python3 - "$PORT" "$TOKEN" "$W/req.json" "$W/sent" "$W/clients.log" <<'EOF' & CPID=$!
import json, socket, sys
port, token, body = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
req = (b"POST /v1/certificates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
       b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
       b"\r\n\r\n" + body)
socks = []
for _ in range(32):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(req); socks.append(s)
open(sys.argv[4], "w").close()
ok = 0
with open(sys.argv[5], "w") as log:
    for i, s in enumerate(socks):
        s.settimeout(20); data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep and b"Content-Length:" in head:
                    n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
                    if len(rest) >= n:
                        break
        except OSError as e:
            log.write("%d: %s\n" % (i, e)); continue
        head, sep, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 201") and "BEGIN CERTIFICATE" in json.loads(rest)["certificate"]:
            ok += 1
        else:
            log.write("%d: %r\n" % (i, data[:120]))
    log.write("ok=%d\n" % ok)
sys.exit(0 if ok == 32 else 1)
EOF
for _ in $(seq 1 100); do [ -f "$W/sent" ] && break; sleep 0.05; done
[ -f "$W/sent" ] || fail "the test clients could not connect"
t0=$(date +%s%N)
kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
[ "$ms" -lt 5000 ] || fail "signetd took $ms ms to stop"
crc=0; wait "$CPID" || crc=$?
[ "$crc" = 0 ] || fail "requests in flight at SIGTERM were not all answered: $(head -5 "$W/clients.log")"
ok=32
for _ in $(seq 1 20); do grep -q STOPPING=1 "$W/notify.log" && break; sleep 0.1; done
grep -q '^STOPPING=1$' "$W/notify.log" || fail "no STOPPING=1 on NOTIFY_SOCKET"
echo "PASS: signetd life cycle (32 enrollments in flight at SIGTERM all answered; stopped in $ms ms)"
