#!/usr/bin/env bash
# Lints every file under deploy/:
#   - Kubernetes manifests: yamllint, then schema validation (kubernetes-validate, offline
#     schemas shipped in the package) in strict mode (unknown fields are errors);
#   - the TOML configuration embedded in the ConfigMap parses (python3 tomllib);
#   - the Prometheus rules: yamllint, the rules file's shape, every expression parses as PromQL
#     (promql-parser); tests/python checks that the metrics they name exist;
#   - the Dockerfile: hadolint, and the files its COPY lines bring in make a crate cargo checks;
#   - the systemd unit: no supplementary group named after its dynamic user, and
#     systemd-analyze verify (skipped with a notice where systemd is absent).
# The linters come from scripts/lint-requirements.txt (pinned) in target/lintenv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="$ROOT/scripts/lint-requirements.txt"
VENV="$ROOT/target/lintenv"
STAMP="$VENV/.requirements.sha256"
K8S_VERSION="1.34"

want="$({ cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "lint-deploy: installing linters into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS"
  "$VENV/bin/pip" check
  echo "$want" >"$STAMP"
fi

manifests=(deploy/kubernetes/*.yaml)

echo "lint-deploy: yamllint ${manifests[*]}"
"$VENV/bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' \
  "${manifests[@]}"

echo "lint-deploy: kubernetes-validate (Kubernetes $K8S_VERSION, strict)"
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" "${manifests[@]}"

echo "lint-deploy: the ConfigMap's rolegate.toml parses"
"$VENV/bin/python" - deploy/kubernetes/configmap.yaml <<'PY'
import sys, tomllib, yaml
with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
config = tomllib.loads(doc["data"]["rolegate.toml"])
for section in ("server", "tokens"):
    assert section in config, f"rolegate.toml has no [{section}]"
PY

rules=(deploy/prometheus/*.yaml)
echo "lint-deploy: yamllint ${rules[*]}"
"$VENV/bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 140}, document-start: disable}}' \
  "${rules[@]}"

echo "lint-deploy: the Prometheus rules are well-formed PromQL"
"$VENV/bin/python" - "${rules[@]}" <<'PY'
import re, sys, yaml, promql_parser
DURATION = re.compile(r"^[0-9]+[smhdwy]$")
for path in sys.argv[1:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert rules, f"{path}: no rules"
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), f"{path}: duplicate alert names"
    for r in rules:
        where = f"{path}: {r.get('alert')}"
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, f"{where}: unknown keys {set(r)}"
        try:
            promql_parser.parse(r["expr"])
        except ValueError as e:
            sys.exit(f"{where}: expr is not PromQL: {e}")
        assert DURATION.match(r.get("for", "0s")), f"{where}: bad for: {r.get('for')}"
        assert r["labels"]["severity"] in {"critical", "warning", "info"}, where
        assert r["annotations"]["summary"], where
    print(f"{path}: {len(rules)} rules parse")
PY

echo "lint-deploy: hadolint deploy/container/Dockerfile"
"$VENV/bin/hadolint" --failure-threshold info deploy/container/Dockerfile

# The image builds from what its COPY lines bring into the build stage, not from the whole
# checkout: check that exactly those files make a crate cargo builds (a target Cargo.toml
# declares but the image leaves out fails here, not in `docker build`).
echo "lint-deploy: the Dockerfile's build stage holds what cargo needs to build rolegate"
context="$ROOT/target/docker-build-stage"
rm -rf "$context"
mkdir -p "$context"
while read -r instruction rest; do
  [[ "$instruction" == "COPY" && "$rest" != --* ]] || continue
  read -r -a words <<<"$rest"
  destination="${words[-1]}"
  for source in "${words[@]:0:${#words[@]}-1}"; do
    cp -r "$source" "$context/$destination"
  done
done <deploy/container/Dockerfile
(cd "$context" && CARGO_TARGET_DIR="$ROOT/target" cargo check --locked --quiet --bin rolegate)
rm -rf "$context"

unit=deploy/systemd/rolegate.service
# A DynamicUser unit's user takes the unit's name; systemd refuses to start it (217/USER) where
# a static group has that name without a static user, so the group the README has operators
# create for the configuration must not be named after the unit. verify does not see this.
if grep -qx 'DynamicUser=yes' "$unit" && grep -qE '^SupplementaryGroups=(.* )?rolegate( |$)' "$unit"; then
  echo "lint-deploy: FAILED: $unit: SupplementaryGroups names the group 'rolegate', the DynamicUser's own name" >&2
  exit 1
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  echo "lint-deploy: systemd-analyze verify $unit"
  # verify requires ExecStart's binary to exist: check a copy pointing at a binary that does.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  sed "s#/usr/local/bin/rolegate#$(command -v true)#" "$unit" >"$tmp/rolegate.service"
  out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/rolegate.service" 2>&1 || true)"
  # Outside a booted systemd, verify also reports on the host's own units; keep ours only.
  ours="$(grep -F 'rolegate.service' <<<"$out" || true)"
  if [[ -n "$ours" ]]; then
    echo "$ours" >&2
    echo "lint-deploy: FAILED: $unit" >&2
    exit 1
  fi
else
  echo "lint-deploy: notice: systemd-analyze is not installed; $unit not verified (apt-get install systemd)"
fi
echo "lint-deploy: all deploy files pass"

