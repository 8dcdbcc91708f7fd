"""`rolegate credential-process` (DESIGN.md §2d) against the daemon, alone and
as the `credential_process` of an AWS CLI (v1) profile. The CLI only resolves
credentials (`aws configure list`); it sends nothing anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import (
    ACCESS_KEY_ID_RE,
    ACCOUNT,
    EXPIRATION_RE,
    profile_arn,
    role_arn,
    rolegate_bin,
    run_rolegate,
    trust_anchor_arn,
)


def process_args(daemon, test_pki, duration: int) -> list[str]:
    return [
        "credential-process",
        "--certificate", str(test_pki.ecdsa_leaf.cert),
        "--private-key", str(test_pki.ecdsa_leaf.key),
        "--intermediates", str(test_pki.chain),
        "--trust-anchor-arn", trust_anchor_arn("main"),
        "--profile-arn", profile_arn("workloads"),
        "--role-arn", role_arn("app"),
        "--session-duration", str(duration),
        "--endpoint", daemon.url,
        "--ca-bundle", str(test_pki.root.cert),
    ]  # fmt: skip


def isolated_env(home: Path) -> dict:
    """An environment with no AWS settings of the machine it runs on."""

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    return env


def test_credential_process_prints_version_1_json(daemon, test_pki, tmp_path):
    proc = run_rolegate(*process_args(daemon, test_pki, 2000), env=isolated_env(tmp_path))
    doc = json.loads(proc.stdout)
    assert set(doc) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"}
    assert doc["Version"] == 1
    assert doc["AccountId"] == ACCOUNT  # the role's
    assert ACCESS_KEY_ID_RE.match(doc["AccessKeyId"]), doc["AccessKeyId"]
    assert len(doc["SecretAccessKey"]) == 40
    assert doc["SessionToken"]
    assert EXPIRATION_RE.match(doc["Expiration"]), doc["Expiration"]
    expiry = datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    now = datetime.now(timezone.utc)
    assert now + timedelta(seconds=1800 - 60) <= expiry <= now + timedelta(seconds=2000 + 60)


def test_credential_process_reports_service_errors(daemon, test_pki, tmp_path):
    args = process_args(daemon, test_pki, 2000)
    args[args.index(profile_arn("workloads"))] = profile_arn("nope")
    proc = run_rolegate(*args, check=False, env=isolated_env(tmp_path))
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""
    assert f"Profile {profile_arn('nope')} was not found." in proc.stderr, proc.stderr


def test_aws_cli_resolves_credentials_through_credential_process(daemon, test_pki, tmp_path):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    command = " ".join([str(rolegate_bin()), *process_args(daemon, test_pki, 2100)])
    (home / ".aws" / "config").write_text(
        f"[profile rolegate]\nregion = us-east-1\ncredential_process = {command}\n"
    )
    env = isolated_env(home)
    env["AWS_CONFIG_FILE"] = str(home / ".aws" / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / ".aws" / "credentials")
    aws = Path(sys.executable).with_name("aws")
    proc = subprocess.run(
        [str(aws), "configure", "list", "--profile", "rolegate"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    access_key = next(ln for ln in proc.stdout.splitlines() if ln.split()[:1] == ["access_key"])
    # e.g. "access_key     ****************ABCD   custom-process"
    assert "custom-process" in access_key, proc.stdout
    tail = re.search(r"\*+([A-Z2-7]{4})\b", access_key)
    assert tail is not None, access_key

    # The same request again within the reuse window gets the same credentials
    # (DESIGN.md §3), so the CLI saw the key credential-process prints now.
    direct = json.loads(run_rolegate(*process_args(daemon, test_pki, 2100), env=env).stdout)
    assert direct["AccessKeyId"].endswith(tail.group(1)), (direct["AccessKeyId"], access_key)


def botocore_credentials(monkeypatch, env: dict, profile: str):
    """The credentials botocore resolves for `profile` with the environment `env` (and no
    other AWS settings of the machine it runs on)."""

    import botocore.session

    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return botocore.session.Session(profile=profile).get_credentials()


def test_botocore_takes_the_account_from_credential_process(daemon, test_pki, tmp_path, monkeypatch):
    """botocore (1.35 and later) reads `AccountId` from `credential_process` output, for
    account-based endpoints: the role's account, whether the run fetched the credentials or
    took them from its cache (whose entries do not hold it)."""

    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    command = " ".join([str(rolegate_bin()), *process_args(daemon, test_pki, 2200)])
    # No aws_account_id in the profile: botocore falls back on it.
    (home / ".aws" / "config").write_text(f"[profile rolegate]\nregion = us-east-1\ncredential_process = {command}\n")
    env = isolated_env(home)
    env["AWS_CONFIG_FILE"] = str(home / ".aws" / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / ".aws" / "credentials")
    creds = botocore_credentials(monkeypatch, env, "rolegate")
    assert creds is not None and creds.method == "custom-process"
    assert creds.get_frozen_credentials().account_id == ACCOUNT

    cached = run_rolegate(*process_args(daemon, test_pki, 2200), "--debug", env=env)
    assert "rolegate: using cached credentials valid until" in cached.stderr, cached.stderr
    assert json.loads(cached.stdout)["AccountId"] == ACCOUNT


def test_botocore_takes_the_account_from_the_profile_update_writes(daemon, test_pki, tmp_path, monkeypatch):
    """`rolegate update` writes the role's account as the profile's `aws_account_id`, which
    botocore's shared-credentials provider reads beside the credentials."""

    env = isolated_env(tmp_path)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    session_flags = process_args(daemon, test_pki, 2000)[1:]
    run_rolegate("update", *session_flags, "--profile", "rolegate", "--once", env=env)
    creds = botocore_credentials(monkeypatch, env, "rolegate")
    assert creds is not None and creds.method == "shared-credentials-file"
    frozen = creds.get_frozen_credentials()
    assert ACCESS_KEY_ID_RE.match(frozen.access_key), frozen.access_key
    assert frozen.account_id == ACCOUNT


