//! Loading the workload's identity from disk the way `aws_signing_helper` accepts it: the
//! certificate (PEM or DER) or a PKCS#12 bundle holding certificate, chain and key; optional
//! intermediates (PEM bundle or DER); the private key as PKCS#8, SEC1 (EC) or PKCS#1 (RSA), PEM
//! or DER, or as an encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2) unlocked by a passphrase;
//! or the certificate and key on a PKCS#11 token (`pkcs11:` URIs, [`super::pkcs11`]).

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::pkcs11::{self, Pkcs11Uri, TokenCertificate, TokenKey, TokenSource};
use crate::identity::ClientCertificate;
use crate::sigv4::SigV4Error;
use crate::sigv4::x509::{X509Algorithm, X509Signing, X509SigningKey, X509VerifyingKey};

/// Where the identity comes from (paths, not contents: the sidecar re-reads them on refresh).
/// `Debug` shows a `pkcs11:` URI without its `pin-value`.
#[derive(Clone)]
pub struct IdentitySource {
    /// Certificate (PEM/DER) or PKCS#12 bundle (`.p12`/`.pfx`, or detected from its
    /// contents), or a `pkcs11:` URI.
    pub certificate: PathBuf,
    /// Private key, or a `pkcs11:` URI; absent with a PKCS#12 bundle, or with a certificate on
    /// a token (the key is then the token's object with the certificate's id).
    pub private_key: Option<PathBuf>,
    /// The chain; without it, the certificates after the leaf in `certificate` (or the
    /// PKCS#12 bundle's).
    pub intermediates: Option<PathBuf>,
    /// Passphrase of an encrypted key or bundle, or the PIN of a token.
    pub passphrase: Passphrase,
    /// The PKCS#11 module of a `pkcs11:` URI without `module-path`.
    pub pkcs11_lib: Option<PathBuf>,
}

impl fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |path: &Path| match path.to_str() {
            Some(text) if Pkcs11Uri::is_uri(path) => uri_without_pin(text),
            _ => path.display().to_string(),
        };
        f.debug_struct("IdentitySource")
            .field("certificate", &shown(&self.certificate))
            .field("private_key", &self.private_key.as_deref().map(shown))
            .field("intermediates", &self.intermediates)
            .field("passphrase", &self.passphrase)
            .field("pkcs11_lib", &self.pkcs11_lib)
            .finish()
    }
}

impl IdentitySource {
    /// What chooses the private key, as given — `--private-key` (or, without it, the
    /// certificate argument the key comes with: a PKCS#12 bundle, a certificate on a token)
    /// and `--pkcs11-lib` —, for the credential cache to key by: a hit reads the certificate
    /// only, so another key argument must be another entry, or a wrong key would be noticed
    /// only once the entry expires. A file path is made absolute (a relative one names
    /// another file from another folder); a `pkcs11:` URI is kept without its `pin-value`
    /// (the PIN chooses no key).
    pub fn key_selector(&self) -> [String; 2] {
        let key = match &self.private_key {
            Some(key) => format!("private-key:{}", selector_of(key)),
            None => format!("with-certificate:{}", selector_of(&self.certificate)),
        };
        let module = match &self.pkcs11_lib {
            Some(lib) => format!("pkcs11-lib:{}", selector_of(lib)),
            None => "pkcs11-lib-default".to_owned(),
        };
        [key, module]
    }
}

/// A `--private-key`, `--certificate` or `--pkcs11-lib` value as it selects a key: a
/// `pkcs11:` URI without its `pin-value`, a path made absolute.
fn selector_of(path: &Path) -> String {
    match path.to_str() {
        Some(text) if Pkcs11Uri::is_uri(path) => uri_without_pin(text),
        _ => std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .display()
            .to_string(),
    }
}

/// `text` (a `pkcs11:` URI) without its `pin-value` query attribute(s), nor any attribute
/// whose name mentions a PIN in any case, in the query or among the path attributes (where the
/// parser refuses one, and its value must not show all the same).
fn uri_without_pin(text: &str) -> String {
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let path = path_without_pin(path);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !names_a_pin(pair))
        .collect();
    match kept.is_empty() {
        true => path,
        false => format!("{path}?{}", kept.join("&")),
    }
}

/// The path part of a `pkcs11:` URI (before `?`) without its attributes that name a PIN.
fn path_without_pin(path: &str) -> String {
    let Some((scheme, attributes)) = path.split_once(':') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = attributes.split(';').filter(|a| !names_a_pin(a)).collect();
    format!("{scheme}:{}", kept.join(";"))
}

/// Whether a URI attribute (`name=value`) names a PIN (`pin-value`, `PIN-VALUE`, `pin-source`).
fn names_a_pin(attribute: &str) -> bool {
    let name = attribute.split_once('=').map_or(attribute, |(name, _)| name);
    name.to_ascii_lowercase().contains("pin")
}

/// Where the passphrase of an encrypted key or a PKCS#12 bundle comes from.
#[derive(Clone, Debug, Default)]
pub enum Passphrase {
    #[default]
    None,
    /// The value of this environment variable.
    Env(String),
    /// The first line of this file.
    File(PathBuf),
}

/// A certificate, its chain and the key that signs for it.
pub struct WorkloadIdentity {
    pub certificate: ClientCertificate,
    pub chain: Vec<Vec<u8>>,
    pub key: WorkloadKey,
}

