//! The command line: one binary for the daemon (`serve`), its tooling (`certs`, `keys`,
//! `check-config`, `admin`, `probe`) and, in `helper`, the client side. Parsing only; each command lives
//! in its own module.

mod admin;
mod certs;
mod explain;
mod keys;
mod probe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::dev;
use crate::logging::{self, LogFormat};
use crate::server::{ServeOptions, serve};

#[derive(Parser)]
#[command(
    name = "rolegate",
    version,
    about = "Self-hosted STS-style credential broker: X.509 certificates in, AWS SigV4 credentials out."
)]
pub struct Cli {
    /// Log format on stderr.
    // Listed last in every subcommand's help, after the flags of the subcommand itself: among
    // them it split pairs that belong together (--ca-cert and --ca-key, --certificate and
    // --private-key).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, display_order = 10_000)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (Roles Anywhere REST, STS Query API and gRPC on one TLS listener).
    Serve(ServeArgs),
    /// Create CA, server and client certificates and CRLs: a first PKI (keep the CA key off the server), or one for development and tests.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Manage token sealing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print credentials for the AWS SDKs' `credential_process` (flag-compatible with aws_signing_helper).
    // The helpers, like aws_signing_helper (Go pflag), take the last value of a flag given
    // twice, so that a base command line can be followed by an override.
    #[command(args_override_self = true)]
    CredentialProcess(crate::helper::credential_process::CredentialProcessArgs),
    /// Serve credentials to unchanged SDKs as IMDSv2 and a container credentials endpoint.
    #[command(args_override_self = true)]
    Sidecar(crate::helper::sidecar::SidecarArgs),
    /// Keep a profile of ~/.aws/credentials (or AWS_SHARED_CREDENTIALS_FILE) fresh.
    #[command(args_override_self = true)]
    Update(crate::helper::update::UpdateArgs),
    /// Call a running daemon's Admin API (status, reload) with an admin client certificate.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Validate a configuration file and explain what it configures.
    #[command(group(clap::ArgGroup::new("config_file").required(true).args(["file", "config"])))]
    CheckConfig {
        /// The TOML configuration file.
        file: Option<PathBuf>,
        /// The TOML configuration file, as `serve --config` takes it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fail (exit status 3) when the configuration loads with warnings, e.g. in CI.
        #[arg(long)]
        strict: bool,
    },
    /// Explain offline, step by step, why a CreateSession (or an AssumeRole by a role) is allowed or denied.
    ///
    /// Also accepts credential-process's flags (--private-key, --endpoint, --ca-bundle, --region,
    /// --session-duration, the passphrase and PKCS#11 flags, …), so that a credential-process command
    /// line can be pasted after `rolegate explain --config FILE`; those that do not change the
    /// decision are ignored.
    #[command(args_override_self = true)]
    Explain(Box<explain::ExplainArgs>),
    /// Evaluate an action on a resource for a role and session policies, like `aws iam simulate-principal-policy`.
    Simulate(explain::SimulateArgs),
    /// Exit 0 when a plain-HTTP health endpoint answers 200 (an exec probe for images without a shell).
    Probe(probe::ProbeArgs),
    /// Load-test a temporary local server (TLS, fresh signatures) and report throughput, latency and CPU per request.
    Bench(crate::bench::BenchArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("configuration").required(true).args(["config", "dev"])))]
struct ServeArgs {
    /// The TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Development mode: create (once) a dev PKI, token key and config in --state-dir and serve it.
    #[arg(long)]
    dev: bool,
    /// Where --dev keeps its files [default: .rolegate-dev].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Override `[server] listen` (e.g. 127.0.0.1:0 for an ephemeral port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Override `[server] metrics_listen` ('' for no metrics listener).
    #[arg(long, value_parser = metrics_address)]
    metrics_listen: Option<MetricsAddress>,
    /// Stop as on SIGTERM once stdin reaches its end: the server `rolegate bench` starts
    /// holds a pipe from it, so that it does not outlive a bench killed outright.
    #[arg(long, hide = true)]
    stop_when_stdin_closes: bool,
}

