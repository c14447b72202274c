#!/usr/bin/env python3
"""moto (AWS mock) with IAM authentication on, for signet's SigV4 interop tests.

Usage: aws_moto_server.py PORT [CERT KEY CA]

Starts moto's server on 127.0.0.1:PORT (HTTPS with CERT and KEY when given; CA is the
certificate that issued CERT, for the setup calls), creates (while authentication is still off) an IAM user
`signet` with an access key and an allow-everything policy, a role `signet-role` it may assume, and
temporary credentials for that role; then switches authentication on for every later request
(moto's `/moto-api/reset-auth` to 0, the same as `INITIAL_NO_AUTH_ACTION_COUNT=0`).
Prints ONE JSON line on stdout once ready:
  {"endpoint": "http://127.0.0.1:PORT",                             # https://localhost:PORT with CERT
   "access_key": "AKIA...", "secret_key": "...",                      # IAM user
   "session_access_key": "ASIA...", "session_secret_key": "...", "session_token": "..."}
and serves until killed.

What moto checks: it recomputes the SigV4 header signature with botocore (SigV4Auth, or
S3SigV4Auth for s3, whose payload hash is the x-amz-content-sha256 header as sent) for the
access key's real secret, and that the session token belongs to the key. It answers 403
SignatureDoesNotMatch / InvalidClientTokenId otherwise. It does not verify presigned URLs (500)
nor compare the S3 body with x-amz-content-sha256: aws_verify_server.py covers those.
"""

import contextlib
import json
import ssl
import sys
import urllib.request

import botocore.session
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


class TlsMotoServer(ThreadedMotoServer):
    """moto's threaded server, serving HTTPS with the given certificate."""

    def __init__(self, port, cert, key):
        super().__init__(ip_address="127.0.0.1", port=port)
        self._ssl_context = (cert, key)

    def _server_entry(self):
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address,
            self._port,
            app,
            True,
            request_handler=MotoRequestHandler,
            ssl_context=self._ssl_context,
        )
        self._server_ready_event.set()
        self._server.serve_forever()

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
    ],
}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def main():
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        cert, key, ca = sys.argv[2:5]
        endpoint = f"https://localhost:{port}"
        server = TlsMotoServer(port, cert, key)
    else:
        ca = None
        endpoint = f"http://127.0.0.1:{port}"
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    # moto announces itself on stdout; keep stdout for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        server.start()
    try:
        setup_and_serve(server, endpoint, ca)
    finally:
        server.stop()


def setup_and_serve(server, endpoint, ca):

    session = botocore.session.get_session()

    def client(name):
        return session.create_client(
            name,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            verify=ca if ca else None,
        )

    iam = client("iam")
    iam.create_user(UserName="signet")
    key = iam.create_access_key(UserName="signet")["AccessKey"]
    admin = iam.create_policy(PolicyName="signet-all", PolicyDocument=json.dumps(ALLOW_ALL))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="signet", PolicyArn=admin)
    role = iam.create_role(RoleName="signet-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    iam.attach_role_policy(RoleName="signet-role", PolicyArn=admin)
    temp = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="signet")["Credentials"]

    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    context = ssl.create_default_context(cafile=ca) if ca else None
    urllib.request.urlopen(req, timeout=10, context=context).read()

    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "access_key": key["AccessKeyId"],
                "secret_key": key["SecretAccessKey"],
                "session_access_key": temp["AccessKeyId"],
                "session_secret_key": temp["SecretAccessKey"],
                "session_token": temp["SessionToken"],
            }
        ),
        flush=True,
    )
    try:
        server._thread.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
