//! A CRL an [`Authority`] signed, read back and issued again (`rolegate certs crl`): what it
//! revoked — each certificate with its revocation date, reason and invalidity date — its
//! scope (issuing distribution point) and number are carried over, new serials added, and the
//! result signed with fresh dates and a larger number.
//!
//! A CRL holding what the new one could not carry (other entry or CRL extensions, a scope
//! named otherwise than by URIs, a negative serial) is refused rather than re-issued short of
//! it, and so is a new CRL that would not load as the CA's (RFC 5280 §5.2.3: a CRL number
//! beyond 20 octets).

use rcgen::{RevokedCertParams, SerialNumber};
use time::OffsetDateTime;
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::{Authority, PkiError, crl_number, positive_integer, serial_bytes};

/// A CRL an [`Authority`] signed, read back by [`Authority::read_crl`]; the default is none
/// (a CRL issued anew).
#[derive(Clone, Debug, Default)]
pub struct PreviousCrl {
    revoked: Vec<RevokedCertParams>,
    distribution_point: Option<rcgen::CrlIssuingDistributionPoint>,
    number: Option<BigUint>,
}

impl PreviousCrl {
    /// The serials it revokes, as [`crate::identity::format_serial_hex`] writes them.
    pub fn revoked_serials(&self) -> Vec<String> {
        self.revoked.iter().map(serial_hex).collect()
    }

    /// Its number alone: what a CRL started anew (`--fresh`) in its place must exceed, so a
    /// reload takes the new one for the later.
    pub fn number_only(self) -> PreviousCrl {
        PreviousCrl {
            number: self.number,
            ..PreviousCrl::default()
        }
    }

    /// This CRL's revocations and those of `other` (another copy of the CA's CRL) not among
    /// them, with the larger of the two numbers. Refused when they cover different scopes.
    pub fn merged(mut self, other: PreviousCrl) -> Result<PreviousCrl, PkiError> {
        if self.distribution_point != other.distribution_point {
            return Err(PkiError::PreviousCrl(
                "the two CRLs cover different scopes (issuing distribution points): carry over one at a time"
                    .to_owned(),
            ));
        }
        for entry in other.revoked {
            let hex = serial_hex(&entry);
            if !self.revoked.iter().any(|listed| serial_hex(listed) == hex) {
                self.revoked.push(entry);
            }
        }
        self.number = self.number.max(other.number);
        Ok(self)
    }
}

/// What [`Authority::reissue_crl`] made.
#[derive(Clone, Debug)]
pub struct ReissuedCrl {
    /// The new CRL (PEM `X509 CRL`).
    pub pem: String,
    /// How many revocations it carries over from the previous CRL.
    pub carried: usize,
    /// The serials it revokes that the previous CRL did not.
    pub added: Vec<String>,
    /// The serials asked for that the previous CRL revoked already (kept with their dates).
    pub already_listed: Vec<String>,
}

impl ReissuedCrl {
    /// The new CRL in DER, as a CRL distribution point publishes it.
    pub fn der(&self) -> Result<Vec<u8>, PkiError> {
        crl_der(self.pem.as_bytes()).ok_or_else(|| super::generate_error("CRL", "unreadable PEM"))
    }
}

/// The most octets a CRL number may have (RFC 5280 §5.2.3).
const MAX_CRL_NUMBER_OCTETS: usize = 20;

/// The extensions of a CRL that a re-issued one carries: its number, the authority key
/// identifier (written anew) and the issuing distribution point.
const CARRIED_CRL_EXTENSIONS: [&str; 3] = ["2.5.29.20", "2.5.29.35", "2.5.29.28"];

/// The extensions of a CRL entry that a re-issued one carries: the reason code and the
/// invalidity date.
const CARRIED_ENTRY_EXTENSIONS: [&str; 2] = ["2.5.29.21", "2.5.29.24"];

