//! The user's home folder, as the AWS SDKs find it: `HOME`, or — where `HOME` is not set (a
//! systemd service, a cron job, `env -i`) — this user's entry in the user database, as
//! botocore finds it (`os.path.expanduser`: `pwd.getpwuid(os.getuid()).pw_dir`) and
//! [`std::env::home_dir`] does on Unix (`getpwuid_r`). A `HOME` that is set is taken as it is,
//! even empty or relative: callers refuse such a folder rather than look elsewhere.

use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser as _;

/// Where the home folder was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Home {
    /// `HOME`, as set (perhaps empty or relative).
    Variable(PathBuf),
    /// `HOME` not set: this user's home folder in the user database (perhaps empty or relative).
    UserDatabase(PathBuf),
    /// `HOME` not set, and the user database has no entry for this user.
    Unknown,
}

impl Home {
    /// This process's home folder: `HOME`, else the user database's ([`std::env::home_dir`],
    /// which reads `HOME` first and, when it is not set, calls `getpwuid_r`).
    pub(crate) fn of_this_user() -> Home {
        match std::env::var_os("HOME") {
            Some(home) => Home::Variable(home.into()),
            None => std::env::home_dir().map_or(Home::Unknown, Home::UserDatabase),
        }
    }

    /// The folder, wherever it was found and whatever it is.
    pub(crate) fn folder(&self) -> Option<&Path> {
        match self {
            Home::Variable(home) | Home::UserDatabase(home) => Some(home),
            Home::Unknown => None,
        }
    }

    /// The folder if it is an absolute path; else what is wrong with it, as the start of a
    /// sentence (`HOME ('rel') is not an absolute path`, `HOME is not set …`), for the
    /// caller to finish with what it does not do there and what to set.
    pub(crate) fn absolute(&self) -> Result<&Path, String> {
        match self {
            Home::Variable(home) if home.is_absolute() => Ok(home),
            Home::UserDatabase(home) if home.is_absolute() => Ok(home),
            Home::Variable(home) => Err(format!("HOME ({}) is not an absolute path", shown(home))),
            Home::UserDatabase(home) => Err(format!(
                "HOME is not set, and this user's home folder in the user database ({}) is not an absolute path",
                shown(home)
            )),
            Home::Unknown => Err("HOME is not set, and the user database has no entry for this user".to_owned()),
        }
    }
}

/// The parser of the helpers' path flags ([`expand_tilde`] with this user's home folder):
/// botocore runs `credential_process` without a shell, so `--certificate ~/app.pem` written
/// in `~/.aws/config` reaches rolegate with its `~`, which `aws_signing_helper` would take for
/// a folder named `~`.
pub(crate) fn path_arg() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    clap::builder::OsStringValueParser::new().map(|raw| {
        let home = Home::of_this_user();
        expand_tilde(raw, home.absolute().ok())
    })
}

/// `raw` with a leading `~` (alone, or before `/`) taken for `home`, as a shell expands it; as
/// written where the home folder is not known (or not an absolute path), and for `~user` or a
/// `~` elsewhere.
fn expand_tilde(raw: std::ffi::OsString, home: Option<&Path>) -> PathBuf {
    let home = || Some(home?.to_str()?.to_owned());
    match raw.to_str().and_then(|text| expand_leading_tilde(text, home)) {
        Some(expanded) => expanded.into(),
        None => raw.into(),
    }
}

/// `text` with its leading `~` (alone, or before `/`) replaced by the home folder `home` gives,
/// as a shell and Python's `os.path.expanduser` replace it; `None` when `text` starts with no
/// such `~` (`~user`, a `~` elsewhere) or `home` gives no folder.
pub(crate) fn expand_leading_tilde(text: &str, home: impl FnOnce() -> Option<String>) -> Option<String> {
    let tail = text
        .strip_prefix('~')
        .filter(|tail| tail.is_empty() || tail.starts_with('/'))?;
    Some(format!("{}{tail}", home()?))
}

/// A folder as a message names it: `empty`, else quoted.
fn shown(folder: &Path) -> String {
    match folder.as_os_str().is_empty() {
        true => "empty".to_owned(),
        false => format!("'{}'", folder.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leading `~` of a path flag is the home folder, as a shell would have made it; the rest
    /// is left as written.
    #[test]
    fn a_leading_tilde_is_the_home_folder() {
        let home = Some(Path::new("/home/w"));
        let expanded = |raw: &str, home: Option<&Path>| expand_tilde(raw.into(), home);
        for (raw, path) in [
            ("~/certs/app.pem", "/home/w/certs/app.pem"),
            ("~", "/home/w"),
            ("~//app.pem", "/home/w/app.pem"),
            ("~other/app.pem", "~other/app.pem"),
            ("/etc/~/app.pem", "/etc/~/app.pem"),
            ("app~.pem", "app~.pem"),
            ("pkcs11:token=t;object=o", "pkcs11:token=t;object=o"),
        ] {
            assert_eq!(expanded(raw, home), PathBuf::from(path), "{raw}");
        }
        assert_eq!(expanded("~/app.pem", None), PathBuf::from("~/app.pem"));
    }

    /// A `HOME` that is set is the home folder, and what is wrong with it is said as `HOME`'s;
    /// without it, the user database's is, and said as that.
    #[test]
    fn the_home_folder_is_home_else_the_user_databases() {
        let variable = |v: &str| Home::Variable(v.into());
        let database = |v: &str| Home::UserDatabase(v.into());
        assert_eq!(variable("/home/u").absolute(), Ok(Path::new("/home/u")));
        assert_eq!(database("/home/u").absolute(), Ok(Path::new("/home/u")));
        assert_eq!(
            variable("").absolute(),
            Err("HOME (empty) is not an absolute path".to_owned())
        );
        assert_eq!(
            variable("rel").absolute(),
            Err("HOME ('rel') is not an absolute path".to_owned())
        );
        assert_eq!(
            database("").absolute(),
            Err(
                "HOME is not set, and this user's home folder in the user database (empty) is not an absolute path"
                    .to_owned()
            )
        );
        assert_eq!(
            Home::Unknown.absolute(),
            Err("HOME is not set, and the user database has no entry for this user".to_owned())
        );
        assert_eq!(database("rel").folder(), Some(Path::new("rel")));
        assert_eq!(Home::Unknown.folder(), None);
    }
}
