#!/usr/bin/env python3
"""Proves aws_moto_server.py with botocore's own clients (no signet involved).

Usage: aws_moto_selftest.py 'JSON line printed by aws_moto_server.py'
Prints one line per case and `N passed, N failed`; exits 1 on any failure.
"""

import json
import sys

import botocore.session
from botocore.exceptions import ClientError

info = json.loads(sys.argv[1])
session = botocore.session.get_session()


def client(name, key, secret, token=None, region="eu-west-1"):
    return session.create_client(
        name,
        endpoint_url=info["endpoint"],
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def main():
    user = (info["access_key"], info["secret_key"])
    temp = (info["session_access_key"], info["session_secret_key"], info["session_token"])
    wrong = (info["access_key"], "not-the-secret")
    results = []

    def case(name, expect_ok, call):
        try:
            call()
            ok, detail = expect_ok, "accepted"
        except ClientError as e:
            ok, detail = not expect_ok, e.response["Error"]["Code"]
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    sqs = client("sqs", *user)
    s3 = client("s3", *user, region="us-east-1")
    case("sqs create_queue", True, lambda: sqs.create_queue(QueueName="signet-q"))
    case("sqs list_queues", True, lambda: sqs.list_queues())
    case("s3 create_bucket", True, lambda: s3.create_bucket(Bucket="signet-bucket"))
    case("s3 put_object", True, lambda: s3.put_object(Bucket="signet-bucket", Key="a b/c.txt", Body=b"hello"))
    case("s3 get_object", True, lambda: s3.get_object(Bucket="signet-bucket", Key="a b/c.txt"))
    case("iam list_users", True, lambda: client("iam", *user, region="us-east-1").list_users())
    case("sts get_caller_identity (session)", True, lambda: client("sts", *temp).get_caller_identity())
    case("sqs list_queues (session)", True, lambda: client("sqs", *temp).list_queues())
    case("dynamodb list_tables", True, lambda: client("dynamodb", *user).list_tables())
    case("wrong secret (sqs)", False, lambda: client("sqs", *wrong).list_queues())
    case("wrong secret (s3)", False, lambda: client("s3", *wrong, region="us-east-1").list_buckets())
    case("session key without token", False, lambda: client("sqs", *temp[:2]).list_queues())
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
