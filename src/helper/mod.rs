//! The client side that workloads run: `credential-process` (for AWS SDKs and the CLI).
//! `credentials` loads certificates and keys the way `aws_signing_helper` accepts them.

pub mod credential_process;
pub mod credentials;
