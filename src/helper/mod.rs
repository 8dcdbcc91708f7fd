//! The client side that workloads run: `credential-process` (for AWS SDKs and the CLI, with a
//! private on-disk cache), `sidecar` (an IMDSv2 and container credentials endpoint) and
//! `update` (keeps a profile of `~/.aws/credentials` fresh). `credentials` loads certificates
//! and keys the way `aws_signing_helper` accepts them, `pkcs11` those on a PKCS#11 token;
//! `imds_token` issues the sidecar's stateless IMDSv2 tokens.

pub mod cache;
pub mod credential_process;
pub mod credentials;
pub mod imds_token;
pub mod pkcs11;
pub mod refresh;
pub mod sidecar;
pub mod update;
