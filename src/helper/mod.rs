//! The client side that workloads run: `credential-process` (for AWS SDKs and the CLI, with a
//! private on-disk cache), `sidecar` (an IMDSv2 and container credentials endpoint) and
//! `update` (keeps a profile of `~/.aws/credentials` fresh). `credentials` loads certificates
//! and keys the way `aws_signing_helper` accepts them, `pkcs11` those on a PKCS#11 token;
//! `imds_token` issues the sidecar's stateless IMDSv2 tokens, `container_token` keeps the
//! container endpoint's auth token file, `sidecar_connections` bounds
//! its connections, `sidecar_writes` notes the answers their clients leave untaken. `refresh`
//! schedules the sidecar's and `update`'s renewals and session checks; `kept` holds the
//! credentials the sidecar keeps across restarts (in `credential-process`'s cache); `home`
//! finds the home folder the cache and `~/.aws/credentials` are under, as botocore does.

pub mod cache;
mod container_token;
pub mod credential_process;
pub mod credentials;
mod home;
pub mod imds_token;
mod kept;
pub mod pkcs11;
pub mod refresh;
pub mod sidecar;
mod sidecar_connections;
mod sidecar_writes;
pub mod update;

/// The value of a boolean flag given as `--flag=VALUE`. `aws_signing_helper`'s flags are Go
/// `pflag` booleans: `--flag` alone is true, and `--flag=VALUE` takes the spellings of Go's
/// `strconv.ParseBool`, so a templated `--with-proxy=false` in a `credential_process` line
/// means what it meant there.
pub fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected true or false (or 1, t, TRUE, True, 0, f, FALSE, False)".to_owned()),
    }
}
