//! `rolegate certs`: a small rcgen-backed CA: a first PKI for a deployment that has none (the
//! README's "A first PKI"; its CA key kept off the server), and development and tests. Writes
//! `PREFIX.pem` (certificate) and `PREFIX.key` (PKCS#8 private key, 0600). An existing PKI's
//! certificates are used as they are (see certs/README.md).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use time::{Duration, OffsetDateTime};

use crate::fsutil::{write_new_private, write_new_public};
use crate::pki::{Authority, CaName, ClientSpec, Issued, KeyType, PkiError, PreviousCrl, ReissuedCrl};

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Subcommand)]
pub(super) enum CertsCommand {
    /// Create a self-signed root CA.
    Ca {
        #[command(flatten)]
        out: Output,
        /// Subject CN (1 to 64 characters).
        #[arg(long, default_value = "rolegate root CA", value_parser = common_name)]
        cn: String,
        #[command(flatten)]
        organization: CaOrganization,
    },
    /// Create an intermediate CA signed by --ca-cert/--ca-key.
    Intermediate {
        #[command(flatten)]
        issuer: IssuerArgs,
        #[command(flatten)]
        out: Output,
        /// Subject CN (1 to 64 characters).
        #[arg(long, default_value = "rolegate intermediate CA", value_parser = common_name)]
        cn: String,
        #[command(flatten)]
        organization: CaOrganization,
    },
    /// Create a TLS server certificate.
    Server {
        #[command(flatten)]
        issuer: IssuerArgs,
        #[command(flatten)]
        out: Output,
        /// DNS name or IP address (repeatable).
        #[arg(long = "san", required = true, value_parser = server_name)]
        sans: Vec<String>,
    },
    /// Create a client (workload) certificate.
    Client {
        #[command(flatten)]
        issuer: IssuerArgs,
        #[command(flatten)]
        out: Output,
        /// Subject CN, 1 to 64 characters (also the session's source identity, `CN=<cn>`).
        #[arg(long, value_parser = client_common_name)]
        cn: String,
        /// Organization (O), 1 to 64 characters.
        #[arg(long = "o", value_parser = name_attribute)]
        organization: Option<String>,
        /// Organizational unit (OU), 1 to 64 characters.
        #[arg(long = "ou", value_parser = name_attribute)]
        organizational_unit: Option<String>,
        /// SAN DNS name (repeatable).
        #[arg(long = "dns", value_parser = dns_name)]
        dns_names: Vec<String>,
        /// SAN URI (repeatable).
        #[arg(long = "uri", value_parser = uri_name)]
        uris: Vec<String>,
        /// Make a certificate that expired yesterday (for tests).
        #[arg(long, conflicts_with = "not_yet_valid")]
        expired: bool,
        /// Make a certificate valid from tomorrow (for tests).
        #[arg(long)]
        not_yet_valid: bool,
    },
    /// Create or update a CRL signed by --ca-cert/--ca-key.
    ///
    /// The revocations of the CRL at --out (and of --from) are kept, the --revoke serials added,
    /// and the result signed anew with fresh dates: run it with no --revoke to renew a CRL
    /// before its nextUpdate.
    Crl {
        #[command(flatten)]
        issuer: IssuerArgs,
        /// The CRL file to write (PEM, or DER when it is DER already): what the CRL there
        /// revokes is carried over unless --fresh; a file holding no CRL is never replaced.
        #[arg(long)]
        out: PathBuf,
        /// Serial number in hex, as `certs client` prints it (or `openssl x509 -serial`, with
        /// its `serial=`; repeatable): a certificate to revoke.
        #[arg(long = "revoke")]
        revoke: Vec<String>,
        /// Another copy of the CA's CRL (PEM or DER) whose revocations to carry over as well.
        #[arg(long, conflicts_with = "fresh")]
        from: Option<PathBuf>,
        /// Start a new CRL that revokes the --revoke serials only (dropping what --out revoked:
        /// for certificates that have expired since); it may replace another CA's CRL.
        #[arg(long)]
        fresh: bool,
        /// Days until nextUpdate (1 to 36,500).
        #[arg(long, default_value_t = 30, value_parser = days())]
        days: i64,
    },
}