impl Authority {
    /// Reads back a CRL this authority signed (PEM or DER), to issue it again with
    /// [`Authority::reissue_crl`]. Refused unless it loads as a CRL of a trust anchor holding
    /// this CA alone would (issued and signed by this CA, version 2, no delta or indirect
    /// CRL), and unless the new one can carry all it holds.
    pub fn read_crl(&self, bytes: &[u8]) -> Result<PreviousCrl, PkiError> {
        let refused = |why: String| PkiError::PreviousCrl(why);
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            use rustls_pki_types::pem::PemObject as _;
            let blocks = rustls_pki_types::CertificateRevocationListDer::pem_slice_iter(bytes).count();
            if blocks > 1 {
                return Err(refused(format!("the file holds {blocks} CRLs; give one")));
            }
        }
        crate::identity::TrustAnchor::new(self.issued.cert_pem.as_bytes(), &[bytes.to_vec()])
            .map_err(|e| refused(self.crl_refusal(e)))?;
        let der = crl_der(bytes).ok_or_else(|| refused("it holds no CRL".to_owned()))?;
        let (_, crl) =
            CertificateRevocationList::from_der(&der).map_err(|e| refused(format!("not a DER X.509 CRL ({e})")))?;
        check_carried(&crl).map_err(refused)?;
        let revoked = crl
            .iter_revoked_certificates()
            .map(|entry| RevokedCertParams {
                serial_number: SerialNumber::from_slice(entry.raw_serial()),
                revocation_time: entry.revocation_date.to_datetime(),
                reason_code: entry.reason_code().and_then(|(_, code)| revocation_reason(code.0)),
                invalidity_date: entry.invalidity_date().map(|(_, date)| date.to_datetime()),
            })
            .collect();
        Ok(PreviousCrl {
            revoked,
            distribution_point: distribution_point(&crl).map_err(refused)?,
            number: crl.crl_number().cloned(),
        })
    }

    /// The number of the CRL in `bytes` when it names this CA as its issuer, read without
    /// checking more (it may be one [`Authority::read_crl`] refuses): what a CRL started anew
    /// in its place must exceed, so that a reload takes the new one for the later.
    pub fn crl_number_named_here(&self, bytes: &[u8]) -> PreviousCrl {
        let number = crl_der(bytes).and_then(|der| {
            let (_, crl) = CertificateRevocationList::from_der(&der).ok()?;
            let (_, ca) = x509_parser::parse_x509_certificate(&self.issued.cert_der).ok()?;
            (crl.issuer().as_raw() == ca.subject().as_raw())
                .then(|| crl.crl_number().cloned())
                .flatten()
        });
        PreviousCrl {
            number,
            ..PreviousCrl::default()
        }
    }

    /// Why `read_crl` refuses a CRL, in the terms of `certs crl` (the trust anchor's own
    /// messages speak of a bundle and numbered CRLs).
    fn crl_refusal(&self, error: crate::identity::AnchorError) -> String {
        use crate::identity::AnchorError;
        match error {
            AnchorError::CrlIssuerUnknown { issuer, .. } => {
                let this_ca = x509_parser::parse_x509_certificate(&self.issued.cert_der)
                    .map(|(_, ca)| crate::identity::distinguished_name(ca.subject()).to_string())
                    .unwrap_or_default();
                format!("it was issued by {issuer}, not by this CA ({this_ca})")
            }
            AnchorError::BadCrl { reason, .. } => reason,
            other => other.to_string(),
        }
    }

    /// Signs `previous` again, valid from `this_update` to `next_update`, with the serials of
    /// `revoke` (as [`Authority::crl`] takes them) added, revoked at `this_update`. What
    /// `previous` revoked keeps its revocation date, reason and invalidity date; its issuing
    /// distribution point is kept; the CRL number is larger than both `previous`'s and that of
    /// any CRL [`Authority::crl`] made before now. The new CRL is refused unless it loads as
    /// this CA's.
    pub fn reissue_crl(
        &self,
        previous: &PreviousCrl,
        revoke: &[&str],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<ReissuedCrl, PkiError> {
        let mut revoked = previous.revoked.clone();
        let mut added = Vec::new();
        let mut already_listed = Vec::new();
        for serial in revoke {
            let bytes = serial_bytes(serial)?;
            let hex = crate::identity::format_serial_hex(&bytes);
            if revoked.iter().any(|entry| serial_hex(entry) == hex) {
                already_listed.push(hex);
                continue;
            }
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            });
            added.push(hex);
        }
        let by_time = BigUint::from_bytes_be(&crl_number(OffsetDateTime::now_utc()));
        let after_previous = previous.number.as_ref().map(|n| n + 1u8);
        let number = after_previous.map_or(by_time.clone(), |n| n.max(by_time));
        if number.to_bytes_be().len() > MAX_CRL_NUMBER_OCTETS {
            return Err(PkiError::Crl(
                "the previous CRL's number is the largest RFC 5280 §5.2.3 allows (20 octets), so no CRL can follow \
                 it: remove the file and issue a new one (a daemon holding the old CRL refuses the new one, whose \
                 number is lower, until it restarts)"
                    .to_owned(),
            ));
        }
        let pem = self.sign_crl(
            revoked,
            this_update,
            next_update,
            previous.distribution_point.clone(),
            positive_integer(&number.to_bytes_be()),
        )?;
        crate::identity::TrustAnchor::new(self.issued.cert_pem.as_bytes(), &[pem.clone().into_bytes()])
            .map_err(|e| PkiError::Crl(format!("it would not load as this CA's: {}", self.crl_refusal(e))))?;
        Ok(ReissuedCrl {
            pem,
            carried: previous.revoked.len(),
            added,
            already_listed,
        })
    }
}

