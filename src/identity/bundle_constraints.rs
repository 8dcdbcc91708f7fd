//! The constraints a trust anchor's bundle certificates put on the paths that end at them,
//! which rustls-webpki leaves out.
//!
//! webpki takes each bundle certificate as a bare trust anchor — subject, key and that
//! certificate's own name constraints — so the pathLenConstraint and extendedKeyUsage of the
//! certificate a path ends at, and every constraint of the bundle certificates that issued
//! it, would go unchecked. Yet a bundle often holds an issuing CA beside its root (its CRL can
//! only be imported so). RFC 5280 §6.1.4 applies the constraints of every CA certificate of a
//! path, and OpenSSL those of a partial chain's anchor too; so does rolegate. At load,
//! [`issuers_in_bundle`] finds the bundle certificate that issued each (name and signature),
//! [`path_constraints`] what each inherits, and [`inherited_name_constraints`] the name
//! constraints webpki is to apply from it; chain verification then checks each path webpki
//! builds against its anchor certificate's [`PathConstraints`].

use rustls_pki_types::SignatureVerificationAlgorithm;
use x509_parser::asn1_rs::{Any, Class, FromDer, Header, Length, Tag, ToDer};
use x509_parser::certificate::X509Certificate;

use super::crl_signatures::verify_signed;

/// What a path ending at one bundle certificate must meet besides what webpki checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PathConstraints {
    /// The most certificates, not self-issued, a path may hold between the leaf and this
    /// certificate: the least pathLenConstraint of it and its issuers in the bundle, each less
    /// the certificates between that issuer and this one (negative: no path may end here),
    /// and the position of the bundle certificate that sets it.
    pub(super) max_intermediates: Option<(i64, usize)>,
    /// The position of this certificate or an issuer of it in the bundle whose
    /// extendedKeyUsage leaves out clientAuth, if one does.
    pub(super) client_auth_refused_by: Option<usize>,
}

/// Why a path ending at a bundle certificate is refused: which bundle certificate's constraint
/// it breaks (its position in the bundle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnchorConstraint {
    PathLength(usize),
    ClientAuth(usize),
}

impl PathConstraints {
    /// The constraints of a path through any one of `listings` — the same subject and key
    /// listed more than once (a CA certificate renewed with its key), which webpki cannot
    /// tell apart: a path is valid when it is under one of them.
    pub(super) fn most_lenient(listings: impl Iterator<Item = PathConstraints>) -> Option<PathConstraints> {
        listings.reduce(|a, b| PathConstraints {
            max_intermediates: match (a.max_intermediates, b.max_intermediates) {
                (Some(x), Some(y)) => Some(if x.0 >= y.0 { x } else { y }),
                _ => None,
            },
            client_auth_refused_by: a.client_auth_refused_by.and(b.client_auth_refused_by),
        })
    }

    /// Whether a path with `intermediates` certificates (not self-issued) between the leaf
    /// and the anchor certificate meets these constraints; the one it breaks if not.
    pub(super) fn admit(&self, intermediates: usize) -> Result<(), AnchorConstraint> {
        let count = i64::try_from(intermediates).unwrap_or(i64::MAX);
        if let Some((max, by)) = self.max_intermediates
            && count > max
        {
            return Err(AnchorConstraint::PathLength(by));
        }
        match self.client_auth_refused_by {
            Some(by) => Err(AnchorConstraint::ClientAuth(by)),
            None => Ok(()),
        }
    }

    /// Whether no path at all can end at the certificate: no client authentication, or a
    /// path length bound below zero (its issuers allow no CA where it stands).
    pub(super) fn admits_no_path(&self) -> Option<AnchorConstraint> {
        match (self.client_auth_refused_by, self.max_intermediates) {
            (Some(by), _) => Some(AnchorConstraint::ClientAuth(by)),
            (None, Some((max, by))) if max < 0 => Some(AnchorConstraint::PathLength(by)),
            _ => None,
        }
    }
}

