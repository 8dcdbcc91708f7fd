"""Credentials from rolegate drive a plain `boto3.Session`: its STS client signs with them,
sends GetCallerIdentity to the daemon, and the daemon names the session CreateSession made."""

from __future__ import annotations

import boto3

from harness import (
    ACCOUNT,
    REGION,
    create_session_raw,
    profile_arn,
    role_arn,
    session_body,
    trust_anchor_arn,
)


def issued_session(daemon, ca_bundle, test_pki) -> dict:
    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        test_pki.ecdsa_leaf,
        chain=test_pki.chain,
        body=session_body(
            profile_arn("workloads"), role_arn("app"), trust_anchor_arn("main"), 1000
        ),
    )
    assert response.status == 201, response.text
    return response.json()["credentialSet"][0]


def test_a_boto3_session_of_the_issued_credentials_is_that_session(daemon, ca_bundle, test_pki):
    issued = issued_session(daemon, ca_bundle, test_pki)
    creds = issued["credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"],
        region_name=REGION,
    )
    client = session.client("sts", endpoint_url=daemon.url, verify=str(ca_bundle))
    sent = {}

    def record(request, **_):
        sent.update({k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    client.meta.events.register("before-send.sts.GetCallerIdentity", record)
    identity = client.get_caller_identity()

    assert identity["Arn"] == issued["assumedRoleUser"]["arn"], identity
    assert identity["UserId"] == issued["assumedRoleUser"]["assumedRoleId"], identity
    assert identity["Account"] == ACCOUNT
    # boto3 signed with the issued key and sent the issued token.
    assert sent["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={creds['accessKeyId']}/"
    ), sent["Authorization"]
    assert f"/{REGION}/sts/aws4_request" in sent["Authorization"]
    assert sent["X-Amz-Security-Token"] == creds["sessionToken"]
