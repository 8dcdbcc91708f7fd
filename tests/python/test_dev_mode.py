"""`rolegate serve --dev` (DESIGN.md §2e): the embedded default creates a dev
PKI, token key and config once, serves them, and the dev client certificates
obtain credentials through the unmodified iam-rolesanywhere-session package.
Also covers the metrics listener and SIGTERM shutdown."""

from __future__ import annotations

import signal
import time

import pytest
import requests
from iam_rolesanywhere_session import CredentialsRetrievalError, IAMRolesAnywhereSession

from harness import ACCESS_KEY_ID_RE, Daemon, run_rolegate

DEV_FILES = [
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "client-ecdsa.pem",
    "client-ecdsa.key",
    "client-rsa.pem",
    "client-rsa.key",
    "admin.pem",
    "admin.key",
    "token-k1.key",
    "rolegate.toml",
]
DEV_ANCHOR = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/dev"
DEV_PROFILE = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/dev"
DEV_ROLE = "arn:aws:iam::123456789012:role/dev"


def start_dev(state_dir, log_dir) -> Daemon:
    return Daemon(
        [
            "--dev",
            "--state-dir", str(state_dir),
            "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0",
        ],
        log_dir=log_dir,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    state = tmp_path_factory.mktemp("dev-state")
    daemon = start_dev(state, tmp_path_factory.mktemp("dev-log"))
    yield daemon, state
    daemon.stop()


def test_dev_state_dir_holds_pki_key_and_config(dev):
    _, state = dev
    missing = [name for name in DEV_FILES if not (state / name).is_file()]
    assert not missing
    for key in ("ca.key", "server.key", "client-ecdsa.key", "client-rsa.key", "admin.key"):
        assert "-----BEGIN PRIVATE KEY-----" in (state / key).read_text(), key
    run_rolegate("check-config", str(state / "rolegate.toml"))


def dev_session(daemon, state, client: str = "client-ecdsa") -> IAMRolesAnywhereSession:
    return IAMRolesAnywhereSession(
        profile_arn=DEV_PROFILE,
        role_arn=DEV_ROLE,
        trust_anchor_arn=DEV_ANCHOR,
        certificate=str(state / f"{client}.pem"),
        private_key=str(state / f"{client}.key"),
        region="us-east-1",
        endpoint=daemon.endpoint,
        verify=str(state / "ca.pem"),
    )


@pytest.mark.parametrize("client", ["client-ecdsa", "client-rsa"])
def test_dev_client_certificates_obtain_credentials(dev, client):
    daemon, state = dev
    session = dev_session(daemon, state, client).get_session()
    frozen = session.get_credentials().get_frozen_credentials()
    assert ACCESS_KEY_ID_RE.match(frozen.access_key), frozen.access_key
    assert len(frozen.secret_key) == 40
    assert frozen.token
    # As the README goes on: the session's STS client pointed at rolegate.
    sts = session.client("sts", endpoint_url=f"https://{daemon.endpoint}", verify=str(state / "ca.pem"))
    assert ":assumed-role/dev/" in sts.get_caller_identity()["Arn"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_metrics_listener_answers(dev, path):
    daemon, _ = dev
    assert daemon.metrics_url is not None
    response = requests.get(daemon.metrics_url + path, timeout=10)
    assert response.status_code == 200, (path, response.text)


def test_dev_state_is_created_once(tmp_path):
    state = tmp_path / "state"
    start_dev(state, tmp_path / "log1").stop()
    ca_before = (state / "ca.pem").read_bytes()
    key_before = (state / "token-k1.key").read_bytes()
    config_before = (state / "rolegate.toml").read_bytes()
    start_dev(state, tmp_path / "log2").stop()
    assert (state / "ca.pem").read_bytes() == ca_before
    assert (state / "token-k1.key").read_bytes() == key_before
    assert (state / "rolegate.toml").read_bytes() == config_before


def test_sigterm_right_after_listening_drains_and_exits_zero(tmp_path):
    """A supervisor may stop the daemon as soon as it reports that it listens."""

    daemon = start_dev(tmp_path / "state", tmp_path / "log")
    assert daemon.stop(signal.SIGTERM) == 0, daemon.stderr_text()


def test_sigterm_while_serving_exits_zero(dev_stoppable):
    daemon, state = dev_stoppable
    response = requests.get(daemon.metrics_url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert daemon.stop(signal.SIGTERM) == 0, daemon.stderr_text()


def test_dev_admin_certificate_calls_the_admin_api(dev):
    """The dev setup lists its admin certificate in admin_subjects: `rolegate admin status`
    works as the instructions print it; a workload certificate is refused."""

    daemon, state = dev
    common = [
        "--endpoint", daemon.url,
        "--ca-bundle", str(state / "ca.pem"),
    ]  # fmt: skip
    status = run_rolegate(
        "admin", "status", *common,
        "--certificate", str(state / "admin.pem"),
        "--private-key", str(state / "admin.key"),
    )  # fmt: skip
    assert f"trust anchor {DEV_ANCHOR} (enabled)" in status.stdout, status.stdout
    assert f"profile {DEV_PROFILE} (enabled): roles [{DEV_ROLE}" in status.stdout, status.stdout
    refused = run_rolegate(
        "admin", "status", *common,
        "--certificate", str(state / "client-ecdsa.pem"),
        "--private-key", str(state / "client-ecdsa.key"),
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert "is not allowed to call Admin.Status: only the subjects listed in [server] admin_subjects may; list this one there if it is an administrator's." in refused.stderr


def obtain_or_error(daemon, state):
    """Credentials from a fresh client session, or the error the daemon answered."""
    try:
        return dev_session(daemon, state).get_session().get_credentials().get_frozen_credentials()
    except CredentialsRetrievalError as error:
        return error


def wait_until(predicate, daemon, state, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcome = obtain_or_error(daemon, state)
        if predicate(outcome):
            return outcome
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds} s; last: {outcome!r}")


def test_dev_config_edits_apply_without_a_restart(dev_stoppable):
    """The dev configuration watches itself: an edit to the trust policy decides the next
    request, with no signal and no restart; the dev server says so when it starts."""

    daemon, state = dev_stoppable
    config = state / "rolegate.toml"
    original = config.read_text()
    assert "config_watch_seconds = 2" in original
    assert '"rolegate dev"' in original, original
    assert not isinstance(obtain_or_error(daemon, state), CredentialsRetrievalError)

    config.write_text(original.replace('"rolegate dev"', '"another organization"'))
    denied = wait_until(
        lambda o: isinstance(o, CredentialsRetrievalError),
        daemon,
        state,
        "the edited trust policy denies",
    )
    assert denied.status_code == 403, denied.message
    assert "does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole" in denied.message

    config.write_text(original)
    wait_until(
        lambda o: not isinstance(o, CredentialsRetrievalError),
        daemon,
        state,
        "the restored policy allows",
    )
    assert "configuration files changed; reloading" in daemon.stderr_text()


@pytest.fixture
def dev_stoppable(tmp_path):
    daemon = start_dev(tmp_path / "state", tmp_path / "log")
    yield daemon, tmp_path / "state"
    daemon.stop()
