//! `rolegate bench`: a self-contained load generator. It creates a temporary dev PKI and
//! configuration, starts `rolegate serve` (this very binary) as a child process on
//! 127.0.0.1:0, drives it over real TLS with keep-alive connections at a chosen concurrency
//! for a chosen time, and reports throughput, latency percentiles, errors, the server's CPU
//! time per request (from `/proc/{pid}/stat`) next to the cryptographic floor measured in the
//! same run, and the server's resident memory.
//!
//! Every request is built and signed when it is sent (a fresh AWS4-X509 or SigV4 signature
//! and date each time), so the server does exactly the work a real client causes. The
//! `grpc-create-session` scenario calls `rolegate.v1.Sessions/CreateSession` over mTLS on the
//! same listener, one HTTP/2 channel per client certificate (see `bench/grpc.rs`).
//!
//! The `memory` scenario mints `--sessions` distinct sessions from `--distinct-certs`
//! certificates and reports how the server's RSS grows: it must stay bounded by the cache
//! limits (`--cache-max-entries`), whatever the number of sessions. By default each session
//! also calls STS GetCallerIdentity once (`--sts-every`), filling the caches of opened tokens
//! and signing keys as well: every cache is measured at its worst.

mod floor;
mod grpc;
mod load;
mod procfs;
pub mod requests;
mod scrape;
pub mod setup;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde::Serialize;

use self::floor::FloorOp;
use self::grpc::GrpcTarget;
use self::load::{RequestKind, Target, Tickets, WorkerResult};
use self::scrape::{CacheActivity, CacheCounters};
use self::setup::{Server, World, WorldOptions};
use crate::client::{TlsOptions, client_config};
use crate::pki::KeyType;

pub use self::floor::{MESSAGE as FLOOR_MESSAGE, ecdsa_p256_fixture, rsa_2048_fixture};

