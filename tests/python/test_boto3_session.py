"""Credentials from rolegate drive a plain `boto3.Session`. Nothing is sent to
AWS: the one signed request is intercepted before it leaves the process."""

from __future__ import annotations

import boto3
from botocore.awsrequest import AWSResponse

from harness import (
    REGION,
    create_session_raw,
    profile_arn,
    role_arn,
    session_body,
    trust_anchor_arn,
)


def issued_credentials(daemon, ca_bundle, test_pki) -> dict:
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
    return response.json()["credentialSet"][0]["credentials"]


def boto3_session(creds: dict) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"],
        region_name=REGION,
    )


def test_boto3_session_holds_the_issued_credentials(daemon, ca_bundle, test_pki):
    creds = issued_credentials(daemon, ca_bundle, test_pki)
    frozen = boto3_session(creds).get_credentials().get_frozen_credentials()
    assert frozen.access_key == creds["accessKeyId"]
    assert frozen.secret_key == creds["secretAccessKey"]
    assert frozen.token == creds["sessionToken"]


def test_boto3_signs_with_the_issued_credentials(daemon, ca_bundle, test_pki):
    creds = issued_credentials(daemon, ca_bundle, test_pki)
    client = boto3_session(creds).client("sts", endpoint_url=daemon.url, verify=str(ca_bundle))
    captured = {}

    def intercept(request, **_):
        captured["headers"] = {
            k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        body = (
            b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            b"<GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/app/x</Arn>"
            b"<UserId>AROAEXAMPLE:x</UserId><Account>123456789012</Account>"
            b"</GetCallerIdentityResult></GetCallerIdentityResponse>"
        )
        return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _Raw(body))

    client.meta.events.register("before-send.sts.GetCallerIdentity", intercept)
    client.get_caller_identity()
    headers = captured["headers"]
    authorization = headers["Authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={creds['accessKeyId']}/"
    ), authorization
    assert f"/{REGION}/sts/aws4_request" in authorization
    assert headers["X-Amz-Security-Token"] == creds["sessionToken"]


class _Raw:
    """The minimal raw-stream interface AWSResponse reads a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_):
        yield self._data