/// The O and OU of a CA's subject, beside its CN.
#[derive(Args)]
pub(super) struct CaOrganization {
    /// Organization (O) of the CA's subject, 1 to 64 characters.
    #[arg(long = "o", value_parser = name_attribute)]
    organization: Option<String>,
    /// Organizational unit (OU) of the CA's subject, 1 to 64 characters.
    #[arg(long = "ou", value_parser = name_attribute)]
    organizational_unit: Option<String>,
}

impl CaOrganization {
    /// The CA's subject: `common_name`, and the O and OU given.
    fn name<'a>(&'a self, common_name: &'a str) -> CaName<'a> {
        CaName {
            common_name,
            organization: self.organization.as_deref(),
            organizational_unit: self.organizational_unit.as_deref(),
        }
    }
}

#[derive(Args)]
pub(super) struct Output {
    /// Output prefix: writes PREFIX.pem and PREFIX.key.
    #[arg(long)]
    out: PathBuf,
    /// Algorithm and size of the new certificate's key pair.
    #[arg(long, value_enum, default_value_t = KeyArg::EcdsaP256)]
    key: KeyArg,
    /// Validity in days from now (1 to 36,500).
    #[arg(long, default_value_t = 365, value_parser = days())]
    days: i64,
}

/// A number of days a certificate is valid or a CRL is current: at least one, at most a
/// hundred years (past that, the date would not fit X.509's four-digit years).
fn days() -> clap::builder::RangedI64ValueParser<i64> {
    clap::value_parser!(i64).range(1..=36_500)
}

/// A subject CN: RFC 5280's upper bound `ub-common-name` is 64 characters, and no control
/// character (a CA's CN becomes the `x509Issuer/CN` tag of every session its certificates
/// make, which the daemon refuses with one).
fn common_name(text: &str) -> Result<String, String> {
    match text.chars().count() {
        0 => Err("a common name cannot be empty".to_owned()),
        n if n > 64 => Err(format!("a common name has at most 64 characters (RFC 5280), not {n}")),
        _ if text.chars().any(char::is_control) => {
            Err("a common name cannot hold a control character (a tab, a line break)".to_owned())
        }
        _ => Ok(text.to_owned()),
    }
}

/// An O or OU of a workload certificate: 1 to 64 characters (RFC 5280's upper bounds) and no
/// control character, which the daemon refuses in the session tags these become.
fn name_attribute(text: &str) -> Result<String, String> {
    match text.chars().count() {
        0 => Err("a name attribute cannot be empty".to_owned()),
        n if n > 64 => Err(format!(
            "a name attribute has at most 64 characters (RFC 5280), not {n}"
        )),
        _ if text.chars().any(char::is_control) => {
            Err("a name attribute cannot hold a control character (a tab, a line break)".to_owned())
        }
        _ => Ok(text.to_owned()),
    }
}

/// A SAN URI: no control character or space (RFC 3986), and at most 256 characters, which the
/// daemon would refuse in the session tag it becomes (`x509SAN/URI`).
fn uri_name(text: &str) -> Result<String, String> {
    match text.chars().count() {
        _ if text.is_empty() || text.chars().any(|c| c.is_control() || c.is_whitespace()) => {
            Err("a URI is not empty and holds no space or control character".to_owned())
        }
        n if n > 256 => Err(format!(
            "a URI has at most 256 characters (a session tag's value), not {n}"
        )),
        _ => Ok(text.to_owned()),
    }
}

