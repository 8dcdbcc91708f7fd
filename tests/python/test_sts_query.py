"""The STS Query API (DESIGN.md §2b) with unmodified boto3 and AWS CLI (v1)
clients pointed at the daemon with `endpoint_url` / `--endpoint-url`
("https://127.0.0.1:PORT") and trusting the test CA with `verify=` /
`--ca-bundle`. Callers use credentials issued by CreateSession."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import (
    ACCESS_KEY_ID_RE,
    ACCOUNT,
    REGION,
    Daemon,
    Pki,
    create_session_raw,
    profile_arn,
    role_arn,
    run_rolegate,
    session_body,
    trust_anchor_arn,
)

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def app_session(daemon, ca_bundle, test_pki) -> dict:
    """Roles Anywhere credentials for role `app` and its session name.

    The RSA leaf is used because its certificate is signed with SHA-256, so the
    iam_rolesanywhere_session signer names the algorithm AWS4-X509-RSA-SHA256 (it
    derives the name from the certificate's signature hash, and AWS only defines
    the -SHA256 algorithms)."""

    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        test_pki.rsa_leaf,
        body=session_body(profile_arn("workloads"), role_arn("app"), trust_anchor_arn("main"), 3500),
    )
    assert response.status == 201, response.text
    item = response.json()["credentialSet"][0]
    return {
        "credentials": item["credentials"],
        "arn": item["assumedRoleUser"]["arn"],
        "assumed_role_id": item["assumedRoleUser"]["assumedRoleId"],
    }


def sts_client(daemon, ca_bundle, access_key_id, secret_access_key, session_token):
    return boto3.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=REGION,
    ).client("sts", endpoint_url=daemon.url, verify=str(ca_bundle), config=NO_RETRIES)


def app_sts(daemon, ca_bundle, app_session):
    c = app_session["credentials"]
    return sts_client(
        daemon, ca_bundle, c["accessKeyId"], c["secretAccessKey"], c["sessionToken"]
    )


def error_of(info) -> tuple[int, str, str]:
    response = info.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def boto3_session_of(app_session) -> boto3.Session:
    """A boto3 session holding the app session's credentials."""

    c = app_session["credentials"]
    return boto3.Session(
        aws_access_key_id=c["accessKeyId"],
        aws_secret_access_key=c["secretAccessKey"],
        aws_session_token=c["sessionToken"],
        region_name=REGION,
    )


def unchecked_sts(daemon, ca_bundle, app_session):
    """An STS client for the app session with botocore's client-side validation off, as in a
    client built from another model version: the server's validation answers."""

    return boto3_session_of(app_session).client(
        "sts",
        endpoint_url=daemon.url,
        verify=str(ca_bundle),
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )


def test_get_caller_identity_names_the_roles_anywhere_session(daemon, ca_bundle, app_session):
    identity = app_sts(daemon, ca_bundle, app_session).get_caller_identity()
    assert identity["Arn"] == app_session["arn"]
    assert identity["Account"] == ACCOUNT
    assert identity["UserId"] == app_session["assumed_role_id"]


