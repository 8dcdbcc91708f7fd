//! The workload's certificate and key on a PKCS#11 token — an HSM, a smart card or YubiKey, a
//! TPM through tpm2-pkcs11, SoftHSM — named by RFC 7512 `pkcs11:` URIs as `aws_signing_helper`
//! takes them: `--certificate pkcs11:token=…;object=…` and/or `--private-key pkcs11:…`, the
//! module from `--pkcs11-lib` (or the URI's `module-path`; p11-kit's proxy without either),
//! the user PIN from the URI's `pin-value` or the passphrase flags.
//!
//! The key never leaves the token: each request is signed there, ECDSA as `CKM_ECDSA` over
//! the SHA-256 digest computed here (its `r‖s` answer re-encoded as the DER signature AWS4-X509
//! carries), RSA as `CKM_SHA256_RSA_PKCS` (PKCS#1 v1.5, as `aws_signing_helper` signs). A key
//! marked `CKA_ALWAYS_AUTHENTICATE` is given the same PIN before each signature.
//!
//! A module is loaded and initialised once per process (a second `C_Initialize` fails), so the
//! sidecar's refreshes, which read the identity again, reuse it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use zeroize::Zeroizing;

use crate::sigv4::SigV4Error;
use crate::sigv4::x509::{X509Algorithm, X509Signing};

/// An RFC 7512 PKCS#11 URI, as far as choosing a token, an object and a PIN goes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token's label.
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    /// `object`: the object's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the object's `CKA_ID`.
    pub id: Option<Vec<u8>>,
    /// `type`: `cert`, `private`, … (checked against the use, not searched by).
    pub object_type: Option<String>,
    /// `pin-value` (query).
    pub pin_value: Option<Zeroizing<String>>,
    /// `module-path` (query).
    pub module_path: Option<PathBuf>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("serial", &self.serial)
            .field("slot_id", &self.slot_id)
            .field("object", &self.object)
            .field("id", &self.id)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<redacted>"))
            .field("module_path", &self.module_path)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Uri {
    /// Whether `path` (a `--certificate` or `--private-key` value) is a PKCS#11 URI.
    pub fn is_uri(path: &Path) -> bool {
        path.to_str().is_some_and(|p| p.starts_with("pkcs11:"))
    }

    /// Parses `text` (RFC 7512 §2.3): `pkcs11:` path attributes separated by `;`, then query
    /// attributes after `?` separated by `&`, values percent-encoded. An attribute this
    /// module cannot honour (`pin-source`, library and slot descriptions) is an error rather
    /// than ignored, so a URI never picks another object than it names.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| "a PKCS#11 URI starts with pkcs11:".to_owned())?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        for (attribute, separator) in [(path, ';'), (query, '&')] {
            for pair in attribute.split(separator).filter(|p| !p.is_empty()) {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("attribute '{}' has no value", quoted(pair)))?;
                let bytes = percent_encoding::percent_decode_str(value).collect::<Vec<u8>>();
                let text =
                    || String::from_utf8(bytes.clone()).map_err(|_| format!("the value of '{name}' is not UTF-8"));
                let slot = match (separator, name) {
                    (';', "token") => &mut uri.token,
                    (';', "manufacturer") => &mut uri.manufacturer,
                    (';', "serial") => &mut uri.serial,
                    (';', "model") => &mut uri.model,
                    (';', "object") => &mut uri.object,
                    (';', "type") => &mut uri.object_type,
                    (';', "id") => {
                        set_once(&mut uri.id, name, bytes.clone())?;
                        continue;
                    }
                    (';', "slot-id") => {
                        let id = text()?
                            .parse()
                            .map_err(|_| "slot-id is not a decimal number".to_owned())?;
                        set_once(&mut uri.slot_id, name, id)?;
                        continue;
                    }
                    ('&', "pin-value") => {
                        set_once(&mut uri.pin_value, name, Zeroizing::new(text()?))?;
                        continue;
                    }
                    ('&', "module-path") => {
                        set_once(&mut uri.module_path, name, PathBuf::from(text()?))?;
                        continue;
                    }
                    ('&', "pin-source") => {
                        return Err("pin-source is not supported: give the PIN as pin-value, or with \
                             --private-key-passphrase-file or --private-key-passphrase-env"
                            .to_owned());
                    }
                    _ => {
                        return Err(misplaced(separator, name)
                            .or_else(|| miscased(name))
                            .unwrap_or_else(|| format!("unknown or unsupported attribute '{}'", quoted(name))));
                    }
                };
                set_once(slot, name, text()?)?;
            }
        }
        Ok(uri)
    }

    /// The URI without its PIN, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |name: &str, value: Option<&str>| {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        };
        add("token", self.token.as_deref());
        add("serial", self.serial.as_deref());
        add("object", self.object.as_deref());
        let id = self
            .id
            .as_ref()
            .map(|id| id.iter().map(|b| format!("%{b:02X}")).collect::<String>());
        add("id", id.as_deref());
        let slot = self.slot_id.map(|s| s.to_string());
        add("slot-id", slot.as_deref());
        format!("pkcs11:{}", parts.join(";"))
    }
}

