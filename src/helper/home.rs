//! The user's home folder, as the AWS SDKs find it: `HOME`, or — where `HOME` is not set (a
//! systemd service, a cron job, `env -i`) — this user's entry in the user database, as
//! botocore finds it (`os.path.expanduser`: `pwd.getpwuid(os.getuid()).pw_dir`) and
//! [`std::env::home_dir`] does on Unix (`getpwuid_r`). A `HOME` that is set is taken as it is,
//! even empty or relative: callers refuse such a folder rather than look elsewhere.

use std::path::{Path, PathBuf};

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
