#!/usr/bin/env python3
"""JWT verifier for signet's interop tests, built on PyJWT.

Usage: jwt_server.py PORT KEYS.json

KEYS.json maps an algorithm (HS256 ... ES512) to the key PyJWT verifies it with: the HMAC
secret as hex (`{"secret_hex": ...}`) or a public key PEM (`{"public": ...}`).

Listens on 127.0.0.1:PORT (plain HTTP). The client says where the token must be and how it is
checked, in headers signet passes through:
  X-Jwt-Alg: the algorithm (the only one PyJWT accepts for this request)
  X-Jwt-Key: the entry of KEYS.json to verify with (default: the algorithm's)
  X-Jwt-Query: the query parameter holding the token (else it is in Authorization)
  X-Jwt-Prefix: the word before the token in Authorization (absent: the token alone)
  X-Jwt-Require: comma-separated claims that must be present (exp, iat and nbf are checked
    against the clock whenever present; a jti seen before is refused)
Answers 200 with JSON {header, header_raw, payload_raw, claims, token} or 401 `jwt: <reason>`.
"""

import base64
import json
import sys
import threading
import urllib.parse

import jwt

from verifier import VerifierHandler, serve

KEYS = {}
SEEN_JTI = set()
LOCK = threading.Lock()


def b64u_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def key_for(alg):
    entry = KEYS[alg]
    if "secret_hex" in entry:
        return bytes.fromhex(entry["secret_hex"])
    return entry["public"]


def find_token(handler):
    query_key = handler.headers.get("X-Jwt-Query")
    if query_key:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query, keep_blank_values=True)
        values = query.get(query_key, [])
        if len(values) != 1:
            raise ValueError(f"expected one {query_key!r} query parameter, got {len(values)}")
        if handler.headers.get("Authorization"):
            raise ValueError("a query token and an Authorization header")
        return values[0]
    value = handler.headers.get("Authorization")
    if value is None:
        raise ValueError("no Authorization header")
    prefix = handler.headers.get("X-Jwt-Prefix")
    if prefix is None:
        if " " in value:
            raise ValueError(f"expected the token alone, got {value!r}")
        return value
    if not value.startswith(prefix + " "):
        raise ValueError(f"expected {prefix!r} and a space before the token, got {value!r}")
    return value[len(prefix) + 1 :]


class Handler(VerifierHandler):
    name = "jwt_server"

    protocol_version = "HTTP/1.1"

    def handle_any(self):
        alg = self.headers.get("X-Jwt-Alg", "")
        required = [c for c in self.headers.get("X-Jwt-Require", "").split(",") if c]
        try:
            token = find_token(self)
            claims = jwt.decode(
                token,
                key_for(self.headers.get("X-Jwt-Key", alg)),
                algorithms=[alg],
                options={"require": required, "verify_aud": False, "verify_iss": False},
            )
            if "jti" in claims:
                with LOCK:
                    if claims["jti"] in SEEN_JTI:
                        raise ValueError(f"jti {claims['jti']!r} was used before")
                    SEEN_JTI.add(claims["jti"])
            header_b64, payload_b64, _ = token.split(".")
            answer = {
                "header": jwt.get_unverified_header(token),
                "header_raw": b64u_decode(header_b64),
                "payload_raw": b64u_decode(payload_b64),
                "claims": claims,
                "token": token,
            }
            self.reply(200, json.dumps(answer))
        except (jwt.PyJWTError, ValueError, KeyError) as e:
            self.reply(401, f"jwt: {type(e).__name__}: {e}\n")


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        KEYS.update(json.load(f))
    serve(Handler, port)


if __name__ == "__main__":
    main()
