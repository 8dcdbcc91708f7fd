"""The gRPC API with a non-Rust client: Python `grpcio` over mTLS, with message
types discovered at run time through server reflection (no generated stubs),
exactly how `grpcurl` and other generic clients work."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from harness import profile_arn, role_arn, trust_anchor_arn

SESSIONS = "rolegate.v1.Sessions"


def _channel(daemon, ca_bundle, leaf=None, chain=None) -> grpc.Channel:
    cert_chain = None
    key = None
    if leaf is not None:
        cert_chain = leaf.cert.read_bytes() + (chain.read_bytes() if chain else b"")
        key = leaf.key.read_bytes()
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca_bundle.read_bytes(), private_key=key, certificate_chain=cert_chain
    )
    return grpc.secure_channel(daemon.endpoint, creds)


def _create_session_rpc(channel: grpc.Channel):
    """CreateSession with request/response classes built from the reflected descriptors."""

    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    method = pool.FindServiceByName(SESSIONS).FindMethodByName("CreateSession")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    rpc = channel.unary_unary(
        f"/{SESSIONS}/CreateSession",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    return request_class, rpc


def _request(request_class):
    return request_class(
        trust_anchor_arn=trust_anchor_arn("main"),
        profile_arn=profile_arn("workloads"),
        role_arn=role_arn("app"),
    )


def test_reflection_lists_the_services(daemon, ca_bundle):
    with _channel(daemon, ca_bundle) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
    assert {SESSIONS, "rolegate.v1.Admin", "grpc.health.v1.Health"} <= services


def test_create_session_over_mtls(daemon, ca_bundle, test_pki):
    with _channel(daemon, ca_bundle, test_pki.ecdsa_leaf, test_pki.chain) as channel:
        request_class, rpc = _create_session_rpc(channel)
        response = rpc(_request(request_class), timeout=30)
    creds = response.credentials
    assert creds.access_key_id.startswith("ASIA") and len(creds.access_key_id) == 20
    assert len(creds.secret_access_key) == 40
    assert creds.session_token
    assert creds.expiration.endswith("Z")
    assert response.role_arn == role_arn("app")
    assert response.source_identity == "CN=ecdsa-client"
    assert response.assumed_role_arn == (
        f"arn:aws:sts::123456789012:assumed-role/app/{test_pki.ecdsa_leaf.serial_hex}"
    )


def test_create_session_without_client_certificate_is_unauthenticated(daemon, ca_bundle):
    with _channel(daemon, ca_bundle) as channel:
        request_class, rpc = _create_session_rpc(channel)
        with pytest.raises(grpc.RpcError) as err:
            rpc(_request(request_class), timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details().startswith("CreateSession needs a client certificate")


def test_create_session_with_untrusted_certificate_is_permission_denied(daemon, ca_bundle, test_pki):
    with _channel(daemon, ca_bundle, test_pki.unknown_leaf) as channel:
        request_class, rpc = _create_session_rpc(channel)
        with pytest.raises(grpc.RpcError) as err:
            rpc(_request(request_class), timeout=30)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # REST's reason for the anchor the request names.
    assert err.value.details().startswith(
        "Untrusted certificate: certificate is not signed by a trusted certificate authority of this trust anchor"
    ), err.value.details()