/// A revoked entry's serial as [`crate::identity::format_serial_hex`] writes it.
fn serial_hex(entry: &RevokedCertParams) -> String {
    crate::identity::format_serial_hex(entry.serial_number.as_ref())
}

/// What a re-issued CRL could not carry over: a CRL extension or an entry extension it does
/// not write, or a negative serial (rcgen writes serials as positive integers: another
/// serial).
fn check_carried(crl: &CertificateRevocationList<'_>) -> Result<(), String> {
    let unknown = |oid: String| !CARRIED_CRL_EXTENSIONS.contains(&oid.as_str());
    if let Some(extension) = crl.extensions().iter().find(|e| unknown(e.oid.to_id_string())) {
        return Err(format!(
            "it has an extension `certs crl` does not write ({}); issue it again with the tool that made it",
            extension.oid
        ));
    }
    for entry in crl.iter_revoked_certificates() {
        let serial = crate::identity::format_serial_hex(entry.raw_serial());
        if entry.raw_serial().first().is_some_and(|b| b & 0x80 != 0) {
            return Err(format!(
                "it revokes a negative serial number ({serial}), which `certs crl` cannot write"
            ));
        }
        let unknown = |oid: String| !CARRIED_ENTRY_EXTENSIONS.contains(&oid.as_str());
        if let Some(extension) = entry.extensions().iter().find(|e| unknown(e.oid.to_id_string())) {
            return Err(format!(
                "its entry of serial {serial} has an extension `certs crl` does not write ({}); issue it again \
                 with the tool that made it",
                extension.oid
            ));
        }
    }
    Ok(())
}

/// The issuing distribution point of `crl`, as rcgen writes one: URIs and a scope of end
/// entities or CAs only. Refused when it names its points otherwise (a directory name, a
/// DNS name) or restricts more than that.
fn distribution_point(
    crl: &CertificateRevocationList<'_>,
) -> Result<Option<rcgen::CrlIssuingDistributionPoint>, String> {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    let cannot = |what: &str| {
        Err(format!(
            "its issuing distribution point {what}, which `certs crl` cannot write; issue it again with the tool \
             that made it"
        ))
    };
    let Some(extension) = crl.extensions().iter().find(|e| e.oid.to_id_string() == "2.5.29.28") else {
        return Ok(None);
    };
    let ParsedExtension::IssuingDistributionPoint(idp) = extension.parsed_extension() else {
        return cannot("cannot be read");
    };
    if idp.only_some_reasons.is_some() || idp.indirect_crl || idp.only_contains_attribute_certs {
        return cannot("restricts the reasons, the issuers or the kind of certificates it covers");
    }
    let uris = match &idp.distribution_point {
        Some(DistributionPointName::FullName(names)) => names
            .iter()
            .map(|name| match name {
                GeneralName::URI(uri) => Ok((*uri).to_owned()),
                _ => Err(()),
            })
            .collect::<Result<Vec<_>, ()>>(),
        _ => Err(()),
    };
    let Ok(uris) = uris.and_then(|uris| if uris.is_empty() { Err(()) } else { Ok(uris) }) else {
        return cannot("names its points otherwise than by URIs");
    };
    Ok(Some(rcgen::CrlIssuingDistributionPoint {
        distribution_point: rcgen::CrlDistributionPoint { uris },
        scope: match (idp.only_contains_user_certs, idp.only_contains_ca_certs) {
            (true, _) => Some(rcgen::CrlScope::UserCertsOnly),
            (false, true) => Some(rcgen::CrlScope::CaCertsOnly),
            (false, false) => None,
        },
    }))
}

/// Whether `bytes` (PEM or DER) hold an X.509 CRL, whoever issued it.
pub fn holds_a_crl(bytes: &[u8]) -> bool {
    crl_der(bytes).is_some_and(|der| CertificateRevocationList::from_der(&der).is_ok())
}

