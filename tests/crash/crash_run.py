#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Crash safety of issuance: SIGKILL signetd again and again while clients enroll.

Drives a demo PKI made by `signet demo init` (see tests/integration/crash_sigkill.sh):

  phase A  the real SoftHSM2 module; kills at random moments, every other one just after a
           request went out;
  phase B  the same token through tests/faulthsm with C_Sign slowed down, so that a kill lands
           between PENDING and ISSUED and leaves PENDING records for certain;
  final    a clean start-up (must report every PENDING record), a few more enrollments (must
           not reuse a PENDING serial), SIGTERM (must exit 0).

Clients are threads with keep-alive connections; each records every certificate it received
(201, body parsed). The store is then checked with the operator tool (`signet cert list`,
`signet cert show`) and with mdb_dump, and every certificate with `openssl verify -x509_strict`.
Every failure is listed; exit status 0 only when none. Python 3 standard library only.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

CA = "issuing-1"
PROFILE = "tls-server"
HEALTH_WAIT = 60.0  # seconds a start-up may take (ASan, a slow machine)
REQ_TIMEOUT = 15.0  # seconds a request may take before the client gives up on it
WEB_EXIT_WAIT = 5.0  # seconds a web process may outlive its ca process
PENDING_RE = re.compile(r"CA issuing-1: (\d+) PENDING record")


# A stop signal (SIGTERM from the test's cleanup, ^C) ends the run through SystemExit, so every
# `finally` kills signetd; between starting signetd and recording its pid it is only noted, so no
# signetd can be started without the driver knowing its pid.
_signals = {"defer": False, "got": None}


def on_signal(sig, _frame):
    if _signals["defer"]:
        _signals["got"] = sig
    else:
        sys.exit(128 + sig)


def log(msg):
    print(f"crash: {msg}", flush=True)


def free_port():
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def der_len(buf, off):
    """(content offset, content length) of the DER element at off."""
    n = buf[off + 1]
    if n < 0x80:
        return off + 2, n
    k = n & 0x7F
    if k == 0 or k > 4:
        raise ValueError("bad DER length")
    return off + 2 + k, int.from_bytes(buf[off + 2 : off + 2 + k], "big")


def cert_serial(der):
    """The serial number (an int) of a DER certificate or of a bare TBSCertificate."""
    c, _ = der_len(der, 0)
    if der[c] == 0x30:  # a Certificate: step into its TBSCertificate
        c, _ = der_len(der, c)
    if der[c] == 0xA0:  # [0] version
        vc, vl = der_len(der, c)
        c = vc + vl
    if der[c] != 0x02:
        raise ValueError("no serial INTEGER where expected")
    ic, il = der_len(der, c)
    return int.from_bytes(der[ic : ic + il], "big")


