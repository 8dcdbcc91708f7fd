"""Helpers shared by the real-client tests: the rolegate binary, a PKI built
with `rolegate certs`, configuration files, a daemon process on 127.0.0.1:0,
and raw CreateSession requests signed by iam-rolesanywhere-session's signer.

All traffic stays on 127.0.0.1; nothing here contacts AWS.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence
from urllib.parse import urlencode

import requests
from botocore.awsrequest import AWSRequest
from cryptography import x509
from iam_rolesanywhere_session import IAMRolesAnywhereSigner
from iam_rolesanywhere_session import iam_rolesanywhere_session as _signer_module

REGION = "us-east-1"
ACCOUNT = "123456789012"

#: How long a daemon may take to print its listening line.
STARTUP_TIMEOUT_SECONDS = 30
#: How long a stopped daemon may take to drain and exit.
SHUTDOWN_TIMEOUT_SECONDS = 15

#: rolegate appends this to AccessDenied messages (REST and STS) so operators
#: can find the audit event: " (reason: {code}, request id: {uuid})".
REASON_SUFFIX_RE = re.compile(
    r" \(reason: (?P<reason>[a-z0-9-]+), request id: "
    r"(?P<request_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\)$"
)

ACCESS_KEY_ID_RE = re.compile(r"^ASIA[A-Z2-7]{16}$")
EXPIRATION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def split_reason(message: str) -> tuple[str, str]:
    """Split an AccessDenied message into (AWS message, reason code); fails when
    the reason suffix is missing."""

    m = REASON_SUFFIX_RE.search(message)
    assert m is not None, f"no '(reason: ..., request id: ...)' suffix: {message!r}"
    return message[: m.start()], m.group("reason")


def trust_anchor_arn(anchor_id: str) -> str:
    return f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/{anchor_id}"


def profile_arn(profile_id: str) -> str:
    return f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:profile/{profile_id}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def rolegate_bin() -> Path:
    """The daemon binary under test, from $ROLEGATE_BIN (set by scripts/test.sh)."""

    value = os.environ.get("ROLEGATE_BIN")
    if not value:
        raise RuntimeError(
            "ROLEGATE_BIN is not set: run ./scripts/test.sh, or export "
            "ROLEGATE_BIN=$CARGO_TARGET_DIR/debug/rolegate (see tests/python/README.md)"
        )
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"ROLEGATE_BIN={value} is not an executable file")
    return path


def run_rolegate(
    *args: str,
    check: bool = True,
    cwd: Optional[Path] = None,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    """Run `rolegate ARGS...` to completion, capturing text output."""

    cmd = [str(rolegate_bin()), *args]
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


# ---------------------------------------------------------------------------
# PKI built with `rolegate certs`
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CertKey:
    """A certificate file and its private key file (both PEM)."""

    cert: Path
    key: Path

    def load(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    @property
    def serial(self) -> int:
        return self.load().serial_number

    @property
    def serial_hex(self) -> str:
        """Serial as even-length lowercase hex, as `certs crl --revoke` takes it."""

        digits = format(self.serial, "x")
        return digits if len(digits) % 2 == 0 else "0" + digits


class Pki:
    """Creates certificates in one directory with the `rolegate certs` commands."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def _pair(self, name: str) -> CertKey:
        return CertKey(self.dir / f"{name}.pem", self.dir / f"{name}.key")

    def ca(self, name: str, cn: str, key: str = "ecdsa-p256") -> CertKey:
        run_rolegate("certs", "ca", "--out", str(self.dir / name), "--cn", cn, "--key", key)
        return self._pair(name)

    def intermediate(
        self, name: str, issuer: CertKey, cn: str, key: str = "ecdsa-p256"
    ) -> CertKey:
        run_rolegate(
            "certs", "intermediate",
            "--ca-cert", str(issuer.cert), "--ca-key", str(issuer.key),
            "--out", str(self.dir / name), "--cn", cn, "--key", key,
        )  # fmt: skip
        return self._pair(name)

    def server(self, name: str, issuer: CertKey, sans: Sequence[str]) -> CertKey:
        args = ["certs", "server", "--ca-cert", str(issuer.cert), "--ca-key", str(issuer.key)]
        args += ["--out", str(self.dir / name)]
        for san in sans:
            args += ["--san", san]
        run_rolegate(*args)
        return self._pair(name)

    def client(
        self,
        name: str,
        issuer: CertKey,
        cn: str,
        *,
        key: str = "ecdsa-p256",
        org: Optional[str] = None,
        ou: Optional[str] = None,
        dns: Iterable[str] = (),
        uris: Iterable[str] = (),
        expired: bool = False,
        not_yet_valid: bool = False,
    ) -> CertKey:
        args = ["certs", "client", "--ca-cert", str(issuer.cert), "--ca-key", str(issuer.key)]
        args += ["--out", str(self.dir / name), "--cn", cn, "--key", key]
        if org is not None:
            args += ["--o", org]
        if ou is not None:
            args += ["--ou", ou]
        for name_ in dns:
            args += ["--dns", name_]
        for uri in uris:
            args += ["--uri", uri]
        if expired:
            args.append("--expired")
        if not_yet_valid:
            args.append("--not-yet-valid")
        run_rolegate(*args)
        return self._pair(name)

    def crl(self, name: str, issuer: CertKey, revoked: Sequence[CertKey]) -> Path:
        out = self.dir / f"{name}.crl"
        args = ["certs", "crl", "--ca-cert", str(issuer.cert), "--ca-key", str(issuer.key)]
        args += ["--out", str(out), "--revoke"]
        args += [c.serial_hex for c in revoked]
        run_rolegate(*args)
        return out

    def bundle(self, name: str, certs: Sequence[CertKey]) -> Path:
        """Concatenate certificates into one PEM bundle (e.g. a chain file)."""

        out = self.dir / f"{name}.pem"
        out.write_text("".join(c.cert.read_text() for c in certs))
        return out


