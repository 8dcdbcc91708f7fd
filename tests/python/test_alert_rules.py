"""deploy/prometheus/rolegate-rules.yaml alerts on metrics a real daemon exposes: every
`rolegate_*` series a rule names belongs to a metric family of the daemon's /metrics (a
renamed metric would otherwise leave an alert that never fires). scripts/lint-deploy.sh
checks that each expression parses as PromQL."""

from __future__ import annotations

import re
from pathlib import Path

import requests
import yaml

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rolegate-rules.yaml"

#: Suffixes of the series of one family in OpenMetrics text.
SERIES_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def family(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


def test_every_metric_an_alert_names_is_exposed(daemon, ca_bundle):
    # One answered request, so the per-request families have a series to show.
    unsigned = requests.post(daemon.url + "/sessions", data="{}", verify=str(ca_bundle), timeout=10)
    assert unsigned.status_code == 403, unsigned.text
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    named = {m for r in rules for m in re.findall(r"\brolegate_[a-z_]+", r["expr"])}
    assert len(named) >= 8, named

    exposition = requests.get(daemon.metrics_url + "/metrics", timeout=10).text
    families = set(re.findall(r"^# TYPE (\S+) ", exposition, re.MULTILINE))
    missing = sorted(m for m in named if family(m) not in families)
    assert not missing, f"alerts name metrics the daemon does not expose: {missing}"
