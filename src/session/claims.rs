//! Session claims: everything a session token carries, so that any replica can authenticate
//! and authorize a request made with the session's credentials without a shared store.
//!
//! A session is a role, a session name, its tags and source identity, its session policies and
//! its lifetime (DESIGN §1 "Session"), plus the credential pair it was issued with. The secret
//! access key is held in [`Zeroizing`] memory and never shown by `Debug`.

use std::fmt;

use zeroize::Zeroizing;

use crate::identity::IssuerSerial;

/// The claims sealed inside a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// `ASIA…` access key id of the session's credentials.
    pub access_key_id: String,
    /// The 40-character secret the client signs requests with.
    pub secret_access_key: Zeroizing<String>,
    /// ARN of the assumed role.
    pub role_arn: String,
    /// `AROA…` unique id of the role (see [`super::role_id`]).
    pub role_id: String,
    /// Role session name (certificate serial, or the requested name).
    pub session_name: String,
    /// Issue time, unix seconds.
    pub issued_at: i64,
    /// Expiry time, unix seconds. [`super::open`] does not check it; the caller compares it with
    /// its clock.
    pub expires_at: i64,
    /// `sts:SourceIdentity`; once set it stays the same along a role chain.
    pub source_identity: Option<String>,
    /// Session (principal) tags, in request order.
    pub tags: Vec<(String, String)>,
    /// Keys of [`Self::tags`] that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// Inline session policy documents (profile session policy, STS `Policy`).
    pub session_policies: Vec<String>,
    /// Managed policy ARNs applied as session policies.
    pub policy_arns: Vec<String>,
    /// How the session was created.
    pub origin: SessionOrigin,
    /// The certificate chain the session's role chain began with, whose revocation ends it;
    /// `None` in tokens sealed before sessions carried it.
    pub chain: Option<SessionChain>,
}

/// The certificate chain a CreateSession issued a session to, carried along every session
/// chained from it: when a CRL of its trust anchor lists one of its certificates, those
/// sessions end (a session outliving its certificate's revocation is what AWS does, and what
/// an operator revoking a stolen certificate or a compromised CA does not want).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionChain {
    /// The trust anchor whose CRLs are consulted.
    pub trust_anchor_arn: String,
    /// The client certificate, then the intermediate CA certificates of its verified path, as
    /// CRLs name them: the session ends when a CRL of the anchor revokes one.
    pub certificates: Vec<IssuerSerial>,
    /// The certificates of the anchor's bundle the path ended at, when a CA of the bundle
    /// issued them (an issuing CA listed under its root; each listing of it, by name and key):
    /// the session ends when a CRL of the anchor revokes every one.
    pub issued_anchor_listings: Vec<IssuerSerial>,
}

impl SessionChain {
    /// Every certificate the chain names.
    pub fn all_certificates(&self) -> impl Iterator<Item = &IssuerSerial> {
        self.certificates.iter().chain(&self.issued_anchor_listings)
    }
}

/// How a session came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOrigin {
    /// Roles Anywhere `CreateSession` with an X.509 certificate.
    RolesAnywhere {
        trust_anchor_arn: String,
        profile_arn: String,
        /// Leaf certificate serial, hex.
        certificate_serial: String,
    },
    /// STS `AssumeRole` by another role session (role chaining).
    AssumeRole {
        source_role_arn: String,
        source_session_name: String,
    },
}

/// [`SessionClaims`] before credentials are minted for them: what the service decides,
/// handed to [`super::mint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionClaimsDraft {
    pub role_arn: String,
    pub role_id: String,
    pub session_name: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub source_identity: Option<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub session_policies: Vec<String>,
    pub policy_arns: Vec<String>,
    pub origin: SessionOrigin,
    pub chain: Option<SessionChain>,
}

impl SessionClaims {
    /// Completes a draft with the session's credential pair.
    pub fn from_draft(draft: SessionClaimsDraft, access_key_id: String, secret_access_key: Zeroizing<String>) -> Self {
        let SessionClaimsDraft {
            role_arn,
            role_id,
            session_name,
            issued_at,
            expires_at,
            source_identity,
            tags,
            transitive_tag_keys,
            session_policies,
            policy_arns,
            origin,
            chain,
        } = draft;
        Self {
            access_key_id,
            secret_access_key,
            role_arn,
            role_id,
            session_name,
            issued_at,
            expires_at,
            source_identity,
            tags,
            transitive_tag_keys,
            session_policies,
            policy_arns,
            origin,
            chain,
        }
    }

