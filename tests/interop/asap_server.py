#!/usr/bin/env python3
"""ASAP verifier for signet's interop tests: Atlassian's own `atlassian-jwt-auth` JWTAuthVerifier.

Usage: asap_server.py PORT AUDIENCE KEYS.json

KEYS.json maps a key id (`kid`) to its public key PEM; a static retriever hands them to the
verifier, so nothing is fetched. The verifier checks the signature (any ASAP algorithm), `aud`,
`exp` and `iat` (a lifetime of at most 3600 s), that `kid` is `iss` or starts with `iss/`, that
`sub` equals `iss`, and refuses a `jti` seen before. With `X-Asap-Any-Subject: 1` the request
goes to a second verifier that lets `sub` differ from `iss` (Atlassian's
`subject_should_match_issuer=False`), with its own jti memory.
Answers 200 with JSON {header_raw, claims} or 401 `asap: <reason>`.
"""

import base64
import json
import sys
import threading

from atlassian_jwt_auth import JWTAuthVerifier
from atlassian_jwt_auth.key import BasePublicKeyRetriever

from verifier import VerifierHandler, serve

KEYS = {}
LOCK = threading.Lock()


class StaticRetriever(BasePublicKeyRetriever):
    def retrieve(self, key_identifier, **kwargs):
        return KEYS[key_identifier.key_id]


VERIFIERS = {
    False: JWTAuthVerifier(StaticRetriever(), check_jti_uniqueness=True),
    True: JWTAuthVerifier(StaticRetriever(), check_jti_uniqueness=True, subject_should_match_issuer=False),
}


class Handler(VerifierHandler):
    name = "asap_server"

    protocol_version = "HTTP/1.1"

    def handle_any(self):
        value = self.headers.get("Authorization", "")
        try:
            if not value.startswith("Bearer "):
                raise ValueError(f"expected 'Bearer <token>', got {value!r}")
            token = value[len("Bearer ") :]
            verifier = VERIFIERS[self.headers.get("X-Asap-Any-Subject") == "1"]
            with LOCK:
                claims = verifier.verify_jwt(token, AUDIENCE)
            header = token.split(".")[0]
            header_raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)).decode()
            self.reply(200, json.dumps({"header_raw": header_raw, "claims": claims}))
        except Exception as e:  # every refusal of the verifier, whatever its type
            self.reply(401, f"asap: {type(e).__name__}: {e}\n")


def main():
    global AUDIENCE
    port, AUDIENCE = int(sys.argv[1]), sys.argv[2]
    with open(sys.argv[3]) as f:
        KEYS.update(json.load(f))
    serve(Handler, port)


if __name__ == "__main__":
    main()