def test_assume_role_chains_into_a_second_role(daemon, ca_bundle, app_session):
    answer = app_sts(daemon, ca_bundle, app_session).assume_role(
        RoleArn=role_arn("chained"), RoleSessionName="chain-test", DurationSeconds=900
    )
    creds = answer["Credentials"]
    assert ACCESS_KEY_ID_RE.match(creds["AccessKeyId"]), creds["AccessKeyId"]
    assert len(creds["SecretAccessKey"]) == 40
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/chained/chain-test"
    )
    chained = sts_client(
        daemon, ca_bundle, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    assert chained.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]
    # Second hop, with the first hop's credentials.
    second = chained.assume_role(RoleArn=role_arn("chained-2"), RoleSessionName="hop-2")
    assert second["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/chained-2/hop-2"
    )
    assert second["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert second["AssumedRoleUser"]["AssumedRoleId"].endswith(":hop-2")
    c2 = second["Credentials"]
    hop2 = sts_client(daemon, ca_bundle, c2["AccessKeyId"], c2["SecretAccessKey"], c2["SessionToken"])
    assert hop2.get_caller_identity()["Arn"] == second["AssumedRoleUser"]["Arn"]
    # Chained sessions are capped at one hour, whatever the role maximum.
    with pytest.raises(ClientError) as info:
        chained.assume_role(
            RoleArn=role_arn("chained-2"), RoleSessionName="hop-2", DurationSeconds=3601
        )
    assert error_of(info)[1] == "ValidationError"


def test_role_chaining_is_limited_to_one_hour(daemon, ca_bundle, app_session):
    with pytest.raises(ClientError) as info:
        app_sts(daemon, ca_bundle, app_session).assume_role(
            RoleArn=role_arn("chained-long"), RoleSessionName="too-long", DurationSeconds=3601
        )
    assert error_of(info) == (
        400,
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit "
        "for roles assumed by role chaining.",
    )


def test_parameters_are_validated_as_the_sts_model_says(daemon, ca_bundle, app_session):
    """Every model constraint a request fails, in one ValidationError, before the role is
    even looked up; then STS's own rules, with its codes. botocore's client-side
    validation is off, as in a client built from another model version."""

    unchecked = unchecked_sts(daemon, ca_bundle, app_session)
    with pytest.raises(ClientError) as info:
        unchecked.assume_role(
            RoleArn=role_arn("no-such-role"),
            RoleSessionName="a",
            DurationSeconds=899,
            Tags=[{"Key": "ok", "Value": "x"}, {"Key": "tab\there", "Value": "y"}],
        )
    assert error_of(info) == (
        400,
        "ValidationError",
        "3 validation errors detected: "
        "Value 'a' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2; "
        "Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900; "
        "Value 'tab\there' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+",
    )
    with pytest.raises(ClientError) as info:
        unchecked.assume_role(
            RoleArn=role_arn("chained"), RoleSessionName="tags", Tags=[{"Key": "k"}]
        )
    assert error_of(info) == (
        400,
        "ValidationError",
        "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy "
        "constraint: Member must not be null",
    )
    with pytest.raises(ClientError) as info:
        unchecked.assume_role(
            RoleArn=role_arn("chained"),
            RoleSessionName="tags",
            Tags=[{"Key": "Dept", "Value": "a"}, {"Key": "dept", "Value": "b"}],
        )
    assert error_of(info) == (
        400,
        "InvalidParameterValue",
        "Duplicate tag keys found. Please note that Tag keys are case insensitive. Key: 'dept'.",
    )
    # botocore's PolicyArns.member.N.arn is read: a policy the server does not know is refused,
    # never dropped.
    with pytest.raises(ClientError) as info:
        unchecked.assume_role(
            RoleArn=role_arn("chained"),
            RoleSessionName="managed",
            PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AWSDenyAll"}],
        )
    status, code, message = error_of(info)
    assert (status, code) == (400, "ValidationError"), message
    assert message.startswith(
        "Policy arn:aws:iam::aws:policy/AWSDenyAll does not exist or is not attachable."
    ), message


def test_provided_contexts_are_refused_not_ignored(daemon, ca_bundle, app_session):
    """A trusted context assertion only AWS STS can open: boto3 sends it, rolegate refuses the
    request with the model's InvalidContextAssertion instead of issuing a session without the
    identity context asked for."""

    sts = app_sts(daemon, ca_bundle, app_session)
    provider = "arn:aws:iam::aws:contextProvider/IdentityCenter"
    with pytest.raises(sts.exceptions.InvalidContextAssertionException) as info:
        sts.assume_role(
            RoleArn=role_arn("chained"),
            RoleSessionName="ctx",
            ProvidedContexts=[{"ProviderArn": provider, "ContextAssertion": "eyJhbGciOi"}],
        )
    assert error_of(info) == (
        400,
        "InvalidContextAssertion",
        f"rolegate cannot verify trusted context assertions (ProvidedContexts, from {provider}): "
        "only AWS STS can; ask for the session without them.",
    )


def test_assume_role_pads_the_token_and_reports_its_size(daemon, ca_bundle, app_session):
    """MinimumSessionTokenSize, SessionTokenSize and SessionTokenUtilization, the members
    the 2026 STS model adds: the padded token is as long as asked and still works."""

    sts = app_sts(daemon, ca_bundle, app_session)
    plain = sts.assume_role(RoleArn=role_arn("chained"), RoleSessionName="plain")
    assert plain["SessionTokenSize"] == len(plain["Credentials"]["SessionToken"])
    assert "SessionTokenUtilization" not in plain  # no policy or tag passed

    padded = sts.assume_role(
        RoleArn=role_arn("chained"), RoleSessionName="padded", MinimumSessionTokenSize=4096
    )
    token = padded["Credentials"]["SessionToken"]
    # At least as long as asked, and at most one character more (unpadded base64 is never
    # 4k + 1 characters long).
    assert len(token) in (4096, 4097)
    assert padded["SessionTokenSize"] == len(token)
    c = padded["Credentials"]
    hop = sts_client(daemon, ca_bundle, c["AccessKeyId"], c["SecretAccessKey"], token)
    assert hop.get_caller_identity()["Arn"] == padded["AssumedRoleUser"]["Arn"]

    # The policy's length has no model maximum any more: the packed size bounds it.
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
        indent=200,
    )
    assert len(policy) > 2048
    answer = sts.assume_role(RoleArn=role_arn("chained"), RoleSessionName="long", Policy=policy)
    assert answer["PackedPolicySize"] == answer["SessionTokenUtilization"]
    assert 0 < answer["SessionTokenUtilization"] < 10

    unchecked = unchecked_sts(daemon, ca_bundle, app_session)
    with pytest.raises(ClientError) as info:
        unchecked.assume_role(
            RoleArn=role_arn("chained"), RoleSessionName="big", MinimumSessionTokenSize=4097
        )
    assert error_of(info) == (
        400,
        "ValidationError",
        "1 validation error detected: Value '4097' at 'minimumSessionTokenSize' failed to "
        "satisfy constraint: Member must have value less than or equal to 4096",
    )