/// The attributes this module takes in a URI's path (before `?`, separated by `;`).
const PATH_ATTRIBUTES: [&str; 8] = [
    "token",
    "manufacturer",
    "serial",
    "model",
    "slot-id",
    "object",
    "id",
    "type",
];

/// The attributes this module takes in a URI's query (after `?`, separated by `&`).
const QUERY_ATTRIBUTES: [&str; 2] = ["pin-value", "module-path"];

/// Why the attribute `name`, found in the path (`separator` `;`) or in the query (`&`), is not
/// taken there, when RFC 7512 §2.3 puts it in the other part (the path holds what names the
/// token and object, the query how to reach them), as the PIN is in
/// `pkcs11:token=x;object=y;pin-value=1234`. `None` for an attribute taken in neither part. The
/// message names the attribute from [`PATH_ATTRIBUTES`] or [`QUERY_ATTRIBUTES`], never the
/// URI's text: its value may be the PIN.
fn misplaced(separator: char, name: &str) -> Option<String> {
    let named = |known: &[&'static str]| known.iter().copied().find(|k| *k == name);
    match separator {
        ';' => named(&QUERY_ATTRIBUTES).map(|name| {
            format!("`{name}` is a query attribute (RFC 7512 §2.3): write it after `?`, as `pkcs11:…?{name}=…`")
        }),
        _ => named(&PATH_ATTRIBUTES).map(|name| {
            format!("`{name}` is a path attribute (RFC 7512 §2.3): write it before `?`, as `pkcs11:{name}=…;…?…`")
        }),
    }
}

/// Why `name` is not taken when it is a known attribute written in other letters
/// (`PIN-VALUE`): the names are lower case, as every PKCS#11 library and p11-kit write them
/// and match them.
fn miscased(name: &str) -> Option<String> {
    PATH_ATTRIBUTES
        .iter()
        .chain(QUERY_ATTRIBUTES.iter())
        .find(|known| known.eq_ignore_ascii_case(name))
        .map(|known| format!("attribute names are lower case: write `{known}`"))
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(format!("attribute '{name}' is given twice")),
    }
}

/// A fragment of a URI as a message repeats it: `…` for a long one, or one that may hold the
/// PIN.
fn quoted(text: &str) -> &str {
    match text.len() <= 40 && !text.contains("pin") {
        true => text,
        false => "…",
    }
}

/// Where a token's objects are read from: the module, the token's URI and the user PIN.
pub struct TokenSource<'a> {
    pub module: PathBuf,
    pub uri: &'a Pkcs11Uri,
    pub pin: Option<Zeroizing<String>>,
}

impl TokenSource<'_> {
    fn pin(&self) -> Option<&str> {
        self.pin.as_deref().map(String::as_str)
    }
}

/// The certificate a URI names: its DER, and the `CKA_ID` and label a key of the same object
/// is found by when no key URI is given.
pub struct TokenCertificate {
    pub der: Vec<u8>,
    pub id: Option<Vec<u8>>,
    pub label: Option<String>,
    /// The token it was found on, where its key is looked for.
    slot: Slot,
}