class Shared:
    """State the clients and the killer share (under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.port = None  # where signetd listens, None while it is down
        self.last_send = 0.0  # monotonic time of the latest request sent
        self.sent = 0  # requests written to a connection
        self.not_sent = 0  # connection attempts refused (signetd down)
        self.unanswered = 0  # requests sent that got no complete answer
        self.other = {}  # status -> count of answers other than 201
        self.other_samples = []
        self.received = []  # dicts: serial (int), hex, der, client
        self.bad_bodies = []  # 201 answers whose body was wrong
        self.stop = threading.Event()


def client(idx, sh, bodies, token, seed):
    """One enrolling client: keep-alive, reconnect after any failure, never gives up early."""
    rnd = random.Random(seed)
    conn, port = None, None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not sh.stop.is_set():
        with sh.lock:
            cur = sh.port
        if cur is None:
            time.sleep(0.01)
            continue
        if conn is None or port != cur:
            if conn is not None:
                conn.close()
            conn, port = http.client.HTTPConnection("127.0.0.1", cur, timeout=REQ_TIMEOUT), cur
            try:
                conn.connect()
            except OSError:
                conn.close()
                conn = None
                with sh.lock:
                    sh.not_sent += 1
                time.sleep(0.02)
                continue
        with sh.lock:
            sh.sent += 1
            sh.last_send = time.monotonic()
        try:
            conn.request("POST", "/v1/certificates", body=rnd.choice(bodies), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            with sh.lock:
                sh.unanswered += 1
            conn.close()
            conn = None
            continue
        if resp.status == 201:
            rec = parse_issued(data, idx)
            with sh.lock:
                if isinstance(rec, str):
                    sh.bad_bodies.append(rec)
                else:
                    sh.received.append(rec)
        else:
            with sh.lock:
                sh.other[resp.status] = sh.other.get(resp.status, 0) + 1
                if len(sh.other_samples) < 5:
                    sh.other_samples.append(f"{resp.status} {data[:300]!r}")
        if resp.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def parse_issued(data, idx):
    """A received certificate as a dict, or a string saying what is wrong with the body."""
    try:
        j = json.loads(data)
        der = ssl.PEM_cert_to_DER_cert(j["certificate"])
        hexs = j["serial"]
        if not re.fullmatch(r"[0-9a-f]+", hexs):
            return f"client {idx}: serial {hexs!r} is not lowercase hex"
        if cert_serial(der) != int(hexs, 16):
            return f"client {idx}: serial {hexs} differs from the certificate's"
        if j.get("ca") != CA:
            return f"client {idx}: serial {hexs} from CA {j.get('ca')!r}"
        return {"serial": int(hexs, 16), "hex": hexs, "der": der, "client": idx}
    except (ValueError, KeyError, TypeError, IndexError) as e:
        return f"client {idx}: a 201 body that does not parse ({e}): {data[:200]!r}"


def proc_stat(pid):
    """(state, ppid, start time) of a process from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return rest[0], int(rest[1]), int(rest[19])