def run_without_home(command: list[str], env: dict, home: Path) -> subprocess.CompletedProcess:
    """`command` run without HOME and XDG_CACHE_HOME (a systemd service, a cron job), in a
    mount namespace where the user database (/etc/passwd) gives this user (root) the home
    folder `home`; skipped where that cannot be had (not root, no `unshare`, no bind mount)."""

    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to bind-mount a user database")
    passwd = home.with_suffix(".passwd")
    passwd.write_text(f"root:x:0:0:root:{home}:/bin/sh\n")
    env = {k: v for k, v in env.items() if k not in ("HOME", "XDG_CACHE_HOME")}
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" /etc/passwd || exit 97; shift; exec "$@"', "sh", str(passwd), *command],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if proc.returncode == 97 or (proc.returncode == 1 and proc.stderr.startswith("unshare:")):
        pytest.skip(f"cannot bind-mount here: {proc.stderr.strip()}")
    return proc


# Prints the credentials botocore resolves for the profile named by its argument, as JSON.
RESOLVE = """
import json, sys, botocore.session
creds = botocore.session.Session(profile=sys.argv[1]).get_credentials()
frozen = creds.get_frozen_credentials()
print(json.dumps({"method": creds.method, "AccessKeyId": frozen.access_key, "AccountId": frozen.account_id}))
"""


def test_without_home_the_helpers_use_the_home_folder_botocore_finds(daemon, test_pki, tmp_path):
    """Without HOME, botocore finds `~` in the user database (`os.path.expanduser`), and so
    do `credential-process`, whose cache was off (each run of botocore's fetched anew), and
    `update`, which refused to run: its profile is where botocore reads it."""

    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    command = " ".join([str(rolegate_bin()), *process_args(daemon, test_pki, 2000)])
    (home / ".aws" / "config").write_text(f"[profile rolegate]\nregion = us-east-1\ncredential_process = {command}\n")
    env = isolated_env(home)
    resolved = run_without_home([sys.executable, "-c", RESOLVE, "rolegate"], env, home)
    assert resolved.returncode == 0, resolved.stderr
    doc = json.loads(resolved.stdout)
    assert (doc["method"], doc["AccountId"]) == ("custom-process", ACCOUNT), doc
    entries = list((home / ".cache" / "rolegate").glob("*.json"))
    assert len(entries) == 1, entries

    session_flags = process_args(daemon, test_pki, 2000)[1:]
    update = [str(rolegate_bin()), "update", *session_flags, "--profile", "updated", "--once"]
    written = run_without_home(update, env, home)
    assert written.returncode == 0, written.stderr
    assert (home / ".aws" / "credentials").is_file()
    resolved = run_without_home([sys.executable, "-c", RESOLVE, "updated"], env, home)
    assert resolved.returncode == 0, resolved.stderr
    doc = json.loads(resolved.stdout)
    assert (doc["method"], doc["AccountId"]) == ("shared-credentials-file", ACCOUNT), doc


def test_a_full_chain_certificate_file_sends_its_chain(daemon, test_pki, tmp_path):
    """A PEM certificate file holding the leaf and then its chain (cert-manager's `tls.crt`,
    a `fullchain.pem`) sends the chain without `--intermediates`; a leaf alone does not."""

    full_chain = tmp_path / "fullchain.pem"
    full_chain.write_text(test_pki.ecdsa_leaf.cert.read_text() + test_pki.chain.read_text())
    args = process_args(daemon, test_pki, 2000)
    at = args.index("--intermediates")
    del args[at : at + 2]
    args[args.index(str(test_pki.ecdsa_leaf.cert))] = str(full_chain)
    doc = json.loads(run_rolegate(*args, env=isolated_env(tmp_path)).stdout)
    assert ACCESS_KEY_ID_RE.match(doc["AccessKeyId"]), doc

    args[args.index(str(full_chain))] = str(test_pki.ecdsa_leaf.cert)
    proc = run_rolegate(*args, check=False, env=isolated_env(tmp_path))
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""
    assert "AccessDeniedException (HTTP 403): Untrusted certificate: certificate is not signed by a trusted" in proc.stderr
    assert "(reason: untrusted-certificate," in proc.stderr, proc.stderr


