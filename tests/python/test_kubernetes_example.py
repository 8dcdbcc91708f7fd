"""deploy/kubernetes/ as Kubernetes would run it, on this machine: the daemon of
deployment.yaml on the ConfigMap's rolegate.toml and the Secrets of
secrets.example.yaml, the sidecar of sidecar-example.yaml with its arguments, and
the example app's AWS CLI with its environment, reading credentials through the
container provider and calling the daemon's STS API.

Each volume a container mounts is materialised under a temporary root (ConfigMap
items, Secret keys, emptyDirs), and absolute paths in the manifests are taken
relative to that root; the only other changes are the ones a cluster makes
without the manifests saying so: Service DNS names and ports resolve to the
daemon's 127.0.0.1:0 listener, and every listener binds to 127.0.0.1:0. The
certificates and keys are made as secrets.example.yaml says, with the CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import ACCOUNT, Daemon, Pki, rolegate_bin, run_rolegate

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def manifests(name: str) -> list[dict]:
    with open(DEPLOY / name) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def resource(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name} expected, found {len(found)}"
    return found[0]


def container(deployment: dict, name: str) -> dict:
    spec = deployment["spec"]["template"]["spec"]
    found = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    assert len(found) == 1, f"container {name}"
    return found[0]


def port_of(c: dict, name: str) -> int:
    return next(p["containerPort"] for p in c["ports"] if p["name"] == name)


class Pod:
    """The volumes of one pod, materialised under `root` as the kubelet mounts them."""

    def __init__(self, root: Path, deployment: dict, config_maps: dict, secrets: dict):
        self.root = root
        self.volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        self.config_maps = config_maps
        self.secrets = secrets

    def path(self, absolute: str) -> Path:
        assert absolute.startswith("/"), absolute
        return self.root / absolute.lstrip("/")

    def mount(self, c: dict) -> None:
        for m in c.get("volumeMounts", []):
            volume = self.volumes[m["name"]]
            target = self.path(m["mountPath"])
            target.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                data = self.config_maps[volume["configMap"]["name"]]
                items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    (target / item["path"]).write_text(data[item["key"]])
            elif "secret" in volume:
                data = self.secrets[volume["secret"]["secretName"]]
                for key, value in data.items():
                    (target / key).write_bytes(value)
                    os.chmod(target / key, volume["secret"].get("defaultMode", 0o644))
            else:
                assert "emptyDir" in volume, volume

    def argument(self, value: str) -> str:
        """A container argument, with an absolute path taken into the pod's root."""

        return str(self.path(value)) if value.startswith("/etc/") or value.startswith("/var/") else value


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("k8s")
    pki = Pki(work / "pki")
    workloads_ca = pki.ca("workloads-ca", "workloads CA")
    service = resource(manifests("service.yaml"), "Service", "rolegate")
    service_name = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    server_ca = pki.ca("server-ca", "rolegate server CA")
    # As secrets.example.yaml says: the Service's names (and here 127.0.0.1, where it resolves).
    server = pki.server("server", server_ca, [service_name, f"{service_name}.cluster.local", "127.0.0.1"])
    token_key = work / "k1.key"
    run_rolegate("keys", "generate", "--out", str(token_key))
    secrets = {
        "rolegate-tls": {"tls.crt": server.cert.read_bytes(), "tls.key": server.key.read_bytes()},
        "rolegate-token-keys": {"k1.key": token_key.read_bytes()},
    }
    examples = manifests("secrets.example.yaml")
    names = sorted(example["metadata"]["name"] for example in examples)
    assert names == sorted(secrets), "secrets.example.yaml: one example of each Secret the pods mount"
    for example in examples:
        name = example["metadata"]["name"]
        assert set(example["stringData"]) == set(secrets[name]), f"Secret {name}: the keys the pods mount"

    config_map = resource(manifests("configmap.yaml"), "ConfigMap", "rolegate-config")
    data = dict(config_map["data"])
    # The operator's step: the trust anchor's CA certificate replaces the placeholder.
    data["workloads-ca.pem"] = workloads_ca.cert.read_text()
    root = work / "rolegate-pod"
    # The configuration names files by their absolute paths in the pod.
    paths = re.findall(r'"(/[^"]*)"', data["rolegate.toml"])
    assert paths and all(p.startswith("/etc/") for p in paths), paths
    data["rolegate.toml"] = data["rolegate.toml"].replace('"/etc/', f'"{root}/etc/')

    deployment = resource(manifests("deployment.yaml"), "Deployment", "rolegate")
    daemon_container = container(deployment, "rolegate")
    pod = Pod(root, deployment, {"rolegate-config": data}, secrets)
    pod.mount(daemon_container)
    args = [pod.argument(a) for a in daemon_container["args"]]
    assert args[0] == "serve", args
    daemon = Daemon(
        [*args[1:], "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
        log_dir=work / "rolegate-logs",
    )
    yield {
        "work": work,
        "daemon": daemon,
        "daemon_container": daemon_container,
        "config": data["rolegate.toml"],
        "service": service,
        "service_name": service_name,
        "server_ca": server_ca,
        "workloads_ca": workloads_ca,
        "pki": pki,
    }
    daemon.stop()


def test_the_daemon_listens_where_the_pod_and_service_expect(cluster):
    import tomllib

    config = tomllib.loads(cluster["config"])["server"]
    c = cluster["daemon_container"]
    assert config["listen"].rsplit(":", 1)[1] == str(port_of(c, "https"))
    assert config["metrics_listen"].rsplit(":", 1)[1] == str(port_of(c, "metrics"))
    targets = {p["name"]: p["targetPort"] for p in cluster["service"]["spec"]["ports"]}
    assert targets == {"https": "https", "metrics": "metrics"}
    # The probes, on the metrics port as the kubelet sends them.
    for probe in ("livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        assert get["port"] == "metrics"
        with urllib.request.urlopen(cluster["daemon"].metrics_url + get["path"], timeout=10) as r:
            assert r.status == 200, probe


def test_the_pod_outlives_the_delay_and_the_drain(cluster):
    import tomllib

    server = tomllib.loads(cluster["config"])["server"]
    deployment = resource(manifests("deployment.yaml"), "Deployment", "rolegate")
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert server["shutdown_delay_seconds"] > 0, "unready before the port closes"
    assert grace > server["shutdown_delay_seconds"] + server["shutdown_grace_seconds"], grace


def test_the_sidecar_example_serves_the_app_credentials_from_the_daemon(cluster):
    example = manifests("sidecar-example.yaml")
    app_deployment = resource(example, "Deployment", "example-app")
    ca = resource(example, "ConfigMap", "rolegate-server-ca")
    pki = cluster["pki"]
    workload = pki.client("example-app", cluster["workloads_ca"], "example-app")
    root = cluster["work"] / "example-app-pod"
    pod = Pod(
        root,
        app_deployment,
        {ca["metadata"]["name"]: {"ca.pem": cluster["server_ca"].cert.read_text()}},
        {"example-app-identity": {"tls.crt": workload.cert.read_bytes(), "tls.key": workload.key.read_bytes()}},
    )
    sidecar = container(app_deployment, "rolegate-sidecar")
    assert sidecar.get("restartPolicy") == "Always", "a native sidecar, started before the app"
    app = container(app_deployment, "app")
    pod.mount(sidecar)
    pod.mount(app)

    args = [pod.argument(a) for a in sidecar["args"]]
    endpoint = args[args.index("--endpoint") + 1]
    assert endpoint == f"https://{cluster['service_name']}:443", "the Service's name and port"
    args[args.index("--endpoint") + 1] = cluster["daemon"].url
    port = args.index("--port") + 1
    env = {e["name"]: e["value"] for e in app["env"]}
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"http://127.0.0.1:{args[port]}/v1/credentials"
    args[port] = "0"
    token_file = Path(args[args.index("--auth-token-file") + 1])
    assert not token_file.exists(), "an emptyDir starts empty"

    home = cluster["work"] / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(HOME=str(home), AWS_CONFIG_FILE=str(home / "none"), AWS_SHARED_CREDENTIALS_FILE=str(home / "none"))
    proc = subprocess.Popen(
        [str(rolegate_bin()), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean,
    )  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("sidecar listening on http://"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.removeprefix("sidecar listening on ")
        assert token_file.read_text().strip(), "the sidecar wrote the token the app presents"

        app_env = dict(clean)
        app_env.update(env)
        app_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url + "/v1/credentials"
        app_env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(pod.path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]))
        # STS is the daemon's, through the Service, with the CA the app mounts.
        assert env["AWS_ENDPOINT_URL_STS"] == endpoint, "the app's STS is the rolegate Service"
        app_env["AWS_ENDPOINT_URL_STS"] = cluster["daemon"].url
        app_env["AWS_CA_BUNDLE"] = pod.argument(env["AWS_CA_BUNDLE"])
        assert Path(app_env["AWS_CA_BUNDLE"]).read_text() == cluster["server_ca"].cert.read_text()
        # The image's AWS CLI v2 reads AWS_REGION; the v1 CLI here reads AWS_DEFAULT_REGION.
        app_env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]
        aws = Path(sys.executable).with_name("aws")
        # The app's command, as it is: its environment alone points it at the daemon.
        # As PID 1, it stops on SIGTERM only through its trap.
        assert app["command"][-1].startswith("trap 'exit 0' TERM; while true; do aws sts get-caller-identity;"), app[
            "command"
        ]
        cli = subprocess.run(
            [str(aws), "sts", "get-caller-identity", "--output", "json"],
            env=app_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        arn = json.loads(cli.stdout)["Arn"]
        assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{workload.serial_hex}", arn
        # The startup probe, as the kubelet runs it in the sidecar's container, passes.
        probe = sidecar["startupProbe"]["exec"]["command"]
        assert probe[:2] == ["/usr/local/bin/rolegate", "probe"], probe
        assert probe[-1] == f"http://127.0.0.1:{sidecar['args'][sidecar['args'].index('--port') + 1]}/healthz", probe
        # Its own timeout ends before the kubelet's, so its message says why it failed.
        timeout = int(probe[probe.index("--timeout-seconds") + 1])
        assert timeout < sidecar["startupProbe"]["timeoutSeconds"], probe
        probed = subprocess.run(
            [str(rolegate_bin()), *probe[1:-1], url + "/healthz"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert probed.returncode == 0, probed.stderr
        # The app reads the token-guarded container endpoint only: IMDS, which any container of
        # the pod could read without the token, is off.
        assert "--no-imds" in args
        put = urllib.request.Request(url + "/latest/api/token", method="PUT",
                                     headers={"x-aws-ec2-metadata-token-ttl-seconds": "60"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(put, timeout=10)
        assert refused.value.code == 404
    finally:
        proc.kill()
        proc.wait(timeout=10)
