#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""
Makes the hostile CSR corpus of tests/data/csr/ (docs/hostile-corpus.md) and its MANIFEST.

Every request is assembled here byte by byte (a small DER writer), so that each one can carry
exactly one defect: a smuggled extension, a broken signature, a weak key built from chosen primes,
a bad name, a malformed structure. Keys come from fixed seeds and signatures are deterministic
(RSA PKCS#1 v1.5 and DSA by pow(), ECDSA with a hash-derived nonce, EdDSA by definition), so
running the script twice writes the same bytes. Python's `cryptography` is used only for the
Ed25519/Ed448 signatures and to self-check the control requests.

  make-hostile-csrs.py [--out DIR]   write DIR/*.pem and DIR/MANIFEST (default: beside this file)
  make-hostile-csrs.py --check       regenerate into a temp dir and compare with what is committed
  make-hostile-csrs.py --doc         print the table of docs/hostile-corpus.md
"""
import base64
import hashlib
import hmac
import math
import os
import sys
import tempfile

# ---------------------------------------------------------------- DER writer


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def SEQ(*items):
    return tlv(0x30, b"".join(items))


def SET(*items):
    return tlv(0x31, b"".join(sorted(items)))  # DER: SET OF sorted by encoding


def INT(n):
    if n == 0:
        return tlv(0x02, b"\x00")
    length = (n.bit_length() + 8) // 8 if n > 0 else ((-n - 1).bit_length() + 8) // 8
    return tlv(0x02, n.to_bytes(length, "big", signed=True))


def OID(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


NULL = b"\x05\x00"


def BOOL(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


def OCTETS(b):
    return tlv(0x04, b)


def BITS(b, unused=0):
    return tlv(0x03, bytes([unused]) + b)


def UTF8(s):
    return tlv(0x0C, s if isinstance(s, bytes) else s.encode())


def PRINTABLE(s):
    return tlv(0x13, s.encode())


def IA5(s):
    return tlv(0x16, s if isinstance(s, bytes) else s.encode())


def CTX(n, content, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, content)


def pem(der, label="CERTIFICATE REQUEST"):
    b = base64.b64encode(der).decode()
    lines = [b[i : i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


# ---------------------------------------------------------------- OIDs

O = {
    "CN": "2.5.4.3",
    "O": "2.5.4.10",
    "C": "2.5.4.6",
    "extReq": "1.2.840.113549.1.9.14",
    "ecPublicKey": "1.2.840.10045.2.1",
    "primeField": "1.2.840.10045.1.1",
    "rsa": "1.2.840.113549.1.1.1",
    "dsa": "1.2.840.10040.4.1",
    "ed25519": "1.3.101.112",
    "ed448": "1.3.101.113",
    "san": "2.5.29.17",
    "bc": "2.5.29.19",
    "ku": "2.5.29.15",
    "eku": "2.5.29.37",
    "nc": "2.5.29.30",
    "cdp": "2.5.29.31",
    "policies": "2.5.29.32",
    "ski": "2.5.29.14",
    "aki": "2.5.29.35",
    "aia": "1.3.6.1.5.5.7.1.1",
    "ocsp": "1.3.6.1.5.5.7.48.1",
    "caIssuers": "1.3.6.1.5.5.7.48.2",
    "anyPolicy": "2.5.29.32.0",
    "upn": "1.3.6.1.4.1.311.20.2.3",
    "unknown": "1.3.6.1.4.1.55555.1.1",
    "codeSigning": "1.3.6.1.5.5.7.3.3",
    "anyEKU": "2.5.29.37.0",
}

SIG_OID = {
    ("ec", "sha1"): "1.2.840.10045.4.1",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
    ("ec", "sha512"): "1.2.840.10045.4.3.4",
    ("rsa", "md5"): "1.2.840.113549.1.1.4",
    ("rsa", "sha1"): "1.2.840.113549.1.1.5",
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("dsa", "sha256"): "2.16.840.1.101.3.4.3.2",
}

DIGESTINFO_OID = {
    "md5": "1.2.840.113549.2.5",
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
}

# ---------------------------------------------------------------- deterministic randomness


class Stream:
    """SHA-256 in counter mode over a label: the only source of 'randomness' here."""

    def __init__(self, label):
        self.label = label.encode()
        self.ctr = 0

    def bytes(self, n):
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.label + self.ctr.to_bytes(8, "big")).digest()
            self.ctr += 1
        return out[:n]

    def int_bits(self, bits):
        return int.from_bytes(self.bytes((bits + 7) // 8), "big") >> ((8 - bits % 8) % 8)


SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def is_probable_prime(n, rounds=32):
    if n < 2:
        return False
    for p in [2] + SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    rnd = Stream("mr%d" % n)
    for _ in range(rounds):
        a = 2 + rnd.int_bits(n.bit_length()) % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def prime(label, bits, ok=lambda p: True):
    """A prime of exactly `bits` bits, top two bits set (so p*q has the full size)."""
    rnd = Stream("prime:" + label)
    while True:
        c = rnd.int_bits(bits) | (3 << (bits - 2)) | 1
        if ok(c) and is_probable_prime(c):
            return c


def next_prime(n, ok=lambda p: True):
    n |= 1
    while not (ok(n) and is_probable_prime(n)):
        n += 2
    return n


# ---------------------------------------------------------------- keys


class Curve:
    def __init__(self, name, oid, p, a, b, gx, gy, n):
        self.name, self.oid, self.p, self.a, self.b, self.n = name, oid, p, a, b, n
        self.g = (gx, gy)
        self.size = (p.bit_length() + 7) // 8

    def add(self, P, Q):
        if P is None:
            return Q
        if Q is None:
            return P
        p = self.p
        if P[0] == Q[0]:
            if (P[1] + Q[1]) % p == 0:
                return None
            lam = (3 * P[0] * P[0] + self.a) * pow(2 * P[1], -1, p) % p
        else:
            lam = (Q[1] - P[1]) * pow(Q[0] - P[0], -1, p) % p
        x = (lam * lam - P[0] - Q[0]) % p
        return (x, (lam * (P[0] - x) - P[1]) % p)

    def mul(self, k, P):
        R = None
        while k:
            if k & 1:
                R = self.add(R, P)
            P = self.add(P, P)
            k >>= 1
        return R

    def point(self, P):
        return b"\x04" + P[0].to_bytes(self.size, "big") + P[1].to_bytes(self.size, "big")


P256 = Curve(
    "P-256",
    "1.2.840.10045.3.1.7",
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    -3,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)
P384 = Curve(
    "P-384",
    "1.3.132.0.34",
    int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF", 16),
    -3,
    int("B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF", 16),
    int("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7", 16),
    int("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F", 16),
    int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
)
P521 = Curve(
    "P-521",
    "1.3.132.0.35",
    2**521 - 1,
    -3,
    int("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00", 16),
    int("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66", 16),
    int("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650", 16),
    int("01" + "F" * 65 + "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
)
SECP256K1 = Curve(
    "secp256k1",
    "1.3.132.0.10",
    2**256 - 2**32 - 977,
    0,
    7,
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
)


class ECKey:
    kind = "ec"

    def __init__(self, label, curve=P256, explicit=False, off_curve=False):
        self.curve, self.explicit, self.off_curve = curve, explicit, off_curve
        self.d = 1 + Stream("ec:" + label).int_bits(curve.n.bit_length() + 64) % (curve.n - 1)
        self.Q = curve.mul(self.d, curve.g)

    def params(self):
        c = self.curve
        if not self.explicit:
            return OID(c.oid)
        field = SEQ(OID(O["primeField"]), INT(c.p))
        ab = SEQ(OCTETS((c.a % c.p).to_bytes(c.size, "big")), OCTETS(c.b.to_bytes(c.size, "big")))
        return SEQ(INT(1), field, ab, OCTETS(c.point(c.g)), INT(c.n), INT(1))

    def spki(self):
        Q = (self.Q[0], (self.Q[1] + 1) % self.curve.p) if self.off_curve else self.Q
        return SEQ(SEQ(OID(O["ecPublicKey"]), self.params()), BITS(self.curve.point(Q)))

    def sign(self, tbs, h):
        c, n = self.curve, self.curve.n
        digest = hashlib.new(h, tbs).digest()
        z = int.from_bytes(digest, "big")
        if len(digest) * 8 > n.bit_length():
            z >>= len(digest) * 8 - n.bit_length()
        seed = self.d.to_bytes(c.size, "big")
        k = 1 + int.from_bytes(hmac.new(seed, digest, hashlib.sha512).digest() * 2, "big") % (n - 1)
        r = c.mul(k, c.g)[0] % n
        s = pow(k, -1, n) * (z + r * self.d) % n
        return SEQ(OID(SIG_OID[("ec", h)])), SEQ(INT(r), INT(s))


class RSAKey:
    kind = "rsa"

    def __init__(self, p, q, e=65537):
        self.n, self.e = p * q, e
        lam = (p - 1) * (q - 1) // gcd(p - 1, q - 1)
        self.d = pow(e, -1, lam) if e > 1 else 1

    def spki(self):
        return SEQ(SEQ(OID(O["rsa"]), NULL), BITS(SEQ(INT(self.n), INT(self.e))))

    def sign(self, tbs, h):
        k = (self.n.bit_length() + 7) // 8
        t = SEQ(SEQ(OID(DIGESTINFO_OID[h]), NULL), OCTETS(hashlib.new(h, tbs).digest()))
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        s = pow(int.from_bytes(em, "big"), self.d, self.n)
        return SEQ(OID(SIG_OID[("rsa", h)]), NULL), s.to_bytes(k, "big")


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def rsa_key(label, bits, e=65537):
    ok = lambda p: gcd(e, p - 1) == 1  # noqa: E731
    return RSAKey(prime(label + "p", bits // 2, ok), prime(label + "q", bits - bits // 2, ok), e)


class EdKey:
    def __init__(self, label, kind):
        from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

        self.kind = kind
        mod = ed25519.Ed25519PrivateKey if kind == "ed25519" else ed448.Ed448PrivateKey
        self.key = mod.from_private_bytes(Stream("ed:" + label).bytes(32 if kind == "ed25519" else 57))

    def spki(self):
        from cryptography.hazmat.primitives import serialization

        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return SEQ(SEQ(OID(O[self.kind])), BITS(raw))

    def sign(self, tbs, h):
        return SEQ(OID(O[self.kind])), self.key.sign(tbs)


class DSAKey:
    kind = "dsa"

    def __init__(self, label):
        self.q = prime(label + "q", 160)
        rnd = Stream("dsa-p:" + label)
        while True:  # p = 2kq + 1 of 1024 bits
            k = rnd.int_bits(1024 - 161) | 3 << (1024 - 163)  # 2kq + 1 has 1024 bits
            p = 2 * k * self.q + 1
            if p.bit_length() == 1024 and is_probable_prime(p):
                break
        self.p = p
        self.g = pow(2, (p - 1) // self.q, p)
        self.x = 1 + Stream("dsa-x:" + label).int_bits(200) % (self.q - 1)
        self.y = pow(self.g, self.x, p)

    def spki(self):
        return SEQ(SEQ(OID(O["dsa"]), SEQ(INT(self.p), INT(self.q), INT(self.g))), BITS(INT(self.y)))

    def sign(self, tbs, h):
        digest = hashlib.new(h, tbs).digest()
        z = int.from_bytes(digest[:20], "big")  # leftmost min(N, outlen) bits, N = 160
        k = 1 + int.from_bytes(hmac.new(self.x.to_bytes(20, "big"), digest, hashlib.sha256).digest(), "big") % (
            self.q - 1
        )
        r = pow(self.g, k, self.p) % self.q
        s = pow(k, -1, self.q) * (z + self.x * r) % self.q
        return SEQ(OID(SIG_OID[("dsa", h)])), SEQ(INT(r), INT(s))


# ---------------------------------------------------------------- CSR assembly

GOOD = "www.example.test"


def dns(name):
    return CTX(2, name if isinstance(name, bytes) else name.encode(), constructed=False)


class GN(bytes):
    """An already encoded GeneralName, passed through san() as it is."""


def san(*names):
    """A subjectAltName value: DNS names (str or raw bytes) and GN(...) GeneralNames."""
    return SEQ(*[n if isinstance(n, GN) else dns(n) for n in names])


def ext(oid, value, critical=False):
    return SEQ(OID(O.get(oid, oid)), *([BOOL(True)] if critical else []), OCTETS(value))


def ext_req(*exts):
    return SEQ(OID(O["extReq"]), SET(SEQ(*exts)))


def name(*rdns):
    """name(("CN", UTF8(...)), ...) one attribute per RDN; a list inside makes a multi-valued RDN."""
    out = []
    for r in rdns:
        atvs = r if isinstance(r, list) else [r]
        out.append(SET(*[SEQ(OID(O.get(t, t)), v) for t, v in atvs]))
    return SEQ(*out)


def cn(value):
    return name(("CN", UTF8(value)))


_KEYS = {}


def key(label="default", **kw):
    if label not in _KEYS:
        _KEYS[label] = kw.pop("make")() if "make" in kw else ECKey(label, **kw)
    return _KEYS[label]


def csr(subject=None, k=None, exts=None, attrs=None, h=None, version=0, mangle_sig=None, tbs_hook=None):
    """A CSR with one default for everything: CN and DNS www.example.test, a P-256 key, SHA-256."""
    k = k or key()
    subject = cn(GOOD) if subject is None else subject
    if attrs is None:
        exts = [ext("san", san(GOOD))] if exts is None else exts
        attrs = [ext_req(*exts)] if exts else []
    cri = SEQ(INT(version), subject, k.spki(), CTX(0, b"".join(sorted(attrs))))
    if tbs_hook:
        cri = tbs_hook(cri)
    curve = getattr(k, "curve", None)
    h = h or {P384: "sha384", P521: "sha512"}.get(curve, "sha256")
    alg, sig = k.sign(cri, h)
    if mangle_sig:
        sig = mangle_sig(sig)
    return SEQ(cri, alg, BITS(sig))


def nested(depth, inner=NULL):
    for _ in range(depth):
        inner = SEQ(inner)
    return inner


def self_signed_cert():
    """A small self-signed X.509 certificate (not a CSR) for the cert-instead-of-CSR entries."""
    k = key()
    alg = SEQ(OID(SIG_OID[("ec", "sha256")]))
    validity = SEQ(tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z"))
    tbs = SEQ(CTX(0, INT(2)), INT(0x51), alg, cn(GOOD), validity, cn(GOOD), k.spki(),
              CTX(3, SEQ(ext("san", san(GOOD)))))
    _, sig = k.sign(tbs, "sha256")
    return SEQ(tbs, alg, BITS(sig))


# ---------------------------------------------------------------- the corpus

ENTRIES = []  # (file, text, [(profile, status, code)], what it attacks)


def add(fname, data, expect, what):
    if isinstance(data, bytes):
        data = pem(data)
    ENTRIES.append((fname, data, expect, what))


BAD_CSR = [("tls-server", 400, "badCSR")]
BAD_KEY = [("tls-server", 400, "badKey")]
POLICY = [("tls-server", 400, "policyViolation")]
STRICT = [("tls-strict", 400, "policyViolation")]
IGNORED = ("tls-server", 201, "-")  # csr_extensions = ignore: issued, the extension not copied


def flip_last(sig):
    return sig[:-1] + bytes([sig[-1] ^ 0x01])


def build():
    E = "evil.example.org"
    # --- controls: what a good request looks like from this generator (must be issued)
    add("control-p256.pem", csr(), [("tls-server", 201, "-"), ("tls-strict", 201, "-")],
        "control: a correct P-256 request from this generator; proves the DER writer is right")
    add("control-rsa2048.pem", csr(k=key("rsa2048", make=lambda: rsa_key("good", 2048))), [("tls-server", 201, "-")],
        "control: RSA-2048, e = 65537, signed by hand (pow); proves the RSA signer is right")
    add("control-client.pem", csr(subject=name(("CN", UTF8("client-1")), ("O", UTF8("Example")))),
        [("tls-client", 201, "-")], "control: tls-client with CN and O as two RDNs (see subject-multivalued)")
    add("control-ed25519.pem", csr(k=key("ed", make=lambda: EdKey("good", "ed25519"))), [("tls-server", 201, "-")],
        "control: Ed25519")

    # --- extension smuggling: refused under csr_extensions = refuse, never copied under ignore
    def smuggle(fname, e, what):
        add(fname, csr(exts=[ext("san", san(GOOD)), e]), STRICT + [IGNORED], what)

    smuggle("ext-ca-true.pem", ext("bc", SEQ(BOOL(True)), critical=True),
            "basicConstraints critical CA:TRUE: a leaf request asking to become a CA")
    smuggle("ext-keycertsign.pem", ext("ku", BITS(b"\x06", unused=1), critical=True),
            "keyUsage keyCertSign + cRLSign: CA powers without CA:TRUE")
    smuggle("ext-name-constraints.pem",
            ext("nc", SEQ(CTX(0, SEQ(CTX(2, E.encode(), constructed=False)))), critical=True),
            "nameConstraints (permitted DNS evil.example.org)")
    smuggle("ext-cdp.pem", ext("cdp", SEQ(SEQ(CTX(0, CTX(0, CTX(6, b"http://evil.example.org/x.crl", False)))))),
            "cRLDistributionPoints pointing at an attacker's CRL")
    smuggle("ext-aia.pem", ext("aia", SEQ(SEQ(OID(O["ocsp"]), CTX(6, b"http://evil.example.org/ocsp", False)),
                                         SEQ(OID(O["caIssuers"]), CTX(6, b"http://evil.example.org/ca.crt", False)))),
            "authorityInfoAccess: attacker's OCSP responder and caIssuers")
    smuggle("ext-policies.pem", ext("policies", SEQ(SEQ(OID(O["anyPolicy"])))),
            "certificatePolicies anyPolicy")
    smuggle("ext-ski.pem", ext("ski", OCTETS(b"\xee" * 20)), "subjectKeyIdentifier chosen by the requester")
    smuggle("ext-aki.pem", ext("aki", SEQ(CTX(0, b"\xee" * 20, constructed=False))),
            "authorityKeyIdentifier naming another issuer")
    smuggle("ext-eku-any.pem", ext("eku", SEQ(OID(O["anyEKU"]), OID(O["codeSigning"]))),
            "extendedKeyUsage anyExtendedKeyUsage + codeSigning")
    smuggle("ext-unknown-critical.pem", ext(O["unknown"], NULL, critical=True),
            "an unknown extension marked critical")

    # --- malformed extension requests
    add("ext-request-empty.pem", csr(attrs=[ext_req()]), BAD_CSR, "an extensionRequest holding no extension")
    add("ext-request-twice.pem", csr(attrs=[ext_req(ext("san", san(GOOD))), ext_req(ext("san", san(GOOD)))]),
        BAD_CSR, "two extensionRequest attributes")
    add("ext-request-two-values.pem",
        csr(attrs=[SEQ(OID(O["extReq"]), SET(SEQ(ext("san", san(GOOD))), SEQ(ext("ku", BITS(b"\x80", 7)))))]),
        BAD_CSR, "one extensionRequest attribute with two values")
    add("ext-san-truncated.pem", csr(exts=[ext("san", san(GOOD)[:-5])]), BAD_CSR,
        "subjectAltName whose value is cut short (length says more than there is)")
    add("ext-ku-empty-value.pem", csr(exts=[ext("san", san(GOOD)), ext("ku", b"")]), BAD_CSR,
        "keyUsage with an empty extnValue")
    add("ext-san-twice.pem", csr(exts=[ext("san", san(GOOD)), ext("san", san("a.example.test"))]), BAD_CSR,
        "subjectAltName requested twice (RFC 5280 4.2)")
    add("ext-san-empty.pem", csr(subject=name(), exts=[ext("san", SEQ())]), POLICY,
        "an empty subjectAltName (no GeneralName) and an empty subject")

    # --- signatures
    add("sig-broken.pem", csr(mangle_sig=lambda s: s[:-3] + bytes([s[-3] ^ 0x40]) + s[-2:]), BAD_CSR,
        "signature with one bit flipped")
    other = key("other")
    add("sig-wrong-key.pem", csr(k=_WrongKey(key(), other)), BAD_CSR,
        "a valid signature by another key than the one in the CSR (no proof of possession)")
    add("sig-truncated.pem", csr(mangle_sig=lambda s: s[:-6]), BAD_CSR, "signature cut short")
    rsa = key("rsa2048", make=lambda: rsa_key("good", 2048))
    add("sig-md5-rsa.pem", csr(k=rsa, h="md5"), BAD_CSR, "md5WithRSAEncryption (otherwise a good RSA-2048 request)")
    add("sig-sha1-rsa.pem", csr(k=rsa, h="sha1"), BAD_CSR, "sha1WithRSAEncryption")
    add("sig-sha1-ecdsa.pem", csr(h="sha1"), BAD_CSR, "ecdsa-with-SHA1")

    # --- keys
    add("key-rsa1024.pem", csr(k=key("rsa1024", make=lambda: rsa_key("weak", 1024))), BAD_KEY, "RSA-1024")
    add("key-rsa2040.pem", csr(k=key("rsa2040", make=lambda: rsa_key("short", 2040))), BAD_KEY,
        "RSA-2040: just under the profile's 2048-bit minimum")
    add("key-rsa4104.pem", csr(k=key("rsa4104", make=lambda: rsa_key("long", 4104))), BAD_KEY,
        "RSA-4104: just over the profile's 4096-bit maximum")
    add("key-rsa-e3.pem", csr(k=key("e3", make=lambda: rsa_key("e3", 2048, 3))), BAD_KEY, "RSA-2048 with e = 3")
    add("key-rsa-e1.pem", csr(k=key("e1", make=lambda: RSAKey(prime("e1p", 1024), prime("e1q", 1024), 1))),
        BAD_KEY, "RSA-2048 with e = 1 (the signature is the padded hash itself)")
    add("key-rsa-small-factor.pem", csr(k=key("small", make=small_factor_key)), BAD_KEY,
        "RSA-2048 modulus = 9973 x a 2035-bit prime (largest prime under the 10,000 bound)")
    add("key-rsa-fermat.pem", csr(k=key("fermat", make=fermat_key)), BAD_KEY,
        "RSA-2048 with |p - q| < 2^70: Fermat factors it in one step")
    add("key-ec-p521.pem", csr(k=key("p521", curve=P521)), BAD_KEY, "ECDSA P-521, a curve tls-server does not list")
    add("key-ec-secp256k1.pem", csr(k=key("k1", curve=SECP256K1)), BAD_KEY, "ECDSA secp256k1")
    add("key-ec-explicit.pem", csr(k=key("explicit", explicit=True)), BAD_KEY,
        "P-256 written with explicit curve parameters instead of the named curve")
    add("key-ec-off-curve.pem", csr(k=key("offcurve", off_curve=True)), BAD_CSR,
        "P-256 point not on the curve (y + 1): the key does not decode, so nothing proves possession")
    add("key-ed448.pem", csr(k=key("ed448", make=lambda: EdKey("ed448", "ed448"))), BAD_KEY, "Ed448")
    add("key-dsa.pem", csr(k=key("dsa", make=lambda: DSAKey("dsa"))), BAD_KEY, "DSA-1024/160")

    # --- names
    def names(fname, sans, what, subject=None, expect=POLICY):
        add(fname, csr(subject=subject if subject is not None else cn(sans[0]), exts=[ext("san", san(*sans))]),
            expect, what)

    names("name-outside.pem", [E], "a name outside the profile's match= list")
    names("name-suffix.pem", ["evilexample.test"], "a name ending in the allowed text without a label boundary")
    names("name-two-levels.pem", ["a.b.example.test"], "two labels below example.test (*.example.test allows one)")
    names("name-wildcard.pem", ["*.example.test"], "a wildcard under a profile that forbids wildcards")
    names("name-wildcard-partial.pem", ["w*.example.test"], "a partial-label wildcard")
    names("name-outside-second.pem", [GOOD, E], "a good name followed by an outside one")
    names("cn-nul.pem", [GOOD], "CN www.example.test<NUL>.evil.example.org (the classic NUL prefix attack)",
          subject=name(("CN", UTF8(GOOD.encode() + b"\x00." + E.encode()))))
    names("san-nul.pem", [GOOD.encode() + b"\x00." + E.encode()], "DNS SAN with an embedded NUL",
          subject=cn(GOOD))
    names("cn-control.pem", [GOOD], "CN with an ANSI escape (ESC [ 3 1 m) and a newline",
          subject=name(("CN", UTF8(b"\x1b[31mwww.example.test\n"))))
    names("san-control.pem", [b"www\x7f.example.test"], "DNS SAN holding DEL", subject=cn(GOOD))
    names("san-tab.pem", [b"www.example.test\t"], "DNS SAN ending in a TAB", subject=cn(GOOD))
    label64 = "a" * 64 + ".example.test"
    names("san-label-64.pem", [label64], "a 64-byte label (limit 63)")
    long254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 49]) + ".example.test"
    assert len(long254) == 254, len(long254)
    names("san-name-254.pem", [long254], "a 254-byte name (limit 253)", subject=cn(GOOD))
    cn65 = "c" * 52 + ".example.test"
    assert len(cn65) == 65
    names("cn-65.pem", [cn65], "a 65-character CN (limit 64) that is also a valid SAN")
    names("san-duplicate.pem", [GOOD, GOOD], "the same DNS name twice")
    names("san-duplicate-case.pem", [GOOD, "a.example.test", "a.example.test"], "a name repeated after another",
          subject=cn(GOOD))
    names("san-uppercase.pem", ["WWW.example.test"], "an uppercase DNS name", subject=cn(GOOD))
    names("san-trailing-dot.pem", ["www.example.test."], "a trailing dot", subject=cn(GOOD))
    names("san-empty-label.pem", ["www..example.test"], "an empty label", subject=cn(GOOD))
    names("san-hyphen-start.pem", ["-www.example.test"], "a label starting with a hyphen", subject=cn(GOOD))
    names("san-empty-name.pem", [b""], "an empty DNS name", subject=cn(GOOD))
    names("san-all-digits.pem", ["127.0.0.1"], "an IPv4 address written as a DNS name", subject=cn(GOOD))
    names("san-punycode-invalid.pem", ["xn--99999999999.example.test"], "an A-label that is not valid Punycode",
          subject=cn(GOOD))
    names("san-punycode-combining.pem", ["xn--abc-jdc.example.test"],
          "an A-label whose U-label starts with a combining mark (U+0301 abc)", subject=cn(GOOD))
    names("san-punycode-emoji.pem", ["xn--ls8h.example.test"], "an A-label decoding to an emoji (disallowed)",
          subject=cn(GOOD))
    names("san-reserved-hyphens.pem", ["ab--cd.example.test"], "-- in positions 3-4 without xn-",
          subject=cn(GOOD))
    names("san-utf8-raw.pem", ["caf\u00e9.example.test".encode()], "a raw UTF-8 U-label in a DNS SAN (IA5String)",
          subject=cn(GOOD))
    names("san-21.pem", ["n%02d.example.test" % i for i in range(21)], "21 DNS names (the profile allows 20)",
          subject=cn("n00.example.test"))
    many = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(i) for i in range(10)]
    many = many + [a + b for a in many for b in many]
    tenk = [many[i % len(many)] for i in range(10000)]
    names("san-10000.pem", tenk, "10,000 DNS SANs (1,332 distinct short names, repeated)", subject=cn(GOOD))
    names("san-ip.pem", [GOOD, GN(CTX(7, bytes([127, 0, 0, 1]), False))], "an IP SAN (tls-server forbids san.ip)",
          subject=cn(GOOD))
    names("san-email.pem", [GOOD, GN(CTX(1, b"admin@example.test", False))], "an e-mail SAN (tls-server names none)",
          subject=cn(GOOD))
    names("san-uri.pem", [GOOD, GN(CTX(6, b"https://www.example.test/", False))], "a URI SAN (tls-server names none)",
          subject=cn(GOOD))
    upn = CTX(0, OID(O["upn"]) + CTX(0, UTF8("admin@example.test")))
    names("san-othername.pem", [GOOD, GN(upn)], "an otherName (Microsoft UPN) SAN", subject=cn(GOOD))
    names("san-dirname.pem", [GOOD, GN(CTX(4, cn("Root CA")))], "a directoryName SAN", subject=cn(GOOD))
    names("san-regid.pem", [GOOD, GN(CTX(8, OID("1.2.3.4")[2:], False))], "a registeredID SAN", subject=cn(GOOD))
    names("subject-o.pem", [GOOD], "O=Evil Corp under a profile that forbids O",
          subject=name(("CN", UTF8(GOOD)), ("O", UTF8("Evil Corp"))))
    names("cn-not-a-san.pem", [GOOD], "a CN that is not one of the SANs (must-be-a-SAN)",
          subject=cn("other.example.test"))
    names("subject-cn-twice.pem", [GOOD], "two CN attributes",
          subject=name(("CN", UTF8(GOOD)), ("CN", UTF8(GOOD))))
    names("subject-multivalued.pem", [GOOD], "a multi-valued RDN (CN + O in one SET) under tls-client, "
          "whose profile allows both attributes", subject=name([("CN", UTF8("client-1")), ("O", UTF8("Example"))]),
          expect=[("tls-client", 400, "policyViolation")])
    names("cn-not-a-string.pem", [GOOD], "a CN whose value is a SEQUENCE, not a string",
          subject=name(("CN", SEQ(UTF8(GOOD)))))

    # --- ASN.1 structure and encodings
    add("asn1-deep-outer.pem", nested(10000, csr()), BAD_CSR, "a good CSR wrapped in 10,000 SEQUENCEs")
    add("asn1-deep-san.pem", csr(exts=[ext("san", nested(10000))]), BAD_CSR,
        "subjectAltName whose value is 10,000 nested SEQUENCEs")
    add("asn1-deep-cn.pem", csr(subject=name(("CN", nested(10000, UTF8(GOOD))))), BAD_CSR,
        "a CN value of 10,000 nested SEQUENCEs (a well-formed ANY)")
    add("asn1-deep-indefinite.pem",
        csr(attrs=[ext_req(ext("san", san(GOOD))), SEQ(OID("1.2.840.113549.1.9.7"), SET(b"\x30\x80" * 4000 + b"\x00\x00" * 4000))]),
        BAD_CSR, "an attribute of 4,000 nested indefinite-length (BER) SEQUENCEs")
    add("asn1-deep-attr.pem",
        csr(attrs=[ext_req(ext("san", san(GOOD))), SEQ(OID("1.2.840.113549.1.9.7"), SET(nested(10000)))]),
        BAD_CSR, "a challengePassword attribute of 10,000 nested SEQUENCEs (definite lengths)")
    add("asn1-length-overflow.pem", b"\x30\x84\xff\xff\xff\xf0" + csr()[4:], BAD_CSR,
        "outer SEQUENCE length 0xfffffff0 over a short body")
    add("asn1-version-1.pem", csr(version=1), BAD_CSR, "CertificationRequestInfo version 1 (only 0 exists)")
    add("asn1-ber-length.pem", csr(tbs_hook=ber_long_length), BAD_CSR,
        "a non-minimal (BER) length in the signed part, signed as such: not DER")
    add("csr-trailing-der.pem", csr() + b"\x00\x00garbage", BAD_CSR, "a good CSR with bytes after its DER, inside the PEM")
    add("csr-trailing-pem.pem", pem(csr()) + pem(csr(subject=cn("a.example.test"), exts=[ext("san", san("a.example.test"))])),
        BAD_CSR, "two CSR PEM blocks in one csr field")
    add("garbage-pem.pem", "-----BEGIN CERTIFICATE REQUEST-----\n!!not base64 at all!!\n-----END CERTIFICATE REQUEST-----\n",
        BAD_CSR, "a PEM block whose body is not base64")
    add("garbage-text.pem", "hello, please sign www.example.test\n", BAD_CSR, "text that is not PEM or DER")
    add("pem-empty.pem", "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n", BAD_CSR,
        "a PEM block with nothing inside")
    add("pem-truncated.pem", pem(csr())[:300], BAD_CSR, "a PEM CSR cut off in the middle (no END line)")
    add("der-not-csr.pem", SEQ(INT(1), OCTETS(b"\x11" * 32), CTX(0, OID(P256.oid))), BAD_CSR,
        "DER of an EC private key under the CERTIFICATE REQUEST label")
    add("der-octets.pem", OCTETS(b"certificate request"), BAD_CSR, "a lone OCTET STRING")
    cert = self_signed_cert()
    add("cert-not-csr.pem", pem(cert, "CERTIFICATE"), BAD_CSR, "a self-signed certificate instead of a CSR")
    add("cert-in-csr-label.pem", cert, BAD_CSR, "a certificate's DER under the CERTIFICATE REQUEST label")
    add("csr-empty.pem", "", BAD_CSR, "an empty csr field")


class _WrongKey:
    """Presents key a's SubjectPublicKeyInfo but signs with key b."""

    def __init__(self, a, b):
        self.a, self.b, self.kind = a, b, a.kind

    def spki(self):
        return self.a.spki()

    def sign(self, tbs, h):
        return self.b.sign(tbs, h)


def small_factor_key():
    small = 9973
    q = next_prime(2**2047 // small + 2**2030, ok=lambda p: gcd(65537, p - 1) == 1)
    assert (small * q).bit_length() == 2048
    return RSAKey(small, q)


def fermat_key():
    p = prime("fermat", 1024, ok=lambda p: gcd(65537, p - 1) == 1)
    q = next_prime(p + 2**64, ok=lambda p: gcd(65537, p - 1) == 1)
    k = RSAKey(p, q)
    a = isqrt(k.n)
    a += a * a < k.n
    b2 = a * a - k.n
    assert isqrt(b2) ** 2 == b2, "Fermat must factor the modulus in the first step"
    return k


def isqrt(n):
    return math.isqrt(n)


def ber_long_length(cri):
    """Rewrites the outer length of CertificationRequestInfo in the long form with a leading zero."""
    assert cri[0] == 0x30
    hl = 2 if cri[1] < 0x80 else 2 + (cri[1] & 0x7F)
    body = cri[hl:]
    n = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([0x30, 0x80 | (len(n) + 1), 0]) + n + body


# ---------------------------------------------------------------- output


def write(out):
    build()
    os.makedirs(out, exist_ok=True)
    manifest = [
        "# SPDX-License-Identifier: Apache-2.0",
        "# Generated by tests/data/make-hostile-csrs.py; see docs/hostile-corpus.md.",
        "# FILE PROFILE STATUS CODE  (CODE '-': issued; for tls-server entries the test also checks",
        "# that no requested extension was copied into the certificate)",
    ]
    seen = set()
    for fname, text, expect, what in ENTRIES:
        assert fname not in seen, fname
        seen.add(fname)
        with open(os.path.join(out, fname), "w", newline="\n") as f:
            f.write(text)
        for prof, status, code in expect:
            manifest.append("%s %s %d %s" % (fname, prof, status, code))
    with open(os.path.join(out, "MANIFEST"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    selfcheck()
    return seen


def selfcheck():
    """The controls, and every key-* request whose key decodes, carry a valid signature."""
    from cryptography import x509

    for fname, text, expect, _ in ENTRIES:
        if fname.startswith("control-") or (fname.startswith("key-") and "off-curve" not in fname):
            try:
                ok = x509.load_pem_x509_csr(text.encode()).is_signature_valid
            except Exception:  # this cryptography refuses the key type itself (DSA-1024, e = 1...)
                continue
            assert ok, "%s: the generator made a bad signature" % fname


def doc():
    build()
    print("| file | what it attacks | expected answer (profile: HTTP status, problem code) |")
    print("|---|---|---|")
    for fname, _, expect, what in ENTRIES:
        exp = "; ".join("%s: %d %s" % (p, s, "issued, nothing copied" if c == "-" and "control" not in fname else
                                       "issued" if c == "-" else c) for p, s, c in expect)
        print("| `%s` | %s | %s |" % (fname, what.replace("|", "\\|"), exp))


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csr")
    args = sys.argv[1:]
    if args[:1] == ["--doc"]:
        return doc()
    if args[:1] == ["--check"]:
        with tempfile.TemporaryDirectory() as t:
            names = write(t)
            bad = []
            for n in sorted(names | {"MANIFEST"}):
                a, b = os.path.join(t, n), os.path.join(here, n)
                if not os.path.exists(b) or open(a, "rb").read() != open(b, "rb").read():
                    bad.append(n)
            extra = sorted(set(os.listdir(here)) - names - {"MANIFEST"})
            if bad or extra:
                print("differs from the generator: %s; not generated: %s" % (bad, extra))
                return 1
            print("%d files match the generator" % len(names))
            return 0
    out = args[1] if args[:1] == ["--out"] else here
    names = write(out)
    print("wrote %d CSRs and MANIFEST to %s" % (len(names), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
