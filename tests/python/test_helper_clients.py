"""The client side with unmodified AWS clients (DESIGN.md §2d): boto3 and the AWS
CLI through a `credential_process` profile running `rolegate credential-process`;
botocore's IMDS provider (AWS_EC2_METADATA_SERVICE_ENDPOINT) and container provider
(AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN) reading
`rolegate sidecar`; a certificate rotated on disk picked up without restart. Every
credential obtained is checked with STS GetCallerIdentity at the daemon, whose
assumed-role ARN names the certificate serial (the default session name).

Self-contained PKI (ECDSA P-256 only) so it does not depend on other fixtures."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, CredentialRetrievalError

from harness import (
    ACCOUNT,
    REGION,
    Anchor,
    Daemon,
    Pki,
    Profile,
    Role,
    profile_arn,
    render_config,
    role_arn,
    rolegate_bin,
    run_rolegate,
    trust_anchor_arn,
)

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    directory = tmp_path_factory.mktemp("helper-pki")
    pki = Pki(directory)
    root = pki.ca("root-ca", "helper test root")
    pki.server("server", root, ["127.0.0.1", "localhost"])
    leaf_a = pki.client("leaf-a", root, "workload-a")
    leaf_b = pki.client("leaf-b", root, "workload-b")
    run_rolegate("keys", "generate", "--out", str(directory / "token-k1.key"))
    config = directory / "rolegate.toml"
    config.write_text(
        render_config(
            tls_cert="server.pem",
            tls_key="server.key",
            token_key_file="token-k1.key",
            anchors=[Anchor("main", "root-ca.pem")],
            profiles=[Profile("workloads", [role_arn("app")])],
            roles=[Role(role_arn("app"), max_session_duration=7200)],
        )
    )
    daemon = Daemon(
        ["--config", str(config), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
        log_dir=tmp_path_factory.mktemp("helper-daemon"),
    )
    yield {"daemon": daemon, "root": root, "a": leaf_a, "b": leaf_b, "dir": directory}
    daemon.stop()


def session_flags(env, cert: Path, key: Path) -> list[str]:
    return [
        "--certificate", str(cert),
        "--private-key", str(key),
        "--trust-anchor-arn", trust_anchor_arn("main"),
        "--profile-arn", profile_arn("workloads"),
        "--role-arn", role_arn("app"),
        "--endpoint", env["daemon"].url,
        "--ca-bundle", str(env["root"].cert),
    ]  # fmt: skip


def isolated_env(home: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e["HOME"] = str(home)
    e["XDG_CACHE_HOME"] = str(home / ".cache")
    e["AWS_CONFIG_FILE"] = str(home / "no-config")
    e["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-credentials")
    return e


def expected_arn(leaf) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{leaf.serial_hex}"


def caller_arn(env, session: boto3.Session) -> str:
    sts = session.client(
        "sts", region_name=REGION, endpoint_url=env["daemon"].url,
        verify=str(env["root"].cert), config=NO_RETRIES,
    )  # fmt: skip
    return sts.get_caller_identity()["Arn"]


def assert_arn_names(arn: str, leaf) -> None:
    prefix = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/"
    assert arn.startswith(prefix), arn
    assert arn[len(prefix):].lower().lstrip("0") == format(leaf.serial, "x"), (arn, leaf.serial)


class Sidecar:
    def __init__(self, env, cert: Path, key: Path, home: Path, *extra: str):
        self.token = "container-token-123"
        token_file = home / "sidecar-token"
        home.mkdir(parents=True, exist_ok=True)
        token_file.write_text(self.token + "\n")
        self.proc = subprocess.Popen(
            [str(rolegate_bin()), "sidecar", *session_flags(env, cert, key),
             "--port", "0", "--auth-token-file", str(token_file), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=isolated_env(home),
        )  # fmt: skip
        try:
            line = self.proc.stdout.readline().strip()
            assert line.startswith("sidecar listening on http://"), line
            self.url = line.removeprefix("sidecar listening on ")
            # What the sidecar answers as it announces itself, before it had time for more.
            self.first_answer = self.container(self.token)
            self.wait_for(lambda: self.container(self.token)[0] == 200, "first credentials")
        except BaseException:
            # No fixture will stop it: the sidecar would go on retrying after the run.
            self.proc.kill()
            self.proc.wait()
            raise

    def container(self, token):
        req = urllib.request.Request(self.url + "/v1/credentials")
        if token is not None:
            req.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    @staticmethod
    def wait_for(cond, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def sidecar(env, tmp_path):
    s = Sidecar(env, env["a"].cert, env["a"].key, tmp_path / "home")
    yield s
    s.stop()


def write_credential_process_profile(env, home: Path) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    command = " ".join([str(rolegate_bin()), "credential-process", *session_flags(env, env["a"].cert, env["a"].key)])
    config = home / "config"
    config.write_text(f"[profile rolegate]\nregion = {REGION}\ncredential_process = {command}\n")
    e = isolated_env(home)
    e["AWS_CONFIG_FILE"] = str(config)
    return e


def test_boto3_credential_process_profile(env, tmp_path, monkeypatch):
    e = write_credential_process_profile(env, tmp_path / "home")
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k in ("HOME", "XDG_CACHE_HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(k, e[k])
    session = boto3.Session(profile_name="rolegate")
    assert session.get_credentials().method == "custom-process"
    assert_arn_names(caller_arn(env, session), env["a"])
    # The second process of the same profile is served by the private cache.
    cache = Path(e["XDG_CACHE_HOME"]) / "rolegate"
    assert any(p.suffix == ".json" for p in cache.iterdir())
    assert oct(cache.stat().st_mode & 0o777) == "0o700"


def test_aws_cli_credential_process_profile(env, tmp_path):
    e = write_credential_process_profile(env, tmp_path / "home")
    aws = Path(sys.executable).with_name("aws")
    proc = subprocess.run(
        [str(aws), "sts", "get-caller-identity", "--profile", "rolegate",
         "--endpoint-url", env["daemon"].url, "--ca-bundle", str(env["root"].cert), "--output", "json"],
        env=e, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert_arn_names(json.loads(proc.stdout)["Arn"], env["a"])


def botocore_credentials(monkeypatch, home: Path, **env_vars):
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-credentials"))
    for k, v in env_vars.items():
        monkeypatch.setenv(k, v)
    return botocore.session.Session().get_credentials()


@pytest.mark.parametrize("final_slash", ["", "/"], ids=["endpoint", "endpoint-with-final-slash"])
def test_botocore_imds_provider_reads_the_sidecar(env, sidecar, tmp_path, monkeypatch, final_slash):
    creds = botocore_credentials(monkeypatch, tmp_path, AWS_EC2_METADATA_SERVICE_ENDPOINT=sidecar.url + final_slash)
    assert creds is not None and creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    session = boto3.Session(
        aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key, aws_session_token=frozen.token
    )
    assert_arn_names(caller_arn(env, session), env["a"])


def test_the_paths_of_an_endpoint_with_a_final_slash_are_served(sidecar):
    """The Java SDK v2 appends its paths to AWS_EC2_METADATA_SERVICE_ENDPOINT as it is
    (`http://127.0.0.1:9911/` + `/latest/api/token`), so the endpoint written with the final
    `/` that AWS CLI v2 releases before mid-2025 need gets requests for `//latest/...`."""

    def call(method: str, path: str, headers: dict) -> tuple:
        req = urllib.request.Request(sidecar.url + path, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers

    status, token, headers = call("PUT", "//latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert (status, headers["X-aws-ec2-metadata-token-ttl-seconds"]) == (200, "21600")
    listed = "//latest/meta-data/iam/security-credentials/"
    assert call("GET", listed, {"X-aws-ec2-metadata-token": token})[:2] == (200, "app")
    status, document, _ = call("GET", listed + "app", {"X-aws-ec2-metadata-token": token})
    assert status == 200 and json.loads(document)["Code"] == "Success", document


def test_botocore_container_provider_reads_the_sidecar(env, sidecar, tmp_path, monkeypatch):
    creds = botocore_credentials(
        monkeypatch, tmp_path,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=sidecar.url + "/v1/credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN=sidecar.token,
    )  # fmt: skip
    assert creds is not None and creds.method == "container-role"
    frozen = creds.get_frozen_credentials()
    # The sidecar's answer names the role's account, which botocore reads (AccountId).
    assert frozen.account_id == ACCOUNT
    session = boto3.Session(
        aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key, aws_session_token=frozen.token
    )
    assert_arn_names(caller_arn(env, session), env["a"])


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_container_provider_with_a_wrong_or_missing_token_is_refused(sidecar, tmp_path, monkeypatch, token):
    extra = {} if token is None else {"AWS_CONTAINER_AUTHORIZATION_TOKEN": token}
    with pytest.raises(CredentialRetrievalError):
        botocore_credentials(
            monkeypatch, tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=sidecar.url + "/v1/credentials", **extra
        )
    status, body = sidecar.container(token)
    assert (status, body["Code"]) == ((403, "InvalidAuthorization") if token else (401, "MissingAuthorization"))


def test_botocore_imds_fetchers_beyond_the_sidecars_slots_get_credentials(sidecar):
    """The reviewer's repro: botocore IMDS fetchers that keep their connections open take all
    256 of the sidecar's slots, and 144 more, started together, each wait as botocore does
    (timeout 1 s, one attempt): every one gets credentials (the 144 got none while a
    keep-alive connection had to be idle 5 s before a newcomer could close it)."""
    from concurrent.futures import ThreadPoolExecutor

    from botocore.utils import InstanceMetadataFetcher

    def fetch(fetcher):
        return fetcher.retrieve_iam_role_credentials().get("access_key", "no credentials")

    kept = [InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=sidecar.url) for _ in range(256)]
    assert [fetch(f)[:4] for f in kept] == ["ASIA"] * 256
    newcomers = [InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=sidecar.url) for _ in range(144)]
    with ThreadPoolExecutor(max_workers=len(newcomers)) as pool:
        got = list(pool.map(fetch, newcomers))
    assert [key[:4] for key in got] == ["ASIA"] * 144, got


def test_imds_requires_a_session_token(sidecar):
    path = sidecar.url + "/latest/meta-data/iam/security-credentials/"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(path, timeout=10)
    assert e.value.code == 401
    put = urllib.request.Request(sidecar.url + "/latest/api/token", method="PUT")
    put.add_header("x-aws-ec2-metadata-token-ttl-seconds", "21601")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(put, timeout=10)
    assert e.value.code == 400
    put = urllib.request.Request(sidecar.url + "/latest/api/token", method="PUT")
    put.add_header("x-aws-ec2-metadata-token-ttl-seconds", "60")
    with urllib.request.urlopen(put, timeout=10) as r:
        assert r.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "60"
        token = r.read().decode()
    get = urllib.request.Request(path, headers={"x-aws-ec2-metadata-token": token})
    with urllib.request.urlopen(get, timeout=10) as r:
        assert r.read() == b"app"


def test_sidecar_picks_up_a_rotated_certificate(env, tmp_path):
    files = tmp_path / "identity"
    files.mkdir()
    cert, key = files / "cert.pem", files / "key.pem"
    shutil.copy(env["a"].cert, cert)
    shutil.copy(env["a"].key, key)
    s = Sidecar(env, cert, key, tmp_path / "home", "--check-files-seconds", "1")
    try:
        _, first = s.container(s.token)
        session = boto3.Session(
            aws_access_key_id=first["AccessKeyId"], aws_secret_access_key=first["SecretAccessKey"],
            aws_session_token=first["Token"],
        )  # fmt: skip
        assert_arn_names(caller_arn(env, session), env["a"])
        # Rotate: new key first, then the certificate (atomic renames, as cert managers do).
        shutil.copy(env["b"].key, files / "key.new")
        os.replace(files / "key.new", key)
        shutil.copy(env["b"].cert, files / "cert.new")
        os.replace(files / "cert.new", cert)
        s.wait_for(lambda: s.container(s.token)[1].get("AccessKeyId") != first["AccessKeyId"], "rotation")
        _, second = s.container(s.token)
        session = boto3.Session(
            aws_access_key_id=second["AccessKeyId"], aws_secret_access_key=second["SecretAccessKey"],
            aws_session_token=second["Token"],
        )  # fmt: skip
        assert_arn_names(caller_arn(env, session), env["b"])
    finally:
        s.stop()


def _one_role_config(d: Path, role: str, **role_settings) -> str:
    """A rolegate.toml of the test PKI in `d`: anchor `main`, profile `workloads` listing role
    `role` alone."""

    return render_config(
        tls_cert=str(d / "server.pem"),
        tls_key=str(d / "server.key"),
        token_key_file=str(d / "token-k1.key"),
        anchors=[Anchor("main", str(d / "root-ca.pem"))],
        profiles=[Profile("workloads", [role_arn(role)])],
        roles=[Role(role_arn(role), **role_settings)],
    )


def _sts_error(env, creds: dict) -> dict | None:
    """The error of the daemon's answer to these credentials' GetCallerIdentity, if any."""

    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["Token"],
    )  # fmt: skip
    try:
        caller_arn(env, session)
        return None
    except ClientError as e:
        return e.response["Error"]


def _sts_refuses(env, creds: dict) -> bool:
    """Whether the daemon refuses these credentials' GetCallerIdentity as revoked."""

    error = _sts_error(env, creds)
    if error is None:
        return False
    assert error["Code"] == "AccessDenied", error
    assert "have been revoked" in error["Message"], error
    return True


