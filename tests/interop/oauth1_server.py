#!/usr/bin/env python3
"""OAuth 1.0a verifier for signet's interop tests, built on oauthlib.

Usage: oauth1_server.py PORT [RSA_KEY_PEM]

Listens on 127.0.0.1:PORT (plain HTTP). Every request, any method and path, is checked with
oauthlib: `ResourceEndpoint` when it carries `oauth_token`, `SignatureOnlyEndpoint` otherwise.
Answers 200 `ok oauth1 <signature method> <placement>` or 401 `oauth1: <reason>`.

Credentials (use these in signet's config):
  consumer_key = "signet-consumer"   consumer_secret = "consumer-secret"
  token        = "signet-token"      token_secret    = "token-secret"
  RSA-*: the public half of RSA_KEY_PEM (a private key, public key or certificate); by default the
         published OAuth test key in tests/vectors/oauth1/oauth1-vectors.json.

oauthlib does not check `oauth_body_hash`; this server does, with the signature method's hash
(SHA-1 for *-SHA1, SHA-256 for *-SHA256, SHA-512 for *-SHA512) over the raw body.
"""

import base64
import hashlib
import json
import os
import sys
import threading
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from oauthlib.common import Request
from oauthlib.oauth1 import RequestValidator, ResourceEndpoint, SignatureOnlyEndpoint
from oauthlib.oauth1.rfc5849 import errors

from verifier import VerifierHandler, serve

CONSUMER_KEY = "signet-consumer"
CONSUMER_SECRET = "consumer-secret"
TOKEN = "signet-token"
TOKEN_SECRET = "token-secret"
ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
FORM = "application/x-www-form-urlencoded"


def load_public_key(path):
    if path is None:
        here = os.path.dirname(os.path.abspath(__file__))
        vectors = os.path.join(here, "..", "vectors", "oauth1", "oauth1-vectors.json")
        with open(vectors) as f:
            pem = json.load(f)["rsa_sha1_cases"][0]["certificate_pem"].encode()
    else:
        with open(path, "rb") as f:
            pem = f.read()
    if b"CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    elif b"PRIVATE KEY" in pem:
        key = serialization.load_pem_private_key(pem, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Validator(RequestValidator):
    """One client and one token; nonces are remembered so replays fail."""

    def __init__(self, rsa_public_pem):
        super().__init__()
        self.rsa_public_pem = rsa_public_pem
        self.seen = set()
        self.lock = threading.Lock()

    # oauthlib's defaults allow only 20-30 letters and digits for keys and nonces; signet's
    # nonces are 32 letters and digits and the test keys contain '-'.
    @property
    def safe_characters(self):
        return ALNUM | set("-_")

    @property
    def client_key_length(self):
        return 3, 64

    @property
    def access_token_length(self):
        return 3, 64

    @property
    def nonce_length(self):
        return 8, 64

    @property
    def enforce_ssl(self):
        return False

    def check_nonce(self, nonce):
        # Keep signet's nonces alphanumeric.
        lo, hi = self.nonce_length
        return set(nonce) <= ALNUM and lo <= len(nonce) <= hi

    @property
    def dummy_client(self):
        return "dummy-client"

    @property
    def dummy_access_token(self):
        return "dummy-token"

    def validate_client_key(self, client_key, request):
        return client_key == CONSUMER_KEY

    def get_client_secret(self, client_key, request):
        return CONSUMER_SECRET if client_key == CONSUMER_KEY else "dummy-secret"

    def get_rsa_key(self, client_key, request):
        return self.rsa_public_pem

    def validate_access_token(self, client_key, token, request):
        return token == TOKEN

    def get_access_token_secret(self, client_key, token, request):
        return TOKEN_SECRET if token == TOKEN else "dummy-secret"

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request,
                                     request_token=None, access_token=None):
        key = (client_key, timestamp, nonce, request_token or access_token)
        with self.lock:
            if key in self.seen:
                return False
            self.seen.add(key)
            return True


def placement(headers, body, query):
    if headers.get("Authorization", "").startswith("OAuth "):  # `headers` ignores case
        return "header"
    if "oauth_signature" in dict(parse_qsl(body, keep_blank_values=True)):
        return "body"
    if "oauth_signature" in dict(parse_qsl(query, keep_blank_values=True)):
        return "query"
    return "none"


def check_body_hash(request, raw_body):
    """`oauth_body_hash`, when sent, must be the method's hash of the raw body."""
    sent = dict(request.oauth_params).get("oauth_body_hash")
    if sent is None:
        return None
    algo = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}.get(
        request.signature_method.rsplit("-", 1)[-1])
    if algo is None:
        return "oauth_body_hash with a signature method that has no hash"
    want = base64.b64encode(algo(raw_body).digest()).decode()
    return None if sent == want else f"oauth_body_hash mismatch (want {want}, got {sent})"


class Handler(VerifierHandler):
    name = "oauth1_server"

    validator = None

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = raw.decode("utf-8", "surrogateescape")
        host = self.headers.get("Host", self.server.server_address[0])
        uri = f"http://{host}{self.path}"
        headers = dict(self.headers.items())
        form = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() == FORM
        # oauthlib only reads form bodies; anything else is passed without a body.
        oauth_body = body if form else None
        status, text = 401, ""
        try:
            # Pre-check for a readable reason; the endpoint below repeats these checks.
            endpoint_any = SignatureOnlyEndpoint(self.validator)
            req = endpoint_any._create_request(uri, self.command, oauth_body, headers)
            endpoint_any._check_transport_security(req)
            endpoint_any._check_mandatory_parameters(req)
            if req.resource_owner_key:
                valid, req = ResourceEndpoint(self.validator).validate_protected_resource_request(
                    uri, self.command, oauth_body, headers)
            else:
                valid, req = endpoint_any.validate_request(uri, self.command, oauth_body, headers)
            if not valid:
                log = getattr(req, "validator_log", {}) if req else {}
                failed = [k for k, v in log.items() if not v]
                text = "oauth1: rejected (" + (", ".join(failed) or "replayed nonce or bad token") + ")"
            else:
                problem = check_body_hash(req, raw)
                if problem:
                    text = "oauth1: " + problem
                else:
                    where = placement(self.headers, body if form else "", urlsplit(self.path).query)
                    status, text = 200, f"ok oauth1 {req.signature_method} {where}"
        except errors.OAuth1Error as e:
            text = f"oauth1: {e.description or e.error}"
        except Exception as e:  # noqa: BLE001 - any failure is the client's 401, with its reason
            text = f"oauth1: {type(e).__name__}: {e}"
        self.reply(status, (text + "\n"))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    port = int(sys.argv[1])
    Handler.validator = Validator(load_public_key(sys.argv[2] if len(sys.argv) == 3 else None))
    serve(Handler, port)


if __name__ == "__main__":
    main()
