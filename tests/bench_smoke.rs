//! Smoke test of `rolegate bench`: the real binary generates its PKI, starts a server child on
//! 127.0.0.1:0 and drives it over TLS for about two seconds at low concurrency. Asserts the
//! run completes with zero errors and a parseable `--json` report (no timing assertions).

use std::process::Command;

fn bench_json(args: &[&str]) -> serde_json::Value {
    bench_json_at(2, args)
}

/// `rolegate bench --json` with `concurrency` workers.
fn bench_json_at(concurrency: usize, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .arg("bench")
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--duration", "2", "--warmup", "0.5", "--json"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rolegate bench");
    assert!(
        out.status.success(),
        "rolegate bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--json output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_clean_run(report: &serde_json::Value, scenario: &str) {
    assert_eq!(report["scenario"], scenario);
    assert_eq!(report["errors"], 0, "first error: {}", report["first_error"]);
    assert!(report["requests"].as_u64().is_some_and(|n| n > 0), "{report}");
    for key in [
        "requests_per_second",
        "latency_p50_us",
        "latency_p99_us",
        "latency_p999_us",
        "server_cpu_us_per_request",
        "floor_us",
        "cpu_to_floor_ratio",
        "server_rss_mib",
    ] {
        assert!(report[key].is_number(), "{key} missing in {report}");
    }
    // The kernel's share is part of the server's CPU time, never more.
    let (total, kernel) = (
        report["server_cpu_us_per_request"].as_f64(),
        report["server_kernel_cpu_us_per_request"].as_f64(),
    );
    assert!(
        matches!((total, kernel), (Some(t), Some(k)) if 0.0 <= k && k <= t),
        "{report}"
    );
}

#[test]
fn create_session_with_distinct_certificates_runs_clean() {
    let report = bench_json(&["--scenario", "create-session", "--distinct-certs", "3"]);
    assert_clean_run(&report, "create-session");
    assert_eq!(report["variant"], "--distinct-certs 3");
    assert_eq!(report["distinct_certs"], 3);
    assert_eq!(report["floor"], "ECDSA P-256 verify (aws-lc-rs)");
    // The server's cache counters over the window: three certificates, verified once each
    // during the warmup, are found in the chain cache afterwards.
    let chains = &report["caches"]["chains"];
    assert!(chains["hits"].as_u64().is_some_and(|n| n > 0), "{report}");
    assert!(chains["hit_ratio"].as_f64().is_some_and(|r| r > 0.5), "{report}");
}

#[test]
fn get_caller_identity_runs_clean() {
    let report = bench_json(&["--scenario", "get-caller-identity"]);
    assert_clean_run(&report, "get-caller-identity");
    assert_eq!(report["floor"], "HMAC-SHA256 (hmac+sha2)");
    assert_eq!(report["server_log_format"], "text");
}

#[test]
fn assume_role_runs_clean() {
    // The server logs JSON, as the shipped systemd unit and container image make it.
    let report = bench_json(&["--scenario", "assume-role", "--server-log-format", "json"]);
    assert_clean_run(&report, "assume-role");
    assert_eq!(report["server_log_format"], "json");
}

/// Exactly `--sessions` are minted, however many workers are sending when the last is.
#[test]
fn memory_scenario_mints_the_requested_sessions() {
    let report = bench_json_at(
        8,
        &["--scenario", "memory", "--sessions", "200", "--distinct-certs", "20"],
    );
    assert_eq!(report["errors"], 0, "first error: {}", report["first_error"]);
    let memory = &report["memory"];
    assert_eq!(memory["sessions"], 200, "{report}");
    assert_eq!(report["requests"], 200, "{report}");
    assert!(memory["rss_peak_mib"].as_f64().is_some_and(|m| m > 0.0), "{report}");
    // By default every session then calls GetCallerIdentity once: each new token is opened
    // (a miss of the opened-token cache), so that cache fills as the others do.
    assert_eq!(memory["sts_every"], 1, "{report}");
    let tokens = &report["caches"]["tokens"];
    assert!(tokens["misses"].as_u64().is_some_and(|n| n >= 200), "{report}");
    // The counters' baseline is read before the first request: each session looked its
    // certificate and its credentials up once, and every lookup is in the report.
    for cache in ["certificates", "credentials"] {
        let c = &report["caches"][cache];
        let lookups = c["hits"].as_u64().zip(c["misses"].as_u64()).map(|(h, m)| h + m);
        assert_eq!(lookups, Some(200), "{cache}: {report}");
    }
}

#[test]
fn grpc_create_session_runs_clean_over_mtls() {
    let report = bench_json(&["--scenario", "grpc-create-session", "--distinct-certs", "2"]);
    assert_clean_run(&report, "grpc-create-session");
    assert_eq!(report["distinct_certs"], 2);
    assert_eq!(report["concurrency"], 2);
    assert_eq!(report["floor"], "ECDSA P-256 verify (aws-lc-rs)");
    assert!(
        report["note"]
            .as_str()
            .is_some_and(|n| n.contains("once per connection (mTLS handshake)")),
        "{report}"
    );
    let (p50, p99, p999) = (
        report["latency_p50_us"].as_u64().unwrap_or(0),
        report["latency_p99_us"].as_u64().unwrap_or(0),
        report["latency_p999_us"].as_u64().unwrap_or(0),
    );
    assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{report}");
    for key in [
        "server_cpu_us_per_request",
        "floor_us",
        "cpu_to_floor_ratio",
        "server_rss_mib",
    ] {
        assert!(report[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {report}");
    }
}

#[test]
fn grpc_create_session_with_rsa_certificates_runs_clean() {
    let report = bench_json(&["--scenario", "grpc-create-session", "--key", "rsa", "--reuse"]);
    assert_clean_run(&report, "grpc-create-session");
    // The flags that change what is measured, which the table's row label adds to the scenario.
    assert_eq!(report["variant"], "--key rsa --reuse");
    assert_eq!(report["client_key"], "rsa");
    assert_eq!(report["floor"], "RSA-2048 PKCS#1 verify (aws-lc-rs)");
}
