"""POST /sessions on the wire (DESIGN.md §2a): requests signed with the
iam-rolesanywhere-session package's own signer (IAMRolesAnywhereSigner) and
sent with `requests`, so the exact response can be inspected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from harness import (
    ACCESS_KEY_ID_RE,
    ACCOUNT,
    EXPIRATION_RE,
    REGION,
    create_session_raw,
    profile_arn,
    role_arn,
    session_body,
    trust_anchor_arn,
)

APP = role_arn("app")
WORKLOADS = profile_arn("workloads")
MAIN = trust_anchor_arn("main")


def assert_credential_set(response, *, role: str, identity, source_identity: str, duration: int):
    assert response.status == 201, (response.status, response.text)
    doc = response.json()
    assert set(doc) == {"credentialSet", "subjectArn"}, doc.keys()
    assert doc["subjectArn"].startswith(f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:subject/")
    assert len(doc["credentialSet"]) == 1
    item = doc["credentialSet"][0]
    assert set(item) == {
        "assumedRoleUser",
        "credentials",
        "packedPolicySize",
        "roleArn",
        "sourceIdentity",
    }, item.keys()
    assert item["roleArn"] == role
    assert item["sourceIdentity"] == source_identity
    assert isinstance(item["packedPolicySize"], int)

    # Default session name = the leaf's serial number in hex (DESIGN.md §1).
    role_name = role.rsplit("/", 1)[1]
    user = item["assumedRoleUser"]
    prefix = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/"
    assert user["arn"].startswith(prefix), user["arn"]
    session_name = user["arn"][len(prefix) :]
    assert int(session_name, 16) == identity.serial, (session_name, identity.serial)
    assert user["assumedRoleId"].endswith(":" + session_name), user["assumedRoleId"]

    creds = item["credentials"]
    assert set(creds) == {"accessKeyId", "expiration", "secretAccessKey", "sessionToken"}
    assert ACCESS_KEY_ID_RE.match(creds["accessKeyId"]), creds["accessKeyId"]
    assert len(creds["secretAccessKey"]) == 40
    assert creds["sessionToken"]
    assert EXPIRATION_RE.match(creds["expiration"]), creds["expiration"]
    expiry = datetime.strptime(creds["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    now = datetime.now(timezone.utc)
    slack = timedelta(seconds=60)
    assert now + timedelta(seconds=duration * 0.9) - slack <= expiry <= now + timedelta(
        seconds=duration
    ) + slack


def test_success_response_has_the_aws_shape(daemon, ca_bundle, test_pki):
    response = create_session_raw(
        daemon.endpoint, ca_bundle, test_pki.ecdsa_leaf,
        chain=test_pki.chain, body=session_body(WORKLOADS, APP, MAIN, 2700),
    )  # fmt: skip
    assert_credential_set(
        response,
        role=APP,
        identity=test_pki.ecdsa_leaf,
        source_identity="CN=ecdsa-client",
        duration=2700,
    )


def test_profile_default_duration_applies_when_none_requested(daemon, ca_bundle, test_pki):
    response = create_session_raw(
        daemon.endpoint, ca_bundle, test_pki.rsa_leaf, body=session_body(WORKLOADS, APP, MAIN)
    )
    assert_credential_set(
        response,
        role=APP,
        identity=test_pki.rsa_leaf,
        source_identity="CN=rsa-client",
        duration=3600,
    )


def test_arns_in_query_string(daemon, ca_bundle, test_pki):
    """aws_signing_helper (the Go SDK) sends the ARNs as query parameters."""

    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        test_pki.rsa_leaf,
        query={"profileArn": WORKLOADS, "roleArn": APP, "trustAnchorArn": MAIN},
        body={"durationSeconds": 1200},
    )
    assert_credential_set(
        response,
        role=APP,
        identity=test_pki.rsa_leaf,
        source_identity="CN=rsa-client",
        duration=1200,
    )


def test_chunked_request_body(daemon, ca_bundle, test_pki):
    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        test_pki.rsa_leaf,
        body=session_body(WORKLOADS, APP, MAIN, 1500),
        chunked=True,
    )
    assert_credential_set(
        response,
        role=APP,
        identity=test_pki.rsa_leaf,
        source_identity="CN=rsa-client",
        duration=1500,
    )


def test_identical_requests_within_reuse_window_get_the_same_credentials(
    daemon, ca_bundle, test_pki
):
    """DESIGN.md §3: identical repeated requests within a short window are
    answered with the same credentials; a different duration is a new session."""

    def access_key(duration: int) -> str:
        response = create_session_raw(
            daemon.endpoint, ca_bundle, test_pki.gated_leaf,
            body=session_body(WORKLOADS, APP, MAIN, duration),
        )  # fmt: skip
        assert response.status == 201, response.text
        return response.json()["credentialSet"][0]["credentials"]["accessKeyId"]

    first = access_key(3300)
    assert access_key(3300) == first
    assert access_key(3000) != first
