"""Authlib (Flask) authorization server for signet's password-grant interop case: password and
refresh_token (rotating) grants at /oauth/token, and /api protected by Authlib's own bearer token
validation. Usage: authlib_server.py PORT ACCESS_TOKEN_TTL_SECONDS
Client: pw-client / pw-secret (client_secret_basic or client_secret_post); user alice / wonderland."""

import os
import secrets
import sys
import time

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on 127.0.0.1 only

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, jsonify, request

PORT = int(sys.argv[1])
TTL = int(sys.argv[2]) if len(sys.argv) > 2 else 3600


class Client(ClientMixin):
    client_id = "pw-client"
    client_secret = "pw-secret"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = {"profile", "email"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_token_endpoint_auth_method(self, method):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in ("password", "refresh_token")


CLIENT = Client()
TOKENS = {}
REFRESH = {}
ISSUED = []


class Token(TokenMixin):
    def __init__(self, data, user):
        self.data = data
        self.user = user
        self.issued_at = time.time()
        self.revoked = False

    def check_client(self, client):
        return client.get_client_id() == CLIENT.client_id

    def get_scope(self):
        return self.data.get("scope", "")

    def get_expires_in(self):
        return self.data.get("expires_in", 0)

    def is_expired(self):
        return time.time() > self.issued_at + self.get_expires_in()

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user


def query_client(client_id):
    return CLIENT if client_id == CLIENT.client_id else None


def save_token(token_data, req):
    user = getattr(req, "user", None) or "alice"
    token = Token(dict(token_data), user)
    TOKENS[token_data["access_token"]] = token
    if token_data.get("refresh_token"):
        REFRESH[token_data["refresh_token"]] = token
    ISSUED.append(token_data.get("grant_type") or req.form.get("grant_type"))


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username, password):
        return "alice" if (username, password) == ("alice", "wonderland") else None


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        token = REFRESH.get(refresh_token)
        return token if token and not token.revoked else None

    def authenticate_user(self, credential):
        return credential.user

    def revoke_old_credential(self, credential):
        credential.revoked = True


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return TOKENS.get(token_string)


app = Flask(__name__)
app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"password": TTL, "refresh_token": TTL}
server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
server.register_grant(PasswordGrant)
server.register_grant(RefreshGrant)
require_oauth = ResourceProtector()
require_oauth.register_token_validator(Validator())


@app.route("/oauth/token", methods=["POST"])
def issue_token():
    return server.create_token_response()


@app.route("/api", methods=["GET", "POST"])
@require_oauth("profile")
def api():
    return jsonify(user=current_token.user, scope=current_token.get_scope(),
                   body=request.get_data(as_text=True))


@app.route("/stats")
def stats():
    return jsonify(token_requests=len(ISSUED), grants=ISSUED)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, threaded=True)