/// The key that signs the workload's requests.
#[derive(Debug)]
pub enum WorkloadKey {
    /// Read from a file (or a PKCS#12 bundle), with its PKCS#8 DER.
    File(X509SigningKey, Zeroizing<Vec<u8>>),
    /// Held by a PKCS#11 token, which signs.
    Token(TokenKey),
}

impl X509Signing for WorkloadKey {
    fn algorithm(&self) -> X509Algorithm {
        match self {
            WorkloadKey::File(k, _) => k.algorithm(),
            WorkloadKey::Token(k) => k.algorithm(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigV4Error> {
        match self {
            WorkloadKey::File(k, _) => k.sign(message),
            WorkloadKey::Token(k) => k.sign(message),
        }
    }
}

impl WorkloadIdentity {
    /// Secret material that stays the same across restarts, for the sidecar to derive its
    /// IMDS token key from (`label` names that use): the private key (PKCS#8 DER) when it is
    /// in a file; for an RSA key on a token, its signature of `label` (PKCS#1 v1.5 is
    /// deterministic, and only the key's holder can make it). `None` for an EC key on a token:
    /// ECDSA signatures differ each time.
    pub fn stable_secret(&self, label: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        match &self.key {
            WorkloadKey::File(_, der) => Ok(Some(der.clone())),
            WorkloadKey::Token(key) if key.algorithm() == X509Algorithm::Rsa => key
                .sign(label)
                .map(|s| Some(Zeroizing::new(s)))
                .map_err(|e| e.to_string()),
            WorkloadKey::Token(_) => Ok(None),
        }
    }

    /// Reads and parses the identity; every error names the file and what to do.
    pub fn load(source: &IdentitySource) -> Result<Self, String> {
        let IdentityParts { leaf, chain, key } = read_identity(source)?;
        let certificate = ClientCertificate::parse(leaf).map_err(|e| format!("{}: {e}", shown(&source.certificate)))?;
        let key_path = source.private_key.as_ref().unwrap_or(&source.certificate);
        // The server would only say "Signature validation failed".
        let not_its_key = || {
            format!(
                "{}: this private key is not the key of the certificate in {}",
                shown(key_path),
                shown(&source.certificate)
            )
        };
        let key = match key {
            KeyPart::Pkcs8(der) => {
                let key = X509SigningKey::from_pkcs8_der(&der).map_err(|e| format!("{}: {e}", key_path.display()))?;
                if key.public_key() != certificate.public_key().1 {
                    return Err(not_its_key());
                }
                WorkloadKey::File(key, der)
            }
            KeyPart::Token(key) => {
                // The token keeps the public half to itself: a probe signature, verified with
                // the certificate's key, shows the pair (and that the token signs at all).
                let (kind, public_key) = certificate.public_key();
                let verifier = X509VerifyingKey::parse(kind, public_key).map_err(|e| e.to_string())?;
                let probe = b"rolegate: does this token key belong to the certificate?";
                let signature = key.sign(probe).map_err(|e| e.to_string())?;
                verifier
                    .verify(key.algorithm(), probe, &signature)
                    .map_err(|_| not_its_key())?;
                WorkloadKey::Token(key)
            }
        };
        Ok(Self {
            certificate,
            chain,
            key,
        })
    }
}

/// The identity as a TLS client presents it (mTLS to the gRPC API): the leaf and its chain, and
/// the key.
pub fn tls_client_identity(
    source: &IdentitySource,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let IdentityParts { leaf, chain, key } = read_identity(source)?;
    let certificates = std::iter::once(leaf).chain(chain).map(CertificateDer::from).collect();
    let KeyPart::Pkcs8(der) = key else {
        return Err(format!(
            "{}: a TLS client key is read from a file, not from a PKCS#11 token",
            shown(source.private_key.as_ref().unwrap_or(&source.certificate))
        ));
    };
    Ok((certificates, PrivateKeyDer::Pkcs8(der.to_vec().into())))
}

/// An identity as read from its files.
struct IdentityParts {
    /// The leaf certificate, DER.
    leaf: Vec<u8>,
    /// Its chain, DER, from the bundle or `intermediates`.
    chain: Vec<Vec<u8>>,
    key: KeyPart,
}

/// The private key as read: PKCS#8 DER from a file or bundle, or a key on a token.
enum KeyPart {
    Pkcs8(Zeroizing<Vec<u8>>),
    Token(TokenKey),
}

fn read_identity(source: &IdentitySource) -> Result<IdentityParts, String> {
    let on_token = |p: &Path| Pkcs11Uri::is_uri(p);
    if on_token(&source.certificate) || source.private_key.as_deref().is_some_and(on_token) {
        return read_token_identity(source);
    }
    let cert_bytes = read(&source.certificate)?;
    let (leaf, chain, key_pkcs8) = if is_pkcs12(&source.certificate, &cert_bytes) {
        let (leaf, chain, key) = open_pkcs12(&cert_bytes, &source.passphrase)
            .map_err(|e| format!("{}: {e}", source.certificate.display()))?;
        let key = match &source.private_key {
            Some(p) => load_private_key(p, &source.passphrase)?,
            None => key,
        };
        (leaf, chain, key)
    } else {
        let (leaf, chain) = leaf_and_chain(&source.certificate, &cert_bytes)?;
        let key_path = source.private_key.as_ref().ok_or_else(|| {
            format!(
                "{} is not a PKCS#12 bundle, so --private-key is required",
                source.certificate.display()
            )
        })?;
        (leaf, chain, load_private_key(key_path, &source.passphrase)?)
    };
    Ok(IdentityParts {
        chain: chain_or_intermediates(source, &leaf, chain)?,
        leaf,
        key: KeyPart::Pkcs8(key_pkcs8),
    })
}

/// An identity with its certificate, its key or both on a PKCS#11 token. The key is on the
/// token when `--private-key` is a URI, or when the certificate is and no `--private-key` is
/// given (then the key with the certificate's `CKA_ID`).
fn read_token_identity(source: &IdentitySource) -> Result<IdentityParts, String> {
    let passphrase = source.passphrase.read()?;
    let leaf = read_leaf(source, &passphrase)?;
    let key = match &source.private_key {
        Some(p) if Pkcs11Uri::is_uri(p) => {
            let uri = parse_uri(p)?;
            KeyPart::Token(pkcs11::open_key(&token_source(source, &uri, &passphrase), None)?)
        }
        Some(p) => KeyPart::Pkcs8(load_private_key(p, &source.passphrase)?),
        // The key of a certificate on a token: the token's key object with the certificate's
        // id (or label).
        None => {
            let (uri, certificate) = leaf.on_token.ok_or("a private key is needed")?;
            let uri = Pkcs11Uri {
                object_type: None,
                ..uri
            };
            KeyPart::Token(pkcs11::open_key(
                &token_source(source, &uri, &passphrase),
                Some(&certificate),
            )?)
        }
    };
    Ok(IdentityParts {
        chain: chain_or_intermediates(source, &leaf.der, leaf.chain)?,
        leaf: leaf.der,
        key,
    })
}

/// The certificate and its chain without the key: what the credential cache is keyed by and
/// `explain` reads, without decrypting a key or having a token sign. A PEM certificate file
/// may hold the chain after the leaf (a "full chain" file, as cert-manager's `tls.crt`);
/// `--intermediates`, when given, is the chain instead. A PKCS#12 bundle is opened whole (the
/// certificate is inside it).
pub fn read_certificate_and_chain(source: &IdentitySource) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let (der, chain) = match Pkcs11Uri::is_uri(&source.certificate) {
        true => {
            let leaf = read_leaf(source, &source.passphrase.read()?)?;
            (leaf.der, leaf.chain)
        }
        false => {
            let bytes = read(&source.certificate)?;
            if is_pkcs12(&source.certificate, &bytes) {
                let parts = read_identity(source)?;
                return Ok((parts.leaf, parts.chain));
            }
            leaf_and_chain(&source.certificate, &bytes)?
        }
    };
    let chain = chain_or_intermediates(source, &der, chain)?;
    Ok((der, chain))
}

/// A leaf certificate as read: its DER, the chain that came with it in its file, and — read
/// from a token — its URI and the object found.
struct Leaf {
    der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    on_token: Option<(Pkcs11Uri, TokenCertificate)>,
}

/// The leaf certificate, from a token (`pkcs11:` URI) or a PEM or DER file.
fn read_leaf(source: &IdentitySource, passphrase: &Option<Zeroizing<String>>) -> Result<Leaf, String> {
    if !Pkcs11Uri::is_uri(&source.certificate) {
        let (der, chain) = leaf_and_chain(&source.certificate, &read(&source.certificate)?)?;
        return Ok(Leaf {
            der,
            chain,
            on_token: None,
        });
    }
    let uri = parse_uri(&source.certificate)?;
    let certificate = pkcs11::read_certificate(&token_source(source, &uri, passphrase))?;
    Ok(Leaf {
        der: certificate.der.clone(),
        chain: Vec::new(),
        on_token: Some((uri, certificate)),
    })
}

/// `--intermediates` when given, else the chain that came with the certificate.
/// The chain sent with `leaf`: the `--intermediates` file's certificates when it is given,
/// else those that came with the leaf; copies of the leaf left out (a full-chain file given
/// as the intermediates), as the daemon leaves them out.
fn chain_or_intermediates(source: &IdentitySource, leaf: &[u8], chain: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    let chain = match &source.intermediates {
        Some(p) => read_intermediates(p)?,
        None => chain,
    };
    Ok(crate::identity::without_leaf(chain, leaf))
}

fn parse_uri(path: &Path) -> Result<Pkcs11Uri, String> {
    let text = path.to_str().unwrap_or_default();
    Pkcs11Uri::parse(text).map_err(|e| format!("{}: {e}", shown_uri(text)))
}

/// Where a token object is read from: the module — the URI's `module-path`, else
/// `--pkcs11-lib`, else p11-kit's proxy (as `aws_signing_helper`) — and the PIN — its
/// `pin-value`, else the passphrase flags' `passphrase`.
fn token_source<'a>(
    source: &IdentitySource,
    uri: &'a Pkcs11Uri,
    passphrase: &Option<Zeroizing<String>>,
) -> TokenSource<'a> {
    TokenSource {
        module: uri
            .module_path
            .clone()
            .or_else(|| source.pkcs11_lib.clone())
            .unwrap_or_else(|| PathBuf::from(pkcs11::DEFAULT_MODULE)),
        uri,
        pin: uri.pin_value.clone().or_else(|| passphrase.clone()),
    }
}