def children(pid):
    """{pid: start time} of the live children of pid (signetd's web processes)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] == pid and st[0] != "Z":
                out[int(d)] = st[2]
    return out


def alive(pid, start):
    """Whether that very process (pid and start time) still runs (a zombie does not)."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def kill_if(pid, start):
    """SIGKILL pid if it is still that process."""
    if alive(pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Daemon:
    """signetd under our control; its pid is kept in pidfile for the shell's cleanup."""

    def __init__(self, build, work, pidfile):
        self.build, self.work, self.pidfile = build, work, pidfile
        self.proc, self.port, self.runs, self.logs = None, None, 0, []

    def start(self, conf, env_extra=None):
        """Starts signetd on a free port and waits for /healthz; returns the log's path."""
        for _ in range(3):  # another program may take the port between probe and bind
            self.runs += 1
            path = os.path.join(self.work, f"signetd-{self.runs:02d}.log")
            self.logs.append(path)
            port = free_port()
            env = dict(os.environ, **(env_extra or {}))
            _signals["defer"] = True
            try:
                with open(path, "wb") as lf:
                    self.proc = subprocess.Popen(
                        [os.path.join(self.build, "signetd"), "-c", conf, "--listen",
                         f"127.0.0.1:{port}", "--foreground"],
                        stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT, env=env)
                with open(self.pidfile, "w") as pf:
                    pf.write(f"{self.proc.pid}\n")
            finally:
                _signals["defer"] = False
            if _signals["got"] is not None:
                sys.exit(128 + _signals["got"])
            if self.wait_healthy(port):
                self.port = port
                return path
            self.kill()
            with open(path, errors="replace") as f:
                text = f.read()
            if "in use" not in text:
                raise RuntimeError(f"signetd did not come up; {path}:\n{text[-1500:]}")
        raise RuntimeError("signetd could not bind a free port three times")

    def wait_healthy(self, port):
        end = time.monotonic() + HEALTH_WAIT
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def kill(self, whole=True):
        """SIGKILL the ca process (whole: and its web processes at the same moment), reap it,
        and wait (bounded) until no web process is left. Returns a finding or None."""
        finding = None
        if self.proc is not None:
            web = children(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            if whole:
                for pid, start in web.items():
                    kill_if(pid, start)
            self.proc.wait(timeout=10)
            finding = self.reap_web(web, "was killed")
        self.proc, self.port = None, None
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        return finding

    def reap_web(self, web, how):
        """Web processes must stop by themselves once the ca process is gone (5 s)."""
        end = time.monotonic() + WEB_EXIT_WAIT
        while time.monotonic() < end and any(alive(p, s) for p, s in web.items()):
            time.sleep(0.02)
        left = [p for p, s in web.items() if alive(p, s)]
        for p in left:
            kill_if(p, web[p])
        if left:
            return (f"web process(es) {left} still running {WEB_EXIT_WAIT:.0f} s after the ca "
                    f"process {how}")
        return None

    def term(self):
        """SIGTERM; (exit status or None when it had to be killed after 20 s, finding)."""
        web = children(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        finding = self.reap_web(web, "exited on SIGTERM")
        self.kill()
        return rc, finding


class Run:
    """The whole scenario and its findings."""

    def __init__(self, args):
        self.a = args
        self.rnd = random.Random(args.seed)
        self.pki = args.pki
        self.conf = os.path.join(self.pki, "signet.conf")
        self.signet = os.path.join(args.build, "signet")
        self.sh = Shared()
        self.d = Daemon(args.build, args.work, args.pidfile)
        self.failures = []
        self.kills = {"A": 0, "B": 0}
        self.orphans = set()  # serials (int) seen PENDING while signetd was down
        self.startups = []  # (log, pending expected, pending reported)
        self.orphans_at_b = set()  # orphans known when phase B began
        self.kill_modes = {"ca only": 0, "ca and web": 0}
        with open(os.path.join(self.pki, "clients", "demo.token")) as f:
            self.token = f.read().strip()

    def fail(self, msg):
        self.failures.append(msg)
        print(f"FAIL: {msg}", file=sys.stderr, flush=True)

    def signet_json(self, *argv):
        out = subprocess.run([self.signet, "-c", self.conf, "--json", *argv], capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"signet {' '.join(argv)} exited {out.returncode}: {out.stderr}")
        return json.loads(out.stdout)

    def store_list(self, status=None):
        argv = ["cert", "list", "--ca", CA] + (["--status", status] if status else [])
        return self.signet_json(*argv)

    def make_bodies(self, n=8):
        """n enrollment bodies, each with its own key and name under example.test."""
        bodies = []
        for i in range(n):
            name = f"crash-{i}.example.test"
            key = os.path.join(self.a.work, f"c{i}.key")
            out = subprocess.run(
                ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-subj", f"/CN={name}", "-addext",
                 f"subjectAltName=DNS:{name}"], capture_output=True, text=True, timeout=30,
                check=True)
            bodies.append(json.dumps({"csr": out.stdout, "profile": PROFILE}).encode())
        return bodies

    def fault_conf(self):
        """signet.conf with [token.online] behind the fault module (same directory: same paths)."""
        lines, sect, done = [], "", False
        with open(self.conf) as f:
            for line in f:
                s = line.strip()
                if s.startswith("["):
                    sect = s
                if sect == "[token.online]" and re.match(r"module\s*=", s):
                    line, done = f"module = {self.a.faulthsm}\n", True
                lines.append(line)
        if not done:
            raise RuntimeError("signet.conf has no module line in [token.online]")
        path = os.path.join(self.pki, "fault.conf")
        with open(path, "w") as f:
            f.writelines(lines)
        return path

    def start(self, conf, env=None):
        """A start-up: note the PENDING records first, then check signetd reports that many."""
        pending = {int(r["serial"], 16) for r in self.store_list("pending")}
        if not self.orphans <= pending:
            gone = sorted(f"{s:x}" for s in self.orphans - pending)
            self.fail(f"{len(gone)} PENDING record(s) left by earlier kills are no longer "
                      f"PENDING: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}")
        self.orphans |= pending
        path = self.d.start(conf, env)
        with open(path, errors="replace") as f:
            m = PENDING_RE.findall(f.read())
        reported = int(m[0]) if m else 0
        self.startups.append((path, len(pending), reported))
        if len(m) > 1 or reported != len(pending):
            self.fail(f"{os.path.basename(path)}: {len(pending)} PENDING record(s) in the store, "
                      f"start-up reported {m or 'none'}")
        with self.sh.lock:
            self.sh.port = self.d.port

    def kill(self, phase, inflight):
        """SIGKILL at this moment, or (inflight) a few ms after the next request goes out."""
        if inflight:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                with self.sh.lock:
                    if self.sh.last_send > t0:
                        break
                time.sleep(0.0005)
            time.sleep(self.rnd.uniform(0.0, 0.02))
        whole = self.rnd.random() < 0.5
        finding = self.d.kill(whole=whole)
        with self.sh.lock:
            self.sh.port = None
        self.kills[phase] += 1
        self.kill_modes["ca and web" if whole else "ca only"] += 1
        if finding:
            self.fail(finding)

    def chaos(self, phase, conf, env, seconds, min_kills, gap):
        """Kills and restarts for `seconds` (and at least min_kills kills, within 2x the time)."""
        t0 = time.monotonic()
        while True:
            el = time.monotonic() - t0
            if (el >= seconds and self.kills[phase] >= min_kills) or el >= 2 * seconds:
                break
            time.sleep(self.rnd.uniform(*gap))
            self.kill(phase, inflight=(phase == "B" or self.kills[phase] % 2 == 1))
            self.start(conf, env)
        if self.kills[phase] < min_kills:
            self.fail(f"phase {phase}: only {self.kills[phase]} kills in {2 * seconds:.0f} s "
                      f"(wanted {min_kills}): start-ups took too long, see the signetd logs")

    def scenario(self):
        bodies = self.make_bodies()
        threads = [threading.Thread(target=client, args=(i, self.sh, bodies, self.token,
                                                          self.rnd.getrandbits(32)), daemon=True)
                   for i in range(self.a.clients)]
        self.start(self.conf)
        for t in threads:
            t.start()
        self.chaos("A", self.conf, None, self.a.seconds, self.a.min_kills, (0.3, 1.5))
        fenv = {"FAULTHSM_RULES": f"latency C_Sign {self.a.sign_delay_ms}"}
        self.kill("A", inflight=True)
        fconf = self.fault_conf()
        self.start(fconf, fenv)
        self.orphans_at_b = set(self.orphans)
        self.chaos("B", fconf, fenv, self.a.slow_seconds, 3, (0.4, 0.9))
        self.kill("B", inflight=True)
        self.sh.stop.set()
        for t in threads:
            t.join(timeout=REQ_TIMEOUT + 5)
            if t.is_alive():
                self.fail("a client thread did not stop")
        # final: clean start-up, sequential enrollments, SIGTERM
        self.start(self.conf)
        before = len(self.sh.received)
        for i in range(10):
            client_once(self.sh, bodies[i % len(bodies)], self.token)
        if len(self.sh.received) - before != 10:
            self.fail(f"after the kills only {len(self.sh.received) - before} of 10 sequential "
                      f"enrollments succeeded: {self.sh.other_samples}")
        rc, finding = self.d.term()
        if finding:
            self.fail(finding)
        if rc != 0:
            self.fail(f"signetd exited {rc} on SIGTERM (log {self.d.logs[-1]})")

    def check(self):
        """Everything the clients saw against what the store holds."""
        sh = self.sh
        for b in sh.bad_bodies:
            self.fail(b)
        allrecs = self.store_list()
        states = {}
        for r in allrecs:
            s = int(r["serial"], 16)
            if s in states:
                self.fail(f"cert list shows serial {r['serial']} twice")
            states[s] = r["status"]
            if r["status"] not in ("issued", "pending"):
                self.fail(f"record {r['serial']} is {r['status']!r}: only issued or pending "
                          f"are possible here")
        dump = mdb_dump_cert(os.path.join(self.pki, "store"))
        if sorted(dump) != sorted(states):
            self.fail(f"mdb_dump sees {len(dump)} cert records, signet cert list {len(states)}; "
                      f"they differ in {len(set(dump) ^ set(states))} serials")
        by_serial = {}
        for rec in sh.received:
            if rec["serial"] in by_serial:
                self.fail(f"serial {rec['hex']} was received twice (clients "
                          f"{by_serial[rec['serial']]['client']} and {rec['client']})")
            by_serial[rec["serial"]] = rec
            st = states.get(rec["serial"])
            if st is None:
                self.fail(f"LOST: serial {rec['hex']} was received by client {rec['client']} but "
                          f"is not in the store")
            elif st != "issued":
                self.fail(f"serial {rec['hex']} was received but the store says {st}")
            elif rec["der"].hex() not in dump.get(rec["serial"], ""):
                self.fail(f"serial {rec['hex']}: the store's record does not hold the DER the "
                          f"client received")
            if rec["serial"] in self.orphans:
                self.fail(f"REUSED: serial {rec['hex']} was PENDING after a kill and was later "
                          f"issued to a client")
        pending = {s for s, st in states.items() if st == "pending"}
        for s in sorted(self.orphans - pending):
            self.fail(f"PENDING serial {s:x} (left by a kill) is no longer PENDING: "
                      f"{states.get(s, 'gone')}")
        for s in sorted(pending - self.orphans):
            self.fail(f"PENDING serial {s:x} did not come from a kill (left by a clean run)")
        for s in pending:
            if f"{s:x}" not in dump.get(s, ""):
                self.fail(f"PENDING serial {s:x}: its record holds no TBS with that serial")
        if self.kills["B"] > 0 and not (pending & (self.orphans - self.orphans_at_b)):
            self.fail(f"phase B: {self.kills['B']} kills during slow signing left no PENDING "
                      f"record (the kill never landed between PENDING and ISSUED)")
        issued_unseen = sum(1 for s, st in states.items() if st == "issued" and s not in by_serial)
        others = sum(sh.other.values())
        if issued_unseen + len(pending) > sh.unanswered + others:
            self.fail(f"{issued_unseen} issued records nobody received and {len(pending)} "
                      f"PENDING, but only {sh.unanswered + others} requests went unanswered or "
                      f"failed: records appeared without a request")
        self.check_show(by_serial, states)
        self.check_verify(sh.received)
        for path in self.d.logs:
            with open(path, errors="replace") as f:
                text = f.read()
            if "AddressSanitizer" in text or "runtime error:" in text or "LeakSanitizer" in text:
                self.fail(f"{path}: a sanitizer report")
        if len(sh.received) < 20:
            self.fail(f"only {len(sh.received)} certificates received: the test proves little")
        return states, pending, issued_unseen

    def check_show(self, by_serial, states):
        """`signet cert show` on a sample: the same DER as received."""
        recs = list(by_serial.values())
        sample = recs[:3] + recs[-3:] + self.rnd.sample(recs, min(len(recs), 20))
        for rec in {r["serial"]: r for r in sample}.values():
            if states.get(rec["serial"]) != "issued":
                continue
            j = self.signet_json("cert", "show", "--ca", CA, "--serial", rec["hex"])
            if j.get("status") != "issued" or \
                    ssl.PEM_cert_to_DER_cert(j.get("certificate", "")) != rec["der"]:
                self.fail(f"cert show {rec['hex']}: not the certificate the client received")
        for s in sorted(self.orphans)[:5]:
            j = self.signet_json("cert", "show", "--ca", CA, "--serial", f"{s:032x}")
            if j.get("status") != "pending" or j.get("certificate"):
                self.fail(f"cert show {s:x}: {j.get('status')}, "
                          f"{'a' if j.get('certificate') else 'no'} certificate; wanted pending "
                          f"and none")

    def check_verify(self, received):
        """openssl verify -x509_strict on every received certificate (in batches)."""
        pub = os.path.join(self.pki, "public")
        cdir = os.path.join(self.a.work, "received")
        os.makedirs(cdir, exist_ok=True)
        files = []
        for rec in received:
            p = os.path.join(cdir, f"{rec['hex']}.pem")
            with open(p, "w") as f:
                f.write(ssl.DER_cert_to_PEM_cert(rec["der"]))
            files.append(p)
        ok = 0
        for i in range(0, len(files), 200):
            out = subprocess.run(
                ["openssl", "verify", "-x509_strict", "-CAfile", os.path.join(pub, "root.crt"),
                 "-untrusted", os.path.join(pub, "issuing-1.crt"), *files[i : i + 200]],
                capture_output=True, text=True, timeout=120)
            ok += sum(1 for line in out.stdout.splitlines() if line.endswith(": OK"))
            if out.returncode != 0:
                self.fail(f"openssl verify -x509_strict: {(out.stdout + out.stderr)[-600:]}")
        if ok != len(files):
            self.fail(f"openssl verify -x509_strict accepted {ok} of {len(files)} certificates")


def client_once(sh, body, token):
    """One enrollment on a fresh connection (the final phase), recorded like the clients'."""
    with sh.lock:
        port = sh.port
        sh.sent += 1
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=REQ_TIMEOUT)
    try:
        c.request("POST", "/v1/certificates", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException):
        with sh.lock:
            sh.unanswered += 1
        return
    finally:
        c.close()
    rec = parse_issued(data, "final") if r.status == 201 else f"final: {r.status} {data[:300]!r}"
    with sh.lock:
        if isinstance(rec, str):
            sh.other[r.status] = sh.other.get(r.status, 0) + 1
            sh.other_samples.append(rec)
        else:
            sh.received.append(rec)


def mdb_dump_cert(store):
    """serial (int) -> record value (hex) of the cert database, read by LMDB's own mdb_dump."""
    out = subprocess.run(["mdb_dump", "-s", "cert", store], capture_output=True, text=True,
                         timeout=60, check=True)
    lines = out.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split()
    recs = {}
    for k, v in zip(lines[0::2], lines[1::2]):
        recs[int(k[8:], 16)] = v  # key: ca id (4 octets), serial left-padded to 20 octets
    return recs


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", required=True)
    p.add_argument("--pki", required=True, help="a directory made by `signet demo init`")
    p.add_argument("--work", required=True)
    p.add_argument("--pidfile", required=True, help="holds the running signetd's pid")
    p.add_argument("--faulthsm", required=True, help="libfaulthsm.so")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0, help="phase A (real module)")
    p.add_argument("--min-kills", type=int, default=8, help="phase A kills at least")
    p.add_argument("--slow-seconds", type=float, default=5.0, help="phase B (slow C_Sign)")
    p.add_argument("--sign-delay-ms", type=int, default=150)
    p.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    a = p.parse_args()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    log(f"seed {a.seed} (CRASH_SEED={a.seed} repeats the kill schedule), {a.clients} clients")
    run = Run(a)
    t0 = time.monotonic()
    try:
        run.scenario()
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        run.fail(f"the scenario stopped: {e}")
    finally:
        run.sh.stop.set()
        run.d.kill()
    try:
        states, pending, unseen = run.check()
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        run.fail(f"the checks stopped: {e}")
        states, pending, unseen = {}, set(), 0
    sh = run.sh
    issued = sum(1 for st in states.values() if st == "issued")
    log(f"{time.monotonic() - t0:.1f} s; kills {run.kills['A']} (real module) + {run.kills['B']} "
        f"(slow signing), {run.kill_modes}; start-ups {len(run.startups)}; requests sent {sh.sent}, answered 201 "
        f"{len(sh.received)}, other answers {sh.other or 0}, unanswered (killed in flight) "
        f"{sh.unanswered}, refused connections {sh.not_sent}")
    log(f"store: {len(states)} records, {issued} issued ({unseen} issued but never received), "
        f"{len(pending)} pending left by kills; start-ups reported "
        f"{[r for _, _, r in run.startups]}")
    if run.failures:
        log(f"FAILED: {len(run.failures)} finding(s); logs and certificates in {a.work}")
        return 1
    log("PASS: every received certificate is stored as issued with the same DER, no serial "
        "twice, PENDING records reported at start-up and never reused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
