"""The unmodified `iam-rolesanywhere-session` package obtains credentials from
rolegate (DESIGN.md §2a): it is pointed at the daemon with its `endpoint`
parameter ("127.0.0.1:PORT") and trusts the test CA with `verify=CA_FILE`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from iam_rolesanywhere_session import CredentialsRetrievalError, IAMRolesAnywhereSession

from harness import (
    ACCESS_KEY_ID_RE,
    REGION,
    profile_arn,
    role_arn,
    trust_anchor_arn,
)

#: Slack for clock differences and request time when checking expirations.
SLACK = timedelta(seconds=60)


def roles_anywhere_session(daemon, ca_bundle, identity, *, anchor, chain=None, **kwargs):
    params = dict(
        profile_arn=profile_arn("workloads"),
        role_arn=role_arn("app"),
        trust_anchor_arn=trust_anchor_arn(anchor),
        certificate=str(identity.cert),
        private_key=str(identity.key),
        certificate_chain=None if chain is None else str(chain),
        region=REGION,
        endpoint=daemon.endpoint,
        verify=str(ca_bundle),
    )
    params.update(kwargs)
    return IAMRolesAnywhereSession(**params)


def assert_credentials(credentials, expiry: datetime, duration: int) -> None:
    frozen = credentials.get_frozen_credentials()
    assert ACCESS_KEY_ID_RE.match(frozen.access_key), frozen.access_key
    assert len(frozen.secret_key) == 40
    assert frozen.token
    now = datetime.now(timezone.utc)
    # Identical repeated requests may be served from the issued-credentials
    # cache with >= 90 % of the lifetime left (DESIGN.md §3).
    assert now + timedelta(seconds=duration * 0.9) - SLACK <= expiry, expiry
    assert expiry <= now + timedelta(seconds=duration) + SLACK, expiry


def obtain(ras: IAMRolesAnywhereSession):
    credentials = ras.get_refreshable_credentials()
    credentials.get_frozen_credentials()  # triggers CreateSession
    # botocore keeps the parsed `expiration` of the response here.
    return credentials, credentials._expiry_time


def test_ecdsa_leaf_signed_by_intermediate_sends_chain(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.ecdsa_leaf,
        anchor="main", chain=test_pki.chain, session_duration=1800,
    )  # fmt: skip
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 1800)


def test_full_chain_file_that_repeats_the_leaf(daemon, ca_bundle, test_pki, tmp_path):
    """A "full chain" file (leaf first, then its issuers, as cert-manager's tls.crt)
    given as `certificate_chain` sends the leaf again in X-Amz-X509-Chain: the copy is
    dropped and the intermediate after it still completes the path."""
    full_chain = tmp_path / "fullchain.pem"
    full_chain.write_text(test_pki.ecdsa_leaf.cert.read_text() + test_pki.chain.read_text())
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.ecdsa_leaf,
        anchor="main", chain=full_chain, session_duration=900,
    )  # fmt: skip
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 900)


def test_leaf_issued_with_sha384_signature(daemon, ca_bundle, test_pki):
    """The package labels its request AWS4-X509-ECDSA-SHA384 when the *issuer's*
    signature on the leaf uses SHA-384 (`certificate.signature_hash_algorithm`),
    while it always signs with SHA-256. DESIGN.md §2a: the string to sign uses
    the label as sent; signatures are over SHA-256."""

    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.sha384_issued_leaf, anchor="main", chain=test_pki.p384_chain
    )
    assert ras._request_signer.algorithm == "AWS4-X509-ECDSA-SHA384"
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 3600)


def test_rsa_leaf_directly_under_root(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(daemon, ca_bundle, test_pki.rsa_leaf, anchor="main")
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 3600)


def test_p384_leaf_under_rsa_root(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.p384_leaf, anchor="rsa", session_duration=900
    )
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 900)


def test_longest_duration_allowed_by_role(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.rsa_leaf, anchor="main", session_duration=43200
    )
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 43200)


def test_trust_policy_condition_on_subject_cn_allows_matching_cn(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.gated_leaf, anchor="main", role_arn=role_arn("cn-gated")
    )
    credentials, expiry = obtain(ras)
    assert_credentials(credentials, expiry, 3600)


def test_profile_attribute_mappings_decide_what_the_trust_policy_sees(daemon, ca_bundle, test_pki):
    """The cn-gated role's trust policy conditions on aws:PrincipalTag/x509Subject/CN: a
    profile that maps the CN (and nothing else) passes it, one that maps only the OU does not."""

    def via(profile: str):
        return roles_anywhere_session(
            daemon,
            ca_bundle,
            test_pki.gated_leaf,
            anchor="main",
            profile_arn=profile_arn(profile),
            role_arn=role_arn("cn-gated"),
        )

    credentials, expiry = obtain(via("cn-only"))
    assert_credentials(credentials, expiry, 3600)
    with pytest.raises(CredentialsRetrievalError) as info:
        obtain(via("ou-only"))
    assert info.value.status_code == 403
    assert info.value.message.startswith(
        f"The trust policy of role {role_arn('cn-gated')} does not allow "
        "rolesanywhere.amazonaws.com to perform sts:AssumeRole"
    ), info.value.message


def test_two_sessions_get_distinct_credentials(daemon, ca_bundle, test_pki):
    a, _ = obtain(roles_anywhere_session(daemon, ca_bundle, test_pki.rsa_leaf, anchor="main"))
    b, _ = obtain(
        roles_anywhere_session(
            daemon, ca_bundle, test_pki.ecdsa_leaf, anchor="main", chain=test_pki.chain
        )
    )
    assert a.get_frozen_credentials().access_key != b.get_frozen_credentials().access_key


def test_get_session_returns_boto3_session_holding_the_credentials(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.ecdsa_leaf, anchor="main", chain=test_pki.chain
    )
    session = ras.get_session()
    assert isinstance(session, boto3.Session)
    assert session.region_name == REGION
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials()  # CreateSession against the daemon
    assert ACCESS_KEY_ID_RE.match(frozen.access_key), frozen.access_key
    assert len(frozen.secret_key) == 40
    assert frozen.token
    assert credentials.method == "custom-roles-anywhere"


def test_service_error_surfaces_as_credentials_retrieval_error(daemon, ca_bundle, test_pki):
    ras = roles_anywhere_session(
        daemon, ca_bundle, test_pki.rsa_leaf, anchor="main", profile_arn=profile_arn("nope")
    )
    with pytest.raises(CredentialsRetrievalError) as info:
        obtain(ras)
    assert info.value.status_code == 404
    assert f"Profile {profile_arn('nope')} was not found." in info.value.message, info.value.message