def test_a_process_queued_behind_a_stuck_one_gives_up_within_one_timeout(daemon, test_pki, tmp_path):
    """The 30-second bound of a run covers the wait on the cache lock: a process queued behind
    one that holds the lock and never finishes stops waiting, and says why, instead of waiting
    for ever (and without fetching beside it); it prints the cached credentials with more than a
    minute left, as a failed fetch would. A hit needs no lock: fresh credentials in the cache
    are printed at once, whoever holds it (a process stopped with Ctrl-Z, say)."""

    import fcntl

    env = isolated_env(tmp_path)
    fresh = process_args(daemon, test_pki, 2000)
    first = run_rolegate(*fresh, env=env)  # creates the cache entry and its lock file
    locks = list((tmp_path / ".cache" / "rolegate").glob("*.lock"))
    assert len(locks) == 1, locks
    with open(locks[0], "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the stuck process
        hit = run_rolegate(*fresh, env=env, check=False, timeout=90)
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout) == json.loads(first.stdout)

    # 15-minute sessions are never reused from the cache (botocore refreshes credentials with
    # less than that left): a miss, which waits for the lock.
    short = process_args(daemon, test_pki, 900)
    cached = json.loads(run_rolegate(*short, env=env).stdout)
    locks = [l for l in (tmp_path / ".cache" / "rolegate").glob("*.lock") if l != locks[0]]
    assert len(locks) == 1, locks
    with open(locks[0], "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the stuck process
        queued = run_rolegate(*short, env=env, check=False, timeout=90)
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout) == cached
    assert queued.stderr == (
        "warning: another rolegate credential-process has been fetching the same credentials "
        f"for 30 s (cache lock in {locks[0].parent}): using the cached credentials, valid until "
        f"{cached['Expiration']}\n"
    )


def softhsm_module() -> Path:
    """The SoftHSM PKCS#11 module, or a skip where softhsm2 and OpenSC's pkcs11-tool are not
    installed (`scripts/test.sh` installs them where it may)."""

    import shutil

    import pytest

    # /usr/lib or a Debian multiarch folder (/usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu...)
    candidates = [Path("/usr/lib/softhsm/libsofthsm2.so"), *Path("/usr/lib").glob("*/softhsm/libsofthsm2.so")]
    module = next((p for p in candidates if p.is_file()), None)
    if module is None or not shutil.which("softhsm2-util") or not shutil.which("pkcs11-tool"):
        pytest.skip("SoftHSM (softhsm2) or OpenSC's pkcs11-tool is not installed: apt-get install softhsm2 opensc")
    return module


def test_aws_cli_calls_sts_with_the_key_on_a_pkcs11_token(daemon, test_pki, tmp_path):
    """The AWS CLI's `credential_process` runs `rolegate credential-process` with the
    certificate and key on a PKCS#11 token (SoftHSM), named by `pkcs11:` URIs as
    `aws_signing_helper` takes them, and calls rolegate's STS with the credentials."""

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    module = softhsm_module()
    token_dir = tmp_path / "tokens"
    token_dir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\n")
    env = isolated_env(tmp_path / "home")
    env["SOFTHSM2_CONF"] = str(conf)

    def run(*command: str) -> None:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)

    key = serialization.load_pem_private_key(test_pki.ecdsa_leaf.key.read_bytes(), password=None)
    pkcs8 = tmp_path / "app.key"
    pkcs8.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    der = tmp_path / "app.der"
    der.write_bytes(
        x509.load_pem_x509_certificate(test_pki.ecdsa_leaf.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    run("softhsm2-util", "--init-token", "--free", "--label", "workloads", "--pin", "2468", "--so-pin", "97531")
    run("softhsm2-util", "--import", str(pkcs8), "--token", "workloads", "--label", "app", "--id", "0a", "--pin", "2468")
    run(
        "pkcs11-tool", "--module", str(module), "--token-label", "workloads", "--login", "--pin", "2468",
        "--write-object", str(der), "--type", "cert", "--id", "0a", "--label", "app",
    )  # fmt: skip
    pin = tmp_path / "pin"
    pin.write_text("2468\n")

    args = process_args(daemon, test_pki, 2000)
    at = args.index("--private-key")
    del args[at : at + 2]
    args[args.index(str(test_pki.ecdsa_leaf.cert))] = "'pkcs11:token=workloads;object=app'"
    args += ["--pkcs11-lib", str(module), "--private-key-passphrase-file", str(pin)]
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    command = " ".join([str(rolegate_bin()), *args])
    (home / ".aws" / "config").write_text(f"[profile token]\nregion = us-east-1\ncredential_process = {command}\n")
    env["AWS_CONFIG_FILE"] = str(home / ".aws" / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / ".aws" / "credentials")
    aws = Path(sys.executable).with_name("aws")
    proc = subprocess.run(
        [
            str(aws), "sts", "get-caller-identity", "--profile", "token", "--output", "json",
            "--endpoint-url", daemon.url, "--ca-bundle", str(test_pki.root.cert),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    identity = json.loads(proc.stdout)
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/app/"), identity