/// A workload's CN, which must also make a source identity of its own (what the daemon
/// requires of it: see `identity::source_identity`).
fn client_common_name(text: &str) -> Result<String, String> {
    common_name(text)?;
    crate::identity::source_identity(Some(text), "00")
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

/// A server certificate's subjectAltName: an IP address or a DNS name TLS clients can match,
/// `*.` wildcard included.
fn server_name(text: &str) -> Result<String, String> {
    // A wildcard stands for the leftmost label only (RFC 6125 §6.4.3).
    let name = text.strip_prefix("*.").unwrap_or(text);
    match text.parse::<std::net::IpAddr>() {
        Ok(_) => Ok(text.to_owned()),
        Err(_) => dns_name(name)
            .map(|_| text.to_owned())
            .map_err(|_| format!("'{text}' is neither an IP address nor a DNS name")),
    }
}

/// A DNS name as TLS clients and certificate validators read one (letters, digits, `-`, `_`
/// and dots).
fn dns_name(text: &str) -> Result<String, String> {
    rustls::pki_types::DnsName::try_from(text)
        .map(|_| text.to_owned())
        .map_err(|_| format!("'{text}' is not a DNS name"))
}

#[derive(Args)]
pub(super) struct IssuerArgs {
    /// The issuing CA certificate (PEM).
    #[arg(long)]
    ca_cert: PathBuf,
    /// The issuing CA private key (PEM).
    #[arg(long)]
    ca_key: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyArg {
    EcdsaP256,
    EcdsaP384,
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[value(name = "rsa-3072")]
    Rsa3072,
}

impl From<KeyArg> for KeyType {
    fn from(k: KeyArg) -> Self {
        match k {
            KeyArg::EcdsaP256 => KeyType::EcdsaP256,
            KeyArg::EcdsaP384 => KeyType::EcdsaP384,
            KeyArg::Rsa2048 => KeyType::Rsa2048,
            KeyArg::Rsa3072 => KeyType::Rsa3072,
        }
    }
}

pub(super) fn run(cmd: CertsCommand) -> CmdResult {
    let now = OffsetDateTime::now_utc();
    // Valid from a few minutes ago, so a verifier whose clock is a little behind this one's
    // does not find a certificate made just now not yet valid.
    let from = now - Duration::minutes(5);
    match cmd {
        CertsCommand::Ca { out, cn, organization } => {
            let name = organization.name(&cn);
            let ca = Authority::new_root(name, out.key.into(), from, now + Duration::days(out.days))?;
            write_pair(&out.out, ca.issued())
        }
        CertsCommand::Intermediate {
            issuer,
            out,
            cn,
            organization,
        } => {
            let ca = load_issuer(&issuer)?;
            check_may_issue_cas(&ca, &issuer.ca_cert)?;
            let (until, note) = ending_with_issuer(now, from, out.days, &ca)?;
            let sub = ca.new_intermediate(organization.name(&cn), out.key.into(), from, until)?;
            write_pair(&out.out, sub.issued()).map(|()| print_note(note))
        }
        CertsCommand::Server { issuer, out, sans } => {
            let ca = load_issuer(&issuer)?;
            let refs: Vec<&str> = sans.iter().map(String::as_str).collect();
            let (until, note) = ending_with_issuer(now, from, out.days, &ca)?;
            let issued = ca.server(&refs, out.key.into(), from, until)?;
            write_pair(&out.out, &issued).map(|()| print_note(note))
        }
        CertsCommand::Client {
            issuer,
            out,
            cn,
            organization,
            organizational_unit,
            dns_names,
            uris,
            expired,
            not_yet_valid,
        } => {
            let ca = load_issuer(&issuer)?;
            let ((nb, na), note) = if expired {
                ((now - Duration::days(out.days.max(2)), now - Duration::days(1)), None)
            } else if not_yet_valid {
                let starts = now + Duration::days(1);
                let (until, note) = ending_with_issuer(now, starts, out.days.max(2), &ca)?;
                ((starts, until), note)
            } else {
                let (until, note) = ending_with_issuer(now, from, out.days, &ca)?;
                ((from, until), note)
            };
            let mut spec = ClientSpec::new(&cn, out.key.into(), nb, na);
            spec.organization = organization;
            spec.organizational_unit = organizational_unit;
            spec.dns_names = dns_names;
            spec.uris = uris;
            let issued = ca.client(&spec)?;
            write_pair(&out.out, &issued).map(|()| print_note(note))
        }
        CertsCommand::Crl {
            issuer,
            out,
            revoke,
            from,
            fresh,
            days,
        } => {
            let ca = load_issuer(&issuer)?;
            let request = CrlRequest {
                out: &out,
                from: from.as_deref(),
                fresh,
                revoke: &revoke,
                days,
            };
            Ok(write_crl(&ca, &request, now)?)
        }
    }
}

/// `requested` (`--days` from now), or the issuer's own notAfter when that comes first, with a
/// note saying so: a chain is valid only while each of its certificates is, so a certificate
/// that outlives its issuer is refused from the day the issuer expires (RFC 5280 §6.1.3, and
/// AWS's Roles Anywhere), which its notAfter would hide.
/// An issuer that has expired by `now` is refused, and one that expires before `starts` (the
/// certificate's notBefore, later than now for `--not-yet-valid`): what it issued would never
/// be valid.
fn ending_with_issuer(
    now: OffsetDateTime,
    starts: OffsetDateTime,
    days: i64,
    ca: &Authority,
) -> Result<(OffsetDateTime, Option<String>), String> {
    let requested = now + Duration::days(days);
    let Some(issuer_ends) = not_after_of(&ca.issued().cert_der) else {
        return Ok((requested, None));
    };
    let ends = crate::helper::refresh::format_time(issuer_ends);
    if issuer_ends <= now {
        return Err(format!(
            "the issuing CA expired at {ends} (--ca-cert): what it issues now would never be valid; renew the CA first"
        ));
    }
    if issuer_ends <= starts {
        return Err(format!(
            "the issuing CA expires at {ends} (--ca-cert), before the certificate would start ({}): it would never \
             be valid; renew the CA first",
            crate::helper::refresh::format_time(starts)
        ));
    }
    Ok(match capped_at_issuer(requested, issuer_ends) {
        Some(capped) => (
            capped,
            Some(format!(
                "note: --days {days} would outlive the issuing CA: the certificate ends when the CA does, {}\n",
                crate::helper::refresh::format_time(capped)
            )),
        ),
        None => (requested, None),
    })
}

/// Prints a note of [`ending_with_issuer`] on stderr, once the certificate is written.
fn print_note(note: Option<String>) {
    if let Some(note) = note {
        super::print_stderr(&note);
    }
}

/// The issuer's notAfter when `requested` would pass it; `None` when it does not.
fn capped_at_issuer(requested: OffsetDateTime, issuer_not_after: OffsetDateTime) -> Option<OffsetDateTime> {
    (requested > issuer_not_after).then_some(issuer_not_after)
}

/// A certificate's notAfter (`None` when it cannot be read: the issuer was loaded from it,
/// so that does not happen).
fn not_after_of(cert_der: &[u8]) -> Option<OffsetDateTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    Some(cert.validity().not_after.to_datetime())
}

fn load_issuer(args: &IssuerArgs) -> Result<Authority, Box<dyn std::error::Error>> {
    let cert = crate::fsutil::read_credential_text(&args.ca_cert)
        .map_err(|e| format!("cannot read {}: {e}", args.ca_cert.display()))?;
    let key = crate::fsutil::read_credential_text(&args.ca_key)
        .map_err(|e| format!("cannot read {}: {e}", args.ca_key.display()))?;
    if key.contains("ENCRYPTED") {
        return Err(format!(
            "{} is an encrypted key: give it decrypted (`openssl pkey -in {} -out ca-plain.key`, kept 0600)",
            args.ca_key.display(),
            args.ca_key.display()
        )
        .into());
    }
    let authority = Authority::from_pem(&cert, &key).map_err(|e| match e {
        PkiError::CaCertificate(_) => format!("{}: {e}", args.ca_cert.display()),
        PkiError::CaKey(_) => format!("{}: {e}", args.ca_key.display()),
        e => e.to_string(),
    })?;
    if !basic_constraints(&authority).is_some_and(|bc| bc.ca) {
        return Err(format!(
            "{} is not a CA certificate (basicConstraints CA:true): nothing it signed would verify",
            args.ca_cert.display()
        )
        .into());
    }
    Ok(authority)
}

/// What `certs crl` is asked to write.
struct CrlRequest<'a> {
    out: &'a Path,
    from: Option<&'a Path>,
    fresh: bool,
    revoke: &'a [String],
    days: i64,
}

