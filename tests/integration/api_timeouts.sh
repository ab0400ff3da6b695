#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetd's read and idle timeouts with short values from signet.conf: a request whose headers or
# body stall past read_timeout gets a 408 problem with Connection: close and the connection
# closes; a client sending a byte every 0.4 s is cut off by the request's deadline (not a
# per-read timeout); an idle keep-alive connection and a connection that never sends anything
# are closed without a reply; a second request on time still works; 405 / 413 / 431 still
# answer; the daemon keeps serving and exits 0 on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
it_workdir

it_demo_init
sed -i 's/^\[daemon\]$/[daemon]\nread_timeout = 2\nidle_timeout = 3\nworkers = 2/' "$CONF"
grep -q '^read_timeout = 2' "$CONF" || fail "could not set the timeouts in signet.conf"
it_daemon_start --foreground

# Raw sockets: each case prints "ok CASE" or "bad CASE: why"; read_timeout 2 s, idle 3 s.
python3 - "$PORT" >"$W/cases.log" 2>&1 <<'EOF' || true
import json, socket, sys, time
port = int(sys.argv[1])

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s

def read_all(s, limit):
    """Everything until the peer closes (or limit seconds); returns (bytes, closed, seconds)."""
    t0, data = time.monotonic(), b""
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True, time.monotonic() - t0
        if not b:
            return data, True, time.monotonic() - t0
        data += b
    return data, False, time.monotonic() - t0

def check_408(name, data, closed, secs, lo, hi):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    if not lines[0].startswith("HTTP/1.1 408"):
        return print(f"bad {name}: status line {lines[0]!r} after {secs:.1f} s")
    if hdrs.get("connection", "").lower() != "close":
        return print(f"bad {name}: no Connection: close ({hdrs})")
    if hdrs.get("content-type") != "application/problem+json":
        return print(f"bad {name}: content type {hdrs.get('content-type')}")
    p = json.loads(body)
    if p.get("status") != 408 or not p.get("type", "").endswith(":requestTimeout"):
        return print(f"bad {name}: problem {p}")
    if not closed:
        return print(f"bad {name}: the connection stayed open after the 408")
    if not lo <= secs <= hi:
        return print(f"bad {name}: answered after {secs:.1f} s, not within {lo}..{hi}")
    print(f"ok {name}")

# 1. headers stall
s = conn(); s.sendall(b"POST /v1/certificates HTTP/1.1\r\nHost: x\r\n")
check_408("headers-stall", *read_all(s, 8), 1.5, 4.5)
# 2. body stall: 10 bytes of a declared 100
s = conn()
s.sendall(b"POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 100\r\n\r\n{\"csr\": \"-")
check_408("body-stall", *read_all(s, 8), 1.5, 4.5)
# 3. slowloris: a byte every 0.4 s of headers that never end; cut off by the deadline
s = conn(); t0 = time.monotonic(); sent = 0; data = b""
msg = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
s.settimeout(0.4)
while time.monotonic() - t0 < 10:
    try:
        s.send(msg[sent:sent + 1]); sent += 1
    except OSError:
        break
    try:
        b = s.recv(4096)
        if not b:
            break
        data += b
    except socket.timeout:
        pass
    except OSError:
        break
rest, closed, _ = read_all(s, 2)
check_408("slowloris", data + rest, True, time.monotonic() - t0, 1.5, 5.0)
# 4. keep-alive: a second request 1 s after the first works; then idle past 3 s is closed silently
s = conn()
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(req); time.sleep(0.3); s.settimeout(2); first = s.recv(65536)
time.sleep(1.0)
s.sendall(req); time.sleep(0.3); second = s.recv(65536)
if not (first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")):
    print(f"bad keepalive: {first[:40]!r} / {second[:40]!r}")
else:
    data, closed, secs = read_all(s, 8)
    if data or not closed or not 2.0 <= secs <= 5.0:
        print(f"bad idle: {len(data)} bytes, closed={closed} after {secs:.1f} s")
    else:
        print("ok keepalive"); print("ok idle")
# 5. a connection that never sends: closed without a reply within about read_timeout
s = conn()
data, closed, secs = read_all(s, 8)
print("ok silent" if not data and closed and secs <= 4.5 else
      f"bad silent: {len(data)} bytes, closed={closed} after {secs:.1f} s")
EOF
for c in headers-stall body-stall slowloris keepalive idle silent; do
  grep -qx "ok $c" "$W/cases.log" || fail "$c: $(cat "$W/cases.log")"
done

# --- the other limits still answer as before
st=$(curl -s -o /dev/null -D "$W/h" -w '%{http_code}' -X DELETE "$URL/v1/certificates")
[ "$st" = 405 ] && grep -qi '^Allow: POST' "$W/h" || fail "DELETE answered $st"
head -c 70000 /dev/zero | tr '\0' A >"$W/mid"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary @"$W/mid" \
  "$URL/v1/certificates"); [ "$st" = 413 ] || fail "a 70 KB body answered $st"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "X-Pad: $(head -c 9000 /dev/zero | tr '\0' a)" "$URL/healthz")
[ "$st" = 431 ] && [ "$(code)" = tooLarge ] || fail "9 KB of headers answered $st"

# --- still serving; three 408s, the 405 and the 431 counted (libevent's 413 is not); SIGTERM: 0
curl -fsS "$URL/healthz" >/dev/null || fail "signetd stopped serving"
curl -fsS "$URL/metrics" >"$W/m" || fail "/metrics"
n4=$(awk '/^signet_http_responses_total\{class="4xx"\}/ {print $2}' "$W/m")
[ -n "$n4" ] && [ "$n4" -ge 5 ] || fail "4xx responses counted: '${n4}' ($(grep -i http "$W/m" | head -3))"
kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM"
echo "api_timeouts: ok"
