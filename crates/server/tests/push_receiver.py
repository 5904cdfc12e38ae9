"""A local Web Push service for the server's push tests (tests/push.rs).

It plays both ends a real push service and browser would: it makes a browser-like key pair
(P-256 and a 16-byte auth secret), serves push endpoints on 127.0.0.1, checks each request's
VAPID signature (RFC 8292: ES256 JWT, `aud` = the endpoint's origin, `exp` in the future and
within 24 hours, a `sub`) with the key the request names, decrypts the aes128gcm body
(RFC 8291, with PyPI's http-ece) and prints what it found as one JSON line per request.

Endpoints under /gone/ answer 410 Gone, as a push service does for an expired subscription.

First line printed: {"port": ..., "p256dh": ..., "auth": ...}; then one line per request.
Needs PyPI's http-ece (and the cryptography package it brings).
"""

import base64
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = PRIVATE.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)
AUTH = os.urandom(16)


def check_vapid(header, origin):
    """Returns the server's public key (base64url) when the VAPID header is valid, else raises."""
    if not header.startswith("vapid "):
        raise ValueError("Authorization is not a vapid scheme")
    params = dict(
        part.strip().split("=", 1) for part in header[len("vapid "):].split(",")
    )
    token, key = params["t"], params["k"]
    head, claims, signature = token.split(".")
    if json.loads(b64url_decode(head)).get("alg") != "ES256":
        raise ValueError("JWT alg is not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    raw = b64url_decode(signature)
    if len(raw) != 64:
        raise ValueError("ES256 signature is not 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as err:
        raise ValueError("VAPID signature does not verify") from err
    claims = json.loads(b64url_decode(claims))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    now = time.time()
    if not now < claims.get("exp", 0) <= now + 24 * 3600:
        raise ValueError("exp is not within the next 24 hours")
    if not claims.get("sub"):
        raise ValueError("no sub claim")
    return key


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        report = {
            "path": self.path,
            "topic": self.headers.get("Topic"),
            "ttl": self.headers.get("TTL"),
            "urgency": self.headers.get("Urgency"),
        }
        if self.path.startswith("/gone/"):
            report["status"] = 410
            emit(report)
            self.answer(410)
            return
        try:
            if self.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            origin = f"http://127.0.0.1:{self.server.server_address[1]}"
            report["k"] = check_vapid(self.headers.get("Authorization", ""), origin)
            plain = http_ece.decrypt(
                body, private_key=PRIVATE, auth_secret=AUTH, version="aes128gcm"
            )
            report["payload"] = json.loads(plain)
            report["status"] = 201
        except Exception as err:  # every failure is reported to the test, never swallowed
            report["error"] = f"{type(err).__name__}: {err}"
            report["status"] = 400
        emit(report)
        self.answer(report["status"])


def emit(report):
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    emit({"port": server.server_address[1], "p256dh": b64url(PUBLIC), "auth": b64url(AUTH)})
    server.serve_forever()


if __name__ == "__main__":
    main()