/// The DER of a CRL file's one CRL: its first `X509 CRL` PEM block, or the file itself.
pub(super) fn crl_der(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Some(bytes.to_vec());
    }
    use rustls_pki_types::pem::PemObject as _;
    let first = rustls_pki_types::CertificateRevocationListDer::pem_slice_iter(bytes).next()?;
    first.ok().map(|der| der.to_vec())
}

/// RFC 5280 §5.3.1's reason code `code` as rcgen names it (7 is unassigned).
fn revocation_reason(code: u8) -> Option<rcgen::RevocationReason> {
    use rcgen::RevocationReason as R;
    Some(match code {
        0 => R::Unspecified,
        1 => R::KeyCompromise,
        2 => R::CaCompromise,
        3 => R::AffiliationChanged,
        4 => R::Superseded,
        5 => R::CessationOfOperation,
        6 => R::CertificateHold,
        8 => R::RemoveFromCrl,
        9 => R::PrivilegeWithdrawn,
        10 => R::AaCompromise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use rcgen::CertificateRevocationListParams;
    use time::macros::datetime;

    use super::*;
    use crate::pki::KeyType;

    const NB: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);
    const NA: OffsetDateTime = datetime!(2035-01-01 0:00 UTC);
    const FIRST: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
    const LATER: OffsetDateTime = datetime!(2026-02-01 0:00 UTC);

    /// The parsed entries (serial hex, revocation time, reason code) and number of a PEM CRL.
    fn crl_contents(pem: &str) -> (Vec<(String, OffsetDateTime, Option<u8>)>, BigUint) {
        let der = crl_der(pem.as_bytes()).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        let entries = crl
            .iter_revoked_certificates()
            .map(|r| {
                let reason = r.reason_code().map(|(_, code)| code.0);
                (
                    crate::identity::format_serial_hex(r.raw_serial()),
                    r.revocation_date.to_datetime(),
                    reason,
                )
            })
            .collect();
        (entries, crl.crl_number().cloned().unwrap())
    }

    /// A CRL of `ca` numbered `number`, revoking serial 8a for key compromise at [`FIRST`],
    /// for end entities of one distribution point.
    fn signed(ca: &Authority, number: &[u8], uri: &str) -> String {
        let params = CertificateRevocationListParams {
            this_update: FIRST,
            next_update: LATER,
            crl_number: SerialNumber::from_slice(number),
            issuing_distribution_point: Some(rcgen::CrlIssuingDistributionPoint {
                distribution_point: rcgen::CrlDistributionPoint {
                    uris: vec![uri.to_owned()],
                },
                scope: Some(rcgen::CrlScope::UserCertsOnly),
            }),
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from_slice(&[0x00, 0x8a]),
                revocation_time: FIRST,
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: ca.key_identifier_method.clone(),
        };
        params.signed_by(&ca.issuer).unwrap().pem().unwrap()
    }

    #[test]
    fn a_reissued_crl_keeps_what_the_previous_one_revoked_and_adds_the_new_serials() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        // A number larger than any made from the clock: the next must still grow.
        let previous = root
            .read_crl(signed(&root, &[0x7f; 19], "http://crl.example/root.crl").as_bytes())
            .unwrap();
        assert_eq!(previous.revoked_serials(), ["8a"]);

        let crl = root.reissue_crl(&previous, &["8A", "0b"], LATER, NA).unwrap();
        assert_eq!(
            (crl.carried, crl.added.as_slice(), crl.already_listed.as_slice()),
            (1, &["0b".to_owned()][..], &["8a".to_owned()][..])
        );
        let (entries, number) = crl_contents(&crl.pem);
        assert_eq!(
            entries,
            [("8a".to_owned(), FIRST, Some(1)), ("0b".to_owned(), LATER, None)]
        );
        assert_eq!(number, BigUint::from_bytes_be(&[0x7f; 19]) + 1u8);
        assert_eq!(crl_der(crl.pem.as_bytes()).unwrap(), crl.der().unwrap());
        // The new CRL loads as the anchor's, with the previous one's scope.
        let anchor =
            crate::identity::TrustAnchor::new(root.issued().cert_pem.as_bytes(), &[crl.pem.into_bytes()]).unwrap();
        let scope = anchor.crls()[0].scope.clone().unwrap();
        assert!(scope.only_end_entities && !scope.only_cas);
        assert_eq!(scope.uris, ["http://crl.example/root.crl"]);

        // With no previous CRL: the serials asked for, and a number from the clock.
        let clock_before = BigUint::from_bytes_be(&crl_number(OffsetDateTime::now_utc()));
        let fresh = root.reissue_crl(&PreviousCrl::default(), &["0c"], LATER, NA).unwrap();
        assert_eq!((fresh.carried, fresh.added.as_slice()), (0, &["0c".to_owned()][..]));
        let (entries, number) = crl_contents(&fresh.pem);
        assert_eq!(entries, [("0c".to_owned(), LATER, None)]);
        assert!(number > clock_before, "{number} after {clock_before}");
        // Started anew in its place: nothing carried, the number still past the previous one.
        let anew = root.reissue_crl(&previous.number_only(), &["0d"], LATER, NA).unwrap();
        let (entries, number) = crl_contents(&anew.pem);
        assert_eq!(entries, [("0d".to_owned(), LATER, None)]);
        assert_eq!(number, BigUint::from_bytes_be(&[0x7f; 19]) + 1u8);
        // An empty serial names no certificate.
        assert!(matches!(
            root.reissue_crl(&PreviousCrl::default(), &[""], LATER, NA),
            Err(PkiError::SerialNotHex(s)) if s.is_empty()
        ));
    }

    #[test]
    fn two_copies_merge_when_they_cover_the_same_scope() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let uri = "http://crl.example/root.crl";
        let a = root.read_crl(signed(&root, &[5], uri).as_bytes()).unwrap();
        let b = root
            .read_crl(root.reissue_crl(&a, &["0b"], LATER, NA).unwrap().pem.as_bytes())
            .unwrap();
        let merged = a.clone().merged(b.clone()).unwrap();
        assert_eq!(merged.revoked_serials(), ["8a", "0b"]);
        assert_eq!(merged.number, b.number);
        let elsewhere = root
            .read_crl(signed(&root, &[6], "http://other.example/root.crl").as_bytes())
            .unwrap();
        assert_eq!(
            a.merged(elsewhere).unwrap_err().to_string(),
            "the previous CRL cannot be carried over: the two CRLs cover different scopes (issuing distribution \
             points): carry over one at a time"
        );
    }

    #[test]
    fn only_a_crl_this_ca_can_issue_again_is_read_back() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let other = Authority::new_root("Other", KeyType::EcdsaP256, NB, NA).unwrap();
        let foreign = other.crl(&["01"], NB, NA).unwrap();
        let err = root.read_crl(foreign.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the previous CRL cannot be carried over: it was issued by CN=Other, not by this CA (CN=Root)"
        );
        let err = root.read_crl(b"not a CRL").unwrap_err().to_string();
        assert!(
            err.starts_with("the previous CRL cannot be carried over: not a DER X.509 CRL"),
            "{err}"
        );
        let own = root.crl(&["02"], NB, NA).unwrap();
        let two = format!("{own}{own}");
        assert_eq!(
            root.read_crl(two.as_bytes()).unwrap_err().to_string(),
            "the previous CRL cannot be carried over: the file holds 2 CRLs; give one"
        );
        // What a CRL started anew in the place of one must exceed: its number, when it names
        // this CA as its issuer (read without the checks read_crl makes).
        let own_number = root.crl_number_named_here(signed(&root, &[9; 12], "http://crl.example/r.crl").as_bytes());
        assert_eq!(own_number.number, Some(BigUint::from_bytes_be(&[9; 12])));
        assert_eq!(root.crl_number_named_here(foreign.as_bytes()).number, None);
        assert_eq!(root.crl_number_named_here(b"garbage").number, None);
        // A CRL in DER is read as well as PEM.
        let der = crl_der(own.as_bytes()).unwrap();
        assert_eq!(root.read_crl(&der).unwrap().revoked_serials(), ["02"]);
        // A number at the largest RFC 5280 allows (20 octets) cannot grow: the CRL that would
        // not load is refused, not written.
        let largest = root
            .read_crl(signed(&root, &[0xff; 20], "http://crl.example/r.crl").as_bytes())
            .unwrap();
        for previous in [largest.clone(), largest.number_only()] {
            assert_eq!(
                root.reissue_crl(&previous, &[], LATER, NA).unwrap_err().to_string(),
                "cannot issue the CRL: the previous CRL's number is the largest RFC 5280 §5.2.3 allows (20 octets), \
                 so no CRL can follow it: remove the file and issue a new one (a daemon holding the old CRL refuses \
                 the new one, whose number is lower, until it restarts)"
            );
        }
    }
}
