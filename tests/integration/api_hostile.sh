#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hostile CSR corpus (tests/data/csr, docs/hostile-corpus.md) over HTTP: every entry of
# tests/data/csr/MANIFEST is POSTed to /v1/certificates as {"csr": FILE, "profile": P} with the
# demo client's token, and must get exactly the HTTP status and problem code listed
# (application/problem+json, type urn:signet:error:CODE). After each: `signet cert list --ca
# issuing-1` is unchanged (one more line for the controls, which must be issued), /healthz answers
# 200 and signetd is alive. Issued entries under tls-server carry the profile's extensions only,
# nothing the CSR asked for. Then the non-CSR attacks (1 MB body, bad JSON, a csr that is not a
# string, unknown profile or CA, ...) and, last, a fresh OpenSSL CSR that must be issued. signetd
# must exit 0 on SIGTERM (under ASan: no leak, no error).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
S=${SIGNET_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
CORPUS=$S/tests/data/csr
it_workdir
[ -f "$CORPUS/MANIFEST" ] || fail "no $CORPUS/MANIFEST"
[ "$(find "$CORPUS" -name '*.pem' | wc -l)" -ge 40 ] || fail "the corpus holds fewer than 40 CSRs"

it_demo_init
# tls-strict: tls-server with csr_extensions = refuse, so that smuggled extensions are refused
# (under tls-server they are ignored: the corpus checks both)
sed -e 's/^description .*/description = tls-server refusing requested extensions/' \
  -e 's/^approval /csr_extensions = refuse\napproval /' "$P/policies/tls-server.conf" >"$P/policies/tls-strict.conf"
grep -q '^csr_extensions = refuse' "$P/policies/tls-strict.conf" || fail "could not write tls-strict"
sed -i -E 's/^(profiles *= *tls-server, tls-client.*)$/\1, tls-strict/' "$CONF"
[ "$(grep -c 'tls-strict' "$CONF")" = 2 ] || fail "could not allow tls-strict in signet.conf"

it_daemon_start --foreground

# Every manifest entry, then the non-CSR attacks, in one Python driver (exact status, headers and
# body of each answer; the store and liveness checked after each).
SIGNET_BIN=$B/signet CONF=$CONF TOKEN_FILE=$P/clients/demo.token ISSUER=$P/public/issuing-1.crt \
  DPID=$DPID W=$W python3 - "$URL" "$CORPUS" <<'EOF' || fail "hostile corpus"
import http.client, json, os, subprocess, sys, time
from urllib.parse import urlparse

url, corpus = sys.argv[1], sys.argv[2]
u = urlparse(url)
token = open(os.environ["TOKEN_FILE"]).read().strip()
failures = []


def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def enroll(body):
    return request("POST", "/v1/certificates", body,
                   {"Authorization": "Bearer " + token, "Content-Type": "application/json"})


def cert_list():
    out = subprocess.run([os.environ["SIGNET_BIN"], "-c", os.environ["CONF"], "cert", "list", "--ca",
                          "issuing-1"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("signet cert list failed: " + out.stderr)
    return [l for l in out.stdout.splitlines() if l.strip()]


def alive(label):
    try:
        os.kill(int(os.environ["DPID"]), 0)
        st, _, _ = request("GET", "/healthz")
    except Exception as e:  # connection refused, process gone
        sys.exit("%s: signetd stopped serving (%s)" % (label, e))
    if st != 200:
        sys.exit("%s: /healthz answered %d" % (label, st))


def problem(label, st, hdr, body, want_status, want_code):
    """Checks one refusal; returns an error string or ''."""
    if st != want_status:
        return "%s: HTTP %d, want %d (%s)" % (label, st, want_status, body[:300].decode("utf-8", "replace"))
    if want_code is None:  # libevent's own 413: no problem body (docs/api.md)
        return ""
    if not hdr.get("content-type", "").startswith("application/problem+json"):
        return "%s: Content-Type %r, want application/problem+json" % (label, hdr.get("content-type"))
    try:
        p = json.loads(body)
    except ValueError:
        return "%s: the problem body is not JSON: %r" % (label, body[:200])
    if p.get("type") != "urn:signet:error:" + want_code:
        return "%s: type %r, want urn:signet:error:%s (detail: %s)" % (label, p.get("type"), want_code, p.get("detail"))
    if p.get("status") != want_status or not p.get("detail"):
        return "%s: the problem has status %r and detail %r" % (label, p.get("status"), p.get("detail"))
    return ""


def profile_extensions_only(label, pem):
    """An issued tls-server certificate holds the profile's extensions, none the CSR asked for."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID as X

    cert = x509.load_pem_x509_certificate(pem.encode())
    issuer = x509.load_pem_x509_certificate(open(os.environ["ISSUER"], "rb").read())
    allowed = {X.BASIC_CONSTRAINTS, X.KEY_USAGE, X.EXTENDED_KEY_USAGE, X.SUBJECT_ALTERNATIVE_NAME,
               X.SUBJECT_KEY_IDENTIFIER, X.AUTHORITY_KEY_IDENTIFIER, X.CRL_DISTRIBUTION_POINTS,
               X.AUTHORITY_INFORMATION_ACCESS}
    e = cert.extensions
    errs = ["extension %s copied" % x.oid.dotted_string for x in e if x.oid not in allowed]
    if b"evil" in cert.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER):
        errs.append("a requested name or URL reached the certificate")
    bc = e.get_extension_for_class(x509.BasicConstraints)
    if bc.value.ca or not bc.critical:
        errs.append("basicConstraints is %s" % bc.value)
    ku = e.get_extension_for_class(x509.KeyUsage).value
    if not ku.digital_signature or ku.key_cert_sign or ku.crl_sign or ku.key_encipherment:
        errs.append("keyUsage is %s" % ku)
    if list(e.get_extension_for_class(x509.ExtendedKeyUsage).value) != [ExtendedKeyUsageOID.SERVER_AUTH]:
        errs.append("extendedKeyUsage was changed")
    if e.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == b"\xee" * 20:
        errs.append("the requested subjectKeyIdentifier was copied")
    aki = e.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    if aki != issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest:
        errs.append("authorityKeyIdentifier is not issuing-1's subjectKeyIdentifier")
    if e.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) != ["www.example.test"]:
        errs.append("subjectAltName differs from the request's")
    return "; ".join("%s: %s" % (label, x) for x in errs)


# ---- the corpus
entries = []
for line in open(os.path.join(corpus, "MANIFEST")):
    if line.strip() and not line.startswith("#"):
        f, prof, st, code = line.split()
        entries.append((f, prof, int(st), code))
listed = {e[0] for e in entries}
on_disk = {f for f in os.listdir(corpus) if f.endswith(".pem")}
if listed != on_disk:
    sys.exit("MANIFEST and tests/data/csr differ: unlisted %s, missing %s" % (sorted(on_disk - listed), sorted(listed - on_disk)))
before = cert_list()
t0 = time.time()
for f, prof, want, code in entries:
    label = "%s (%s)" % (f, prof)
    text = open(os.path.join(corpus, f), encoding="ascii").read()
    st, hdr, body = enroll(json.dumps({"csr": text, "profile": prof}))
    after = cert_list()
    if want == 201:
        err = "" if st == 201 else "%s: HTTP %d, want 201 (%s)" % (label, st, body[:300].decode("utf-8", "replace"))
        if not err:
            got = json.loads(body)
            if len(after) != len(before) + 1 or not any(got["serial"] in l for l in after):
                err = "%s: issued, but cert list does not show exactly one new certificate" % label
            elif prof == "tls-server":
                err = profile_extensions_only(label, got["certificate"])
    elif st == 201:
        err = "%s: issued (serial %s), want %d %s" % (label, json.loads(body).get("serial"), want, code)
    else:
        err = problem(label, st, hdr, body, want, code)
    if want != 201 and after != before:
        err += "%s%s: the store changed after a refusal: %s" % ("\n" if err else "", label,
                                                              sorted(set(after) - set(before)))
    if err:
        failures.append(err)
    if os.environ.get("HOSTILE_VERBOSE"):
        print("%-40s %d %s" % (label, st, (json.loads(body).get("detail") if st != 201 and body[:1] == b"{" else "")))
    before = after
    alive(label)
print("corpus: %d requests in %.1f s" % (len(entries), time.time() - t0))

# ---- requests that are hostile before any CSR is read
good = open(os.path.join(corpus, "control-p256.pem")).read()
attacks = [
    ("a 1 MB body", None, 413, None),
    ("invalid JSON", '{"csr": "' + good[:40], 400, "badCSR"),
    ("JSON that is an array", "[" + json.dumps(good) + "]", 400, "badCSR"),
    ("a csr that is a number", json.dumps({"csr": 7, "profile": "tls-server"}), 400, "badCSR"),
    ("a csr that is an object", json.dumps({"csr": {"pem": good}, "profile": "tls-server"}), 400, "badCSR"),
    ("a csr that is null", json.dumps({"csr": None, "profile": "tls-server"}), 400, "badCSR"),
    ("no csr member", json.dumps({"profile": "tls-server"}), 400, "badCSR"),
    ("an unknown member", json.dumps({"csr": good, "profile": "tls-server", "extensions": ["CA:TRUE"]}), 400, "badCSR"),
    ("the csr member twice", '{"csr": %s, "csr": %s, "profile": "tls-server"}' % (json.dumps(good), json.dumps(good)), 400, "badCSR"),
    # 403, not 404: a client is not told which profiles exist beyond the ones it may use
    ("an unknown profile", json.dumps({"csr": good, "profile": "no-such-profile"}), 403, "forbidden"),
    ("no profile member", json.dumps({"csr": good}), 400, "policyViolation"),
    ("a profile that is a path", json.dumps({"csr": good, "profile": "../../etc/passwd"}), 400, "policyViolation"),
    ("a profile that is a number", json.dumps({"csr": good, "profile": 1}), 400, "policyViolation"),
    ("a profile the client may not use", json.dumps({"csr": good, "profile": "subordinate-ca"}), 403, "forbidden"),
    ("an unknown CA", json.dumps({"csr": good, "profile": "tls-server", "ca": "no-such-ca"}), 404, "notFound"),
    ("a CA that does not issue the profile", json.dumps({"csr": good, "profile": "tls-server", "ca": "root"}), 400, "policyViolation"),
]
before = cert_list()
for label, body, want, code in attacks:
    if body is None:
        big = os.path.join(os.environ["W"], "big.json")
        with open(big, "w") as f:
            f.write('{"csr": "' + "A" * (1 << 20) + '", "profile": "tls-server"}')
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
                            "-H", "Content-Type: application/json", "--data-binary", "@" + big, url + "/v1/certificates"],
                           capture_output=True, text=True)
        st, hdr, resp = int(r.stdout or 0), {}, b""
    else:
        st, hdr, resp = enroll(body)
    err = problem(label, st, hdr, resp, want, code)
    after = cert_list()
    if after != before:
        err += "%s%s: the store changed" % ("\n" if err else "", label)
    if err:
        failures.append(err)
    alive(label)
print("non-CSR attacks: %d requests" % len(attacks))

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit("%d of %d checks failed" % (len(failures), len(entries) + len(attacks)))
EOF

# --- last: a good request made by OpenSSL is issued, so the refusals above were not blanket ones
before=$("$B/signet" -c "$CONF" cert list --ca issuing-1 | wc -l)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ok.key" \
  -subj "/CN=ok.example.test" -addext "subjectAltName=DNS:ok.example.test" -out "$W/ok.csr" 2>/dev/null
python3 -c 'import json,sys;print(json.dumps({"csr":open(sys.argv[1]).read(),"profile":"tls-server"}))' "$W/ok.csr" >"$W/ok.json"
st=$(curl -s -o "$W/r.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$P/clients/demo.token")" \
  -H 'Content-Type: application/json' --data-binary @"$W/ok.json" "$URL/v1/certificates")
[ "$st" = 201 ] || fail "a good CSR after the corpus answered $st: $(cat "$W/r.json")"
python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["certificate"],end="")' "$W/r.json" >"$W/ok.crt"
openssl verify -x509_strict -CAfile "$P/public/root.crt" -untrusted "$P/public/issuing-1.crt" "$W/ok.crt" >/dev/null \
  || fail "the good certificate does not verify"
[ "$("$B/signet" -c "$CONF" cert list --ca issuing-1 | wc -l)" = $((before + 1)) ] || fail "the good certificate is not stored"

kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=""
[ "$rc" = 0 ] || fail "signetd exited $rc on SIGTERM after the corpus"
echo "PASS: hostile corpus"
