"""The daemon-side CLI (DESIGN.md §2e): `rolegate certs`, `keys generate`,
`check-config`, and `serve` refusing a bad configuration."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from harness import rolegate_bin, run_rolegate


def _ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind).value


def _attr(cert: x509.Certificate, oid) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def test_client_certificate_has_requested_attributes(test_pki):
    cert = test_pki.ecdsa_leaf.load()
    assert _attr(cert, NameOID.COMMON_NAME) == ["ecdsa-client"]
    assert _attr(cert, NameOID.ORGANIZATION_NAME) == ["Rolegate Tests"]
    assert _attr(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == ["ci"]
    san = _ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["ecdsa.test"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://test/ecdsa"]
    assert _ext(cert, x509.BasicConstraints).ca is False
    assert _ext(cert, x509.KeyUsage).digital_signature is True
    assert cert.issuer == test_pki.intermediate.load().subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"


def test_client_certificate_key_types(test_pki):
    rsa_key = test_pki.rsa_leaf.load().public_key()
    assert isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size == 2048
    p384 = test_pki.p384_leaf.load().public_key()
    assert isinstance(p384, ec.EllipticCurvePublicKey) and p384.curve.name == "secp384r1"
    rsa_ca = test_pki.rsa_root.load().public_key()
    assert isinstance(rsa_ca, rsa.RSAPublicKey) and rsa_ca.key_size == 2048


def test_ca_and_intermediate_are_cas(test_pki):
    for pair in (test_pki.root, test_pki.intermediate, test_pki.rsa_root):
        cert = pair.load()
        assert _ext(cert, x509.BasicConstraints).ca is True
        assert _ext(cert, x509.KeyUsage).key_cert_sign is True
    root = test_pki.root.load()
    assert root.issuer == root.subject
    assert test_pki.intermediate.load().issuer == root.subject


def test_server_certificate_names_loopback(test_pki):
    cert = x509.load_pem_x509_certificate((test_pki.dir / "server.pem").read_bytes())
    san = _ext(cert, x509.SubjectAlternativeName)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.mark.parametrize(
    "key,kind,size",
    [
        ("ecdsa-p256", ec.EllipticCurvePublicKey, 256),
        ("ecdsa-p384", ec.EllipticCurvePublicKey, 384),
        ("rsa-2048", rsa.RSAPublicKey, 2048),
        ("rsa-3072", rsa.RSAPublicKey, 3072),
    ],
)
def test_certs_ca_key_types(tmp_path, key, kind, size):
    """`--key ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072` (the documented names)."""

    run_rolegate("certs", "ca", "--out", str(tmp_path / "ca"), "--cn", "k", "--key", key)
    public = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes()).public_key()
    assert isinstance(public, kind)
    assert public.key_size == size
    assert "-----BEGIN PRIVATE KEY-----" in (tmp_path / "ca.key").read_text()


def test_certs_ca_and_intermediate_take_an_organization(tmp_path):
    """`--o` and `--ou` name a CA's organization beside its CN, as they do a client's; the
    intermediate's issuer is the root's whole name, and its leaves chain to it."""

    run_rolegate("certs", "ca", "--out", str(tmp_path / "ca"), "--cn", "Acme Root", "--o", "Acme", "--ou", "PKI")
    run_rolegate(
        "certs", "intermediate", "--ca-cert", str(tmp_path / "ca.pem"), "--ca-key", str(tmp_path / "ca.key"),
        "--out", str(tmp_path / "issuing"), "--cn", "Acme Issuing", "--o", "Acme", "--days", "30",
    )  # fmt: skip
    run_rolegate(
        "certs", "client", "--ca-cert", str(tmp_path / "issuing.pem"), "--ca-key", str(tmp_path / "issuing.key"),
        "--out", str(tmp_path / "leaf"), "--cn", "worker", "--days", "7",
    )  # fmt: skip
    load = lambda name: x509.load_pem_x509_certificate((tmp_path / f"{name}.pem").read_bytes())  # noqa: E731
    root, issuing, leaf = load("ca"), load("issuing"), load("leaf")
    assert root.subject.rfc4514_string() == "OU=PKI,O=Acme,CN=Acme Root"
    assert issuing.subject.rfc4514_string() == "O=Acme,CN=Acme Issuing"
    assert issuing.issuer == root.subject
    assert leaf.issuer == issuing.subject
    issuing.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(issuing)
    proc = run_rolegate("certs", "ca", "--out", str(tmp_path / "empty"), "--o", "", check=False)
    assert proc.returncode == 2, proc.stderr
    assert not (tmp_path / "empty.pem").exists()


@pytest.mark.parametrize("days", ["0", "-5", "36501", "4294967295"])
def test_certs_days_out_of_range_are_refused(tmp_path, days):
    """A validity of no days, negative days or beyond X.509's four-digit years is an error
    (it once wrote a certificate that ends before it starts, or panicked)."""

    proc = run_rolegate("certs", "ca", "--out", str(tmp_path / "ca"), f"--days={days}", check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"invalid value '{days}' for '--days <DAYS>': {days} is not in 1..=36500" in proc.stderr
    assert not (tmp_path / "ca.pem").exists()


def test_certs_end_no_later_than_their_issuer(tmp_path):
    """A certificate asked to outlive its issuing CA ends when the CA does, with a note: a chain
    is refused from the day any certificate in it expires, which a later notAfter would hide."""

    run_rolegate("certs", "ca", "--out", str(tmp_path / "ca"), "--days", "10")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    ends = ca.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    issuer = ["--ca-cert", str(tmp_path / "ca.pem"), "--ca-key", str(tmp_path / "ca.key")]
    for kind, extra in [("intermediate", []), ("server", ["--san", "localhost"]), ("client", ["--cn", "w"])]:
        out = tmp_path / kind
        proc = run_rolegate("certs", kind, *issuer, "--out", str(out), *extra)
        assert proc.stderr == (
            f"note: --days 365 would outlive the issuing CA: the certificate ends when the CA does, {ends}\n"
        ), proc.stderr
        issued = x509.load_pem_x509_certificate(out.with_suffix(".pem").read_bytes())
        assert issued.not_valid_after_utc == ca.not_valid_after_utc, kind
    # Within the CA's life: as asked, and nothing said.
    proc = run_rolegate("certs", "client", *issuer, "--out", str(tmp_path / "short"), "--cn", "s", "--days", "9")
    assert proc.stderr == ""
    short = x509.load_pem_x509_certificate((tmp_path / "short.pem").read_bytes())
    assert short.not_valid_after_utc < ca.not_valid_after_utc

    def ca_ending(prefix: str, not_after: datetime) -> x509.Certificate:
        return _self_signed_ca(tmp_path, prefix, not_after - timedelta(days=30), not_after)[0]

    now = datetime.now(timezone.utc)
    # A CA ending in 12 hours: a --not-yet-valid certificate (from tomorrow) would never be
    # valid; a current one ends with it.
    soon = ca_ending("soon", now + timedelta(hours=12))
    soon_ends = soon.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    by_soon = ["--ca-cert", str(tmp_path / "soon.pem"), "--ca-key", str(tmp_path / "soon.key")]
    proc = run_rolegate(
        "certs", "client", *by_soon, "--out", str(tmp_path / "tomorrow"), "--cn", "t", "--not-yet-valid", check=False
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"error: the issuing CA expires at {soon_ends} (--ca-cert), before the certificate would start ("), proc.stderr
    proc = run_rolegate("certs", "client", *by_soon, "--out", str(tmp_path / "today"), "--cn", "t")
    assert proc.stderr == f"note: --days 365 would outlive the issuing CA: the certificate ends when the CA does, {soon_ends}\n"

    # An expired CA issues nothing: the certificate would end before it starts.
    expired = ca_ending("old", now - timedelta(days=1))
    ends = expired.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    for kind, extra in [("client", ["--cn", "late"]), ("client", ["--cn", "late", "--not-yet-valid"])]:
        proc = run_rolegate(
            "certs", kind, "--ca-cert", str(tmp_path / "old.pem"), "--ca-key", str(tmp_path / "old.key"),
            "--out", str(tmp_path / "late"), *extra, check=False,
        )  # fmt: skip
        assert (proc.returncode, proc.stderr) == (
            1,
            f"error: the issuing CA expired at {ends} (--ca-cert): what it issues now would never be valid; "
            "renew the CA first\n",
        ), proc.stderr
        assert not (tmp_path / "late.pem").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--san", "bad name"], "invalid value 'bad name' for '--san <SANS>': 'bad name' is neither an IP address nor a DNS name"),
        (["--san", "a..b"], "'a..b' is neither an IP address nor a DNS name"),
    ],
)
def test_certs_server_refuses_names_clients_cannot_match(test_pki, tmp_path, args, message):
    proc = run_rolegate(
        "certs", "server", "--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key),
        "--out", str(tmp_path / "srv"), *args, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "srv.pem").exists()


def test_certs_server_takes_a_wildcard_and_addresses(test_pki, tmp_path):
    run_rolegate(
        "certs", "server", "--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key),
        "--out", str(tmp_path / "srv"), "--san", "*.svc.example", "--san", "::1", "--san", "rolegate.internal",
    )
    cert = x509.load_pem_x509_certificate((tmp_path / "srv.pem").read_bytes())
    san = _ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["*.svc.example", "rolegate.internal"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]


@pytest.mark.parametrize(
    "cn,message",
    [
        ("", "a common name cannot be empty"),
        ("x" * 65, "at most 64 characters (RFC 5280), not 65"),
        # A CA's CN is the x509Issuer/CN tag of its certificates' sessions.
        ("ops\nCA", "a common name cannot hold a control character"),
    ],
)
def test_certs_refuse_a_common_name_x509_does_not_allow(tmp_path, cn, message):
    proc = run_rolegate("certs", "ca", "--out", str(tmp_path / "ca"), "--cn", cn, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "ca.pem").exists()


def test_expired_and_not_yet_valid_certificates(test_pki):
    now = datetime.now(timezone.utc)
    assert test_pki.expired_leaf.load().not_valid_after_utc < now
    assert test_pki.not_yet_valid_leaf.load().not_valid_before_utc > now


def test_crl_lists_revoked_serial_and_is_signed_by_the_ca(test_pki):
    data = (test_pki.dir / "root.crl").read_bytes()
    crl = (
        x509.load_pem_x509_crl(data)
        if data.startswith(b"-----BEGIN")
        else x509.load_der_x509_crl(data)
    )
    assert crl.issuer == test_pki.root.load().subject
    assert crl.is_signature_valid(test_pki.root.load().public_key())
    revoked = {r.serial_number for r in crl}
    assert revoked == {test_pki.revoked_leaf.serial}


def test_crl_is_updated_in_place(test_pki, tmp_path):
    """`certs crl` keeps what the CRL at --out revoked, adds the --revoke serials and signs
    the result anew; --fresh starts over; a file at --out that is not this CA's CRL is
    refused and left alone."""

    out = tmp_path / "ca.crl"
    issuer = ["--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key)]
    run_rolegate("certs", "crl", *issuer, "--out", str(out), "--revoke", "0a")
    first = x509.load_pem_x509_crl(out.read_bytes())
    added = run_rolegate("certs", "crl", *issuer, "--out", str(out), "--revoke", "0b", "--revoke", "0a")
    assert added.stdout == (
        f"wrote {out} revoking 2 certificate(s), next update in 30 days\n"
        f"  carried over from {out}: 1\n"
        "  newly revoked: 0b\n"
        "  revoked already (kept with their first revocation date): 0a\n"
    )
    crl = x509.load_pem_x509_crl(out.read_bytes())
    assert {r.serial_number for r in crl} == {0x0A, 0x0B}
    assert crl.get_revoked_certificate_by_serial_number(0x0A).revocation_date_utc == (
        first.get_revoked_certificate_by_serial_number(0x0A).revocation_date_utc
    )
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number(crl) > number(first)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # Renewed with nothing new: the same revocations, a later nextUpdate.
    renewed = run_rolegate("certs", "crl", *issuer, "--out", str(out), "--days", "60")
    assert renewed.stdout.startswith(f"wrote {out} revoking 2 certificate(s), next update in 60 days\n")
    assert {r.serial_number for r in x509.load_pem_x509_crl(out.read_bytes())} == {0x0A, 0x0B}

    # --from another file, written elsewhere; --fresh drops what the CRL at --out revoked.
    copy = tmp_path / "copy.crl"
    run_rolegate("certs", "crl", *issuer, "--out", str(copy), "--from", str(out), "--revoke", "0c")
    assert {r.serial_number for r in x509.load_pem_x509_crl(copy.read_bytes())} == {0x0A, 0x0B, 0x0C}
    run_rolegate("certs", "crl", *issuer, "--out", str(copy), "--fresh", "--revoke", "0d")
    assert {r.serial_number for r in x509.load_pem_x509_crl(copy.read_bytes())} == {0x0D}

    # Another CA's CRL at --out is not replaced unless --fresh says so.
    other = test_pki.dir / "root.crl"
    before = out.read_bytes()
    foreign = tmp_path / "foreign.crl"
    foreign.write_bytes(other.read_bytes())
    intermediate = ["--ca-cert", str(test_pki.intermediate.cert), "--ca-key", str(test_pki.intermediate.key)]
    subject = test_pki.root.load().subject.rfc4514_string()
    for extra in ([], ["--from", str(copy)]):
        refused = run_rolegate("certs", "crl", *intermediate, "--out", str(foreign), *extra, check=False)
        assert refused.returncode == 1, refused
        assert f"{foreign}: it was issued by {subject}, not by this CA" in refused.stderr, refused.stderr
        assert refused.stderr.rstrip().endswith("; give --fresh to replace it with a new CRL of this CA")
    assert foreign.read_bytes() == other.read_bytes() and out.read_bytes() == before
    # What is no CRL at all (a key given as --out by mistake) is never replaced.
    key = tmp_path / "ca.key"
    shutil.copy(test_pki.root.key, key)
    for extra in ([], ["--fresh"]):
        refused = run_rolegate("certs", "crl", *issuer, "--out", str(key), *extra, check=False)
        assert refused.returncode == 1, refused
        assert f"{key} holds no CRL, and `certs crl` replaces only a CRL: choose another --out" in refused.stderr
    assert key.read_bytes() == test_pki.root.key.read_bytes()

    # A CRL in DER stays DER.
    der = tmp_path / "ca.der"
    der.write_bytes(x509.load_pem_x509_crl(out.read_bytes()).public_bytes(serialization.Encoding.DER))
    kept = run_rolegate("certs", "crl", *issuer, "--out", str(der), "--revoke", "0e")
    assert kept.stdout.startswith(f"wrote {der} (DER, as it was) revoking 3 certificate(s)"), kept.stdout
    assert {r.serial_number for r in x509.load_der_x509_crl(der.read_bytes())} == {0x0A, 0x0B, 0x0E}

    # Two runs at once both land: each reads the CRL the other wrote (a lock beside it).
    runs = [
        subprocess.Popen(
            [str(rolegate_bin()), "certs", "crl", *issuer, "--out", str(out), "--revoke", serial],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for serial in ("f1", "f2", "f3", "f4")
    ]
    assert [run.wait(timeout=60) for run in runs] == [0, 0, 0, 0], [run.stderr.read() for run in runs]
    revoked = {r.serial_number for r in x509.load_pem_x509_crl(out.read_bytes())}
    assert revoked == {0x0A, 0x0B, 0xF1, 0xF2, 0xF3, 0xF4}


def test_keys_generate_writes_32_random_bytes_base64(tmp_path):
    a, b = tmp_path / "a.key", tmp_path / "b.key"
    said_a = run_rolegate("keys", "generate", "--out", str(a)).stdout
    run_rolegate("keys", "generate", "--out", str(b))
    key_a = base64.b64decode(a.read_text().strip(), validate=True)
    key_b = base64.b64decode(b.read_text().strip(), validate=True)
    assert len(key_a) == 32 and len(key_b) == 32
    assert key_a != key_b
    # The check value to compare across replicas, as the README computes it from the file.
    check_value = hashlib.sha256(b"rolegate token key check value" + key_a).hexdigest()[:8]
    assert said_a == f"wrote {a} (check value {check_value})\n"


def test_check_config_accepts_the_test_config(test_pki):
    proc = run_rolegate("check-config", str(test_pki.config))
    assert proc.returncode == 0
    assert proc.stdout.strip(), "check-config printed no summary"


def _broken(test_pki, tmp_path, old: str, new: str):
    """A copy of the test config, in the PKI folder (relative paths), with one edit."""

    text = test_pki.config.read_text()
    assert old in text, old
    path = test_pki.dir / f"broken-{tmp_path.name}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


#: (id, text to replace, replacement, the key the error must name, the text that starts the
#: line the key is placed on, a phrase of the message)
BROKEN = [
    ("max-session-duration", "max_session_duration = 43200", "max_session_duration = 100",
     "role[0].max_session_duration", "max_session_duration = 100", "100"),
    ("trust-policy-json", '"Version": "2012-10-17"', '"Version": ', "role[0].trust_policy",
     "trust_policy = ", ""),
    ("anchor-file-missing", 'certificates = "rsa-ca.pem"', 'certificates = "no-such.pem"',
     "trust_anchor[1].certificates", 'certificates = "no-such.pem"', "no-such.pem"),
    ("active-key-unknown", 'active = "k1"', 'active = "k9"', "tokens.active", 'active = "k9"', "k9"),
    ("role-arn-malformed", '"arn:aws:iam::123456789012:role/outside"]', '"not-an-arn"]',
     "profile[1].role_arns[0]", None, "not-an-arn"),
    ("tls-key-of-another-certificate", 'tls_key = "server.key"', 'tls_key = "leaf-rsa.key"',
     "server.tls_key", 'tls_key = "leaf-rsa.key"', "the key is not the private key of server.tls_cert (its first certificate is the server's)"),
]  # fmt: skip


def test_check_config_needs_one_file_named_either_way(test_pki):
    """check-config takes the file as an argument or as `--config` (as `serve` takes it);
    the usage error says so, and naming two files is refused."""

    proc = run_rolegate("check-config", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "<FILE|--config <CONFIG>>" in proc.stderr, proc.stderr
    config = str(test_pki.config)
    proc = run_rolegate("check-config", config, "--config", config, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "cannot be used with '--config <CONFIG>'" in proc.stderr, proc.stderr
    assert run_rolegate("check-config", "--config", config).returncode == 0


@pytest.mark.parametrize(
    "old,new,key,line_start,phrase", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_check_config_names_file_key_and_problem(
    test_pki, tmp_path, old, new, key, line_start, phrase
):
    """The error names the file, the key, the line and column of its value (or of its
    table's header when the file leaves it out), and what is wrong."""

    path = _broken(test_pki, tmp_path, old, new)
    proc = run_rolegate("check-config", str(path), check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    file_lines = path.read_text().splitlines()
    if line_start is None:
        # The replacement's own line: a value inside an array.
        line = next(i for i, ln in enumerate(file_lines, 1) if new in ln)
    else:
        line = next(i for i, ln in enumerate(file_lines, 1) if ln.startswith(line_start))
    found = re.match(
        re.escape(f"error: {path}: {key} (line {line}, column ") + r"\d+\): (.*)$", lines[0]
    )
    assert found, (line, lines[0])
    what = found.group(1)
    assert what.strip() and phrase in what, lines[0]


def test_serve_refuses_a_bad_config(test_pki, tmp_path):
    path = _broken(test_pki, tmp_path, 'active = "k1"', 'active = "k9"')
    proc = subprocess.run(
        [str(rolegate_bin()), "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "listening on" not in proc.stdout
    assert str(path) in proc.stdout + proc.stderr


def test_check_config_locates_toml_errors(test_pki, tmp_path):
    """A TOML syntax or type error names the key (a syntax error, the key path of its line),
    the line and the column, in TOML's words, and `--config` is taken as `serve` takes it."""

    typed = _broken(test_pki, tmp_path, "max_session_duration = 43200", 'max_session_duration = "43200"')
    lines = typed.read_text().splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if ln == 'max_session_duration = "43200"')
    proc = run_rolegate("check-config", "--config", str(typed), check=False)
    assert proc.returncode == 1, proc.stderr
    assert (
        f"error: {typed}: role[0].max_session_duration (line {line}, column 24): "
        'invalid type: string "43200", expected an integer of 0 or more'
    ) in proc.stderr

    syntax = _broken(test_pki, tmp_path, 'active = "k1"', 'active = "k1')
    line = next(i for i, ln in enumerate(syntax.read_text().splitlines(), 1) if ln == 'active = "k1')
    proc = run_rolegate("check-config", str(syntax), check=False)
    assert proc.returncode == 1, proc.stderr
    # The key path of the line, not the bad value in the key's place.
    assert f"error: {syntax}: tokens.active (line {line}, column " in proc.stderr, proc.stderr


def test_certs_refuse_an_issuer_that_is_not_a_ca(test_pki, tmp_path):
    """A leaf given as --ca-cert would sign certificates nothing can verify."""

    leaf = test_pki.rsa_leaf
    proc = run_rolegate(
        "certs", "client", "--ca-cert", str(leaf.cert), "--ca-key", str(leaf.key),
        "--cn", "x", "--out", str(tmp_path / "x"), check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"error: {leaf.cert} is not a CA certificate (basicConstraints CA:true)" in proc.stderr
    assert not (tmp_path / "x.pem").exists()


def _self_signed_ca(tmp_path, prefix: str, not_before: datetime, not_after: datetime, path_length=None):
    """A self-signed CA certificate and its key (EC P-256, unencrypted PKCS#8), written as
    PREFIX.pem and PREFIX.key in `tmp_path`: the certificate and the key."""

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, prefix)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / f"{prefix}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / f"{prefix}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


def _ca_with_path_length_zero(tmp_path):
    """A CA certificate (self-signed, pathLenConstraint 0) and its key, as PEM files."""

    now = datetime.now(timezone.utc)
    _, key = _self_signed_ca(tmp_path, "ca0", now, now.replace(year=now.year + 1), path_length=0)
    encrypted_path = tmp_path / "ca0-encrypted.key"
    encrypted_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return tmp_path / "ca0.pem", tmp_path / "ca0.key", encrypted_path


def test_certs_refuse_an_intermediate_under_path_length_zero_and_an_encrypted_key(tmp_path):
    """An intermediate under a CA with pathLenConstraint 0 would never verify; an encrypted
    CA key is named as such, not as a key that does not parse."""

    cert, key, encrypted = _ca_with_path_length_zero(tmp_path)
    proc = run_rolegate(
        "certs", "intermediate", "--ca-cert", str(cert), "--ca-key", str(key),
        "--cn", "sub", "--out", str(tmp_path / "sub"), check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        f"error: {cert} has pathLenConstraint 0: it may issue end-entity certificates only, "
        "and an intermediate it signed would never verify\n"
    )
    assert not (tmp_path / "sub.pem").exists()
    # What it may issue, it issues.
    run_rolegate(
        "certs", "client", "--ca-cert", str(cert), "--ca-key", str(key),
        "--cn", "leaf", "--out", str(tmp_path / "leaf"),
    )  # fmt: skip
    proc = run_rolegate(
        "certs", "client", "--ca-cert", str(cert), "--ca-key", str(encrypted),
        "--cn", "leaf2", "--out", str(tmp_path / "leaf2"), check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == (
        f"error: {encrypted} is an encrypted key: give it decrypted "
        f"(`openssl pkey -in {encrypted} -out ca-plain.key`, kept 0600)\n"
    )


def test_check_config_warns_about_a_server_certificate_clients_refuse(test_pki, tmp_path):
    """A client certificate given as the server's (clientAuth only, no subjectAltName) is a
    valid configuration that no TLS client would accept: say so."""

    path = _broken(test_pki, tmp_path, 'tls_cert = "server.pem"', 'tls_cert = "leaf-rsa.pem"')
    text = path.read_text().replace('tls_key = "server.key"', 'tls_key = "leaf-rsa.key"', 1)
    path.write_text(text)
    proc = run_rolegate("check-config", str(path), check=False)
    assert proc.returncode == 0, proc.stderr
    assert (
        "TLS clients will refuse this server certificate: its extended key usage does not include serverAuth"
    ) in proc.stderr, proc.stderr
    good = run_rolegate("check-config", str(test_pki.config))
    assert "TLS clients will refuse" not in good.stderr


def test_check_config_warns_about_a_role_of_another_account(test_pki, tmp_path):
    """Roles Anywhere profiles name roles of their own account: a role of another account is
    most likely a configuration copied from elsewhere."""

    path = _broken(test_pki, tmp_path, "[server]", "[server]")
    text = path.read_text().replace("arn:aws:iam::123456789012:role/", "arn:aws:iam::999999999999:role/")
    path.write_text(text)
    proc = run_rolegate("check-config", str(path), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "is in account 999999999999, not in [server] account_id 123456789012" in proc.stderr, proc.stderr
    good = run_rolegate("check-config", str(test_pki.config))
    assert "not in [server] account_id" not in good.stderr


def test_probe_exits_0_on_200_and_says_why_otherwise(daemon):
    """`rolegate probe`, the exec probe of the shell-less image, against the daemon's endpoints."""

    assert daemon.metrics_url is not None
    ready = run_rolegate("probe", daemon.metrics_url + "/readyz", check=False)
    assert (ready.returncode, ready.stderr) == (0, "")
    missing = run_rolegate("probe", daemon.metrics_url + "/nowhere", check=False)
    assert missing.returncode == 1
    assert missing.stderr == f"error: {daemon.metrics_url}/nowhere answered 404: not found\n"
    bad_port = run_rolegate("probe", "http://127.0.0.1:99999/readyz", check=False)
    assert (bad_port.returncode, bad_port.stderr) == (
        1,
        "error: http://127.0.0.1:99999/readyz: '99999' is not a port number\n",
    )
    tls = run_rolegate("probe", daemon.url + "/readyz", check=False)
    assert tls.returncode == 1
    assert "only http:// URLs are probed" in tls.stderr
    # The TLS listener's port with http://: it answers with a TLS alert, no HTTP.
    plain_to_tls = daemon.url.replace("https://", "http://") + "/readyz"
    wrong_port = run_rolegate("probe", plain_to_tls, check=False)
    assert wrong_port.returncode == 1
    assert wrong_port.stderr.endswith(
        ": the answer is not plain HTTP (is this rolegate's TLS listener, server.listen? the health endpoints are on "
        "server.metrics_listen)\n"
    ), wrong_port.stderr


def test_certs_write_neither_file_when_one_exists(test_pki, tmp_path):
    """A new certificate beside an old key would be a pair that does not match."""

    (tmp_path / "c.key").write_text("an older key\n")
    proc = run_rolegate(
        "certs", "client", "--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key),
        "--out", str(tmp_path / "c"), "--cn", "pair", check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == f"error: {tmp_path / 'c.key'} exists: not overwriting it; choose another --out\n"
    assert not (tmp_path / "c.pem").exists()
    assert (tmp_path / "c.key").read_text() == "an older key\n"


def test_an_sts_client_at_a_path_no_api_serves_reads_the_error(daemon, ca_bundle):
    """An STS endpoint set with a path (an ingress prefix): botocore parses STS errors as XML
    only, so the answer must be STS's, not REST's JSON, for the user to see what is wrong."""
    import boto3
    from botocore.exceptions import ClientError

    def refusal(path):
        sts = boto3.client(
            "sts", region_name="us-east-1", endpoint_url=daemon.url + path, verify=str(ca_bundle),
            aws_access_key_id="ASIAEXAMPLEEXAMPLE00", aws_secret_access_key="secret", aws_session_token="token",
        )  # fmt: skip
        with pytest.raises(ClientError) as refused:
            sts.get_caller_identity()
        error = refused.value.response["Error"]
        assert error["Code"] == "NoSuchEntity", refused.value.response
        return error["Message"]

    assert refusal("/rolegate/").startswith("No API at POST /rolegate/: rolegate serves")
    # The Roles Anywhere path, given as the STS endpoint by mistake.
    assert refusal("/sessions") == (
        "No STS API at POST /sessions (Roles Anywhere's CreateSession): rolegate serves the STS Query API "
        "at /, so an STS client's endpoint is https://host:port, without a path."
    )


def test_requests_no_api_serves_are_audited_and_counted(daemon, ca_bundle):
    import requests

    assert requests.get(daemon.url + "/sessions", verify=str(ca_bundle), timeout=10).status_code == 400
    assert requests.put(daemon.url + "/", verify=str(ca_bundle), timeout=10).status_code == 400
    assert requests.get(daemon.url + "/nowhere", verify=str(ca_bundle), timeout=10).status_code == 404
    metrics = requests.get(daemon.metrics_url + "/metrics", timeout=10).text
    for series in (
        'rolegate_requests_total{api="rest",operation="Other",outcome="ValidationError"}',
        'rolegate_requests_total{api="sts",operation="Other",outcome="InvalidAction"}',
        'rolegate_requests_total{api="rest",operation="Other",outcome="NoSuchEntity"}',
    ):
        assert any(line.startswith(series + " ") for line in metrics.splitlines()), (series, metrics)


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--o", "", "a name attribute cannot be empty"),
        ("--ou", "x" * 65, "a name attribute has at most 64 characters (RFC 5280), not 65"),
        ("--o", "a\tb", "a name attribute cannot hold a control character"),
        ("--uri", "spiffe://x/a b", "a URI is not empty and holds no space or control character"),
        ("--uri", "spiffe://x/" + "a" * 250, "a URI has at most 256 characters (a session tag's value), not 261"),
    ],
)
def test_certs_client_refuses_names_the_daemon_would_refuse(test_pki, tmp_path, flag, value, message):
    proc = run_rolegate(
        "certs", "client", "--ca-cert", str(test_pki.root.cert), "--ca-key", str(test_pki.root.key),
        "--out", str(tmp_path / "c"), "--cn", "ok", flag, value, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "c.pem").exists()