/// A `pkcs11:` URI for a message: without its query (where the PIN belongs) and without any
/// path attribute whose name mentions a PIN (`;pin-value=…` is refused as a path attribute, and
/// its refusal must not show it either).
fn shown_uri(text: &str) -> String {
    path_without_pin(text.split_once('?').map_or(text, |(path, _)| path))
}

/// A `--certificate` or `--private-key` value for a message: a path, or a `pkcs11:` URI
/// without its PIN.
fn shown(path: &Path) -> String {
    match path.to_str() {
        Some(text) if Pkcs11Uri::is_uri(path) => shown_uri(text),
        _ => path.display().to_string(),
    }
}

impl Passphrase {
    /// The passphrase the flags name: `--private-key-passphrase-env VAR` (which wins), else
    /// `--private-key-passphrase-file FILE`.
    pub fn from_flags(env: Option<&String>, file: Option<&PathBuf>) -> Passphrase {
        match (env, file) {
            (Some(var), _) => Passphrase::Env(var.clone()),
            (None, Some(file)) => Passphrase::File(file.clone()),
            (None, None) => Passphrase::None,
        }
    }

    /// Reads the passphrase; `None` when none was configured.
    pub fn read(&self) -> Result<Option<Zeroizing<String>>, String> {
        match self {
            Passphrase::None => Ok(None),
            Passphrase::Env(var) => std::env::var(var)
                .map(|v| Some(Zeroizing::new(v)))
                .map_err(|_| format!("the passphrase environment variable {var} is not set")),
            Passphrase::File(path) => {
                let text = Zeroizing::new(
                    crate::fsutil::read_credential_text(path)
                        .map_err(|e| format!("cannot read the passphrase file {}: {e}", path.display()))?,
                );
                Ok(Some(Zeroizing::new(text.lines().next().unwrap_or("").to_owned())))
            }
        }
    }
}

