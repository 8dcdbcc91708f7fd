//! `rolegate keys`: token sealing keys (base64 of 32 random bytes, written 0600).

use std::path::{Path, PathBuf};

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
            crate::fsutil::write_new_private(&out, format!("{}\n", key.to_base64().as_str()).as_bytes())
                .map_err(|e| cannot_write(&out, e))?;
            // The check value to compare on every replica (`admin status`, `check-config`)
            // before the key is made active.
            super::print_stdout(&format!(
                "wrote {} (check value {})\n",
                out.display(),
                key.check_value()
            ));
            Ok(())
        }
    }
}

/// Why the key file `out` was not written: an existing file is named as a key this command
/// never replaces (it may be a key of the ring, and the sessions it sealed would stop opening).
fn cannot_write(out: &Path, e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists if out.is_dir() => {
            format!(
                "{} is a folder: give --out the path of the key file to write",
                out.display()
            )
        }
        std::io::ErrorKind::AlreadyExists => format!(
            "{} already exists: keys generate never overwrites a token key (the sessions sealed with it would \
             stop opening); choose another file for the new key",
            out.display()
        ),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_named_as_a_key_never_overwritten() {
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(
            cannot_write(Path::new("token-k1.key"), exists),
            "token-k1.key already exists: keys generate never overwrites a token key (the sessions sealed with it \
             would stop opening); choose another file for the new key"
        );
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "cannot create k.key: denied");
        assert_eq!(cannot_write(Path::new("k.key"), denied), "cannot create k.key: denied");
    }
}