def test_control_characters_in_quoted_values_keep_the_error_parseable(
    daemon, ca_bundle, app_session
):
    """XML cannot carry U+0001 or U+FFFF at all: a message quoting them shows them as
    escapes, so botocore still parses the error instead of failing on the document."""

    with pytest.raises(ClientError) as info:
        app_sts(daemon, ca_bundle, app_session).assume_role(
            RoleArn=role_arn("chained"), RoleSessionName="ab\x01cd\uffff"
        )
    assert error_of(info) == (
        400,
        "ValidationError",
        "1 validation error detected: Value 'ab\\u0001cd\\uFFFF' at 'roleSessionName' failed "
        "to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
    )


def test_assume_role_denied_by_trust_policy(daemon, ca_bundle, app_session):
    with pytest.raises(ClientError) as info:
        app_sts(daemon, ca_bundle, app_session).assume_role(
            RoleArn=role_arn("outside"), RoleSessionName="denied"
        )
    status, code, message = error_of(info)
    assert (status, code) == (403, "AccessDenied")
    # STS answers AWS's message byte for byte; the reason code is in the audit log.
    assert message == (
        f"User: {app_session['arn']} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn('outside')}"
    )


def test_wrong_secret_is_signature_does_not_match(daemon, ca_bundle, app_session):
    c = app_session["credentials"]
    client = sts_client(daemon, ca_bundle, c["accessKeyId"], "x" * 40, c["sessionToken"])
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    status, code, message = error_of(info)
    assert (status, code) == (403, "SignatureDoesNotMatch")
    assert message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


def test_forged_session_token_is_invalid_client_token_id(daemon, ca_bundle, app_session):
    c = app_session["credentials"]
    client = sts_client(
        daemon, ca_bundle, c["accessKeyId"], c["secretAccessKey"], c["sessionToken"][:-8] + "AAAAAAAA"
    )
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    status, code, message = error_of(info)
    assert (status, code) == (403, "InvalidClientTokenId")
    # The key id the token names is held, but the token does not open under it.
    assert message == (
        "The security token included in the request is invalid. It names token key 'k1', which this server "
        "holds, but does not open with it: it was sealed under a different key with the same id, or it was "
        "truncated, altered or forged. Every replica must share the same key files, and a key file must not be "
        "replaced under an id it already had."
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda sts: sts.assume_role_with_web_identity(
            RoleArn=role_arn("app"), RoleSessionName="web", WebIdentityToken="eyJhbGciOiJub25lIn0.e30."
        ),
        lambda sts: sts.assume_role_with_saml(
            RoleArn=role_arn("app"),
            PrincipalArn="arn:aws:iam::123456789012:saml-provider/corp",
            SAMLAssertion="PHNhbWw+" * 4,
        ),
    ],
    ids=["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"],
)
def test_unsigned_federation_actions_are_named_as_not_implemented(daemon, ca_bundle, call, request):
    """botocore sends these two unsigned, as STS takes them: the answer names the action, it
    does not ask for a signature."""

    sts = boto3.Session(region_name=REGION).client(
        "sts", endpoint_url=daemon.url, verify=str(ca_bundle), config=NO_RETRIES
    )
    with pytest.raises(ClientError) as info:
        call(sts)
    action = request.node.callspec.id
    assert error_of(info) == (
        400,
        "InvalidAction",
        f"rolegate does not implement the STS action {action}; it serves AssumeRole and GetCallerIdentity.",
    )