# ---------------------------------------------------------------------------
# Configuration (DESIGN.md §2e)
# ---------------------------------------------------------------------------


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(toml_str(v) for v in values) + "]"


def toml_literal_block(value: str) -> str:
    assert "'''" not in value
    return "'''" + value + "'''"


def roles_anywhere_trust_policy(conditions: Optional[Mapping] = None) -> str:
    """The standard Roles Anywhere trust policy, optionally with a Condition."""

    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "rolesanywhere.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    }
    if conditions:
        statement["Condition"] = conditions
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow_policy(actions: Sequence[str], resources: Sequence[str]) -> str:
    """An identity policy allowing `actions` on `resources`."""

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
            ],
        }
    )


def chaining_trust_policy(*principal_role_arns: str) -> str:
    """A trust policy letting sessions of the given roles chain into a role."""

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(principal_role_arns)},
                    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                }
            ],
        }
    )


@dataclass
class Anchor:
    id: str
    certificates: str
    crls: Sequence[str] = ()
    enabled: bool = True


@dataclass
class Profile:
    id: str
    role_arns: Sequence[str]
    duration_seconds: int = 3600
    accept_role_session_name: bool = False
    enabled: bool = True
    #: certificate field (x509Subject, x509Issuer, x509SAN) -> specifiers; fields not listed
    #: keep AWS's default rules.
    attribute_mappings: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass
class Role:
    arn: str
    trust_policy: str = field(default_factory=roles_anywhere_trust_policy)
    max_session_duration: int = 3600
    permission_policies: Sequence[str] = ()


def render_config(
    *,
    tls_cert: str,
    tls_key: str,
    token_key_file: str,
    anchors: Sequence[Anchor],
    profiles: Sequence[Profile],
    roles: Sequence[Role],
) -> str:
    """A rolegate.toml using only the contract keys of DESIGN.md (§2e; a profile's
    attribute mappings, §1)."""

    out = [
        "[server]",
        'listen = "127.0.0.1:0"',
        f"tls_cert = {toml_str(tls_cert)}",
        f"tls_key = {toml_str(tls_key)}",
        'metrics_listen = "127.0.0.1:0"',
        f'region = "{REGION}"',
        f'account_id = "{ACCOUNT}"',
        "max_clock_skew_seconds = 300",
        "",
        "[tokens]",
        'active = "k1"',
        "",
        "[[tokens.keys]]",
        'id = "k1"',
        f"file = {toml_str(token_key_file)}",
    ]
    for a in anchors:
        out += [
            "",
            "[[trust_anchor]]",
            f"id = {toml_str(a.id)}",
            f"certificates = {toml_str(a.certificates)}",
        ]
        if a.crls:
            out.append(f"crls = {toml_list(a.crls)}")
        out.append(f"enabled = {str(a.enabled).lower()}")
    for p in profiles:
        out += [
            "",
            "[[profile]]",
            f"id = {toml_str(p.id)}",
            f"role_arns = {toml_list(p.role_arns)}",
            f"duration_seconds = {p.duration_seconds}",
            f"accept_role_session_name = {str(p.accept_role_session_name).lower()}",
            "require_instance_properties = false",
            f"enabled = {str(p.enabled).lower()}",
        ]
        if p.attribute_mappings:
            fields = ", ".join(f"{k} = {toml_list(v)}" for k, v in p.attribute_mappings.items())
            out.append(f"attribute_mappings = {{ {fields} }}")
    for r in roles:
        out += [
            "",
            "[[role]]",
            f"arn = {toml_str(r.arn)}",
            f"max_session_duration = {r.max_session_duration}",
            f"trust_policy = {toml_literal_block(r.trust_policy)}",
        ]
        if r.permission_policies:
            blocks = ", ".join(toml_literal_block(p) for p in r.permission_policies)
            out.append(f"permission_policies = [{blocks}]")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# The daemon process
