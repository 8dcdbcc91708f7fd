"""Fixtures: one test PKI and configuration built with `rolegate certs`, and
one daemon serving it on 127.0.0.1:0 for the whole session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import (
    Anchor,
    CertKey,
    Daemon,
    Pki,
    Profile,
    Role,
    allow_policy,
    chaining_trust_policy,
    render_config,
    roles_anywhere_trust_policy,
    role_arn,
    run_rolegate,
)

#: The CN that the `cn-gated` role's trust policy requires.
GATED_CN = "only-this-cn"


#: Variables through which the machine's own AWS settings and proxies would reach the clients
#: the tests run in this process (boto3, requests, grpc): a FIPS or dual-stack setting refuses
#: custom endpoints, a profile name may not exist here, and a proxy would take 127.0.0.1 traffic
#: off the machine.
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}


@pytest.fixture(scope="session", autouse=True)
def _without_the_machines_aws_settings(tmp_path_factory):
    """Every test runs without the machine's AWS_* variables, ~/.aws files and proxies."""

    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("AWS_") or key == "BOTO_CONFIG" or key.lower() in _PROXY_VARIABLES:
            del os.environ[key]
    home = tmp_path_factory.mktemp("aws-settings")
    os.environ["AWS_CONFIG_FILE"] = str(home / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
    yield
    os.environ.clear()
    os.environ.update(saved)


@dataclass(frozen=True)
class PkiFiles:
    """Every certificate the tests use, and the configuration that trusts them."""

    dir: Path
    config: Path
    root: CertKey  # ECDSA P-256 root: trust anchor `main` (with root.crl)
    intermediate: CertKey  # ECDSA P-256 intermediate under root
    chain: Path  # PEM bundle holding the intermediate
    p384_chain: Path  # PEM bundle holding an ECDSA P-384 intermediate under root
    sha384_issued_leaf: CertKey  # ECDSA P-256 leaf signed (ecdsa-with-SHA384) by that one
    ecdsa_leaf: CertKey  # ECDSA P-256 leaf under the intermediate
    rsa_leaf: CertKey  # RSA-2048 leaf directly under root
    rsa_root: CertKey  # RSA-2048 root: trust anchor `rsa`
    p384_leaf: CertKey  # ECDSA P-384 leaf under rsa_root
    expired_leaf: CertKey  # under root, validity in the past
    not_yet_valid_leaf: CertKey  # under root, validity in the future
    revoked_leaf: CertKey  # under root, listed in root.crl
    gated_leaf: CertKey  # under root, CN=GATED_CN
    unknown_leaf: CertKey  # under a CA no anchor trusts
    disabled_anchor_leaf: CertKey  # under the CA of the disabled anchor


def _build_pki(directory: Path) -> PkiFiles:
    pki = Pki(directory)
    root = pki.ca("root-ca", "rolegate test root")
    intermediate = pki.intermediate("int-ca", root, "rolegate test intermediate")
    chain = pki.bundle("chain", [intermediate])
    p384_intermediate = pki.intermediate(
        "int-p384-ca", root, "rolegate test p384 intermediate", key="ecdsa-p384"
    )
    p384_chain = pki.bundle("chain-p384", [p384_intermediate])
    sha384_issued_leaf = pki.client("leaf-sha384-issued", p384_intermediate, "sha384-issued")
    pki.server("server", root, ["127.0.0.1", "localhost"])
    ecdsa_leaf = pki.client(
        "leaf-ecdsa", intermediate, "ecdsa-client",
        org="Rolegate Tests", ou="ci", dns=["ecdsa.test"], uris=["spiffe://test/ecdsa"],
    )  # fmt: skip
    rsa_leaf = pki.client("leaf-rsa", root, "rsa-client", key="rsa-2048")
    rsa_root = pki.ca("rsa-ca", "rolegate test rsa root", key="rsa-2048")
    p384_leaf = pki.client("leaf-p384", rsa_root, "p384-client", key="ecdsa-p384")
    expired_leaf = pki.client("leaf-expired", root, "expired-client", expired=True)
    not_yet_valid_leaf = pki.client("leaf-future", root, "future-client", not_yet_valid=True)
    revoked_leaf = pki.client("leaf-revoked", root, "revoked-client")
    gated_leaf = pki.client("leaf-gated", root, GATED_CN)
    pki.crl("root", root, [revoked_leaf])
    unknown_ca = pki.ca("unknown-ca", "rolegate unknown root")
    unknown_leaf = pki.client("leaf-unknown", unknown_ca, "unknown-client")
    disabled_ca = pki.ca("disabled-ca", "rolegate disabled root")
    disabled_anchor_leaf = pki.client("leaf-disabled-anchor", disabled_ca, "disabled-anchor-client")
    run_rolegate("keys", "generate", "--out", str(directory / "token-k1.key"))

    config = directory / "rolegate.toml"
    config.write_text(
        render_config(
            tls_cert="server.pem",
            tls_key="server.key",
            token_key_file="token-k1.key",
            anchors=[
                Anchor("main", "root-ca.pem", crls=["root.crl"]),
                Anchor("rsa", "rsa-ca.pem"),
                Anchor("disabled", "disabled-ca.pem", enabled=False),
            ],
            profiles=[
                Profile("workloads", [role_arn("app"), role_arn("cn-gated")]),
                Profile("other", [role_arn("outside")]),
                Profile("disabled", [role_arn("app")], enabled=False),
                Profile(
                    "cn-only",
                    [role_arn("cn-gated")],
                    attribute_mappings={"x509Subject": ["CN"], "x509Issuer": [], "x509SAN": []},
                ),
                Profile("ou-only", [role_arn("cn-gated")], attribute_mappings={"x509Subject": ["OU"]}),
            ],
            roles=[
                Role(
                    role_arn("app"),
                    max_session_duration=43200,
                    permission_policies=[
                        allow_policy(["sts:AssumeRole", "sts:TagSession"], [role_arn("chained*")])
                    ],
                ),
                Role(
                    role_arn("cn-gated"),
                    trust_policy=roles_anywhere_trust_policy(
                        {"StringEquals": {"aws:PrincipalTag/x509Subject/CN": GATED_CN}}
                    ),
                ),
                Role(role_arn("outside")),
                Role(role_arn("chained"), trust_policy=chaining_trust_policy(role_arn("app"))),
                Role(role_arn("chained-2"), trust_policy=chaining_trust_policy(role_arn("chained"))),
                Role(
                    role_arn("chained-long"),
                    trust_policy=chaining_trust_policy(role_arn("app")),
                    max_session_duration=7200,
                ),
            ],
        )
    )
    return PkiFiles(
        dir=directory,
        config=config,
        root=root,
        intermediate=intermediate,
        chain=chain,
        p384_chain=p384_chain,
        sha384_issued_leaf=sha384_issued_leaf,
        ecdsa_leaf=ecdsa_leaf,
        rsa_leaf=rsa_leaf,
        rsa_root=rsa_root,
        p384_leaf=p384_leaf,
        expired_leaf=expired_leaf,
        not_yet_valid_leaf=not_yet_valid_leaf,
        revoked_leaf=revoked_leaf,
        gated_leaf=gated_leaf,
        unknown_leaf=unknown_leaf,
        disabled_anchor_leaf=disabled_anchor_leaf,
    )


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory) -> PkiFiles:
    return _build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def daemon(test_pki: PkiFiles, tmp_path_factory):
    d = Daemon(
        [
            "--config", str(test_pki.config),
            "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0",
        ],
        log_dir=tmp_path_factory.mktemp("daemon"),
    )  # fmt: skip
    yield d
    d.stop()


@pytest.fixture(scope="session")
def ca_bundle(test_pki: PkiFiles) -> Path:
    """The CA that issued the daemon's TLS certificate."""

    return test_pki.root.cert