/// What the file at `--out` holds before `certs crl` replaces it.
enum AtOut {
    /// Nothing: no file, or an empty one.
    Nothing,
    /// A CRL of this CA, and whether it is DER (written back so).
    OwnCrl(PreviousCrl, bool),
    /// A CRL this CA cannot issue again (another CA's, one holding what it cannot carry) and
    /// why, whether it is DER, and its number when it names this CA as its issuer.
    OtherCrl(String, bool, PreviousCrl),
}

/// Writes the CRL `request` asks for: the revocations of the CRL at `--out` (of `--from` as
/// well, or of neither with `--fresh`) and the `--revoke` serials, signed anew, under a lock
/// beside `--out` so that two runs at once do not lose one's serials. A file at `--out` is
/// replaced only when it is a CRL (of another CA only with `--fresh`); one in DER stays DER.
fn write_crl(ca: &Authority, request: &CrlRequest<'_>, now: OffsetDateTime) -> Result<(), String> {
    let out = request.out;
    // Never without the lock: another run's serials would be lost. The operator retries.
    let _lock = crate::fsutil::lock_beside(out)?;
    let at_out = read_at_out(ca, out)?;
    let der = matches!(at_out, AtOut::OwnCrl(_, true) | AtOut::OtherCrl(_, true, _));
    let mut sources = Vec::new();
    let previous = match (at_out, request.fresh) {
        (AtOut::OtherCrl(why, ..), false) => {
            return Err(format!(
                "{}: {why}; give --fresh to replace it with a new CRL of this CA",
                out.display()
            ));
        }
        (AtOut::OwnCrl(previous, _), true) => previous.number_only(),
        (AtOut::OtherCrl(_, _, number), true) => number,
        (AtOut::Nothing, true) => PreviousCrl::default(),
        (AtOut::OwnCrl(previous, _), false) => {
            sources.push(out);
            previous
        }
        (AtOut::Nothing, false) => PreviousCrl::default(),
    };
    let previous = match request.from {
        Some(from) => {
            sources.insert(0, from);
            read_previous_crl(ca, from)?
                .merged(previous)
                .map_err(|e| format!("{} and {}: {e}", from.display(), out.display()))?
        }
        None => previous,
    };
    let revoke: Vec<&str> = request.revoke.iter().map(String::as_str).collect();
    let crl = ca
        .reissue_crl(
            &previous,
            &revoke,
            now - Duration::minutes(5),
            now + Duration::days(request.days),
        )
        .map_err(|e| e.to_string())?;
    let bytes = match der {
        true => crl.der().map_err(|e| e.to_string())?,
        false => crl.pem.clone().into_bytes(),
    };
    // The CRL replaces the one before atomically: a reload never reads half of it.
    crate::fsutil::replace_file(out, &bytes, 0o644, None)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    super::print_stdout(&crl_summary(out, &sources, &crl, request.days, der));
    Ok(())
}