/// Reads the one certificate object `source.uri` names (`CKO_CERTIFICATE`, by label and id).
///
/// As `aws_signing_helper` (after draft-woodhouse-cert-best-practice §8.1): every token the URI
/// matches is searched without logging in — certificates are public objects on most tokens,
/// so a credential cache hit needs no PIN — and the first that holds a match is used; only
/// when none does and the URI matches exactly one token is it logged into (with the PIN) and
/// searched again, for a token that shows certificates to its user only.
pub fn read_certificate(source: &TokenSource<'_>) -> Result<TokenCertificate, String> {
    check_type(source.uri, "cert")?;
    let module = module(&source.module)?;
    let slots = matching_slots(&module, source.uri)?;
    let mut found = None;
    let mut last_error = None;
    for &slot in &slots {
        let session = open_session(&module, source.uri, slot)?;
        match find_one(&session, source.uri, ObjectClass::CERTIFICATE, None, "certificate") {
            Ok(object) => {
                found = Some((slot, session, object));
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let (slot, session, found) = match (found, slots.as_slice(), source.pin()) {
        (Some(found), _, _) => found,
        (None, [slot], Some(pin)) => {
            let session = open_session(&module, source.uri, *slot)?;
            login(&session, source.uri, pin)?;
            let object = find_one(&session, source.uri, ObjectClass::CERTIFICATE, None, "certificate")?;
            (*slot, session, object)
        }
        (None, [_], _) => {
            return Err(last_error.unwrap_or_else(|| format!("{}: no certificate on the token", source.uri.describe())));
        }
        (None, several, _) => {
            return Err(format!(
                "{}: no certificate on the {} tokens it matches",
                source.uri.describe(),
                several.len()
            ));
        }
    };
    let attributes = session
        .get_attributes(found, &[AttributeType::Value, AttributeType::Id, AttributeType::Label])
        .map_err(|e| token_error(source.uri, "reading the certificate", &e))?;
    let mut certificate = TokenCertificate {
        der: Vec::new(),
        id: None,
        label: None,
        slot,
    };
    for attribute in attributes {
        match attribute {
            Attribute::Value(v) => certificate.der = v,
            Attribute::Id(id) if !id.is_empty() => certificate.id = Some(id),
            Attribute::Label(l) if !l.is_empty() => certificate.label = String::from_utf8(l).ok(),
            _ => {}
        }
    }
    if certificate.der.is_empty() {
        return Err(format!(
            "{}: the certificate object has no value",
            source.uri.describe()
        ));
    }
    Ok(certificate)
}

/// A private key on a token that signs AWS4-X509 requests.
pub struct TokenKey {
    session: Mutex<Session>,
    key: ObjectHandle,
    algorithm: X509Algorithm,
    /// The PIN again for `CKA_ALWAYS_AUTHENTICATE` keys.
    context_pin: Option<Zeroizing<String>>,
    uri: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({:?}, {})", self.algorithm, self.uri)
    }
}

/// Opens the private key `source.uri` names (`CKO_PRIVATE_KEY`, by label and id) on the one
/// token the URI matches, or, given the `certificate` read from a token, the key on that
/// token with its id (else label): the key of a certificate shares its `CKA_ID` by
/// convention. The token is logged into when a PIN is given (private keys are private
/// objects); with several matching tokens, whose PINs differ, the URI must name one.
pub fn open_key(source: &TokenSource<'_>, certificate: Option<&TokenCertificate>) -> Result<TokenKey, String> {
    check_type(source.uri, "private")?;
    let module = module(&source.module)?;
    let slot = match certificate {
        Some(c) => c.slot,
        None => match matching_slots(&module, source.uri)?.as_slice() {
            [one] => *one,
            several => {
                return Err(format!(
                    "{}: {} tokens match: name one with token=, serial= or slot-id=",
                    source.uri.describe(),
                    several.len()
                ));
            }
        },
    };
    let session = open_session(&module, source.uri, slot)?;
    let logged_in = match source.pin() {
        Some(pin) => login(&session, source.uri, pin).map(|()| true)?,
        None => false,
    };
    let by_certificate = certificate.filter(|c| c.id.is_some() || c.label.is_some());
    let key = find_one(
        &session,
        source.uri,
        ObjectClass::PRIVATE_KEY,
        by_certificate,
        "private key",
    )
    .map_err(|e| match logged_in {
        true => e,
        false => format!("{e} (private keys are often visible only once logged in: give the PIN)"),
    })?;
    let attributes = session
        .get_attributes(key, &[AttributeType::KeyType, AttributeType::AlwaysAuthenticate])
        .map_err(|e| token_error(source.uri, "reading the private key", &e))?;
    let mut algorithm = None;
    let mut always_authenticate = false;
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) if t == KeyType::EC => algorithm = Some(X509Algorithm::Ecdsa),
            Attribute::KeyType(t) if t == KeyType::RSA => algorithm = Some(X509Algorithm::Rsa),
            Attribute::AlwaysAuthenticate(a) => always_authenticate = a,
            _ => {}
        }
    }
    let algorithm = algorithm.ok_or_else(|| {
        format!(
            "{}: the private key is neither an EC nor an RSA key",
            source.uri.describe()
        )
    })?;
    Ok(TokenKey {
        session: Mutex::new(session),
        key,
        algorithm,
        context_pin: always_authenticate.then(|| source.pin.clone()).flatten(),
        uri: source.uri.describe(),
    })
}

