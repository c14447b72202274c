#!/usr/bin/env python3
"""A resource server that accepts a bearer token only when it is a JWT signed by the
authorization server (its JWKS, fetched from ISSUER/jwks by PyJWT's PyJWKClient), issued by
ISSUER, for AUDIENCE, and of the KIND asked for:
  access: an RFC 9068 JWT access token (header typ "at+jwt");
  id:     an OpenID Connect ID token (not typ "at+jwt", with sub, iat and exp).
Records each decision as a JSON line in LOG. Usage: oidc_jwt_rs_server.py PORT ISSUER AUDIENCE KIND LOG
"""

import json
import sys

import jwt

from verifier import VerifierHandler, serve

PORT, ISSUER, AUDIENCE, KIND, LOG = sys.argv[1:6]
JWKS = jwt.PyJWKClient(f"{ISSUER}/jwks", cache_keys=True)


def verify(token):
    header = jwt.get_unverified_header(token)
    typ = (header.get("typ") or "").lower()
    if KIND == "access" and typ != "at+jwt":
        raise jwt.InvalidTokenError(f"typ {header.get('typ')!r} is not at+jwt")
    if KIND == "id" and typ in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("an access token where an ID token was expected")
    key = JWKS.get_signing_key_from_jwt(token)
    required = ["exp", "iat", "sub"] if KIND == "id" else ["exp", "iat"]
    return jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
                      options={"require": required})


class Handler(VerifierHandler):
    name = "oidc-jwt-rs"

    def handle_any(self):
        auth = self.headers.get("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        entry = {"path": self.path, "token": token, "valid": False, "claims": None, "error": None}
        try:
            if not token:
                raise jwt.InvalidTokenError("no bearer token")
            entry["claims"] = verify(token)
            entry["valid"] = True
        except jwt.PyJWTError as e:
            entry["error"] = f"{type(e).__name__}: {e}"
        with open(LOG, "a") as log:
            log.write(json.dumps(entry) + "\n")
        if entry["valid"]:
            self.reply(200, json.dumps(entry["claims"]))
        else:
            self.reply(401, f"jwt: {entry['error']}")


if __name__ == "__main__":
    serve(Handler, int(PORT))