/// What the file at `out` holds, read to be replaced: refused when it is there and holds no
/// CRL at all (a key or a certificate given as `--out` by mistake is never overwritten).
fn read_at_out(ca: &Authority, out: &Path) -> Result<AtOut, String> {
    let bytes = match crate::fsutil::read_bounded(out, crate::fsutil::MAX_CONFIG_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AtOut::Nothing),
        Err(e) => return Err(format!("cannot read {}: {e}", out.display())),
    };
    if bytes.trim_ascii().is_empty() {
        return Ok(AtOut::Nothing);
    }
    let der = !bytes.trim_ascii_start().starts_with(b"-----BEGIN");
    match ca.read_crl(&bytes) {
        Ok(previous) => Ok(AtOut::OwnCrl(previous, der)),
        Err(e) if crate::pki::holds_a_crl(&bytes) => Ok(AtOut::OtherCrl(
            e.to_string()
                .trim_start_matches("the previous CRL cannot be carried over: ")
                .to_owned(),
            der,
            ca.crl_number_named_here(&bytes),
        )),
        Err(_) => Err(format!(
            "{} holds no CRL, and `certs crl` replaces only a CRL: choose another --out",
            out.display()
        )),
    }
}

/// The CRL at `path`, read to be issued again by `ca`.
fn read_previous_crl(ca: &Authority, path: &Path) -> Result<PreviousCrl, String> {
    let bytes = crate::fsutil::read_bounded(path, crate::fsutil::MAX_CONFIG_FILE_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ca.read_crl(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// What `certs crl` says it wrote: how many certificates the CRL revokes, which it carried
/// over from `sources` and which it added.
fn crl_summary(out: &Path, sources: &[&Path], crl: &ReissuedCrl, days: i64, der: bool) -> String {
    let total = crl.carried + crl.added.len();
    let mut summary = format!(
        "wrote {}{} revoking {total} certificate(s), next update in {days} days",
        out.display(),
        if der { " (DER, as it was)" } else { "" }
    );
    if crl.carried > 0 {
        let names: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
        summary.push_str(&format!(
            "\n  carried over from {}: {}",
            names.join(" and "),
            crl.carried
        ));
    }
    if !crl.added.is_empty() {
        summary.push_str(&format!("\n  newly revoked: {}", crl.added.join(", ")));
    }
    if !crl.already_listed.is_empty() {
        summary.push_str(&format!(
            "\n  revoked already (kept with their first revocation date): {}",
            crl.already_listed.join(", ")
        ));
    }
    summary.push('\n');
    summary
}

/// The basicConstraints of the issuing CA's certificate, when it has them.
fn basic_constraints(ca: &Authority) -> Option<x509_parser::extensions::BasicConstraints> {
    let (_, x509) = x509_parser::parse_x509_certificate(&ca.issued().cert_der).ok()?;
    x509.basic_constraints().ok().flatten().map(|bc| bc.value.clone())
}

/// A CA whose basicConstraints set `pathLenConstraint` to 0 may issue end-entity certificates
/// only (RFC 5280 §4.2.1.9): an intermediate under it would never verify.
fn check_may_issue_cas(ca: &Authority, ca_cert: &Path) -> CmdResult {
    match basic_constraints(ca).and_then(|bc| bc.path_len_constraint) {
        Some(0) => Err(format!(
            "{} has pathLenConstraint 0: it may issue end-entity certificates only, and an intermediate it signed would never verify",
            ca_cert.display()
        )
        .into()),
        _ => Ok(()),
    }
}

fn write_pair(prefix: &Path, issued: &Issued) -> CmdResult {
    let pem = with_extension(prefix, "pem");
    let key = with_extension(prefix, "key");
    // Neither is written when either is there: a new certificate beside an old key (or the
    // reverse) would be a pair that does not match.
    for path in [&pem, &key] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(format!("{} exists: not overwriting it; choose another --out", path.display()).into());
        }
    }
    write_new_public(&pem, issued.cert_pem.as_bytes())?;
    write_new_private(&key, issued.key_pem.as_bytes())?;
    super::print_stdout(&format!(
        "wrote {} and {} (serial {})\n",
        pem.display(),
        key.display(),
        issued.serial_hex
    ));
    Ok(())
}

fn with_extension(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_ends_no_later_than_its_issuer() {
        let issuer_ends = time::macros::datetime!(2027-01-01 00:00 UTC);
        let later = issuer_ends + Duration::seconds(1);
        assert_eq!(capped_at_issuer(later, issuer_ends), Some(issuer_ends));
        assert_eq!(capped_at_issuer(issuer_ends, issuer_ends), None);
        assert_eq!(capped_at_issuer(issuer_ends - Duration::days(1), issuer_ends), None);
    }
}