impl X509Signing for TokenKey {
    fn algorithm(&self) -> X509Algorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigV4Error> {
        let failed = |step: &str, e: &CkError| SigV4Error::TokenSigningFailed(format!("{}: {step}: {e}", self.uri));
        let session = self
            .session
            .lock()
            .map_err(|_| SigV4Error::TokenSigningFailed(format!("{}: a signature failed before", self.uri)))?;
        if let Some(pin) = &self.context_pin {
            let pin = cryptoki::types::AuthPin::new(pin.as_str().into());
            session
                .login(UserType::ContextSpecific, Some(&pin))
                .map_err(|e| failed("logging in for the key", &e))?;
        }
        match self.algorithm {
            X509Algorithm::Rsa => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(|e| failed("signing", &e)),
            X509Algorithm::Ecdsa => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, digest.as_ref())
                    .map_err(|e| failed("signing", &e))?;
                ecdsa_der_from_raw(&raw).ok_or_else(|| {
                    SigV4Error::TokenSigningFailed(format!(
                        "{}: the token's ECDSA signature is {} bytes, not r and s of one length",
                        self.uri,
                        raw.len()
                    ))
                })
            }
        }
    }
}

/// The DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3: a SEQUENCE of INTEGERs r and s) of the
/// `r‖s` a PKCS#11 `CKM_ECDSA` signature is (PKCS#11 §2.3.1: each half the order's length).
pub fn ecdsa_der_from_raw(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    Some(yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            seq.next().write_bigint_bytes(r, true);
            seq.next().write_bigint_bytes(s, true);
        })
    }))
}

/// A URI's `type` must fit the use it is given for.
fn check_type(uri: &Pkcs11Uri, wanted: &str) -> Result<(), String> {
    match uri.object_type.as_deref() {
        Some(t) if t != wanted => Err(format!(
            "{}: type={t}, where a {} is expected (type={wanted})",
            uri.describe(),
            if wanted == "cert" { "certificate" } else { "private key" }
        )),
        _ => Ok(()),
    }
}

/// A read-only session on the token in `slot`.
fn open_session(module: &Pkcs11, uri: &Pkcs11Uri, slot: Slot) -> Result<Session, String> {
    module
        .open_ro_session(slot)
        .map_err(|e| token_error(uri, "opening a session", &e))
}

/// Logs the user in with `pin` (a session of this process already logged in is fine).
fn login(session: &Session, uri: &Pkcs11Uri, pin: &str) -> Result<(), String> {
    let pin = cryptoki::types::AuthPin::new(pin.into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(format!(
            "{}: the token refused the PIN (CKR_PIN_INCORRECT)",
            uri.describe()
        )),
        Err(e) => Err(token_error(uri, "logging in", &e)),
    }
}