/// Entry point of the binary.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // The daemon batches its log writes (see `logging`); the guard writes the last batch.
    let flush_logs = logging::init(cli.log_format, matches!(cli.command, Command::Serve(_)));
    if let Some(helper) = helper_without_certificate(&cli.command) {
        return usage_error(
            helper,
            clap::error::ErrorKind::MissingRequiredArgument,
            MISSING_CERTIFICATE,
        );
    }
    let code = match cli.command {
        Command::Serve(args) => run_serve(args, cli.log_format, flush_logs),
        Command::Certs(cmd) => report(certs::run(cmd)),
        Command::CredentialProcess(args) => run_helper(crate::helper::credential_process::run(args)),
        Command::Sidecar(args) => run_helper(crate::helper::sidecar::run(args, cli.log_format)),
        // As aws_signing_helper: --retry-errors is for the refreshing update. Checked by value,
        // not by presence as clap's conflicts are: `--once=false --retry-errors` is fine.
        Command::Update(args) if args.once && args.retry_errors => usage_error(
            "update",
            clap::error::ErrorKind::ArgumentConflict,
            "the argument '--once[=<BOOL>]' cannot be used with '--retry-errors[=<BOOL>]': a refreshing update \
             (without --once) retries failed refreshes",
        ),
        Command::Update(args) => run_helper(crate::helper::update::run(args)),
        Command::Keys(cmd) => report(keys::run(cmd)),
        Command::Explain(args) => explain::run_explain(*args),
        Command::Simulate(args) => explain::run_simulate(args),
        Command::Bench(args) => report(crate::bench::run(args)),
        Command::Probe(args) => probe::run(args),
        Command::Admin(cmd) => admin::run(cmd),
        Command::CheckConfig { file, config, strict } => {
            check_config(&file.or(config).unwrap_or_default(), strict, cli.log_format)
        }
    };
    // A command whose output was lost did not do what was asked of it.
    match STDOUT_FAILED.load(std::sync::atomic::Ordering::Relaxed) && code == ExitCode::SUCCESS {
        true => ExitCode::from(OUTPUT_LOST),
        false => code,
    }
}

/// A helper's command line that names no certificate
/// ([`crate::helper::credential_process::SessionArgs::lacks_certificate`]), in clap's words.
const MISSING_CERTIFICATE: &str = "the following required arguments were not provided:\n  --certificate <CERTIFICATE>";

/// The subcommand of a helper (credential-process, sidecar, update) whose command line names no
/// certificate, if `command` is one. Checked by value
/// ([`crate::helper::credential_process::SessionArgs::lacks_certificate`]), as clap checks the
/// flag's presence.
fn helper_without_certificate(command: &Command) -> Option<&'static str> {
    match command {
        Command::CredentialProcess(args) if args.session.lacks_certificate() => Some("credential-process"),
        Command::Sidecar(args) if args.session.lacks_certificate() => Some("sidecar"),
        Command::Update(args) if args.session.lacks_certificate() => Some("update"),
        _ => None,
    }
}

/// Refuses the command line of `subcommand` as clap refuses one it cannot take: its error
/// `kind` with `message`, the subcommand's usage, exit 2. For the rules clap cannot state,
/// which depend on a flag's value rather than its presence.
fn usage_error(subcommand: &str, kind: clap::error::ErrorKind, message: &str) -> ExitCode {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut(subcommand) {
        Some(command) => command.error(kind, message).exit(),
        None => cli.error(kind, message).exit(),
    }
}

/// The exit status of a command that succeeded but could not write its output (sysexits'
/// `EX_IOERR`): apart from every command's own statuses (`simulate`'s 1 is "denied").
const OUTPUT_LOST: u8 = 74;

/// Set when [`print_stdout`] lost output for another reason than a reader that went away (a
/// full disk under `> status.json`): [`run`] then exits [`OUTPUT_LOST`] where the command
/// succeeded.
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes `text` to stdout. A reader that went away (`rolegate explain ... | head`) is no
/// reason to fail loudly: the rest of the output is dropped, as Unix tools do. Any other
/// failure (`ENOSPC`, `EIO`) is said once on stderr and fails the command
/// ([`STDOUT_FAILED`]): a script must not take a cut-short file for the answer.
pub(crate) fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            if !STDOUT_FAILED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                print_error(&format!("cannot write the output to stdout: {e}"));
            }
        }
    }
}

