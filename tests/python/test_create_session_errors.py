"""POST /sessions failures (DESIGN.md §2a): each request is signed with the
iam-rolesanywhere-session package's own signer and sent with `requests`;
each answer must carry the AWS status, `X-Amzn-ErrorType` and a JSON
`{"message": ...}` a user can act on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional

import pytest
import requests

from harness import (
    CertKey,
    create_session_raw,
    profile_arn,
    role_arn,
    session_body,
    split_reason,
    trust_anchor_arn,
)

APP = role_arn("app")
WORKLOADS = profile_arn("workloads")
MAIN = trust_anchor_arn("main")

ACCESS_DENIED = (403, "AccessDeniedException")
VALIDATION = (400, "ValidationException")
NOT_FOUND = (404, "ResourceNotFoundException")


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[int, str]
    #: The exact message, when known.
    message: Optional[str] = None
    #: The exact message, made from the certificate sent (e.g. its notAfter).
    message_of: Optional[Callable[[CertKey], str]] = None
    #: A phrase the message must contain (case-insensitive), when only that is known.
    phrase: Optional[str] = None
    #: The reason code appended to AccessDenied messages.
    reason: Optional[str] = None
    identity: str = "rsa_leaf"
    chain: bool = False
    body: dict = field(default_factory=lambda: session_body(WORKLOADS, APP, MAIN))
    raw_body: Optional[bytes] = None
    tamper: Optional[Callable[[bytes], bytes]] = None
    #: Swap in another certificate's private key (the proof of possession fails).
    key_of: Optional[str] = None
    #: Send the intermediate this many times in X-Amz-X509-Chain.
    chain_copies: int = 0
    #: Sign with the client clock this far off.
    clock_offset_seconds: int = 0


def _bump_duration(body: bytes) -> bytes:
    tampered = body.replace(b'"durationSeconds": 1800', b'"durationSeconds": 1801')
    assert tampered != body
    return tampered


ROLES_ANYWHERE = "rolesanywhere.amazonaws.com"
SIGNATURE_FAILED = (
    "Signature validation failed: the request signature does not match the "
    "certificate's public key and the signed request."
)
UNTRUSTED = "Untrusted certificate: "
UNKNOWN_ISSUER = (
    UNTRUSTED + "certificate is not signed by a trusted certificate authority of this trust anchor "
    "(if an intermediate CA issued it, send that CA's certificate with it as the chain)"
)
REVOKED = UNTRUSTED + "certificate is revoked by a CRL of the trust anchor"


def _timestamp(when: datetime) -> str:
    """A certificate time as the daemon's messages write it."""

    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _expired(identity: CertKey) -> str:
    not_after = _timestamp(identity.load().not_valid_after_utc)
    return f"{UNTRUSTED}certificate has expired (notAfter {not_after})"


def _not_yet_valid(identity: CertKey) -> str:
    not_before = _timestamp(identity.load().not_valid_before_utc)
    return f"{UNTRUSTED}certificate is not yet valid (notBefore {not_before})"


