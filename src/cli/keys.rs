//! `rolegate keys`: token sealing keys (base64 of 32 random bytes, written 0600).

use std::path::PathBuf;

use clap::Subcommand;

use crate::session::TokenKey;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Write a new random token key (base64 of 32 bytes) to a file readable by its owner only.
    Generate {
        /// The key file to create; refuses to overwrite an existing one.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(super) fn run(cmd: KeysCommand) -> Result<(), Box<dyn std::error::Error>> {
    match cmd {
        KeysCommand::Generate { out } => {
            let key = TokenKey::generate();
            crate::fsutil::write_new_private(&out, format!("{}\n", key.to_base64().as_str()).as_bytes())?;
            super::print_stdout(&format!("wrote {}\n", out.display()));
            Ok(())
        }
    }
}