def _credential_process(own, home: Path) -> tuple[dict, str]:
    """`rolegate credential-process` for certificate a (cache in `home`): its credentials, in
    the container endpoint's key names, and its stderr."""

    run = subprocess.run(
        [str(rolegate_bin()), "credential-process", *session_flags(own, own["a"].cert, own["a"].key)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=isolated_env(home), timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    return {"AccessKeyId": out["AccessKeyId"], "SecretAccessKey": out["SecretAccessKey"], "Token": out["SessionToken"]}, run.stderr


def test_a_restarted_sidecar_serves_what_it_kept_while_the_server_is_down(env, tmp_path, monkeypatch):
    """A sidecar keeps its last credentials (in credential-process's cache): restarted while
    the server cannot be reached, it serves them, as EC2's IMDS never loses its credentials,
    and botocore's container provider reads them. Without them it would answer 503 until
    the server is back."""

    d = env["dir"]
    config = tmp_path / "rolegate.toml"
    config.write_text(_one_role_config(d, "app", max_session_duration=7200))
    daemon = Daemon(["--config", str(config), "--listen", "127.0.0.1:0"], log_dir=tmp_path / "daemon")
    own = {**env, "daemon": daemon}
    home = tmp_path / "home"
    first = Sidecar(own, env["a"].cert, env["a"].key, home)
    try:
        _, served = first.container(first.token)
    finally:
        first.stop()
    daemon.stop()

    again = Sidecar(own, env["a"].cert, env["a"].key, home)
    try:
        status, kept = again.container(again.token)
        assert (status, kept["AccessKeyId"]) == (200, served["AccessKeyId"]), kept
        creds = botocore_credentials(
            monkeypatch, tmp_path / "client",
            AWS_CONTAINER_CREDENTIALS_FULL_URI=again.url + "/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN=again.token,
        )  # fmt: skip
        assert creds.get_frozen_credentials().access_key == served["AccessKeyId"]
    finally:
        again.stop()


def test_a_restarted_sidecar_serves_what_it_kept_while_the_server_does_not_answer(env, tmp_path):
    """Restarted while the server accepts connections but never answers (a stalled load
    balancer, a partition that drops packets), a sidecar serves the credentials it kept from
    its first answer on, rather than after the first fetch gives up."""

    d = env["dir"]
    config = tmp_path / "rolegate.toml"
    config.write_text(_one_role_config(d, "app", max_session_duration=7200))
    daemon = Daemon(["--config", str(config), "--listen", "127.0.0.1:0"], log_dir=tmp_path / "daemon")
    home = tmp_path / "home"
    first = Sidecar({**env, "daemon": daemon}, env["a"].cert, env["a"].key, home)
    try:
        _, served = first.container(first.token)
    finally:
        first.stop()
    daemon.stop()

    # The same address (the kept credentials are the endpoint's), now a listener whose
    # connections complete in the backlog and are never answered.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", urllib.parse.urlsplit(daemon.url).port))
        silent.listen(16)
        again = Sidecar({**env, "daemon": daemon}, env["a"].cert, env["a"].key, home)
        try:
            status, kept = again.first_answer
            assert (status, kept["AccessKeyId"]) == (200, served["AccessKeyId"]), kept
        finally:
            again.stop()


def test_helpers_replace_credentials_the_server_refuses(env, tmp_path):
    """A role revoking the sessions it issued (reloaded with revoke_sessions_issued_before) is
    noticed by the sidecar's and update's checks of the credentials they hold
    (--check-session-seconds, an STS GetCallerIdentity): both fetch new ones at once, not an
    hour later on their schedule, and the sidecar's health says so meanwhile.
    credential-process checks a cache entry older than a minute before it hands it out, and
    once the server refused it, never hands it out in place of new ones it cannot have."""

    d = env["dir"]
    config = tmp_path / "rolegate.toml"
    text = _one_role_config(d, "app", max_session_duration=7200)
    config.write_text(text)
    daemon = Daemon(["--config", str(config), "--listen", "127.0.0.1:0"], log_dir=tmp_path / "daemon")
    own = {**env, "daemon": daemon}
    home = tmp_path / "home"
    sidecar = Sidecar(own, env["a"].cert, env["a"].key, home, "--check-session-seconds", "1")
    credentials_file = home / "credentials"
    update_env = {**isolated_env(home), "AWS_SHARED_CREDENTIALS_FILE": str(credentials_file)}
    update = subprocess.Popen(
        [str(rolegate_bin()), "update", *session_flags(own, env["b"].cert, env["b"].key),
         "--check-session-seconds", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=update_env,
    )  # fmt: skip

    def written() -> dict:
        profile = configparser.RawConfigParser()
        profile.read(credentials_file)
        if not profile.has_section("default"):
            return {}
        section = profile["default"]
        return {
            "AccessKeyId": section.get("aws_access_key_id"),
            "SecretAccessKey": section.get("aws_secret_access_key"),
            "Token": section.get("aws_session_token"),
        }

    try:
        Sidecar.wait_for(lambda: bool(written()), "update's first credentials")
        _, served = sidecar.container(sidecar.token)
        first_written = written()
        assert not _sts_refuses(own, served) and not _sts_refuses(own, first_written)
        cli_home = tmp_path / "cli-home"
        cached, _ = _credential_process(own, cli_home)
        assert not _sts_refuses(own, cached)

        # Sessions are revoked by the second; the ones held were issued before this one.
        time.sleep(1.1)
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        app = f"arn = {json.dumps(role_arn('app'))}"
        config.write_text(text.replace(app, f'{app}\nrevoke_sessions_issued_before = "{cutoff}"', 1))
        daemon.proc.send_signal(signal.SIGHUP)
        Sidecar.wait_for(lambda: _sts_refuses(own, served), "the reload that revokes the sessions")

        Sidecar.wait_for(
            lambda: sidecar.container(sidecar.token)[1].get("AccessKeyId") != served["AccessKeyId"],
            "the sidecar's new credentials",
        )
        Sidecar.wait_for(lambda: written().get("AccessKeyId") != first_written["AccessKeyId"], "update's new ones")
        _, renewed = sidecar.container(sidecar.token)
        assert not _sts_refuses(own, renewed) and not _sts_refuses(own, written())
        with urllib.request.urlopen(sidecar.url + "/healthz", timeout=10) as r:
            assert (r.status, r.read()) == (200, b"ok")

        # credential-process hands out an entry written less than a minute ago unchecked...
        again, stderr = _credential_process(own, cli_home)
        assert (again["AccessKeyId"], stderr) == (cached["AccessKeyId"], "")
        # ...and checks an older one, which the server now refuses: new ones, cached.
        old = time.time() - 120
        for entry in (cli_home / ".cache" / "rolegate").glob("*.json"):
            os.utime(entry, (old, old))
        fresh, stderr = _credential_process(own, cli_home)
        assert fresh["AccessKeyId"] != cached["AccessKeyId"], stderr
        assert stderr.startswith("warning: the server refuses the cached credentials (AccessDenied: Sessions of role"), stderr
        assert stderr.rstrip().endswith("): fetching new ones"), stderr
        assert not _sts_refuses(own, fresh)
        for entry in (cli_home / ".cache" / "rolegate").glob("*.json"):
            os.utime(entry, (old, old))
        kept, stderr = _credential_process(own, cli_home)
        assert (kept["AccessKeyId"], stderr) == (fresh["AccessKeyId"], ""), "checked, accepted"

        # The role removed: the cached credentials are refused and no new ones can be had. The
        # fetch's refusal is the answer, not the cached credentials the server just refused.
        config.write_text(_one_role_config(d, "other"))
        daemon.proc.send_signal(signal.SIGHUP)
        Sidecar.wait_for(lambda: _sts_error(own, fresh) is not None, "the reload that removes the role")
        error = _sts_error(own, fresh)
        assert (error["Code"], error["Message"]) == (
            "InvalidClientTokenId",
            f"The security token included in the request is invalid. Its session is of role {role_arn('app')}, "
            "which this server no longer has: get credentials for a role it has.",
        ), error
        for entry in (cli_home / ".cache" / "rolegate").glob("*.json"):
            os.utime(entry, (old, old))
        run = subprocess.run(
            [str(rolegate_bin()), "credential-process", *session_flags(own, own["a"].cert, own["a"].key)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=isolated_env(cli_home), timeout=60,
        )  # fmt: skip
        assert (run.returncode, run.stdout) == (1, ""), run.stderr
        lines = run.stderr.splitlines()
        assert lines[0].startswith("warning: the server refuses the cached credentials (InvalidClientTokenId: "), lines
        assert lines[1].startswith(
            "error: AccessDeniedException (HTTP 403): Role arn:aws:iam::123456789012:role/app is not one of the roles "
            "of profile arn:aws:rolesanywhere:us-east-1:123456789012:profile/workloads. (reason: role-not-in-profile,"
        ), lines
        assert len(lines) == 2, lines
    finally:
        update.kill()
        update.wait(timeout=10)
        sidecar.stop()
        daemon.stop()