    /// Whether the session has expired at `now` (unix seconds): AWS treats the expiration
    /// instant itself as expired.
    pub fn is_expired_at(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The transitive tags: the session tags whose keys are listed as transitive (compared
    /// as [`same_tag_key`] compares them), which a chained session inherits.
    pub fn transitive_tags(&self) -> impl Iterator<Item = &(String, String)> {
        self.tags
            .iter()
            .filter(|(key, _)| self.transitive_tag_keys.iter().any(|t| same_tag_key(t, key)))
    }
}

/// Whether two session tag keys are the same key: AWS compares them without regard to case,
/// in every script (`Abteilung` and `ABTEILUNG`, `Äbt` and `äbt`). Every rule about tag keys
/// — duplicates, transitive keys, inherited tags — compares them so, as policies compare the
/// condition keys that name them.
pub fn same_tag_key(a: &str, b: &str) -> bool {
    crate::policy::same_key(a, b)
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("role_arn", &self.role_arn)
            .field("role_id", &self.role_id)
            .field("session_name", &self.session_name)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("source_identity", &self.source_identity)
            .field("tags", &self.tags)
            .field("transitive_tag_keys", &self.transitive_tag_keys)
            .field("session_policies", &self.session_policies)
            .field("policy_arns", &self.policy_arns)
            .field("origin", &self.origin)
            .field("chain", &self.chain)
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A chained session with every field set, shared by the module's tests.
    pub(in crate::session) fn sample_draft() -> SessionClaimsDraft {
        SessionClaimsDraft {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_id: "AROAABCDEFGHIJKLMNOPQ".into(),
            session_name: "worker-1".into(),
            issued_at: 1_767_225_600,
            expires_at: 1_767_229_200,
            source_identity: Some("CN=worker-1".into()),
            tags: vec![
                ("team".into(), "payments".into()),
                ("x509Subject/CN".into(), "worker-1".into()),
            ],
            transitive_tag_keys: vec!["Team".into()],
            session_policies: vec![
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.into(),
            ],
            policy_arns: vec!["arn:aws:iam::123456789012:policy/read-only".into()],
            origin: SessionOrigin::AssumeRole {
                source_role_arn: "arn:aws:iam::123456789012:role/base".into(),
                source_session_name: "base-session".into(),
            },
            chain: Some(SessionChain {
                trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/corp".into(),
                certificates: vec![
                    IssuerSerial::new(b"issuing CA", &[0x1a, 0x2b]),
                    IssuerSerial::new(b"policy CA", &[0x00, 0x80]),
                ],
                issued_anchor_listings: vec![IssuerSerial::new(b"root CA", &[0x07])],
            }),
        }
    }

    pub(crate) fn sample_claims() -> SessionClaims {
        SessionClaims::from_draft(
            sample_draft(),
            "ASIAABCDEFGHIJKLMNOP".into(),
            Zeroizing::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
        )
    }

    #[test]
    fn debug_redacts_secret() {
        let claims = sample_claims();
        let shown = format!("{claims:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("ASIAABCDEFGHIJKLMNOP"));
    }

    #[test]
    fn lifetime() {
        let claims = sample_claims();
        assert!(!claims.is_expired_at(claims.expires_at - 1));
        assert!(claims.is_expired_at(claims.expires_at));
    }

    #[test]
    fn transitive_tags_are_the_listed_keys() {
        let claims = sample_claims();
        let transitive: Vec<_> = claims.transitive_tags().collect();
        assert_eq!(transitive, [&("team".to_owned(), "payments".to_owned())]);

        // Listed in another case of another script: still the same key, still inherited.
        let mut draft = sample_draft();
        draft.tags = vec![("Äbt".into(), "sales".into())];
        draft.transitive_tag_keys = vec!["äbt".into()];
        let claims = SessionClaims::from_draft(draft, "ASIAABCDEFGHIJKLMNOP".into(), Zeroizing::new(String::new()));
        let transitive: Vec<_> = claims.transitive_tags().collect();
        assert_eq!(transitive, [&("Äbt".to_owned(), "sales".to_owned())]);
    }
}