# ---------------------------------------------------------------------------

_LISTENING_RE = re.compile(r"listening on https://(?P<host>\S+):(?P<port>\d+)")
_METRICS_RE = re.compile(r"metrics on http://(?P<host>\S+):(?P<port>\d+)")


class Daemon:
    """`rolegate serve ...` on 127.0.0.1:0, with its printed addresses parsed."""

    def __init__(self, args: Sequence[str], log_dir: Path, cwd: Optional[Path] = None):
        self.args = [str(rolegate_bin()), "serve", *args]
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / "rolegate.stderr.log"
        self.stdout_lines: list[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.port, self.metrics_port = self._wait_for_addresses()

    @property
    def endpoint(self) -> str:
        """host:port, as iam-rolesanywhere-session's `endpoint` parameter takes it."""

        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.endpoint}"

    @property
    def metrics_url(self) -> Optional[str]:
        return None if self.metrics_port is None else f"http://127.0.0.1:{self.metrics_port}"

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line.rstrip("\n"))
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_addresses(self) -> tuple[int, Optional[int]]:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        port: Optional[int] = None
        metrics: Optional[int] = None
        want_metrics = "--metrics-listen" in self.args
        while port is None or (want_metrics and metrics is None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("did not print its listening line in time")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                self._fail(f"exited with status {self.proc.returncode} before listening")
            if m := _LISTENING_RE.search(line):
                port = int(m.group("port"))
            if m := _METRICS_RE.search(line):
                metrics = int(m.group("port"))
        return port, metrics

    def _fail(self, what: str) -> None:
        self.stop()
        raise RuntimeError(
            f"rolegate daemon {what}: {' '.join(self.args)}\n"
            f"stdout:\n" + "\n".join(self.stdout_lines) + "\n"
            f"stderr:\n{self.stderr_text()}"
        )

    def stderr_text(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        """Signal the daemon (SIGTERM: drain and exit 0), wait, kill if stuck."""

        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if not self._stderr.closed:
            self._stderr.close()
        return self.proc.returncode


# ---------------------------------------------------------------------------
# Raw CreateSession requests, signed by the package's own signer
# ---------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def error_type(self) -> Optional[str]:
        return self.headers.get("X-Amzn-ErrorType")

    def json(self):
        return json.loads(self.text)


def create_session_raw(
    endpoint: str,
    ca_bundle: Path,
    identity: CertKey,
    *,
    chain: Optional[Path] = None,
    body: Optional[Mapping] = None,
    raw_body: Optional[bytes] = None,
    query: Optional[Mapping[str, str]] = None,
    send_body: Optional[bytes] = None,
    chunked: bool = False,
    region: str = REGION,
    clock_offset_seconds: int = 0,
) -> RawResponse:
    """POST /sessions signed with iam_rolesanywhere_session.IAMRolesAnywhereSigner.

    `body` is serialised as JSON (or `raw_body` used verbatim) and signed;
    `send_body`, when given, is sent instead of the signed body (tampering);
    `chunked` sends the body with Transfer-Encoding: chunked;
    `clock_offset_seconds` signs as if the client clock were that far off.
    """

    signer = IAMRolesAnywhereSigner(
        certificate=str(identity.cert),
        private_key=str(identity.key),
        certificate_chain=None if chain is None else str(chain),
        region=region,
    )
    url = f"https://{endpoint}/sessions"
    if query:
        url += "?" + urlencode(query)
    signed_body = raw_body if raw_body is not None else json.dumps(body or {}).encode()
    request = AWSRequest(method="POST", url=url, data=signed_body)
    with _client_clock_offset(clock_offset_seconds):
        signer.add_auth(request)
    headers = {k: v for k, v in request.headers.items()}
    payload = send_body if send_body is not None else signed_body
    data: object = payload
    if chunked:
        data = iter([payload[: len(payload) // 2], payload[len(payload) // 2 :]])
    response = requests.post(url, headers=headers, data=data, verify=str(ca_bundle), timeout=15)
    return RawResponse(response.status_code, response.headers, response.text)


@contextlib.contextmanager
def _client_clock_offset(seconds: int):
    """Shift the clock the package's signer reads (`datetime.now` in its module)."""

    if seconds == 0:
        yield
        return
    real = _signer_module.datetime

    class Shifted(real):  # type: ignore[misc, valid-type]
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + timedelta(seconds=seconds)

    _signer_module.datetime = Shifted
    try:
        yield
    finally:
        _signer_module.datetime = real


def session_body(
    profile: str, role: str, anchor: str, duration: Optional[int] = None, **extra
) -> dict:
    body = {"profileArn": profile, "roleArn": role, "trustAnchorArn": anchor}
    if duration is not None:
        body["durationSeconds"] = duration
    body.update(extra)
    return body