CASES = [
    Case(
        "unknown-profile",
        NOT_FOUND,
        message=f"Profile {profile_arn('nope')} was not found.",
        body=session_body(profile_arn("nope"), APP, MAIN),
    ),
    Case(
        "unknown-trust-anchor",
        NOT_FOUND,
        message=f"Trust anchor {trust_anchor_arn('nope')} was not found.",
        body=session_body(WORKLOADS, APP, trust_anchor_arn("nope")),
    ),
    # An ARN of the wrong kind (flags swapped) or no ARN at all: AWS's model constraint, not
    # "not found", so the caller sees which member is wrong.
    Case(
        "malformed-trust-anchor-arn",
        VALIDATION,
        message=(
            f"1 validation error detected: Value '{WORKLOADS}' at 'trustAnchorArn' failed to satisfy "
            "constraint: Member must be a trust anchor ARN, "
            "arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID"
        ),
        body=session_body(WORKLOADS, APP, WORKLOADS),
    ),
    Case(
        "malformed-profile-arn",
        VALIDATION,
        message=(
            "1 validation error detected: Value 'workloads' at 'profileArn' failed to satisfy "
            "constraint: Member must be a profile ARN, arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID"
        ),
        body=session_body("workloads", APP, MAIN),
    ),
    Case(
        "malformed-role-arn",
        VALIDATION,
        message=(
            "1 validation error detected: Value 'arn:aws:iam::12345:role/app' at 'roleArn' failed "
            "to satisfy constraint: Member must be a role ARN, arn:aws:iam::ACCOUNT:role/NAME"
        ),
        body=session_body(WORKLOADS, "arn:aws:iam::12345:role/app", MAIN),
    ),
    Case(
        "role-not-in-profile",
        ACCESS_DENIED,
        reason="role-not-in-profile",
        message=f"Role {role_arn('outside')} is not one of the roles of profile {WORKLOADS}.",
        body=session_body(WORKLOADS, role_arn("outside"), MAIN),
    ),
    Case(
        "unknown-role",
        ACCESS_DENIED,
        reason="role-not-in-profile",
        message=f"Role {role_arn('ghost')} is not one of the roles of profile {WORKLOADS}.",
        body=session_body(WORKLOADS, role_arn("ghost"), MAIN),
    ),
    Case(
        "duration-899",
        VALIDATION,
        phrase="greater than or equal to 900",
        body=session_body(WORKLOADS, APP, MAIN, 899),
    ),
    Case(
        "duration-43201",
        VALIDATION,
        phrase="less than or equal to 43200",
        body=session_body(WORKLOADS, APP, MAIN, 43201),
    ),
    Case(
        "duration-above-role-max",
        VALIDATION,
        phrase="exceeds the MaxSessionDuration set for this role",
        identity="gated_leaf",
        body=session_body(WORKLOADS, role_arn("cn-gated"), MAIN, 7200),
    ),
    Case("expired-certificate", ACCESS_DENIED, message_of=_expired, identity="expired_leaf"),
    Case(
        "not-yet-valid-certificate",
        ACCESS_DENIED,
        message_of=_not_yet_valid,
        identity="not_yet_valid_leaf",
    ),
    Case("unknown-ca", ACCESS_DENIED, message=UNKNOWN_ISSUER, identity="unknown_leaf"),
    Case("revoked-certificate", ACCESS_DENIED, message=REVOKED, identity="revoked_leaf"),
    Case("missing-intermediate", ACCESS_DENIED, message=UNKNOWN_ISSUER, identity="ecdsa_leaf"),
    Case(
        "wrong-anchor-for-chain",
        ACCESS_DENIED,
        message=UNKNOWN_ISSUER,
        identity="p384_leaf",
        body=session_body(WORKLOADS, APP, MAIN),
    ),
    Case(
        "tampered-body",
        ACCESS_DENIED,
        reason="bad-signature",
        message=SIGNATURE_FAILED,
        body=session_body(WORKLOADS, APP, MAIN, 1800),
        tamper=_bump_duration,
    ),
    Case(
        "key-does-not-match-certificate",
        ACCESS_DENIED,
        reason="bad-signature",
        message=SIGNATURE_FAILED,
        identity="gated_leaf",
        key_of="revoked_leaf",
    ),
    Case(
        "chain-longer-than-5",
        ACCESS_DENIED,
        message="X-Amz-X509-Chain has 6 certificates; at most 5 intermediates are allowed, plus a copy of the client certificate.",
        reason="chain-too-long",
        identity="ecdsa_leaf",
        chain_copies=6,
    ),
    Case(
        "client-clock-10-minutes-behind",
        ACCESS_DENIED,
        phrase="Signature expired or not yet valid",
        reason="clock-skew",
        clock_offset_seconds=-600,
    ),
    Case(
        "client-clock-10-minutes-ahead",
        ACCESS_DENIED,
        phrase="Signature expired or not yet valid",
        reason="clock-skew",
        clock_offset_seconds=600,
    ),
    Case(
        "disabled-profile",
        ACCESS_DENIED,
        reason="profile-disabled",
        message=f"Profile {profile_arn('disabled')} is disabled; "
        "enable it to create sessions with it.",
        body=session_body(profile_arn("disabled"), APP, MAIN),
    ),
    Case(
        "disabled-trust-anchor",
        ACCESS_DENIED,
        reason="trust-anchor-disabled",
        message=f"Trust anchor {trust_anchor_arn('disabled')} is disabled; "
        "enable it to create sessions with it.",
        identity="disabled_anchor_leaf",
        body=session_body(WORKLOADS, APP, trust_anchor_arn("disabled")),
    ),
    Case(
        "trust-policy-denies-subject-cn",
        ACCESS_DENIED,
        reason="trust-policy",
        message=f"The trust policy of role {role_arn('cn-gated')} does not allow "
        f"{ROLES_ANYWHERE} to perform sts:AssumeRole: "
        "no statement allows it with this certificate's attributes.",
        body=session_body(WORKLOADS, role_arn("cn-gated"), MAIN),
    ),
    Case(
        "malformed-json",
        VALIDATION,
        phrase="The request body is not a valid CreateSession JSON document: ",
        raw_body=b'{"profileArn": "' + WORKLOADS.encode() + b'", ',
    ),
    Case(
        "missing-trust-anchor-arn",
        VALIDATION,
        message="Missing required parameter trustAnchorArn (query string or JSON body).",
        body={"profileArn": WORKLOADS, "roleArn": APP},
    ),
]