/// The module `aws_signing_helper` uses without `--pkcs11-lib`: p11-kit's proxy, which offers
/// every token of the modules p11-kit is configured with.
pub const DEFAULT_MODULE: &str = "p11-kit-proxy.so";

/// The module at `path`, loaded and initialised once per process.
fn module(path: &Path) -> Result<Pkcs11, String> {
    static MODULES: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();
    let modules = MODULES.get_or_init(Mutex::default);
    let mut modules = modules
        .lock()
        .map_err(|_| "a PKCS#11 module failed to load before".to_owned())?;
    if let Some((_, loaded)) = modules.iter().find(|(p, _)| p == path) {
        return Ok(loaded.clone());
    }
    let loaded = Pkcs11::new(path).map_err(|e| {
        let hint = match path == Path::new(DEFAULT_MODULE) {
            true => {
                " (the default without --pkcs11-lib, as for aws_signing_helper: install p11-kit, or name the module)"
            }
            false => "",
        };
        format!("cannot load the PKCS#11 module {}{hint}: {e}", path.display())
    })?;
    match loaded.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(format!("cannot initialise the PKCS#11 module {}: {e}", path.display())),
    }
    modules.push((path.to_owned(), loaded.clone()));
    Ok(loaded)
}

/// The slots of the initialised tokens the URI's token attributes match (an uninitialised
/// token, as SoftHSM keeps free, holds no object); an error naming the tokens there are when
/// none matches.
fn matching_slots(module: &Pkcs11, uri: &Pkcs11Uri) -> Result<Vec<Slot>, String> {
    let slots = module
        .get_slots_with_initialized_token()
        .map_err(|e| token_error(uri, "listing the slots", &e))?;
    let mut seen = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let info = module
            .get_token_info(slot)
            .map_err(|e| token_error(uri, "reading a token's information", &e))?;
        let fits = |wanted: &Option<String>, has: &str| wanted.as_deref().is_none_or(|w| w == has.trim_end());
        if fits(&uri.token, info.label())
            && fits(&uri.serial, info.serial_number())
            && fits(&uri.manufacturer, info.manufacturer_id())
            && fits(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            matching.push(slot);
        }
        seen.push(format!("'{}' (slot {})", info.label().trim_end(), slot.id()));
    }
    match matching.is_empty() {
        false => Ok(matching),
        true => Err(format!(
            "{}: no token matches (the module has {})",
            uri.describe(),
            match seen.is_empty() {
                true => "no token".to_owned(),
                false => seen.join(", "),
            }
        )),
    }
}

/// The one object of `class` the URI's `object` and `id` name, or, given `certificate`, the
/// one with the certificate's id (else label).
fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
    certificate: Option<&TokenCertificate>,
    what: &str,
) -> Result<ObjectHandle, String> {
    let mut template = vec![Attribute::Class(class)];
    match certificate {
        Some(c) => match (&c.id, &c.label) {
            (Some(id), _) => template.push(Attribute::Id(id.clone())),
            (None, Some(label)) => template.push(Attribute::Label(label.clone().into_bytes())),
            (None, None) => {}
        },
        None => {
            if let Some(label) = &uri.object {
                template.push(Attribute::Label(label.clone().into_bytes()));
            }
            if let Some(id) = &uri.id {
                template.push(Attribute::Id(id.clone()));
            }
        }
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| token_error(uri, &format!("looking for the {what}"), &e))?;
    let by = match certificate {
        Some(_) => " with the certificate's id",
        None => "",
    };
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("{}: no {what}{by} on the token", uri.describe())),
        _ => Err(format!(
            "{}: {} {what}s{by} on the token: name one with object= or id=",
            uri.describe(),
            found.len()
        )),
    }
}