/// Whether a certificate is self-issued (RFC 5280 §6.1: subject and issuer the same name),
/// which pathLenConstraint does not count.
pub(super) fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// For each bundle certificate, the position of another bundle certificate that issued it:
/// its subject is the certificate's issuer and its key verifies the certificate's signature
/// (of a CA re-keyed under its name, the key that signed). `None` for a self-issued
/// certificate and for one whose issuer is not in the bundle (a partial chain's anchor).
pub(super) fn issuers_in_bundle(
    certs: &[X509Certificate<'_>],
    ders: &[&[u8]],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Vec<Option<usize>> {
    certs
        .iter()
        .zip(ders)
        .map(|(cert, der)| {
            if is_self_issued(cert) {
                return None;
            }
            certs.iter().position(|issuer| {
                issuer.subject().as_raw() == cert.issuer().as_raw()
                    && verify_signed(algorithms, issuer.public_key().raw, der).is_ok()
            })
        })
        .collect()
}

/// Certificate `i` and its issuers in the bundle, nearest first, each once (a loop of
/// cross-certificates ends where it would repeat).
fn ancestry(i: usize, issuers: &[Option<usize>]) -> Vec<usize> {
    let mut line = vec![i];
    while let Some(next) = line.last().and_then(|&last| issuers[last]) {
        if line.contains(&next) {
            break;
        }
        line.push(next);
    }
    line
}

/// The [`PathConstraints`] of each bundle certificate (RFC 5280 §6.1.4 (l), (m) and the EKU
/// of every CA certificate, as OpenSSL and webpki apply to intermediates).
pub(super) fn path_constraints(certs: &[X509Certificate<'_>], issuers: &[Option<usize>]) -> Vec<PathConstraints> {
    (0..certs.len())
        .map(|i| {
            let line = ancestry(i, issuers);
            let mut max_intermediates: Option<(i64, usize)> = None;
            for (depth, &c) in line.iter().enumerate() {
                if let Some(path_len) = path_len_constraint(&certs[c]) {
                    let between = line[..depth].iter().filter(|&&b| !is_self_issued(&certs[b])).count();
                    let bound = i64::from(path_len) - i64::try_from(between).unwrap_or(i64::MAX);
                    if max_intermediates.is_none_or(|(m, _)| bound < m) {
                        max_intermediates = Some((bound, c));
                    }
                }
            }
            PathConstraints {
                max_intermediates,
                client_auth_refused_by: line.iter().copied().find(|&c| !allows_client_auth(&certs[c])),
            }
        })
        .collect()
}

fn path_len_constraint(cert: &X509Certificate<'_>) -> Option<u32> {
    match cert.basic_constraints() {
        Ok(Some(bc)) => bc.value.path_len_constraint,
        // A malformed or repeated extension: the bundle check refuses such a certificate
        // before it gets here (it reads CA:true from the same extension).
        _ => None,
    }
}

/// No extendedKeyUsage, or one listing clientAuth — webpki's rule for the CA certificates a
/// client sends (anyExtendedKeyUsage does not stand for it); a malformed one allows nothing.
fn allows_client_auth(cert: &X509Certificate<'_>) -> bool {
    match cert.extended_key_usage() {
        Ok(None) => true,
        Ok(Some(eku)) => eku.value.client_auth,
        Err(_) => false,
    }
}

/// Two bundle certificates on one line of issuance both list permitted subtrees of one name
/// form: webpki applies one NameConstraints per trust anchor, and two permitted lists of a
/// form cannot be merged into one without computing their intersection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct UnmergeablePermitted {
    /// The bundle certificate whose paths both would constrain.
    pub(super) certificate: usize,
    /// The issuer above it whose permitted subtrees overlap in form with a nearer one's.
    pub(super) issuer: usize,
    /// The GeneralName form (RFC 5280 §4.2.1.6 tag: 1 rfc822Name, 2 dNSName, 4
    /// directoryName, 6 URI, 7 iPAddress…).
    pub(super) form: u32,
}

/// For each bundle certificate, the NameConstraints (the DER contents of its SEQUENCE, as
/// webpki keeps a trust anchor's) that apply below it: its own and its issuers' in the
/// bundle, merged — permitted subtrees of different name forms side by side, every excluded
/// subtree. `own[i]` is certificate `i`'s own, as webpki read it. `None` where none apply.
pub(super) fn inherited_name_constraints(
    own: &[Option<&[u8]>],
    issuers: &[Option<usize>],
) -> Result<Vec<Option<Vec<u8>>>, UnmergeablePermitted> {
    (0..own.len())
        .map(|i| {
            let line = ancestry(i, issuers);
            if line.iter().all(|&c| own[c].is_none()) {
                return Ok(None);
            }
            if line.iter().filter(|&&c| own[c].is_some()).count() == 1 {
                return Ok(line.iter().find_map(|&c| own[c]).map(<[u8]>::to_vec));
            }
            let (mut permitted, mut excluded) = (Vec::new(), Vec::new());
            let mut forms_by: Vec<(u32, usize)> = Vec::new();
            for &c in &line {
                let Some(constraints) = own[c] else { continue };
                let (p, e) = subtrees(constraints);
                for form in subtree_forms(p) {
                    match forms_by.iter().find(|(f, by)| *f == form && *by != c) {
                        Some(_) => {
                            return Err(UnmergeablePermitted {
                                certificate: i,
                                issuer: c,
                                form,
                            });
                        }
                        None => forms_by.push((form, c)),
                    }
                }
                permitted.extend_from_slice(p);
                excluded.extend_from_slice(e);
            }
            let mut merged = Vec::new();
            for (tag, contents) in [(0, permitted), (1, excluded)] {
                if !contents.is_empty() {
                    merged.extend(context_constructed(tag, &contents));
                }
            }
            Ok(Some(merged))
        })
        .collect()
}

/// The contents of the permitted (`[0]`) and excluded (`[1]`) GeneralSubtrees of a
/// NameConstraints' contents; empty where absent or unreadable (webpki, which read the same
/// bytes from the certificate, refuses malformed ones on every path).
fn subtrees(constraints: &[u8]) -> (&[u8], &[u8]) {
    let (mut permitted, mut excluded): (&[u8], &[u8]) = (&[], &[]);
    let mut rest = constraints;
    while let Ok((after, any)) = Any::from_der(rest) {
        match (any.class(), any.tag().0) {
            (Class::ContextSpecific, 0) => permitted = any.data,
            (Class::ContextSpecific, 1) => excluded = any.data,
            _ => {}
        }
        rest = after;
    }
    (permitted, excluded)
}

/// The GeneralName forms (context tag numbers) of the bases of some GeneralSubtrees'
/// contents, each once.
fn subtree_forms(contents: &[u8]) -> Vec<u32> {
    let mut forms = Vec::new();
    let mut rest = contents;
    while let Ok((after, subtree)) = Any::from_der(rest) {
        if let Ok((_, base)) = Any::from_der(subtree.data)
            && !forms.contains(&base.tag().0)
        {
            forms.push(base.tag().0);
        }
        rest = after;
    }
    forms
}

/// The DER of a constructed context-specific `[tag]` holding `contents`.
fn context_constructed(tag: u32, contents: &[u8]) -> Vec<u8> {
    let header = Header::new(Class::ContextSpecific, true, Tag(tag), Length::Definite(contents.len()));
    #[expect(
        clippy::expect_used,
        reason = "invariant: a low-tag-number header with a definite length always encodes"
    )]
    let mut der = header
        .to_der_vec()
        .expect("a [0]/[1] header with a definite length encodes");
    der.extend_from_slice(contents);
    der
}