/// Writes `text` to stderr, as [`print_stdout`] writes to stdout: a stderr that refuses it (a
/// reader that went away, as in `rolegate check-config 2>&1 | head -2`) leaves the command's
/// exit status as documented — `eprintln!` would panic (exit 101) — and there is nowhere else
/// to say so.
pub(crate) fn print_stderr(text: &str) {
    use std::io::Write;
    let mut out = std::io::stderr().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `error: {message}` on stderr ([`print_stderr`]): a command's last word when it fails.
pub(crate) fn print_error(message: &dyn std::fmt::Display) {
    print_stderr(&format!("error: {message}\n"));
}

/// `check-config --strict`'s exit status for a configuration that loads with warnings (1 is
/// a configuration that does not load, 2 a command line that cannot be parsed).
const WARNINGS_REFUSED: u8 = 3;

/// `rolegate check-config`: loads `file` as the daemon would and summarizes it; with
/// `strict`, a load that logged warnings fails ([`WARNINGS_REFUSED`]).
fn check_config(file: &std::path::Path, strict: bool, log_format: LogFormat) -> ExitCode {
    let (loaded, warnings) = logging::counting_warnings(log_format, || Config::load_to_check(file));
    match loaded {
        Ok(config) => {
            print_stdout(&format!("{}\n{}", verdict(file, warnings), config.summary()));
            match strict_failure(file, strict, warnings) {
                Some(message) => {
                    print_error(&message);
                    ExitCode::from(WARNINGS_REFUSED)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// `check-config`'s first line for a configuration that loaded with `warnings`: valid
/// without any, else that it loads with them (which `--strict` then refuses).
fn verdict(file: &std::path::Path, warnings: usize) -> String {
    match warnings {
        0 => format!("{} is valid.", file.display()),
        n => format!("{} loads, with {}.", file.display(), counted_warnings(n)),
    }
}

/// "1 warning", "2 warnings".
fn counted_warnings(n: usize) -> String {
    crate::config::counted(n, "warning", "warnings")
}

/// Why `check-config --strict` fails a configuration that loaded with `warnings`, if it does.
fn strict_failure(file: &std::path::Path, strict: bool, warnings: usize) -> Option<String> {
    (strict && warnings > 0).then(|| {
        format!(
            "{} loads, with {}: --strict refuses them (fix what each says, or drop --strict)",
            file.display(),
            counted_warnings(warnings)
        )
    })
}

fn run_serve(args: ServeArgs, log_format: LogFormat, flush_logs: Option<logging::FlushGuard>) -> ExitCode {
    if args.state_dir.is_some() && !args.dev {
        // A usage error (exit 2, with the usage), as clap reports its own.
        <Cli as clap::CommandFactory>::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--state-dir is where --dev keeps its files: give it with --dev, or leave it out",
            )
            .exit();
    }
    let outcome = serve_command(args, log_format);
    // What was logged (the configuration's summary, its warnings) comes out before the last
    // word, so the error is the last line a terminal or the journal shows.
    drop(flush_logs);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fatal(log_format, &message),
    }
}

/// A `--metrics-listen` value: an address, or none ('', as `metrics_listen = ""` in the file).
#[derive(Clone, Copy, Debug)]
struct MetricsAddress(Option<SocketAddr>);

fn metrics_address(text: &str) -> Result<MetricsAddress, String> {
    match text {
        "" => Ok(MetricsAddress(None)),
        _ => text
            .parse()
            .map(|a| MetricsAddress(Some(a)))
            .map_err(|_| format!("'{text}' is not an address like 127.0.0.1:9464 (or '' for none)")),
    }
}

/// `rolegate serve` until it stops; why it could not serve, if it could not.
fn serve_command(args: ServeArgs, log_format: LogFormat) -> Result<(), String> {
    let state_dir = args.state_dir.unwrap_or_else(|| PathBuf::from(".rolegate-dev"));
    // A dev setup made by an earlier start may since have been broken (a file deleted).
    let reused_dev_setup = args.dev && dev::holds_setup(&state_dir);
    let start_over = dev::start_over_hint(&state_dir);
    let config_path = if args.dev {
        dev::prepare(&state_dir).map_err(|e| format!("cannot prepare the dev state in {}: {e}", state_dir.display()))?
    } else {
        args.config.ok_or("give --config FILE or --dev")?
    };
    let runtime = runtime()?;
    let on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>> = if args.dev {
        Some(Box::new(move |addr| dev::print_instructions(&state_dir, addr)))
    } else {
        None
    };
    let opts = ServeOptions {
        config_path,
        listen: args.listen,
        metrics_listen: args.metrics_listen.map(|MetricsAddress(a)| a),
        on_listening,
        stop_when_stdin_closes: args.stop_when_stdin_closes,
        log_format,
    };
    let served = runtime
        .block_on(serve(opts))
        .map_err(|e| match e.is::<ConfigError>() && reused_dev_setup {
            true => format!("{e} {start_over}"),
            false => e.to_string(),
        });
    // Served and drained: a reload still reading a file that never answers (a hung network
    // mount) must not keep the process from exiting, as dropping the runtime would.
    runtime.shutdown_timeout(SHUTDOWN_WAIT_FOR_BLOCKING_TASKS);
    served
}

/// How long `serve`, once stopped, waits for blocking work still running (a reload's reads)
/// before it exits regardless.
const SHUTDOWN_WAIT_FOR_BLOCKING_TASKS: std::time::Duration = std::time::Duration::from_secs(1);

/// The daemon's last word when it cannot serve: `error: {message}` on stderr, or with
/// `--log-format json` an ERROR event shaped as the log's own, so a JSON log pipeline reads
/// why the unit or pod did not start. Written directly, whatever `RUST_LOG` filters.
fn fatal(log_format: LogFormat, message: &str) -> ExitCode {
    match log_format {
        LogFormat::Text => print_error(&message),
        LogFormat::Json => print_stderr(&format!("{}\n", logging::json_error_line("cannot serve", message))),
    }
    ExitCode::FAILURE
}

/// Runs a client-side command: one `error:` line on stderr and exit 1 on failure.
fn run_helper(fut: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    // The runtime is shut down without waiting for its blocking tasks: a name lookup still
    // running (a stalled resolver) must not hold the process past credential-process's 30 s.
    let outcome = runtime().and_then(|rt| {
        let outcome = rt.block_on(fut);
        rt.shutdown_background();
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// The multi-threaded runtime every async command runs on.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn report(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A subcommand of `rolegate`, by name.
    fn subcommand(name: &str) -> clap::Command {
        let mut cli = Cli::command();
        cli.build();
        cli.find_subcommand(name).expect("a subcommand").clone()
    }

    /// The help of `command`'s flag `id`.
    fn flag_help(command: &clap::Command, id: &str) -> String {
        let arg = command.get_arguments().find(|a| a.get_id() == id).expect("a flag");
        arg.get_help().expect("a help text").to_string()
    }

    #[test]
    fn the_helpers_usage_names_the_certificate_as_required() {
        for name in ["credential-process", "sidecar", "update"] {
            let usage = subcommand(name).render_usage().to_string();
            assert_eq!(
                usage,
                format!(
                    "Usage: rolegate {name} [OPTIONS] --certificate <CERTIFICATE> --trust-anchor-arn <TRUST_ANCHOR_ARN> --profile-arn <PROFILE_ARN> --role-arn <ROLE_ARN>"
                )
            );
            assert_eq!(
                flag_help(&subcommand(name), "reuse_pin"),
                "Accepted for `aws_signing_helper`, without effect: rolegate always gives the token's PIN again to a key that asks for it at each signature (CKA_ALWAYS_AUTHENTICATE)"
            );
        }
    }

    #[test]
    fn certs_and_explain_help_say_what_they_are_for() {
        let certs = subcommand("certs");
        assert_eq!(
            certs.get_about().map(ToString::to_string).as_deref(),
            Some(
                "Create CA, server and client certificates and CRLs: a first PKI (keep the CA key off the server), or one for development and tests"
            )
        );
        for name in ["ca", "intermediate", "server", "client"] {
            let command = certs.find_subcommand(name).expect("a certs subcommand");
            assert_eq!(
                flag_help(command, "key"),
                "Algorithm and size of the new certificate's key pair",
                "{name}"
            );
        }
        let explain = subcommand("explain");
        assert!(
            explain.get_long_about().map(ToString::to_string).is_some_and(|about| about.ends_with(
                "Also accepts credential-process's flags (--private-key, --endpoint, --ca-bundle, --region, --session-duration, the passphrase and PKCS#11 flags, …), so that a credential-process command line can be pasted after `rolegate explain --config FILE`; those that do not change the decision are ignored."
            )),
            "{:?}",
            explain.get_long_about()
        );
    }
}