def daemon_with_server_settings(test_pki, tmp_path: Path, settings: str) -> Daemon:
    """The test PKI's daemon with `settings` added to its [server] table."""

    config = tmp_path / "rolegate.toml"
    text = Path(test_pki.config).read_text()
    assert text.startswith("[server]\n"), text
    config.write_text(text.replace("[server]\n", f"[server]\n{settings}\n", 1))
    # Relative paths of the configuration resolve against its folder: keep them the PKI's.
    for name in os.listdir(Path(test_pki.config).parent):
        if not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(Path(test_pki.config).parent / name)
    return Daemon(
        ["--config", str(config), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
        log_dir=tmp_path / "logs",
    )


def test_a_request_signed_for_another_name_of_the_server_is_refused(
    test_pki, ca_bundle, app_session, tmp_path
):
    """A daemon whose server.hostnames lists only `localhost` refuses what botocore signs for
    127.0.0.1 (a name its certificate holds, but not one it is reached by here), with an
    error botocore parses; signed for localhost, the same session is answered."""

    d = daemon_with_server_settings(test_pki, tmp_path, 'hostnames = ["localhost"]')
    try:
        session = boto3_session_of(app_session)
        by_address = session.client(
            "sts", endpoint_url=d.url, verify=str(ca_bundle), config=NO_RETRIES
        )
        with pytest.raises(ClientError) as info:
            by_address.get_caller_identity()
        assert error_of(info) == (
            403,
            "SignatureDoesNotMatch",
            f"The request is signed for host '127.0.0.1:{d.port}', which is not a name of this server: "
            "sign it for the name you reach this server by (its certificate's names, or those of "
            "server.hostnames).",
        )
        by_name = session.client(
            "sts",
            endpoint_url=f"https://localhost:{d.port}",
            verify=str(ca_bundle),
            config=NO_RETRIES,
        )
        assert by_name.get_caller_identity()["Arn"] == app_session["arn"]
    finally:
        d.stop()


def test_a_throttled_sts_call_is_retried_by_botocore_and_then_refused(
    test_pki, ca_bundle, app_session, tmp_path
):
    """Past the per-address rate limit, STS answers 429 `Throttling` (DESIGN §4), which
    botocore's standard retry mode takes for throttling: it retries up to its limit, then
    raises the error as rolegate worded it."""

    d = daemon_with_server_settings(
        test_pki, tmp_path, "rate_limit_per_ip = 0.001\nrate_limit_per_ip_burst = 1"
    )
    try:
        session = boto3_session_of(app_session)
        sts = session.client(
            "sts",
            endpoint_url=f"https://localhost:{d.port}",
            verify=str(ca_bundle),
            config=Config(retries={"total_max_attempts": 3, "mode": "standard"}),
        )
        assert sts.get_caller_identity()["Arn"] == app_session["arn"]
        with pytest.raises(ClientError) as info:
            sts.get_caller_identity()
        status, code, message = error_of(info)
        assert (status, code) == (429, "Throttling"), message
        assert message.startswith("Rate exceeded for this client address"), message
        assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    finally:
        d.stop()


def cli_env(credentials: dict, tmp_path: Path) -> dict:
    """The AWS CLI's environment: the session credentials in AWS_* variables, no user config."""

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_ACCESS_KEY_ID=credentials["accessKeyId"],
        AWS_SECRET_ACCESS_KEY=credentials["secretAccessKey"],
        AWS_SESSION_TOKEN=credentials["sessionToken"],
        AWS_DEFAULT_REGION=REGION,
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def run_aws(daemon, ca_bundle, env: dict, *args: str) -> subprocess.CompletedProcess:
    aws = Path(sys.executable).with_name("aws")
    return subprocess.run(
        [
            str(aws), "sts", *args,
            "--endpoint-url", daemon.url,
            "--ca-bundle", str(ca_bundle),
            "--output", "json",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_aws_cli_get_caller_identity(daemon, ca_bundle, app_session, tmp_path):
    env = cli_env(app_session["credentials"], tmp_path)
    proc = run_aws(daemon, ca_bundle, env, "get-caller-identity")
    assert proc.returncode == 0, proc.stderr
    identity = json.loads(proc.stdout)
    assert identity["Arn"] == app_session["arn"]
    assert identity["Account"] == ACCOUNT
    assert identity["UserId"] == app_session["assumed_role_id"]


def test_aws_cli_assume_role(daemon, ca_bundle, app_session, tmp_path):
    env = cli_env(app_session["credentials"], tmp_path)
    proc = run_aws(
        daemon, ca_bundle, env,
        "assume-role", "--role-arn", role_arn("chained"), "--role-session-name", "cli-hop",
        "--duration-seconds", "900",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/chained/cli-hop"
    creds = answer["Credentials"]
    assert ACCESS_KEY_ID_RE.match(creds["AccessKeyId"]), creds["AccessKeyId"]

    # The CLI reports the chaining cap with AWS's exact message.
    proc = run_aws(
        daemon, ca_bundle, env,
        "assume-role", "--role-arn", role_arn("chained-long"), "--role-session-name", "cli-long",
        "--duration-seconds", "3601",
    )  # fmt: skip
    assert proc.returncode != 0
    assert (
        "An error occurred (ValidationError) when calling the AssumeRole operation: "
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
        "by role chaining."
    ) in proc.stderr, proc.stderr

    # The new credentials work for the CLI too.
    hop_env = cli_env(
        {
            "accessKeyId": creds["AccessKeyId"],
            "secretAccessKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
        },
        tmp_path,
    )
    proc = run_aws(daemon, ca_bundle, hop_env, "get-caller-identity")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"] == answer["AssumedRoleUser"]["Arn"]


def test_a_certificate_revoked_after_its_session_ends_it_and_its_chain(test_pki, ca_bundle, tmp_path):
    """A CRL revoking a certificate, reloaded after the certificate got its session, ends that
    session and the one chained from it: boto3 and the AWS CLI get AccessDenied naming the
    certificate, while the sessions of the CA's other certificates go on."""

    pki = Pki(tmp_path / "pki")
    victim = pki.client("victim", test_pki.root, "victim", key="rsa-2048")
    # The anchor's CRL, as a file of this test's own (the shared PKI's stays as it is).
    crl = tmp_path / "main.crl"
    shutil.copyfile(Path(test_pki.config).parent / "root.crl", crl)
    config = tmp_path / "rolegate.toml"
    text = Path(test_pki.config).read_text()
    assert 'crls = ["root.crl"]' in text, text
    config.write_text(text.replace('crls = ["root.crl"]', f"crls = [{json.dumps(str(crl))}]", 1))
    for name in os.listdir(Path(test_pki.config).parent):
        if not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(Path(test_pki.config).parent / name)
    daemon = Daemon(["--config", str(config), "--listen", "127.0.0.1:0"], log_dir=tmp_path / "logs")
    try:
        sessions = {}
        for name, leaf in (("victim", victim), ("kept", test_pki.rsa_leaf)):
            response = create_session_raw(
                daemon.endpoint,
                ca_bundle,
                leaf,
                body=session_body(profile_arn("workloads"), role_arn("app"), trust_anchor_arn("main"), 3500),
            )
            assert response.status == 201, response.text
            c = response.json()["credentialSet"][0]["credentials"]
            sessions[name] = sts_client(daemon, ca_bundle, c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
        chained = sessions["victim"].assume_role(RoleArn=role_arn("chained"), RoleSessionName="hop")["Credentials"]
        chained_sts = sts_client(
            daemon, ca_bundle, chained["AccessKeyId"], chained["SecretAccessKey"], chained["SessionToken"]
        )
        chained_sts.get_caller_identity()

        # The CA adds the victim to its CRL (keeping what it revoked); the daemon reloads it.
        run_rolegate(
            "certs", "crl", "--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key),
            "--out", str(crl), "--revoke", victim.serial_hex,
        )  # fmt: skip
        daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while True:
            try:
                sessions["victim"].get_caller_identity()
            except ClientError:
                break
            assert time.monotonic() < deadline, "the reload did not end the session"
            time.sleep(0.05)

        expected = (
            403,
            "AccessDenied",
            f"The certificate this session was issued to (serial {victim.serial_hex}, issued by "
            f"CN=rolegate test root) is revoked by a CRL of trust anchor {trust_anchor_arn('main')}: its sessions, "
            "and those chained from them, have ended, and it gets no new ones.",
        )
        for sts in (sessions["victim"], chained_sts):
            with pytest.raises(ClientError) as info:
                sts.get_caller_identity()
            assert error_of(info) == expected
        assert sessions["kept"].get_caller_identity()["Account"] == ACCOUNT
        as_issued = {
            "accessKeyId": chained["AccessKeyId"],
            "secretAccessKey": chained["SecretAccessKey"],
            "sessionToken": chained["SessionToken"],
        }
        refused = run_aws(daemon, ca_bundle, cli_env(as_issued, tmp_path), "get-caller-identity")
        assert refused.returncode != 0
        assert "An error occurred (AccessDenied) when calling the GetCallerIdentity operation: " in refused.stderr
        assert expected[2] in refused.stderr, refused.stderr
    finally:
        daemon.stop()