fn token_error(uri: &Pkcs11Uri, step: &str, e: &CkError) -> String {
    format!("{}: {step}: {e}", uri.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_as_rfc_7512_writes_them() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=Work%20Keys;serial=0a1b;object=app;id=%01%FF;type=private?pin-value=12%2634&module-path=/usr/lib/p11.so",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("Work Keys"));
        assert_eq!(uri.serial.as_deref(), Some("0a1b"));
        assert_eq!(uri.object.as_deref(), Some("app"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xFF][..]));
        assert_eq!(uri.object_type.as_deref(), Some("private"));
        assert_eq!(uri.pin_value.as_deref().map(String::as_str), Some("12&34"));
        assert_eq!(uri.module_path.as_deref(), Some(Path::new("/usr/lib/p11.so")));
        assert_eq!(
            uri.describe(),
            "pkcs11:token=Work Keys;serial=0a1b;object=app;id=%01%FF"
        );
        assert!(!format!("{uri:?}").contains("12&34"));
        assert_eq!(Pkcs11Uri::parse("pkcs11:").unwrap(), Pkcs11Uri::default());
        assert_eq!(Pkcs11Uri::parse("pkcs11:slot-id=3").unwrap().slot_id, Some(3));
    }

    #[test]
    fn uris_that_would_pick_another_object_are_refused() {
        for (text, error) in [
            ("file:x", "a PKCS#11 URI starts with pkcs11:"),
            ("pkcs11:token", "attribute 'token' has no value"),
            ("pkcs11:object=a;object=b", "attribute 'object' is given twice"),
            (
                "pkcs11:library-description=x",
                "unknown or unsupported attribute 'library-description'",
            ),
            ("pkcs11:object=a?pin-source=file:/pin", "pin-source is not supported"),
            ("pkcs11:slot-id=x", "slot-id is not a decimal number"),
            ("pkcs11:object=%FF", "the value of 'object' is not UTF-8"),
            (
                "pkcs11:object=a?module-name=p11",
                "unknown or unsupported attribute 'module-name'",
            ),
        ] {
            let e = Pkcs11Uri::parse(text).unwrap_err();
            assert!(e.starts_with(error), "{text}: {e}");
        }
    }

    /// An attribute written in the wrong part of the URI (the PIN among the path attributes)
    /// is said to be so, with where it goes, and the PIN is never repeated.
    #[test]
    fn an_attribute_in_the_wrong_part_says_where_it_goes() {
        for (text, error) in [
            (
                "pkcs11:token=x;object=y;pin-value=1234",
                "`pin-value` is a query attribute (RFC 7512 §2.3): write it after `?`, as `pkcs11:…?pin-value=…`",
            ),
            (
                "pkcs11:token=x;module-path=/usr/lib/p11.so?pin-value=1234",
                "`module-path` is a query attribute (RFC 7512 §2.3): write it after `?`, as `pkcs11:…?module-path=…`",
            ),
            (
                "pkcs11:object=a?pin-value=1234&token=b",
                "`token` is a path attribute (RFC 7512 §2.3): write it before `?`, as `pkcs11:token=…;…?…`",
            ),
            (
                "pkcs11:token=x;object=y?PIN-VALUE=1234",
                "attribute names are lower case: write `pin-value`",
            ),
            (
                "pkcs11:Token=x;object=y?pin-value=1234",
                "attribute names are lower case: write `token`",
            ),
        ] {
            let e = Pkcs11Uri::parse(text).unwrap_err();
            assert_eq!(e, error, "{text}");
            assert!(!e.contains("1234"), "{e}");
        }
    }

    #[test]
    fn a_raw_ecdsa_signature_becomes_der() {
        // r with its top bit set gains a 0 byte; s with leading zeros loses them.
        let mut raw = vec![0x80; 32];
        raw.extend([0u8; 31]);
        raw.push(0x05);
        let der = ecdsa_der_from_raw(&raw).unwrap();
        let mut want = vec![0x30, 0x26, 0x02, 0x21, 0x00];
        want.extend([0x80; 32]);
        want.extend([0x02, 0x01, 0x05]);
        assert_eq!(der, want);
        assert_eq!(ecdsa_der_from_raw(&[1, 2, 3]), None);
        assert_eq!(ecdsa_der_from_raw(&[]), None);
    }
}
