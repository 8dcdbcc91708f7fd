"""The gRPC API with a non-Rust client: Python `grpcio` over mTLS, with message
types discovered at run time through server reflection (no generated stubs),
exactly how `grpcurl` and other generic clients work."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import boto3
import grpc
import pytest
from botocore.config import Config as BotoConfig
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


def _rpc(channel: grpc.Channel, name: str):
    """Method `name` of Sessions with request/response classes built from the reflected
    descriptors."""

    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    method = pool.FindServiceByName(SESSIONS).FindMethodByName(name)
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    rpc = channel.unary_unary(
        f"/{SESSIONS}/{name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    return request_class, rpc


def _create_session_rpc(channel: grpc.Channel):
    return _rpc(channel, "CreateSession")


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


class _Captured(Exception):
    """Raised by the before-send hook: the request boto3 signed, never sent."""

    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def _s3_client(credentials):
    """A stock boto3 S3 client (SigV4, path-style addressing) whose requests are captured
    as signed instead of sent."""

    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="https://objects.example.test",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )

    def capture(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send.s3", capture)
    return client


def _signed_by_boto3(call) -> tuple[str, dict[str, str]]:
    """The URL and headers of the request `call` makes."""

    with pytest.raises(_Captured) as captured:
        call()
    request = captured.value.request
    text = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    return request.url, {k: text(v) for k, v in request.headers.items()}


def _verify_request_of(request_class, method, url, headers, payload_hash, service="s3"):
    parts = urlsplit(url)
    # The Host header is added by the HTTP library when the request is sent.
    headers = {"host": parts.netloc, **headers}
    return request_class(
        method=method,
        path=parts.path,
        query=parts.query,
        headers=[{"name": k, "value": v} for k, v in headers.items()],
        payload_hash=payload_hash,
        service=service,
        region="us-east-1",
    )


S3_KEYS = ["plain.txt", "a b.txt", "q1+q2=all.csv", "données/été.txt", "x;y:z,(1)!'*~.txt", "100%.txt"]


def test_verify_request_accepts_what_boto3_s3_signs(daemon, ca_bundle, test_pki):
    """S3 signs the path as sent (one encoding, no normalisation): keys with spaces, `+`,
    `=`, non-ASCII or `%` verify, header-signed and presigned; a GetObject of another key
    does not; an upload with a trailing checksum (what PutObject sends today) verifies."""

    with _channel(daemon, ca_bundle, test_pki.ecdsa_leaf, test_pki.chain) as channel:
        request_class, create = _create_session_rpc(channel)
        credentials = create(_request(request_class), timeout=30).credentials
        verify_class, verify = _rpc(channel, "VerifyRequest")
        s3 = _s3_client(credentials)

        def check(method, url, headers, payload_hash):
            answer = verify(_verify_request_of(verify_class, method, url, headers, payload_hash), timeout=30)
            return answer.valid, answer.error_code or answer.reason

        # The payload hash is the service's own, of the body it received (none for a GET).
        empty_body = hashlib.sha256(b"").hexdigest()
        for key in S3_KEYS:
            sent, headers = _signed_by_boto3(lambda: s3.get_object(Bucket="bkt", Key=key))
            assert check("GET", sent, headers, empty_body) == (True, ""), (key, sent)
            url = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": key}, ExpiresIn=300)
            assert check("GET", url, {}, "UNSIGNED-PAYLOAD") == (True, ""), (key, url)

        sent, headers = _signed_by_boto3(lambda: s3.get_object(Bucket="bkt", Key="a b.txt"))
        other_key = sent.replace("a%20b.txt", "a%20c.txt")
        assert check("GET", other_key, headers, empty_body) == (False, "SignatureDoesNotMatch")

        sent, headers = _signed_by_boto3(lambda: s3.put_object(Bucket="bkt", Key="up load.txt", Body=b"hello"))
        assert headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        assert check("PUT", sent, headers, headers["X-Amz-Content-SHA256"]) == (True, "")


@pytest.mark.parametrize("service", ["s3-object-lambda", "s3-outposts", "s3express"])
def test_verify_request_signs_the_s3_family_paths_as_sent(daemon, ca_bundle, test_pki, service):
    """botocore signs every S3-family service's path as sent (S3SigV4Auth): the request
    verifies, and the same signature does not verify another path that other services'
    normalisation would have made equal (`/bkt/x/../b`, `/bkt//b`), since S3 reads them as
    other keys."""

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with _channel(daemon, ca_bundle, test_pki.ecdsa_leaf, test_pki.chain) as channel:
        request_class, create = _create_session_rpc(channel)
        issued = create(_request(request_class), timeout=30).credentials
        verify_class, verify = _rpc(channel, "VerifyRequest")
        credentials = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
        request = AWSRequest(method="GET", url="https://objects.example.test/bkt/b%20c", data=b"")
        S3SigV4Auth(credentials, service, "us-east-1").add_auth(request)
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}

        def check(url):
            answer = verify(
                _verify_request_of(verify_class, "GET", url, headers, hashlib.sha256(b"").hexdigest(), service),
                timeout=30,
            )
            return answer.valid, answer.error_code or answer.reason

        assert check(request.url) == (True, "")
        for other in ["https://objects.example.test/bkt/x/../b%20c", "https://objects.example.test/bkt//b%20c"]:
            assert check(other) == (False, "SignatureDoesNotMatch"), other