/// Reads a private key file and returns its PKCS#8 DER.
fn load_private_key(path: &Path, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = Zeroizing::new(read(path)?);
    warn_if_world_readable(path);
    private_key_pkcs8(&bytes, passphrase).map_err(|e| format!("{}: {e}", path.display()))
}

/// A private key every local user can read lets each of them get the workload's credentials
/// (as ssh refuses such a key, without refusing: a group the workload shares may be meant).
/// Said once a process: the sidecar and `update` read the key at every renewal.
fn warn_if_world_readable(path: &Path) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(mode) = crate::fsutil::world_readable_mode(path) else {
        return;
    };
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            file = %path.display(),
            "the private key file {} is readable by every local user (mode {mode:04o}), and with it the role's \
             credentials; chmod 600 it (or 640 with a group of the workload's own)",
            path.display()
        );
    }
}

/// The first certificate of a certificate file and the ones after it.
fn leaf_and_chain(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut certs = certificates(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    let leaf = certs.remove(0);
    Ok((leaf, certs))
}

/// The certificates of an `--intermediates` file; none for an empty one (a leaf issued by the
/// anchor's CA needs none, and the daemon reads an empty chain as none).
fn read_intermediates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = read(path)?;
    if bytes.trim_ascii().is_empty() {
        return Ok(Vec::new());
    }
    certificates(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    crate::fsutil::read_credential_file(path).map_err(|e| match path.to_str() {
        // `aws_signing_helper --private-key handle:0x81000001`: a persistent TPM key.
        Some(handle) if handle.starts_with("handle:") && e.kind() == std::io::ErrorKind::NotFound => {
            format!("{handle}: a TPM key handle: {TPM_THROUGH_PKCS11}")
        }
        // A URI where only a file will do: `--intermediates`, `explain --certificate`.
        Some(uri) if uri.starts_with("pkcs11:") && e.kind() == std::io::ErrorKind::NotFound => format!(
            "{}: a PKCS#11 URI where a file is read (export the object to a file, e.g. with pkcs11-tool --read-object)",
            shown_uri(uri)
        ),
        _ => format!("cannot read {}: {e}", path.display()),
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    contains(bytes, b"-----BEGIN ")
}

/// PEM `CERTIFICATE` blocks, or one DER certificate.
fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if looks_like_pem(bytes) {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .map(|c| c.map(|c| c.to_vec()).map_err(|e| format!("invalid PEM: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err("no CERTIFICATE block in this PEM file".into());
        }
        Ok(certs)
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

/// A PKCS#12 bundle: named `.p12`/`.pfx`, or DER whose first element is the PFX version 3
/// (`SEQUENCE { INTEGER 3, ... }`, [RFC 7292 §4](https://www.rfc-editor.org/rfc/rfc7292#section-4)).
fn is_pkcs12(path: &Path, bytes: &[u8]) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("p12" | "pfx")) {
        return true;
    }
    if looks_like_pem(bytes) {
        return false;
    }
    // SEQUENCE (long or short length), then INTEGER 1 byte = 3.
    let body = match bytes {
        [0x30, 0x80..=0x84, rest @ ..] => {
            let n = usize::from(bytes[1] & 0x7f);
            rest.get(n..)
        }
        [0x30, _, rest @ ..] => Some(rest),
        _ => None,
    };
    matches!(body, Some([0x02, 0x01, 0x03, ..]))
}

/// The leaf, the other certificates and the PKCS#8 key of a PKCS#12 bundle.
type Pkcs12Contents = (Vec<u8>, Vec<Vec<u8>>, Zeroizing<Vec<u8>>);

fn open_pkcs12(bytes: &[u8], passphrase: &Passphrase) -> Result<Pkcs12Contents, String> {
    let password = passphrase.read()?;
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        password.as_ref().map_or("", |p| p.as_str()),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| match password {
        Some(_) => format!("cannot open the PKCS#12 bundle ({e}); is the passphrase right?"),
        None => format!(
            "cannot open the PKCS#12 bundle ({e}) without a passphrase: give it with --private-key-passphrase-env or --private-key-passphrase-file"
        ),
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or("the PKCS#12 bundle holds no private key with its certificate")?;
    let mut certs = chain.certs().iter().map(|c| c.as_der().to_vec());
    let leaf = certs
        .next()
        .ok_or("the PKCS#12 bundle holds a private key but no certificate for it")?;
    Ok((leaf, certs.collect(), Zeroizing::new(chain.key().as_der().to_vec())))
}

/// How rolegate reaches a key in a TPM.
const TPM_THROUGH_PKCS11: &str = "rolegate reaches TPM keys through tpm2-pkcs11, as a pkcs11: URI with \
     --pkcs11-lib (e.g. /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1)";

/// The PKCS#8 DER of a PEM or DER private key in any accepted format.
fn private_key_pkcs8(bytes: &[u8], passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, String> {
    if looks_like_pem(bytes) && bytes.windows(29).any(|w| w == b"-----BEGIN ENCRYPTED PRIVATE ") {
        let text = std::str::from_utf8(bytes).map_err(|_| "invalid PEM: not UTF-8".to_owned())?;
        let (_, der) = pkcs8::der::Document::from_pem(text).map_err(|e| format!("invalid PEM: {e}"))?;
        return decrypt_pkcs8(der.as_bytes(), passphrase);
    }
    let key = if looks_like_pem(bytes) {
        if contains(bytes, b"-----BEGIN TSS2 PRIVATE KEY-----") {
            return Err(format!(
                "a TPM key (TSS2 PRIVATE KEY), which only its TPM can use: {TPM_THROUGH_PKCS11}"
            ));
        }
        if contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
            return Err(
                "the private key is in OpenSSL's legacy encrypted PEM format, which is not supported: convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out key.pem`"
                    .into(),
            );
        }
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block in this PEM file (is it the certificate?)".to_owned()
            }
            e => format!("invalid PEM private key: {}", crate::identity::pem_problem(&e)),
        })?
    } else {
        match PrivateKeyDer::try_from(bytes.to_vec()) {
            Ok(k) => k,
            // Not plain PKCS#8/SEC1/PKCS#1 DER: maybe an encrypted PKCS#8 in DER.
            Err(_) if passphrase_configured(passphrase) => return decrypt_pkcs8(bytes, passphrase),
            Err(e) => return Err(format!("invalid DER private key: {e}")),
        }
    };
    match key {
        PrivateKeyDer::Pkcs8(k) => Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        PrivateKeyDer::Sec1(k) => sec1_to_pkcs8(k.secret_sec1_der()),
        PrivateKeyDer::Pkcs1(k) => pkcs1_to_pkcs8(k.secret_pkcs1_der()),
        _ => Err("unsupported private key format; use PKCS#8, SEC1 or PKCS#1".into()),
    }
}

/// Whether an `EncryptedPrivateKeyInfo` names a PBES1 scheme: PKCS #5 v1.5's
/// (1.2.840.113549.1.5.{1,3,4,6,10,11}; .12 and .13 are PBKDF2 and PBES2) or PKCS #12's
/// (1.2.840.113549.1.12.1.x), as DER OIDs: tag, length, then the arc's bytes.
fn is_pbes1(der: &[u8]) -> bool {
    const PKCS5: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
    const PKCS12_PBE: &[u8] = &[0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
    let pkcs5_pbes1 = der
        .windows(PKCS5.len() + 1)
        .any(|w| w.starts_with(PKCS5) && matches!(w[PKCS5.len()], 1 | 3 | 4 | 6 | 10 | 11));
    pkcs5_pbes1 || contains(der, PKCS12_PBE)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn passphrase_configured(p: &Passphrase) -> bool {
    !matches!(p, Passphrase::None)
}

/// How to turn a key rolegate cannot decrypt into one it can.
const REENCRYPT: &str = "re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out key.pem`";

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo` ([RFC 5208 §6](https://www.rfc-editor.org/rfc/rfc5208#section-6)).
fn decrypt_pkcs8(der: &[u8], passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, String> {
    let password = passphrase.read()?.ok_or(
        "the private key is encrypted: give its passphrase with --private-key-passphrase-env or --private-key-passphrase-file",
    )?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| {
        // PBES1 (PKCS#5 v1.5, `openssl pkcs8 -v1 …`) names its scheme with an OID under
        // 1.2.840.113549.1.5 or 1.2.840.113549.1.12.1 that the PBES2-only decoder rejects.
        // PBES2 with a cipher or key derivation the decoder lacks (DES-EDE3, RC2, …) names it
        // with an OID it does not know.
        let unknown_oid = match e {
            pkcs8::Error::Asn1(e) => match e.kind() {
                pkcs8::der::ErrorKind::OidUnknown { oid } => Some(oid),
                _ => None,
            },
            _ => None,
        };
        match (is_pbes1(der), unknown_oid) {
            (true, _) => {
                format!("the private key is encrypted with PBES1 (PKCS#5 v1.5), which is not supported: {REENCRYPT}")
            }
            (false, Some(oid)) => {
                format!("the private key is encrypted with an algorithm that is not supported (OID {oid}): {REENCRYPT}")
            }
            (false, None) => format!("invalid encrypted PKCS#8 private key: {e}"),
        }
    })?;
    let doc = info
        .decrypt(password.as_bytes())
        .map_err(|_| "cannot decrypt the private key: wrong passphrase or unsupported encryption".to_owned())?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// SEC1 `ECPrivateKey` ([RFC 5915](https://www.rfc-editor.org/rfc/rfc5915)) → PKCS#8, P-256 or P-384.
fn sec1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    for alg in [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        if let Ok(k) = EcdsaKeyPair::from_private_key_der(alg, der) {
            let doc = k
                .to_pkcs8v1()
                .map_err(|_| "cannot convert the SEC1 EC key to PKCS#8".to_owned())?;
            return Ok(Zeroizing::new(doc.as_ref().to_vec()));
        }
    }
    Err("invalid SEC1 EC private key (P-256 and P-384 are supported)".into())
}

/// PKCS#1 `RSAPrivateKey` ([RFC 8017 §A.1.2](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.2)) → PKCS#8.
fn pkcs1_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let k = RsaKeyPair::from_der(der).map_err(|e| format!("invalid PKCS#1 RSA private key: {e}"))?;
    let doc = k
        .as_der()
        .map_err(|_| "cannot convert the PKCS#1 RSA key to PKCS#8".to_owned())?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Authority, ClientSpec, KeyType};
    use time::OffsetDateTime;

    fn issued(key: KeyType) -> crate::pki::Issued {
        let n = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let ca = Authority::new_root("ca", KeyType::EcdsaP256, n - day, n + day).unwrap();
        ca.client(&ClientSpec::new("w", key, n - day, n + day)).unwrap()
    }

    fn openssl(args: &[&str]) {
        let st = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl {args:?}");
    }

    fn source(
        dir: &Path,
        cert: &str,
        key: Option<&str>,
        passphrase: Passphrase,
        intermediates: Option<&Path>,
    ) -> IdentitySource {
        IdentitySource {
            certificate: dir.join(cert),
            private_key: key.map(|k| dir.join(k)),
            intermediates: intermediates.map(Path::to_owned),
            passphrase,
            pkcs11_lib: None,
        }
    }

    fn load(dir: &Path, cert: &str, key: Option<&str>, pass: Passphrase) -> Result<WorkloadIdentity, String> {
        WorkloadIdentity::load(&source(dir, cert, key, pass, None))
    }

    #[test]
    fn every_key_format_loads() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // `openssl ec` writes SEC1; `openssl rsa -traditional` writes PKCS#1.
        for (kt, tool, flag) in [
            (KeyType::EcdsaP256, "ec", "-check"),
            (KeyType::EcdsaP384, "ec", "-check"),
            (KeyType::Rsa2048, "rsa", "-traditional"),
        ] {
            let leaf = issued(kt);
            std::fs::write(d.join("c.pem"), &leaf.cert_pem).unwrap();
            std::fs::write(d.join("c.der"), &leaf.cert_der).unwrap();
            std::fs::write(d.join("k8.pem"), leaf.key_pem.as_bytes()).unwrap();
            let k8 = d.join("k8.pem");
            let k8 = k8.to_str().unwrap();
            // SEC1 / PKCS#1 ("traditional") PEM and DER.
            openssl(&[tool, "-in", k8, "-out", d.join("trad.pem").to_str().unwrap(), flag]);
            openssl(&[
                tool,
                "-in",
                k8,
                "-outform",
                "DER",
                "-out",
                d.join("trad.der").to_str().unwrap(),
                flag,
            ]);
            let trad = std::fs::read_to_string(d.join("trad.pem")).unwrap();
            assert!(
                trad.starts_with(if tool == "ec" {
                    "-----BEGIN EC PRIVATE KEY"
                } else {
                    "-----BEGIN RSA PRIVATE KEY"
                }),
                "{trad}"
            );
            openssl(&[
                "pkcs8",
                "-topk8",
                "-in",
                k8,
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:s3cret",
                "-out",
                d.join("enc.pem").to_str().unwrap(),
            ]);
            openssl(&[
                "pkcs8",
                "-topk8",
                "-in",
                k8,
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:s3cret",
                "-outform",
                "DER",
                "-out",
                d.join("enc.der").to_str().unwrap(),
            ]);
            openssl(&[
                "pkcs12",
                "-export",
                "-in",
                d.join("c.pem").to_str().unwrap(),
                "-inkey",
                k8,
                "-passout",
                "pass:s3cret",
                "-out",
                d.join("b.p12").to_str().unwrap(),
            ]);
            std::fs::write(d.join("pass.txt"), "s3cret\n").unwrap();
            let file = || Passphrase::File(d.join("pass.txt"));
            for (cert, key) in [("c.pem", "k8.pem"), ("c.der", "trad.pem"), ("c.pem", "trad.der")] {
                let id = load(d, cert, Some(key), Passphrase::None).unwrap_or_else(|e| panic!("{kt:?} {key}: {e}"));
                assert_eq!(id.certificate.der(), &leaf.cert_der[..]);
            }
            for key in ["enc.pem", "enc.der"] {
                load(d, "c.pem", Some(key), file()).unwrap_or_else(|e| panic!("{kt:?} {key}: {e}"));
            }
            let id = load(d, "b.p12", None, file()).unwrap_or_else(|e| panic!("{kt:?} p12: {e}"));
            assert_eq!(id.certificate.der(), &leaf.cert_der[..]);
            // Reading only the certificate (`explain`, a cache lookup) opens the bundle too.
            let only_certificate = read_certificate_and_chain(&source(d, "b.p12", None, file(), None)).unwrap();
            assert_eq!(only_certificate.0, leaf.cert_der);
        }
    }

    #[test]
    fn the_key_selector_is_the_key_argument_without_a_pin() {
        let with = |certificate: &str, key: Option<&str>, lib: Option<&str>| IdentitySource {
            certificate: PathBuf::from(certificate),
            private_key: key.map(PathBuf::from),
            intermediates: None,
            passphrase: Passphrase::None,
            pkcs11_lib: lib.map(PathBuf::from),
        };
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            with("c.pem", Some("k.pem"), None).key_selector(),
            [
                format!("private-key:{}", cwd.join("k.pem").display()),
                "pkcs11-lib-default".to_owned()
            ]
        );
        assert_eq!(
            with(
                "c.pem",
                Some("pkcs11:object=k?pin-value=1234&module-path=/m.so"),
                Some("/l.so")
            )
            .key_selector(),
            [
                "private-key:pkcs11:object=k?module-path=/m.so".to_owned(),
                "pkcs11-lib:/l.so".to_owned()
            ]
        );
        // Another PIN selects the same key; another module, URI or file another one.
        let token = |uri: &str| with(uri, None, None).key_selector();
        assert_eq!(token("pkcs11:object=c?pin-value=1"), token("pkcs11:object=c"));
        assert_ne!(token("pkcs11:object=c"), token("pkcs11:object=d"));
        assert_ne!(
            with("c.pem", Some("a.key"), None).key_selector(),
            with("c.pem", Some("b.key"), None).key_selector()
        );
        assert_ne!(
            with("c.pem", Some("pkcs11:object=k"), Some("/a.so")).key_selector(),
            with("c.pem", Some("pkcs11:object=k"), Some("/b.so")).key_selector()
        );
        assert_eq!(uri_without_pin("pkcs11:id=%01?pin-value=1"), "pkcs11:id=%01");
        // A PIN written where the parser refuses it, or in capitals, is left out all the same.
        assert_eq!(
            uri_without_pin("pkcs11:token=t;pin-value=4711;object=k?PIN-VALUE=4711&module-path=/m.so"),
            "pkcs11:token=t;object=k?module-path=/m.so"
        );
        assert_eq!(
            shown_uri("pkcs11:pin-value=4711;object=k?pin-value=4711"),
            "pkcs11:object=k"
        );
        // Nor does the PIN show in Debug output.
        let on_token = with(
            "pkcs11:object=c?pin-value=4711",
            Some("pkcs11:object=k?pin-value=4711"),
            None,
        );
        let debug = format!("{on_token:?}");
        assert!(!debug.contains("4711"), "{debug}");
        assert!(debug.contains(r#"private_key: Some("pkcs11:object=k")"#), "{debug}");
    }

    #[test]
    fn unsupported_key_files_are_named_for_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let leaf = issued(KeyType::EcdsaP256);
        std::fs::write(d.join("c.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(d.join("k8.pem"), leaf.key_pem.as_bytes()).unwrap();
        let k8 = d.join("k8.pem");
        let k8 = k8.to_str().unwrap();
        let path = |name: &str| d.join(name).to_str().unwrap().to_owned();
        openssl(&[
            "ec",
            "-in",
            k8,
            "-aes256",
            "-passout",
            "pass:pw",
            "-out",
            &path("legacy.pem"),
        ]);
        openssl(&[
            "pkcs8",
            "-topk8",
            "-v1",
            "PBE-SHA1-3DES",
            "-in",
            k8,
            "-passout",
            "pass:pw",
            "-out",
            &path("pbes1.pem"),
        ]);
        std::fs::write(d.join("pw.txt"), "pw\n").unwrap();
        let pass = || Passphrase::File(d.join("pw.txt"));
        let error = |key: &str| load(d, "c.pem", Some(key), pass()).err().unwrap();
        assert!(
            error("legacy.pem").contains("OpenSSL's legacy encrypted PEM format, which is not supported"),
            "{}",
            error("legacy.pem")
        );
        assert!(
            error("pbes1.pem").contains("encrypted with PBES1 (PKCS#5 v1.5), which is not supported"),
            "{}",
            error("pbes1.pem")
        );
        assert_eq!(
            error("c.pem"),
            format!(
                "{}: no PRIVATE KEY block in this PEM file (is it the certificate?)",
                path("c.pem")
            )
        );
        // aws_signing_helper's TPM keys: a TSS2 key file, a persistent handle.
        let tss2 = "-----BEGIN TSS2 PRIVATE KEY-----\nMIIB\n-----END TSS2 PRIVATE KEY-----\n";
        std::fs::write(d.join("tpm.pem"), tss2).unwrap();
        let tpm = "rolegate reaches TPM keys through tpm2-pkcs11, as a pkcs11: URI with --pkcs11-lib (e.g. \
                   /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1)";
        assert_eq!(
            error("tpm.pem"),
            format!(
                "{}: a TPM key (TSS2 PRIVATE KEY), which only its TPM can use: {tpm}",
                path("tpm.pem")
            )
        );
        let handle = WorkloadIdentity::load(&IdentitySource {
            private_key: Some(PathBuf::from("handle:0x81000001")),
            ..source(d, "c.pem", None, Passphrase::None, None)
        });
        assert_eq!(
            handle.err().unwrap(),
            format!("handle:0x81000001: a TPM key handle: {tpm}")
        );
    }

    #[test]
    fn a_pem_certificate_file_may_hold_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let n = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let root = Authority::new_root("root", KeyType::EcdsaP256, n - day, n + day).unwrap();
        let inter = root
            .new_intermediate("inter", KeyType::EcdsaP256, n - day, n + day)
            .unwrap();
        let leaf = inter
            .client(&ClientSpec::new("w", KeyType::EcdsaP256, n - day, n + day))
            .unwrap();
        let (full, alone, chain) = (d.join("full.pem"), d.join("leaf.pem"), d.join("chain.pem"));
        std::fs::write(&full, format!("{}{}", leaf.cert_pem, inter.issued().cert_pem)).unwrap();
        std::fs::write(&alone, &leaf.cert_pem).unwrap();
        std::fs::write(&chain, &root.issued().cert_pem).unwrap();

        let inter_der = inter.issued().cert_der.clone();
        let read = |cert: &str, intermediates: Option<&Path>| {
            read_certificate_and_chain(&source(d, cert, None, Passphrase::None, intermediates)).unwrap()
        };
        assert_eq!(read("full.pem", None), (leaf.cert_der.clone(), vec![inter_der]));
        assert_eq!(read("leaf.pem", None), (leaf.cert_der.clone(), vec![]));
        // --intermediates is the chain instead.
        let root_der = root.issued().cert_der.clone();
        assert_eq!(read("full.pem", Some(&chain)), (leaf.cert_der.clone(), vec![root_der]));
        std::fs::write(d.join("k.pem"), leaf.key_pem.as_bytes()).unwrap();
        let id = load(d, "full.pem", Some("k.pem"), Passphrase::None).unwrap();
        assert_eq!((id.certificate.der(), id.chain.len()), (&leaf.cert_der[..], 1));
    }

    #[test]
    fn errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let leaf = issued(KeyType::EcdsaP256);
        std::fs::write(d.join("c.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(d.join("k.pem"), leaf.key_pem.as_bytes()).unwrap();
        std::fs::write(d.join("wrong.txt"), "nope\n").unwrap();
        std::fs::write(d.join("other.pem"), issued(KeyType::EcdsaP256).key_pem.as_bytes()).unwrap();
        std::fs::write(d.join("rsa.pem"), issued(KeyType::Rsa2048).key_pem.as_bytes()).unwrap();
        let k = d.join("k.pem");
        // The key encrypted (PBES2) with `cipher`, as `out`.
        let encrypted = |cipher: &str, out: &str| {
            openssl(&[
                "pkcs8",
                "-topk8",
                "-in",
                k.to_str().unwrap(),
                "-v2",
                cipher,
                "-passout",
                "pass:right",
                "-out",
                d.join(out).to_str().unwrap(),
            ])
        };
        encrypted("aes-256-cbc", "enc.pem");
        openssl(&[
            "pkcs12",
            "-export",
            "-in",
            d.join("c.pem").to_str().unwrap(),
            "-inkey",
            k.to_str().unwrap(),
            "-passout",
            "pass:right",
            "-out",
            d.join("b.p12").to_str().unwrap(),
        ]);
        encrypted("des3", "des3.pem");
        std::fs::write(d.join("right.txt"), "right\n").unwrap();
        let enc = d.join("enc.pem");
        let cases: Vec<(Result<WorkloadIdentity, String>, String)> = vec![
            (
                load(d, "c.pem", Some("des3.pem"), Passphrase::File(d.join("right.txt"))),
                format!(
                    "{}: the private key is encrypted with an algorithm that is not supported (OID 1.2.840.113549.3.7): re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out key.pem`",
                    d.join("des3.pem").display()
                ),
            ),
            (
                load(d, "c.pem", Some("enc.pem"), Passphrase::None),
                format!(
                    "{}: the private key is encrypted: give its passphrase with --private-key-passphrase-env or --private-key-passphrase-file",
                    enc.display()
                ),
            ),
            (
                load(d, "c.pem", Some("enc.pem"), Passphrase::File(d.join("wrong.txt"))),
                format!(
                    "{}: cannot decrypt the private key: wrong passphrase or unsupported encryption",
                    enc.display()
                ),
            ),
            (
                load(
                    d,
                    "c.pem",
                    Some("enc.pem"),
                    Passphrase::Env("ROLEGATE_TEST_UNSET_VAR".into()),
                ),
                format!(
                    "{}: the passphrase environment variable ROLEGATE_TEST_UNSET_VAR is not set",
                    enc.display()
                ),
            ),
            (
                load(d, "c.pem", None, Passphrase::None),
                format!(
                    "{} is not a PKCS#12 bundle, so --private-key is required",
                    d.join("c.pem").display()
                ),
            ),
            (
                load(d, "c.pem", Some("other.pem"), Passphrase::None),
                format!(
                    "{}: this private key is not the key of the certificate in {}",
                    d.join("other.pem").display(),
                    d.join("c.pem").display()
                ),
            ),
            (
                load(d, "c.pem", Some("rsa.pem"), Passphrase::None),
                format!(
                    "{}: this private key is not the key of the certificate in {}",
                    d.join("rsa.pem").display(),
                    d.join("c.pem").display()
                ),
            ),
            (
                load(d, "missing.pem", Some("k.pem"), Passphrase::None),
                format!(
                    "cannot read {}: No such file or directory (os error 2)",
                    d.join("missing.pem").display()
                ),
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.err().as_deref(), Some(want.as_str()));
        }
        let err = load(d, "b.p12", None, Passphrase::File(d.join("wrong.txt")))
            .err()
            .unwrap();
        assert!(
            err.contains("cannot open the PKCS#12 bundle") && err.ends_with("is the passphrase right?"),
            "{err}"
        );
        let err = load(d, "b.p12", None, Passphrase::None).err().unwrap();
        assert!(
            err.contains("cannot open the PKCS#12 bundle")
                && err.ends_with(
                    "without a passphrase: give it with --private-key-passphrase-env or --private-key-passphrase-file"
                ),
            "{err}"
        );
    }
}
