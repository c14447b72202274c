"""AWS credentials the way the AWS CLI keeps them, through signet, against moto with IAM auth on
(it recomputes every signature with the real secret of the access key, and answers
GetCallerIdentity with the identity of the key that signed): a static profile, a
credential_process, and a role assumed through moto's STS with source_profile and an external
id (moto checks the role's trust policy, ExternalId condition included). botocore resolves the
same files as a cross-check of whose identity signet's requests carry."""

import json
import os
import re
import subprocess
import sys
import time

import boto3
import botocore.exceptions
import pytest

from conftest import HERE, PYTHON, free_port

ACCOUNT = "123456789012"
EXTERNAL_ID = "signet-ext-42"
IDENTITY = ["-d", "Action=GetCallerIdentity&Version=2011-06-15"]
BOTO_IDENTITY = (
    "import boto3; "
    "print(boto3.Session(profile_name='ops').client('sts', region_name='us-east-1').get_caller_identity()['Arn'])"
)


@pytest.fixture
def moto(procs):
    port = free_port()
    proc = procs.start([PYTHON, HERE / "aws_moto_server.py", port], port, "moto", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in proc.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                return port, json.loads(line)
        assert proc.poll() is None, proc.log_path.read_text(errors="replace")
        time.sleep(0.2)
    raise AssertionError("moto did not print its credentials")


def client(name, port, creds):
    return boto3.client(
        name,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
    )


@pytest.fixture
def external_role(moto):
    """A role that only the IAM user `signet` may assume, and only with EXTERNAL_ID."""
    port, creds = moto
    iam = client("iam", port, creds)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/signet"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }
    role = iam.create_role(RoleName="signet-external", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    policy = next(p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == "signet-all")
    iam.attach_role_policy(RoleName="signet-external", PolicyArn=policy["Arn"])
    sts = client("sts", port, creds)
    # moto enforces the condition against the ExternalId sent (it lets a request without one
    # through, which AWS does not): a wrong one is refused.
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="probe", ExternalId="not-it")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    return role["Arn"]


@pytest.fixture
def aws_files(tmp_path):
    """Writes the AWS config and credentials files; returns the env that points at them."""

    def write(config, credentials):
        (tmp_path / "aws-config").write_text(config)
        (tmp_path / "aws-credentials").write_text(credentials)
        return {
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        }

    return write


def rule(port, auth):
    return f"""
[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "awsv4", service = "sts", {auth} }}
"""


def caller_arn(body):
    found = re.search(r"<Arn>([^<]+)</Arn>", body)
    assert found, body
    return found.group(1)


def test_a_static_profile_from_the_credentials_file(signet, moto, aws_files):
    port, creds = moto
    env = aws_files(
        # The config file's keys are wrong: the credentials file wins for the same profile.
        "[profile dev]\nregion = us-east-1\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n",
        f"[dev]\naws_access_key_id = {creds['access_key']}\naws_secret_access_key = {creds['secret_key']}\n",
    )
    s = signet.start(rule(port, 'profile = "dev"'), env=env)
    status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
    assert status == 200, body
    assert caller_arn(body) == f"arn:aws:iam::{ACCOUNT}:user/signet"
    log = s.procs.procs[-1].log_path.read_text(errors="replace")
    assert creds["secret_key"] not in log


def test_credential_process_with_a_session_token(signet, moto, aws_files, tmp_path):
    port, creds = moto
    script = tmp_path / "creds helper.py"
    runs = tmp_path / "runs"
    script.write_text(
        "import json, sys, datetime\n"
        f"open({str(runs)!r}, 'a').write('run\\n')\n"
        "expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)\n"
        "print(json.dumps({'Version': 1, "
        f"'AccessKeyId': {creds['session_access_key']!r}, 'SecretAccessKey': {creds['session_secret_key']!r}, "
        f"'SessionToken': {creds['session_token']!r}, "
        "'Expiration': expires.strftime('%Y-%m-%dT%H:%M:%SZ')}))\n"
    )
    # The path has a space: botocore splits the line as a shell would, quotes included.
    env = aws_files(f"[profile proc]\ncredential_process = {sys.executable} '{script}'\n", "")
    s = signet.start(rule(port, 'profile = "proc"'), env=env)
    for _ in range(2):
        status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
        assert status == 200, body
        assert ":assumed-role/signet-role/" in caller_arn(body), body
    assert runs.read_text() == "run\n", "credentials valid for an hour are not fetched again"


def test_a_failing_credential_process_is_a_503_naming_the_profile(signet, moto, aws_files, tmp_path):
    port, _ = moto
    script = tmp_path / "fail.sh"
    script.write_text("echo 'AKIA-LEAKED-ON-STDOUT'\necho 'vault sealed' >&2\nexit 7\n")
    env = aws_files(f"[profile broken]\ncredential_process = sh {script}\n", "")
    s = signet.start(rule(port, 'profile = "broken"'), env=env)
    status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
    assert status == 503, body
    assert body.startswith("signet: ") and "AWS profile broken" in body and "exit" in body, body
    assert "LEAKED" not in body


def role_files(aws_files, creds, role_arn, external_id=EXTERNAL_ID):
    return aws_files(
        f"[profile ops]\nrole_arn = {role_arn}\nsource_profile = base\nexternal_id = {external_id}\n"
        "role_session_name = signet-interop\nregion = us-east-1\n",
        f"[base]\naws_access_key_id = {creds['access_key']}\naws_secret_access_key = {creds['secret_key']}\n",
    )


def test_a_role_profile_is_assumed_at_sts_endpoint(signet, moto, aws_files, external_role):
    port, creds = moto
    env = role_files(aws_files, creds, external_role)
    s = signet.start(rule(port, f'profile = "ops", sts_endpoint = "http://127.0.0.1:{port}"'), env=env)
    status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
    assert status == 200, body
    arn = caller_arn(body)
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/signet-external/signet-interop", body
    # botocore, reading the same files, assumes the same role and is the same caller.
    boto = subprocess.run(
        [PYTHON, "-c", BOTO_IDENTITY],
        env={**os.environ, **env, "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{port}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert boto.returncode == 0, boto.stderr
    theirs = boto.stdout.strip()
    assert theirs == arn
    log = s.procs.procs[-1].log_path.read_text(errors="replace")
    assert "obtained AWS credentials" in log, log
    assert creds["secret_key"] not in log and "SecretAccessKey" not in log


def test_the_sts_endpoint_from_the_environment_and_a_rule_role(signet, moto, aws_files, external_role):
    port, creds = moto
    env = aws_files("", "")
    env["AWS_ENDPOINT_URL_STS"] = f"http://127.0.0.1:{port}"
    auth = (
        f'access_key = "{creds["access_key"]}", secret_key = "{creds["secret_key"]}", '
        f'role_arn = "{external_role}", external_id = "{EXTERNAL_ID}", role_session_name = "rule-session"'
    )
    s = signet.start(rule(port, auth), env=env)
    status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
    assert status == 200, body
    assert caller_arn(body).endswith(":assumed-role/signet-external/rule-session"), body


def test_a_wrong_external_id_is_a_503_with_stss_reason(signet, moto, aws_files, external_role):
    port, creds = moto
    env = role_files(aws_files, creds, external_role, external_id="not-it")
    s = signet.start(rule(port, f'profile = "ops", sts_endpoint = "http://127.0.0.1:{port}"'), env=env)
    status, body = s.curl(*IDENTITY, f"http://127.0.0.1:{port}/")
    assert status == 503, body
    assert body.startswith("signet: ") and "AccessDenied" in body and "signet-external" in body, body
    for secret in (creds["secret_key"], "not-it"):
        assert secret not in body
