//! Parsing of SigV4 authentication data: the `Authorization` header
//! (`ALG Credential=..., SignedHeaders=..., Signature=...`) and the presigned query
//! parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, ...).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request>

use super::error::{looks_like_an_access_key_id, shown_header_names, shown_scope_part};
use super::{
    HMAC_ALGORITHMS, HttpRequest, STREAMING_UNSIGNED_PAYLOAD_TRAILER, SigV4Error, UNSIGNED_PAYLOAD, sha256_hex,
};

/// The algorithm label of HMAC SigV4.
pub const HMAC_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The scope parts of a `Credential`: `{access_key_id}/{date}/{region}/{service}/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id (for Roles Anywhere: the certificate serial in decimal).
    pub access_key_id: String,
    /// `yyyymmdd`.
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service, e.g. `sts`.
    pub service: String,
}

impl Credential {
    /// Parses `{id}/{yyyymmdd}/{region}/{service}/aws4_request`.
    pub fn parse(s: &str) -> Result<Self, SigV4Error> {
        let mut parts = s.split('/');
        let (Some(id), Some(date), Some(region), Some(service), Some(terminator), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SigV4Error::MalformedCredential(redacted_credential(s)));
        };
        if id.is_empty() || region.is_empty() || service.is_empty() {
            return Err(SigV4Error::MalformedCredential(redacted_credential(s)));
        }
        if terminator != "aws4_request" {
            return Err(SigV4Error::CredentialTerminator(terminator.to_owned()));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SigV4Error::BadDate(date.to_owned()));
        }
        Ok(Self {
            access_key_id: id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// The credential scope: `{date}/{region}/{service}/aws4_request`.
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// Where the signature was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLocation {
    /// `Authorization` header.
    Header,
    /// Presigned URL query parameters.
    Query,
}

/// An HMAC SigV4 signature as parsed from either the `Authorization` header or the
/// presigned query parameters. `Debug` redacts the security token.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Always `AWS4-HMAC-SHA256`.
    pub algorithm: String,
    /// The credential scope.
    pub credential: Credential,
    /// Lower-case signed header names, in the order sent.
    pub signed_headers: Vec<String>,
    /// The decoded signature (32 bytes).
    pub signature: Vec<u8>,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// `X-Amz-Expires` (query form only).
    pub expires: Option<u32>,
    /// `X-Amz-Security-Token`, header or query parameter.
    pub security_token: Option<String>,
    /// Header or query form.
    pub location: AuthLocation,
    /// `x-amz-content-sha256`, if present.
    pub payload_hash: Option<String>,
}

impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("algorithm", &self.algorithm)
            .field("credential", &self.credential)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &hex::encode(&self.signature))
            .field("amz_date", &self.amz_date)
            .field("expires", &self.expires)
            .field("security_token", &self.security_token.as_ref().map(|_| "<redacted>"))
            .field("location", &self.location)
            .field("payload_hash", &self.payload_hash)
            .finish()
    }
}

/// The `x-amz-content-sha256` values that declare a payload the signature does not cover.
const UNSIGNED_MARKERS: [&str; 2] = [UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_PAYLOAD_TRAILER];

/// `value` as one of [`UNSIGNED_MARKERS`], if it is one.
pub fn unsigned_marker(value: &str) -> Option<&'static str> {
    UNSIGNED_MARKERS.into_iter().find(|m| *m == value)
}

/// Why a request presigned with Signature Version 2 is refused, and what to do instead.
const SIGNATURE_V2: &str = "Signature Version 2 (the AWSAccessKeyId and Signature query parameters) is not supported: \
     sign with Signature Version 4 (X-Amz-Algorithm=AWS4-HMAC-SHA256; boto3 presigns S3 URLs with it when the \
     client's signature_version is 's3v4').";

/// Whether `query` is a Signature Version 2 presigned URL's: `AWSAccessKeyId` and `Signature`
/// (S3's query string authentication, what older SDKs presign with).
fn is_signature_version_2(query: &str) -> bool {
    has_query_parameter(query, &["AWSAccessKeyId"]) && has_query_parameter(query, &["Signature"])
}

impl SignedRequest {
    /// Parses the authentication data of `req`: the `Authorization` header when present,
    /// else the `X-Amz-*` presigned query parameters.
    pub fn parse(req: &HttpRequest) -> Result<Self, SigV4Error> {
        sent_once(req)?;
        if req.header("x-amz-security-token").is_some() && has_query_parameter(req.query, &["X-Amz-Security-Token"]) {
            return Err(SigV4Error::MalformedAuthorization(
                "The request has an X-Amz-Security-Token query parameter and header; send the token once.".to_owned(),
            ));
        }
        let payload_hash = req.header("x-amz-content-sha256").map(str::to_owned);
        if let Some(value) = req.header("authorization") {
            if has_query_parameter(req.query, &["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"]) {
                return Err(SigV4Error::MalformedAuthorization(
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.".to_owned(),
                ));
            }
            let parts = AuthorizationParts::parse(value)?;
            if parts.algorithm != HMAC_ALGORITHM {
                return Err(SigV4Error::UnsupportedAlgorithm {
                    algorithm: parts.algorithm.to_owned(),
                    supported: HMAC_ALGORITHMS,
                });
            }
            // SigV4: "If AWS can't find a value for x-amz-date, it looks for the date header",
            // which must then hold the same ISO 8601 basic time.
            let amz_date = req
                .header("x-amz-date")
                .or_else(|| req.header("date"))
                .ok_or(SigV4Error::MissingDate)?;
            return Ok(Self {
                algorithm: parts.algorithm.to_owned(),
                credential: Credential::parse(parts.credential)?,
                signed_headers: parse_signed_headers(parts.signed_headers)?,
                signature: decode_hmac_signature(parts.signature)?,
                amz_date: amz_date.trim().to_owned(),
                expires: None,
                security_token: req.header("x-amz-security-token").map(|v| v.trim().to_owned()),
                location: AuthLocation::Header,
                payload_hash,
            });
        }
        let mut signed = Self::parse_query(req.query, payload_hash)?;
        // A presigned URL is signed over its payload marker, not over an
        // `x-amz-content-sha256` header added when it is used (an uploader's integrity check),
        // unless the URL signed that header too.
        if !signed.signed_headers.iter().any(|h| h == "x-amz-content-sha256") {
            signed.payload_hash = None;
        }
        // A presigned request whose token came as a header (it is one or the other, above).
        if signed.security_token.is_none() {
            signed.security_token = req.header("x-amz-security-token").map(|v| v.trim().to_owned());
        }
        Ok(signed)
    }

    /// The payload hash to verify with, given the received `body`: the SHA-256 of the body,
    /// or [`UNSIGNED_PAYLOAD`] when the client declared an unsigned payload in
    /// `x-amz-content-sha256` and `allow_unsigned` (never for STS, whose parameters are in the
    /// body). A declared hash that differs from the body's is rejected.
    pub fn payload_hash_for(&self, body: &[u8], allow_unsigned: bool) -> Result<String, SigV4Error> {
        let computed = sha256_hex(body);
        match self.payload_hash.as_deref() {
            None => Ok(computed),
            Some(UNSIGNED_PAYLOAD) if allow_unsigned => Ok(UNSIGNED_PAYLOAD.to_owned()),
            Some(UNSIGNED_PAYLOAD) => Err(SigV4Error::UnsignedPayloadNotAllowed),
            Some(declared) if declared.eq_ignore_ascii_case(&computed) => Ok(declared.to_owned()),
            Some(_) => Err(SigV4Error::PayloadHashMismatch),
        }
    }

    /// The payload hash to verify with when the verifier of a request to `service` received
    /// the body and `given` is what it computed (the hex SHA-256 of the body) or an unsigned
    /// marker ([`UNSIGNED_PAYLOAD`], [`STREAMING_UNSIGNED_PAYLOAD_TRAILER`]). The request's own
    /// `x-amz-content-sha256`, when sent, must say the same: a replayer could keep a declared
    /// hash and change the body. An unsigned marker needs a service of the S3 family (whose
    /// clients send one) and, in the header form, the request's declaring it — a presigned
    /// URL's payload is unsigned by definition. A header-signed request that declares a marker
    /// is verified only when the verifier gives that marker: its body is not signed, and a
    /// verifier that gave the body's hash expects it checked, so it is told to say so
    /// ([`SigV4Error::UnsignedPayloadDeclared`]). A presigned S3 URL that did not sign
    /// `x-amz-content-sha256` signed `UNSIGNED-PAYLOAD` (S3's rule for query authentication), as
    /// one that signed a marker there signed that marker: a body hash given for either stands
    /// for what it signed, since no presigned URL covers its body.
    pub fn payload_hash_given(&self, given: &str, service: &str) -> Result<String, SigV4Error> {
        let unsigned_allowed = super::is_s3_family(service);
        let marker = unsigned_marker(given);
        if let Some(marker) = marker
            && !unsigned_allowed
        {
            return Err(SigV4Error::UnsignedPayloadOutsideS3 {
                marker,
                service: service.to_owned(),
            });
        }
        // An S3 request that signed its unsigned payload's marker, given a body hash: the body
        // is not covered, whatever hash of it the verifier computed.
        if let (Some(declared), None, true) = (
            self.payload_hash.as_deref().and_then(unsigned_marker),
            marker,
            unsigned_allowed,
        ) {
            return match self.location {
                // A presigned URL never covers its body.
                AuthLocation::Query => Ok(declared.to_owned()),
                // A header-signed one: the verifier must say it takes the body unsigned.
                AuthLocation::Header => Err(SigV4Error::UnsignedPayloadDeclared(declared)),
            };
        }
        match (self.payload_hash.as_deref(), marker) {
            (Some(declared), _) if !declared.eq_ignore_ascii_case(given) => Err(SigV4Error::PayloadHashMismatch),
            // The client signed its declaration as it wrote it (upper-case hex is still hex).
            (Some(declared), _) => Ok(declared.to_owned()),
            (None, Some(marker)) if self.location == AuthLocation::Header => {
                Err(SigV4Error::UnsignedPayloadUndeclared(marker))
            }
            (None, None) if self.location == AuthLocation::Query && unsigned_allowed => Ok(UNSIGNED_PAYLOAD.to_owned()),
            _ => Ok(given.to_owned()),
        }
    }

    /// The presigned (query parameter) form.
    fn parse_query(query: &str, payload_hash: Option<String>) -> Result<Self, SigV4Error> {
        let mut p = QueryParams::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*k {
                "X-Amz-Algorithm" => &mut p.algorithm,
                "X-Amz-Credential" => &mut p.credential,
                "X-Amz-SignedHeaders" => &mut p.signed_headers,
                "X-Amz-Signature" => &mut p.signature,
                "X-Amz-Date" => &mut p.date,
                "X-Amz-Expires" => &mut p.expires,
                "X-Amz-Security-Token" => &mut p.token,
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(SigV4Error::MalformedAuthorization(format!(
                    "The query parameter '{k}' must appear only once."
                )));
            }
        }
        let algorithm = match p.algorithm {
            Some(algorithm) => algorithm,
            None if is_signature_version_2(query) => {
                return Err(SigV4Error::MalformedAuthorization(SIGNATURE_V2.to_owned()));
            }
            None => return Err(SigV4Error::MissingAuthorization),
        };
        if algorithm != HMAC_ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm {
                algorithm,
                supported: HMAC_ALGORITHMS,
            });
        }
        let missing: Vec<&str> = [
            ("X-Amz-Credential", p.credential.is_none()),
            ("X-Amz-SignedHeaders", p.signed_headers.is_none()),
            ("X-Amz-Signature", p.signature.is_none()),
            ("X-Amz-Date", p.date.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
            (p.credential, p.signed_headers, p.signature, p.date)
        else {
            return Err(SigV4Error::MalformedAuthorization(format!(
                "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
                missing.join(", ")
            )));
        };
        let expires = p.expires.map(|e| parse_expires(&e)).transpose()?;
        Ok(Self {
            algorithm,
            credential: Credential::parse(&credential)?,
            signed_headers: parse_signed_headers(&signed_headers)?,
            signature: decode_hmac_signature(&signature)?,
            amz_date,
            expires,
            security_token: p.token,
            location: AuthLocation::Query,
            payload_hash,
        })
    }
}

/// The headers a signature is read from, each of which must be sent once: with two, the
/// verifier would read one and the application behind it perhaps the other.
pub const SIGNATURE_HEADERS: [&str; 4] = [
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

fn sent_once(req: &HttpRequest) -> Result<(), SigV4Error> {
    match SIGNATURE_HEADERS
        .into_iter()
        .find(|name| req.header_values(name).nth(1).is_some())
    {
        Some(name) => Err(SigV4Error::MalformedAuthorization(format!(
            "The request has more than one {name} header; send it once."
        ))),
        None => Ok(()),
    }
}

/// Whether the query has a parameter named one of `names` (decoded, as
/// [`SignedRequest::parse_query`] reads them).
fn has_query_parameter(query: &str, names: &[&str]) -> bool {
    !query.is_empty() && form_urlencoded::parse(query.as_bytes()).any(|(k, _)| names.contains(&&*k))
}

/// The access key id a request claims, read as the verifier reads it — the `Credential`
/// component of its `Authorization` header, split into components as
/// [`AuthorizationParts::parse`] splits them (a header lacking another component still names
/// its key, for the audit of its refusal), else the `X-Amz-Credential` of its query
/// (presigned) — for the audit event and the per-client rate limit before the request is
/// authenticated. None when there is none, or the value is no access key id (a secret key
/// where the id belongs is never taken for one, nor logged).
pub fn claimed_access_key_id(authorization: Option<&str>, query: &str) -> Option<String> {
    let credential = match authorization {
        Some(value) => {
            let (_, mut components) = authorization_components(value)?;
            let credential = components.find_map(|component| {
                let (name, value) = component.split_once('=')?;
                (name == "Credential").then(|| value.trim())
            })?;
            std::borrow::Cow::Borrowed(credential)
        }
        None => {
            form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "X-Amz-Credential")?
                .1
        }
    };
    let akid = credential.split('/').next()?.trim();
    looks_like_an_access_key_id(akid).then(|| akid.to_owned())
}

/// An `Authorization` header value as its algorithm and its components (`Credential=c`, …):
/// separated by commas, white space around each trimmed, empty ones skipped. None without a
/// space after the algorithm.
fn authorization_components(value: &str) -> Option<(&str, impl Iterator<Item = &str>)> {
    let (algorithm, rest) = value.trim().split_once(' ')?;
    Some((algorithm, rest.split(',').map(str::trim).filter(|c| !c.is_empty())))
}

/// The four parts of an `Authorization` header value, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthorizationParts<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) credential: &'a str,
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
}

impl<'a> AuthorizationParts<'a> {
    /// Splits `ALG Credential=c, SignedHeaders=h, Signature=s` (components separated by
    /// commas, spaces after the commas optional, in any order, each exactly once).
    pub(crate) fn parse(value: &'a str) -> Result<Self, SigV4Error> {
        let Some((algorithm, components)) = authorization_components(value) else {
            return Err(SigV4Error::MalformedAuthorization(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.".to_owned(),
            ));
        };
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for component in components {
            let Some((key, val)) = component.split_once('=') else {
                return Err(SigV4Error::MalformedAuthorization(match parameter_name(component) {
                    Some(name) => format!("Authorization header parameter '{name}' must have the form key=value."),
                    None => "Authorization header parameters must have the form key=value.".to_owned(),
                }));
            };
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => {
                    return Err(SigV4Error::MalformedAuthorization(match parameter_name(key) {
                        Some(name) => format!("Authorization header has an unknown parameter '{name}'."),
                        None => "Authorization header has an unknown parameter.".to_owned(),
                    }));
                }
            };
            if slot.replace(val.trim()).is_some() {
                return Err(SigV4Error::MalformedAuthorization(format!(
                    "Authorization header parameter '{key}' must appear only once."
                )));
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
            let missing: String = [
                ("Credential", credential),
                ("SignedHeaders", signed_headers),
                ("Signature", signature),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| format!("Authorization header requires '{k}' parameter."))
            .collect::<Vec<_>>()
            .join(" ");
            return Err(SigV4Error::MalformedAuthorization(missing));
        };
        Ok(Self {
            algorithm: algorithm.trim(),
            credential,
            signed_headers,
            signature,
        })
    }
}

/// `name` as the client wrote it when it can only be a parameter's name (ASCII letters, at
/// most 32). Anything else may be a secret sent in the wrong place — a bearer token, a secret
/// access key, a session token — and an error message, which is logged and may be relayed
/// (VerifyRequest answers it to another service), never repeats it.
fn parameter_name(name: &str) -> Option<&str> {
    (!name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphabetic())).then_some(name)
}

/// A malformed `Credential` value for a message, each `/`-separated part repeated only when
/// it looks like what belongs in a scope — the first an access key id (upper-case letters and
/// digits, 16 to 128), the others a date, region, service or terminator (lower-case letters,
/// digits, `-` and `_`, at most 64) — and `…` otherwise: a client that mixed up its values may
/// have sent its secret key, which is mixed-case base64 and may itself contain `/`.
fn redacted_credential(credential: &str) -> String {
    credential
        .split('/')
        .enumerate()
        .map(|(i, part)| match (i, part) {
            (_, "") => "",
            (0, id) if looks_like_an_access_key_id(id) => id,
            (0, _) => "…",
            (_, p) => shown_scope_part(p),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Splits `SignedHeaders` (`a;b;c`), lower-casing each name; empty names are rejected, and so
/// are names listed twice. SigV4 signs a list of distinct names (every SDK sorts and
/// de-duplicates it), and the canonical request carries a header's values once per listing:
/// one large header listed thousands of times would make it hundreds of megabytes, built and
/// hashed before the signature can fail.
pub(crate) fn parse_signed_headers(s: &str) -> Result<Vec<String>, SigV4Error> {
    let names = s
        .split(';')
        .map(|h| {
            let h = h.trim();
            match h.is_empty() {
                true => Err(SigV4Error::MalformedAuthorization(format!(
                    "SignedHeaders '{}' must be a ';'-separated list of header names.",
                    shown_header_names(s)
                ))),
                false => Ok(h.to_ascii_lowercase()),
            }
        })
        .collect::<Result<Vec<String>, SigV4Error>>()?;
    match repeated_name(&names) {
        Some(name) => Err(SigV4Error::MalformedAuthorization(format!(
            "SignedHeaders lists '{}' more than once; list each signed header once.",
            shown_header_names(name)
        ))),
        None => Ok(names),
    }
}

/// A name `names` holds twice, if any (in O(n log n): the list is the client's to make long).
fn repeated_name(names: &[String]) -> Option<&str> {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Decodes a hex signature of any even, non-zero length (an X.509 signature's DER), or
/// returns `bad`.
fn decode_hex(s: &str, bad: SigV4Error) -> Result<Vec<u8>, SigV4Error> {
    // Only hex digits: the decoder would also strip a `0x` prefix.
    match !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => hex::decode(s).map_err(|_| bad),
        false => Err(bad),
    }
}

/// Decodes an X.509 request signature: hex, any even length.
pub(crate) fn decode_x509_signature(s: &str) -> Result<Vec<u8>, SigV4Error> {
    decode_hex(s, SigV4Error::BadX509SignatureEncoding)
}

/// Decodes an HMAC signature: exactly 64 hex digits.
fn decode_hmac_signature(s: &str) -> Result<Vec<u8>, SigV4Error> {
    match s.len() {
        64 => decode_hex(s, SigV4Error::BadSignatureEncoding),
        _ => Err(SigV4Error::BadSignatureEncoding),
    }
}

/// `X-Amz-Expires`: decimal seconds in `1..=604800`.
fn parse_expires(s: &str) -> Result<u32, SigV4Error> {
    match s.parse::<u32>() {
        Ok(n @ 1..=604_800) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(SigV4Error::InvalidExpires(s.to_owned())),
    }
}

/// The presigned parameters, each at most once.
#[derive(Default)]
struct QueryParams {
    algorithm: Option<String>,
    credential: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    token: Option<String>,
}