/// `rolegate bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// What every request does.
    #[arg(long, value_enum, default_value_t = Scenario::CreateSession)]
    pub scenario: Scenario,
    /// Requests in flight: one on each keep-alive HTTP/1.1 connection (REST, STS); for
    /// grpc-create-session, multiplexed over one HTTP/2 channel per client certificate.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds (after --warmup; more than 0, at most 1800).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds before the measurement (connections, caches; more than 0, at most 600).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Distinct client certificates, used round-robin (default 1; 10000 for `memory`).
    #[arg(long)]
    pub distinct_certs: Option<usize>,
    /// Client key type.
    #[arg(long, value_enum, default_value_t = ClientKey::Ecdsa)]
    pub key: ClientKey,
    /// create-session, grpc-create-session: send identical requests (answered from the credential-reuse cache)
    /// instead of a distinct roleSessionName per request (a fresh session every time).
    #[arg(long)]
    pub reuse: bool,
    /// memory: how many sessions to mint.
    #[arg(long, default_value_t = 1_000_000)]
    pub sessions: u64,
    /// memory: after every Nth session minted, one STS GetCallerIdentity signed with it, so
    /// that the server's opened-token and signing-key caches fill too (0: sessions only).
    #[arg(long, default_value_t = DEFAULT_STS_EVERY)]
    pub sts_every: u64,
    /// The server's `cache_max_entries` (bound of each cache, 1 to 100,000,000).
    #[arg(long, default_value_t = DEFAULT_CACHE_MAX_ENTRIES, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub cache_max_entries: u64,
    /// Give the trust anchor a CRL listing this many revoked certificates (none of the
    /// clients'), as a production anchor has: every chain verification checks it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub crl_entries: Option<u32>,
    /// The server's RUST_LOG (its log, audit events included, is formatted and discarded).
    #[arg(long, default_value = DEFAULT_SERVER_LOG)]
    pub server_log: String,
    /// The server's `--log-format` (the shipped systemd unit and container image log JSON).
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub server_log_format: crate::logging::LogFormat,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--sts-every`'s default: each session minted calls STS once.
const DEFAULT_STS_EVERY: u64 = 1;
/// `--cache-max-entries`' default, the server's own.
const DEFAULT_CACHE_MAX_ENTRIES: u64 = 100_000;
/// `--server-log`'s default: every audit event formatted, as a production server logs.
const DEFAULT_SERVER_LOG: &str = "info";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Roles Anywhere `POST /sessions`, AWS4-X509 signed.
    CreateSession,
    /// STS GetCallerIdentity, SigV4 signed with session credentials.
    GetCallerIdentity,
    /// STS AssumeRole (role chaining), SigV4 signed.
    AssumeRole,
    /// gRPC `rolegate.v1.Sessions/CreateSession` over mTLS, one HTTP/2 channel per certificate.
    GrpcCreateSession,
    /// Mint --sessions sessions from --distinct-certs certificates; report RSS.
    Memory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientKey {
    Ecdsa,
    Rsa,
}

/// The result of one run (the `--json` output); its measurements are zero until the run fills
/// them in.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    /// The flags of the run that change what is measured, where not their defaults
    /// (`--reuse`, `--key rsa`, `--distinct-certs 2000 --cache-max-entries 50`, …; empty for
    /// none): with the scenario, the report's row label ([`Report::label`]).
    pub variant: String,
    /// What to keep in mind reading the numbers, if anything.
    pub note: Option<String>,
    pub concurrency: usize,
    pub distinct_certs: usize,
    pub client_key: String,
    /// The server's `--log-format` (`text` or `json`).
    pub server_log_format: String,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub requests_per_second: f64,
    pub latency_p50_us: u32,
    pub latency_p99_us: u32,
    pub latency_p999_us: u32,
    pub server_cpu_us_per_request: f64,
    /// The part of `server_cpu_us_per_request` spent in the kernel (system calls: the loopback
    /// TCP send and receive, scheduling; page faults).
    pub server_kernel_cpu_us_per_request: f64,
    pub floor: String,
    pub floor_us: f64,
    pub cpu_to_floor_ratio: f64,
    pub server_rss_mib: f64,
    /// Lookups of each server cache during the window (from its `/metrics`), by cache.
    pub caches: std::collections::BTreeMap<String, CacheActivity>,
    /// The memory scenario's measurements.
    pub memory: Option<MemoryReport>,
}

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    pub sessions: u64,
    /// One STS GetCallerIdentity after every `sts_every`-th session (0: none).
    pub sts_every: u64,
    pub cache_max_entries: u64,
    pub rss_start_mib: f64,
    pub rss_peak_mib: f64,
    pub rss_end_mib: f64,
}

/// The most connections a run opens: the server's default `max_connections`, so that every
/// one is served at once.
const MAX_CONCURRENCY: usize = 4096;

/// The longest `--duration` and `--warmup` (half an hour, ten minutes): together within the
/// hour the workers' STS credentials last (they are obtained once), and every latency is
/// kept, 4 bytes each (350 MB at 48,000 requests/s for half an hour).
const MAX_SECONDS: (f64, f64) = (1_800.0, 600.0);

/// Runs the benchmark and prints the report.
pub fn run(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let report = execute(&args)?;
    if args.json {
        crate::cli::print_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        crate::cli::print_stdout(&render_table(&report));
    }
    Ok(())
}

/// Runs the benchmark and returns its report.
pub fn execute(args: &BenchArgs) -> Result<Report, Box<dyn std::error::Error>> {
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(
            format!("--concurrency must be between 1 and {MAX_CONCURRENCY} (the server's max_connections)").into(),
        );
    }
    if !(args.duration > 0.0 && args.duration <= MAX_SECONDS.0) {
        return Err(format!("--duration must be more than 0 and at most {} seconds", MAX_SECONDS.0).into());
    }
    // Some warm-up: every connection's TLS handshake, and the STS scenarios' one CreateSession
    // per worker, happen before the measured window opens, not inside it.
    if !(args.warmup > 0.0 && args.warmup <= MAX_SECONDS.1) {
        return Err(format!("--warmup must be more than 0 and at most {} seconds", MAX_SECONDS.1).into());
    }
    // One descriptor per connection (and per gRPC channel): 1,024 would not hold the largest
    // --concurrency or --distinct-certs runs.
    crate::server::connections::raise_descriptor_limit();
    let distinct_certs = args
        .distinct_certs
        .unwrap_or(default_distinct_certs(args.scenario))
        .max(1);
    // gRPC holds one channel (connection) per certificate, all open at once: no more than the
    // server's max_connections, or channels would wait for slots and reconnect (handshakes in
    // the window).
    if args.scenario == Scenario::GrpcCreateSession && distinct_certs > MAX_CONCURRENCY {
        return Err(format!(
            "--distinct-certs must be at most {MAX_CONCURRENCY} with grpc-create-session (one connection per certificate, the server's max_connections)"
        )
        .into());
    }
    let floor_op = match (args.scenario, args.key) {
        (Scenario::GetCallerIdentity | Scenario::AssumeRole, _) => FloorOp::HmacSha256,
        (_, ClientKey::Ecdsa) => FloorOp::EcdsaP256Verify,
        (_, ClientKey::Rsa) => FloorOp::Rsa2048Verify,
    };
    let report = Report {
        scenario: args
            .scenario
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default(),
        variant: variant(args, distinct_certs),
        note: match args.scenario {
            Scenario::GrpcCreateSession => Some(GRPC_NOTE.to_owned()),
            Scenario::Memory if args.sts_every > 0 => Some(MEMORY_NOTE.to_owned()),
            _ => None,
        },
        concurrency: args.concurrency,
        distinct_certs,
        client_key: format!("{:?}", args.key).to_lowercase(),
        server_log_format: args.server_log_format.as_str().to_owned(),
        floor: floor_op.label().to_owned(),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Installed before anything is made: SIGINT, SIGTERM or SIGHUP (the terminal closed) stops
    // the setup between two certificates, or the run, through the error path (the server
    // stopped, the temporary PKI deleted). The server, which reloads on SIGHUP, would
    // otherwise outlive a closed terminal.
    let mut signals = runtime.block_on(async { crate::server::ShutdownSignals::install() })?;
    #[cfg(unix)]
    let mut hangup =
        runtime.block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) })?;
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    runtime.spawn({
        let stopped = stopped.clone();
        async move {
            #[cfg(unix)]
            tokio::select! {
                _ = signals.next() => {}
                _ = hangup.recv() => {}
            }
            #[cfg(not(unix))]
            signals.next().await;
            stopped.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = stop_sender.send(true);
        }
    });
    let mut world = World::create(&WorldOptions {
        distinct_certs,
        client_key: match args.key {
            ClientKey::Ecdsa => KeyType::EcdsaP256,
            ClientKey::Rsa => KeyType::Rsa2048,
        },
        cache_max_entries: args.cache_max_entries,
        crl_entries: args.crl_entries.map(|n| n as usize),
        stopped: Some(stopped),
    })?;
    let exe = std::env::current_exe()?;
    let server = Server::start(&exe, &world.config, &args.server_log, args.server_log_format)?;
    let kind = match args.scenario {
        Scenario::GetCallerIdentity => RequestKind::GetCallerIdentity,
        Scenario::AssumeRole => RequestKind::AssumeRole,
        Scenario::Memory => RequestKind::MintAndUse {
            sts_every: args.sts_every,
        },
        Scenario::CreateSession => RequestKind::CreateSession { reuse: args.reuse },
        Scenario::GrpcCreateSession => {
            let target = GrpcTarget::connect(server.addr, &world.ca_pem, &world.clients, args.reuse);
            let load = Load::Grpc(Arc::new(runtime.block_on(target)?));
            let run = Run {
                load,
                args,
                server,
                floor_op,
                stop,
            };
            return finish(report, &runtime, run);
        }
    };
    let mut tls = client_config(&TlsOptions {
        ca_bundle: Some(world.ca_pem.clone()),
        ..TlsOptions::default()
    })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let target = Arc::new(Target {
        addr: server.addr,
        authority: server.addr.to_string(),
        tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        clients: std::mem::take(&mut world.clients),
        kind,
        sequence: AtomicU64::new(0),
        tickets: Tickets::new((args.scenario == Scenario::Memory).then_some(args.sessions)),
        succeeded: AtomicU64::new(0),
        abandoned: std::sync::atomic::AtomicBool::new(false),
    });
    let run = Run {
        load: Load::Http(target),
        args,
        server,
        floor_op,
        stop,
    };
    finish(report, &runtime, run)
}

/// The distinct client certificates of a `scenario` run without `--distinct-certs`: the memory
/// benchmark's 10,000, one otherwise.
fn default_distinct_certs(scenario: Scenario) -> usize {
    match scenario {
        Scenario::Memory => 10_000,
        _ => 1,
    }
}

/// The flags of `args` that change what is measured, where not their defaults, as they are
/// written on the command line: the report's [`Report::variant`]. `distinct_certs` is the
/// number the run uses (the default depends on the scenario).
fn variant(args: &BenchArgs, distinct_certs: usize) -> String {
    let default_certs = default_distinct_certs(args.scenario);
    let mut flags: Vec<String> = Vec::new();
    if args.key != ClientKey::Ecdsa {
        flags.push(format!(
            "--key {}",
            args.key
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default()
        ));
    }
    if distinct_certs != default_certs {
        flags.push(format!("--distinct-certs {distinct_certs}"));
    }
    if args.cache_max_entries != DEFAULT_CACHE_MAX_ENTRIES {
        flags.push(format!("--cache-max-entries {}", args.cache_max_entries));
    }
    if let Some(n) = args.crl_entries {
        flags.push(format!("--crl-entries {n}"));
    }
    if args.reuse {
        flags.push("--reuse".to_owned());
    }
    if args.scenario == Scenario::Memory && args.sts_every != DEFAULT_STS_EVERY {
        flags.push(format!("--sts-every {}", args.sts_every));
    }
    if args.server_log_format != crate::logging::LogFormat::Text {
        flags.push(format!("--server-log-format {}", args.server_log_format.as_str()));
    }
    if args.server_log != DEFAULT_SERVER_LOG {
        flags.push(format!("--server-log {}", args.server_log));
    }
    flags.join(" ")
}

impl Report {
    /// The table row's label: the scenario, then its [`variant`](Report::variant)
    /// (`create-session --reuse`).
    pub fn label(&self) -> String {
        match self.variant.as_str() {
            "" => self.scenario.clone(),
            variant => format!("{} {variant}", self.scenario),
        }
    }
}

/// One run, set up: the load, against `server`, to stop on `stop`.
struct Run<'a> {
    load: Load,
    args: &'a BenchArgs,
    server: Server,
    floor_op: FloorOp,
    /// Turns true on SIGINT or SIGTERM.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// The note of a grpc-create-session report: how its floor and ratio read.
const GRPC_NOTE: &str = "gRPC CreateSession carries no request signature: the client proves its key once per \
connection (mTLS handshake), so the floor is paid per channel, not per request; one HTTP/2 channel per client \
certificate, the calls multiplexed over them.";

/// The note of a memory report that called STS: what a request counts.
const MEMORY_NOTE: &str = "a request is a session minted; the CPU per request includes the GetCallerIdentity \
calls (--sts-every), so its ratio to the floor is not create-session's.";

/// The load the workers generate.
enum Load {
    Http(Arc<Target>),
    Grpc(Arc<GrpcTarget>),
}

impl Load {
    fn spawn(&self, id: usize, measure_from: Instant, end: Instant) -> tokio::task::JoinHandle<WorkerResult> {
        match self {
            Self::Http(t) => tokio::spawn(load::worker(t.clone(), id, measure_from, end)),
            Self::Grpc(t) => tokio::spawn(grpc::worker(t.clone(), measure_from, end)),
        }
    }

    /// Stops the workers of a run given up.
    fn abandon(&self) {
        if let Self::Http(t) = self {
            t.abandoned.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Successful requests so far (all of them, for the memory scenario).
    fn succeeded(&self) -> u64 {
        match self {
            Self::Http(t) => t.succeeded.load(std::sync::atomic::Ordering::Relaxed),
            Self::Grpc(_) => 0,
        }
    }
}

/// Runs `load` against `server`, stops the server and fills `report`.
fn finish(
    mut report: Report,
    runtime: &tokio::runtime::Runtime,
    run: Run<'_>,
) -> Result<Report, Box<dyn std::error::Error>> {
    let Run {
        load,
        args,
        server,
        floor_op,
        mut stop,
    } = run;
    // Stopped by SIGINT or SIGTERM, the run ends through the error path: the server is
    // stopped and the temporary PKI deleted (they are dropped), not left behind.
    let measured = runtime.block_on(async {
        tokio::select! {
            measured = drive(&load, args, &server, floor_op) => measured,
            _ = stop.wait_for(|stopped| *stopped) => {
                load.abandon();
                Err("stopped by a signal: the server is stopped and the temporary files deleted".into())
            }
        }
    })?;
    drop(server);
    fill(&mut report, measured);
    Ok(report)
}

/// What the measured window produced.
struct Measured {
    results: Vec<WorkerResult>,
    seconds: f64,
    cpu: procfs::CpuTime,
    /// The floor, sampled during the window.
    floor_us: f64,
    caches: std::collections::BTreeMap<String, CacheActivity>,
    rss_bytes: u64,
    memory: Option<MemoryReport>,
}

async fn drive(
    load: &Load,
    args: &BenchArgs,
    server: &Server,
    floor_op: FloorOp,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let pid = server.pid();
    let rss_start = procfs::rss_bytes(pid).unwrap_or(0);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let memory = args.scenario == Scenario::Memory;
    // The memory scenario runs until --sessions are minted (a day at most).
    let end = match memory {
        true => start + Duration::from_secs(86_400),
        false => measure_from + Duration::from_secs_f64(args.duration),
    };
    let measure_from = if memory { start } else { measure_from };
    // Everything the window needs is prepared before it opens (the floor's key, an RSA one
    // taking tens of milliseconds), and the server's CPU time is read as it opens: the
    // workers count the requests sent from `measure_from` on.
    let floor = floor::Sampler::start_at(floor_op, measure_from)?;
    // The memory run counts every request from the first, so its baseline is read before
    // any worker starts; a timed run's is read as its window opens, after the warm-up.
    let early_baseline = match memory {
        true => Some(Baseline::read(pid, server).await?),
        false => None,
    };
    let mut handles = Vec::with_capacity(args.concurrency);
    for id in 0..args.concurrency {
        handles.push(load.spawn(id, measure_from, end));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let Baseline {
        cpu: cpu_before,
        at: window_start,
        caches: caches_before,
    } = match early_baseline {
        Some(baseline) => baseline,
        None => Baseline::read(pid, server).await?,
    };
    let mut rss_peak = rss_start;
    if memory {
        let (mut minted, mut progress_at) = (load.succeeded(), Instant::now());
        while !handles.iter().all(tokio::task::JoinHandle::is_finished) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // A server gone (its RSS unreadable: it exited) or minting nothing for a minute
            // ends the run, which would otherwise wait a day for sessions that never come.
            let Some(rss) = procfs::rss_bytes(pid) else {
                load.abandon();
                return Err("the server stopped during the memory run (its log is above)".into());
            };
            rss_peak = rss_peak.max(rss);
            if load.succeeded() > minted {
                (minted, progress_at) = (load.succeeded(), Instant::now());
            } else if progress_at.elapsed() > STALLED_AFTER {
                load.abandon();
                let first = handles_first_error(handles).await;
                return Err(format!(
                    "no session minted for {} s after {minted}; first error: {first}",
                    STALLED_AFTER.as_secs()
                )
                .into());
            }
        }
    } else {
        tokio::time::sleep_until(end.into()).await;
    }
    let cpu_after = procfs::cpu_time(pid).ok_or("cannot read the server's /proc/PID/stat")?;
    let seconds = window_start.elapsed().as_secs_f64();
    let floor_us = floor.finish()?;
    let caches = caches_before.activity_until(&CacheCounters::scrape(server.metrics_addr).await?);
    let rss_bytes = procfs::rss_bytes(pid).unwrap_or(0);
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        results.push(h.await?);
    }
    Ok(Measured {
        results,
        seconds,
        cpu: cpu_after.since(cpu_before),
        floor_us,
        caches,
        rss_bytes,
        memory: memory.then(|| MemoryReport {
            sessions: load.succeeded(),
            sts_every: args.sts_every,
            cache_max_entries: args.cache_max_entries,
            rss_start_mib: mib(rss_start),
            rss_peak_mib: mib(rss_peak.max(rss_bytes)),
            rss_end_mib: mib(rss_bytes),
        }),
    })
}

/// The server's counters as a measured window opens.
struct Baseline {
    cpu: procfs::CpuTime,
    at: Instant,
    caches: CacheCounters,
}

impl Baseline {
    async fn read(pid: u32, server: &Server) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            cpu: procfs::cpu_time(pid).ok_or("cannot read the server's /proc/PID/stat")?,
            at: Instant::now(),
            caches: CacheCounters::scrape(server.metrics_addr).await?,
        })
    }
}

/// How long the memory run waits for a session to be minted before it gives up.
const STALLED_AFTER: Duration = Duration::from_secs(60);

/// The first error the workers of a run given up met; workers still waiting on a server that
/// never answers are given five seconds in all, then left (the runtime's end cancels them).
async fn handles_first_error(handles: Vec<tokio::task::JoinHandle<WorkerResult>>) -> String {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    for h in handles {
        if let Ok(Ok(WorkerResult {
            first_error: Some(e), ..
        })) = tokio::time::timeout_at(until, h).await
        {
            return e;
        }
    }
    "none recorded".to_owned()
}

fn fill(report: &mut Report, measured: Measured) {
    let mut latencies: Vec<u32> = Vec::new();
    for r in measured.results {
        latencies.extend(r.latencies_us);
        report.errors += r.errors;
        if report.first_error.is_none() {
            report.first_error = r.first_error;
        }
    }
    latencies.sort_unstable();
    report.requests = latencies.len() as u64;
    report.seconds = measured.seconds;
    report.floor_us = measured.floor_us;
    report.caches = measured.caches;
    report.requests_per_second = report.requests as f64 / measured.seconds.max(f64::EPSILON);
    report.latency_p50_us = percentile(&latencies, 0.50);
    report.latency_p99_us = percentile(&latencies, 0.99);
    report.latency_p999_us = percentile(&latencies, 0.999);
    if report.requests > 0 {
        report.server_cpu_us_per_request = measured.cpu.total_micros() as f64 / report.requests as f64;
        report.server_kernel_cpu_us_per_request = measured.cpu.system_micros as f64 / report.requests as f64;
        report.cpu_to_floor_ratio = report.server_cpu_us_per_request / report.floor_us;
    }
    report.server_rss_mib = mib(measured.rss_bytes);
    report.memory = measured.memory;
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The human-readable report.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "rolegate bench: {} | concurrency {} | {} distinct {} certificate(s) | server log {} | {:.1} s measured\n\n",
        r.scenario, r.concurrency, r.distinct_certs, r.client_key, r.server_log_format, r.seconds
    ));
    let label = r.label();
    let width = label.chars().count().max(22);
    out.push_str(&format!(
        "{:<width$} {:>10} {:>9} {:>9} {:>9} {:>7} {:>12} {:>9} {:>7} {:>8}\n",
        "scenario", "req/s", "p50 ms", "p99 ms", "p999 ms", "errors", "cpu µs/req", "floor µs", "ratio", "RSS MiB"
    ));
    out.push_str(&format!(
        "{:<width$} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>12.1} {:>9.1} {:>7.2} {:>8.1}\n",
        label,
        r.requests_per_second,
        f64::from(r.latency_p50_us) / 1000.0,
        f64::from(r.latency_p99_us) / 1000.0,
        f64::from(r.latency_p999_us) / 1000.0,
        r.errors,
        r.server_cpu_us_per_request,
        r.floor_us,
        r.cpu_to_floor_ratio,
        r.server_rss_mib
    ));
    out.push_str(&format!("\nfloor: {}\n", r.floor));
    out.push_str(&format!(
        "server CPU per request: {:.1} µs in user mode, {:.1} µs in the kernel (system calls: loopback TCP, scheduling)\n",
        r.server_cpu_us_per_request - r.server_kernel_cpu_us_per_request,
        r.server_kernel_cpu_us_per_request
    ));
    let lookups: Vec<String> = r
        .caches
        .iter()
        .filter(|(_, a)| a.hits + a.misses > 0)
        .map(|(name, a)| format!("{name} {:.1} % of {}", a.hit_ratio * 100.0, a.hits + a.misses))
        .collect();
    if !lookups.is_empty() {
        out.push_str(&format!("cache hits in the window: {}\n", lookups.join(", ")));
    }
    if let Some(note) = &r.note {
        out.push_str(&format!("note: {note}\n"));
    }
    if let Some(m) = &r.memory {
        out.push_str(&format!(
            "memory: {} sessions minted{}, cache_max_entries {}: RSS {:.1} MiB at start, {:.1} MiB peak, {:.1} MiB at end\n",
            m.sessions,
            match m.sts_every {
                0 => String::new(),
                1 => " (each called GetCallerIdentity once)".to_owned(),
                n => format!(" (every {n}th called GetCallerIdentity once)"),
            },
            m.cache_max_entries,
            m.rss_start_mib,
            m.rss_peak_mib,
            m.rss_end_mib
        ));
    }
    if let Some(e) = &r.first_error {
        out.push_str(&format!("first error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_arguments_are_refused_before_anything_starts() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let cases = [
            (
                &["--duration", "1e20"][..],
                "--duration must be more than 0 and at most 1800 seconds",
            ),
            (
                &["--duration", "NaN"],
                "--duration must be more than 0 and at most 1800 seconds",
            ),
            (
                &["--duration", "0"],
                "--duration must be more than 0 and at most 1800 seconds",
            ),
            (
                &["--warmup", "inf"],
                "--warmup must be more than 0 and at most 600 seconds",
            ),
            (&["--warmup=-1"], "--warmup must be more than 0 and at most 600 seconds"),
            (
                &["--warmup", "0"],
                "--warmup must be more than 0 and at most 600 seconds",
            ),
            (
                &["--scenario", "grpc-create-session", "--distinct-certs", "4097"],
                "--distinct-certs must be at most 4096 with grpc-create-session (one connection per certificate, the server's max_connections)",
            ),
            (
                &["--concurrency", "0"],
                "--concurrency must be between 1 and 4096 (the server's max_connections)",
            ),
            (
                &["--concurrency", "5000"],
                "--concurrency must be between 1 and 4096 (the server's max_connections)",
            ),
        ];
        for (argv, want) in cases {
            let command =
                <Command as clap::Parser>::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
                    .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let refused = execute(&command.bench).err().map(|e| e.to_string());
            assert_eq!(refused.as_deref(), Some(want), "{argv:?}");
        }
    }

    /// A run's row is labelled with the flags that change what it measures, as the README's
    /// Performance table labels its rows; `--json` keeps `scenario` and adds `variant`.
    #[test]
    fn the_row_label_names_the_variant() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let variant_of = |argv: &[&str]| {
            let command =
                <Command as clap::Parser>::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
                    .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let default_certs = default_distinct_certs(command.bench.scenario);
            variant(&command.bench, command.bench.distinct_certs.unwrap_or(default_certs))
        };
        assert_eq!(variant_of(&[]), "");
        assert_eq!(variant_of(&["--reuse"]), "--reuse");
        assert_eq!(variant_of(&["--key", "rsa"]), "--key rsa");
        assert_eq!(variant_of(&["--distinct-certs", "1"]), "");
        assert_eq!(
            variant_of(&[
                "--distinct-certs",
                "2000",
                "--cache-max-entries",
                "50",
                "--crl-entries",
                "1000"
            ]),
            "--distinct-certs 2000 --cache-max-entries 50 --crl-entries 1000"
        );
        assert_eq!(variant_of(&["--scenario", "memory", "--sessions", "5"]), "");
        assert_eq!(
            variant_of(&["--scenario", "memory", "--distinct-certs", "100", "--sts-every", "0"]),
            "--distinct-certs 100 --sts-every 0"
        );
        assert_eq!(
            variant_of(&["--sts-every", "0"]),
            "",
            "only the memory scenario calls STS so"
        );
        assert_eq!(
            variant_of(&["--server-log-format", "json", "--server-log", "warn"]),
            "--server-log-format json --server-log warn"
        );

        let mut report = Report {
            scenario: "create-session".to_owned(),
            variant: "--distinct-certs 2000 --cache-max-entries 50 --crl-entries 1000".to_owned(),
            note: None,
            concurrency: 16,
            distinct_certs: 2000,
            client_key: "ecdsa".to_owned(),
            server_log_format: "text".to_owned(),
            seconds: 8.0,
            ..Default::default()
        };
        let table = render_table(&report);
        let rows: Vec<&str> = table.lines().skip(2).take(2).collect();
        assert!(rows[0].starts_with("scenario "), "{table}");
        assert!(
            rows[1].starts_with("create-session --distinct-certs 2000 --cache-max-entries 50 --crl-entries 1000 "),
            "{table}"
        );
        // The columns line up whatever the label's length.
        assert_eq!(rows[0].chars().count(), rows[1].chars().count(), "{table}");
        report.variant = String::new();
        let table = render_table(&report);
        assert!(
            table
                .lines()
                .nth(3)
                .is_some_and(|row| row.starts_with("create-session         ")),
            "{table}"
        );
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(
            (json["scenario"].as_str(), json["variant"].as_str()),
            (Some("create-session"), Some(""))
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.50), 500);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.999), 7);
    }
}