#: Certificate rejections all start with the same words (the reason follows).
# The chain verification failures, by the reason each is counted and audited under.
UNTRUSTED_CASES = {
    "expired-certificate": "certificate-expired",
    "not-yet-valid-certificate": "certificate-not-yet-valid",
    "unknown-ca": "untrusted-certificate",
    "revoked-certificate": "certificate-revoked",
    "missing-intermediate": "untrusted-certificate",
    "wrong-anchor-for-chain": "untrusted-certificate",
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_create_session_error(case: Case, daemon, ca_bundle, test_pki, tmp_path):
    identity: CertKey = getattr(test_pki, case.identity)
    chain = test_pki.chain if case.chain else None
    if case.chain_copies:
        chain = tmp_path / "long-chain.pem"
        chain.write_text(test_pki.intermediate.cert.read_text() * case.chain_copies)
    if case.key_of is not None:
        identity = CertKey(identity.cert, getattr(test_pki, case.key_of).key)
    signed = case.raw_body if case.raw_body is not None else json.dumps(case.body).encode()
    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        identity,
        chain=chain,
        raw_body=signed,
        send_body=None if case.tamper is None else case.tamper(signed),
        clock_offset_seconds=case.clock_offset_seconds,
    )
    status, error_type = case.expect
    assert (response.status, response.error_type) == (status, error_type), response.text
    message = response.json()["message"]
    assert isinstance(message, str) and message.strip(), response.text
    if status == 403:
        message, reason = split_reason(message)
        expected_reason = UNTRUSTED_CASES.get(case.id, case.reason)
        if expected_reason is not None:
            assert reason == expected_reason, response.text
    if case.message is not None:
        assert message == case.message
    if case.message_of is not None:
        assert message == case.message_of(identity)
    if case.phrase is not None:
        assert case.phrase.lower() in message.lower(), message
    if case.id in UNTRUSTED_CASES:
        assert message.startswith(UNTRUSTED), message


def test_error_body_is_json_object_with_only_a_message(daemon, ca_bundle, test_pki):
    response = create_session_raw(
        daemon.endpoint,
        ca_bundle,
        test_pki.rsa_leaf,
        body=session_body(profile_arn("nope"), APP, MAIN),
    )
    assert response.status == 404
    assert list(response.json()) == ["message"]


def test_unsigned_request_is_denied(daemon, ca_bundle):
    response = requests.post(
        f"{daemon.url}/sessions",
        data=json.dumps(session_body(WORKLOADS, APP, MAIN)),
        headers={"Content-Type": "application/x-amz-json-1.0"},
        verify=str(ca_bundle),
        timeout=15,
    )
    assert response.status_code == 403, response.text
    assert response.headers.get("X-Amzn-ErrorType") == "AccessDeniedException"
    assert list(response.json()) == ["message"]
    assert split_reason(response.json()["message"]) == (
        "Missing Authorization header: sign the request with "
        "AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256.",
        "missing-authorization",
    )
