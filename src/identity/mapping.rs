//! A profile's attribute mappings (AWS `attributeMappings`,
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/attribute-mapping.html>): which
//! attributes of the authenticating certificate become principal tags of its sessions.
//!
//! Each certificate field (`x509Subject`, `x509Issuer`, `x509SAN`) has a list of specifiers.
//! A field the profile does not map keeps AWS's default rules — every supported RDN of the
//! subject and issuer (`*`); the first DNS name, URI and directory name of the SAN (`DNS`,
//! `URI`, `Name/*`) — which are exactly the tags [`super::ClientCertificate::principal_tags`]
//! computes once per certificate. A mapping therefore only ever selects among those tags, and
//! the default mapping selects them all without copying.

use std::borrow::Cow;

use super::attributes::{TAG_ATTRIBUTES, short_name_of};

/// A certificate field an attribute mapping names, as AWS spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateField {
    Subject,
    Issuer,
    San,
}

impl CertificateField {
    pub const ALL: [CertificateField; 3] = [Self::Subject, Self::Issuer, Self::San];

    /// AWS's default rules for the field.
    pub fn default_specifiers(self) -> &'static [&'static str] {
        match self {
            Self::Subject | Self::Issuer => &["*"],
            Self::San => &["DNS", "URI", "Name/*"],
        }
    }

    /// `x509Subject`, `x509Issuer` or `x509SAN`: the field's name and its tags' key prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Subject => "x509Subject",
            Self::Issuer => "x509Issuer",
            Self::San => "x509SAN",
        }
    }
}

/// Which of a certificate's attributes become principal tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributeMapping {
    /// Per field, in [`CertificateField::ALL`] order: `None` keeps AWS's default rules, `Some`
    /// lists the specifiers the profile maps (an empty list maps nothing of that field).
    rules: [Option<Vec<String>>; 3],
}

impl AttributeMapping {
    /// The mapping that keeps AWS's default rules for every field.
    pub fn aws_default() -> AttributeMapping {
        AttributeMapping::default()
    }

    /// Maps `field` by `specifiers` instead of its default rules; the error says which
    /// specifier the field does not have.
    pub fn set(&mut self, field: CertificateField, specifiers: Vec<String>) -> Result<(), String> {
        let specifiers: Vec<String> = specifiers.into_iter().map(|s| canonical_specifier(field, s)).collect();
        for specifier in &specifiers {
            check_specifier(field, specifier)?;
        }
        self.rules[field as usize] = Some(specifiers);
        Ok(())
    }

    /// The specifiers in force for each field, AWS's default rules included.
    pub fn effective(&self) -> [(CertificateField, Vec<&str>); 3] {
        CertificateField::ALL.map(|field| {
            let specifiers = match &self.rules[field as usize] {
                Some(specifiers) => specifiers.iter().map(String::as_str).collect(),
                None => field.default_specifiers().to_vec(),
            };
            (field, specifiers)
        })
    }

    /// True when every field keeps AWS's default rules.
    pub fn is_default(&self) -> bool {
        self.rules.iter().all(Option::is_none)
    }

    /// The tags among `default_tags` (the certificate's tags under AWS's default rules) that
    /// this mapping selects, in their order.
    pub fn select<'a>(&self, default_tags: &'a [(String, String)]) -> Cow<'a, [(String, String)]> {
        if self.is_default() {
            return Cow::Borrowed(default_tags);
        }
        Cow::Owned(
            default_tags
                .iter()
                .filter(|(key, _)| self.keeps(key))
                .cloned()
                .collect(),
        )
    }

    /// The field whose mapping leaves out the principal tag `key` (`x509Subject/CN`, in any
    /// case, as a policy's `aws:PrincipalTag/…` may write it), when a certificate can carry
    /// that tag under AWS's default rules and this mapping selects it never: no session of the
    /// profile has it. `None` when the mapping may keep it, and for a key no certificate
    /// attribute becomes (another tag, an unsupported RDN): nothing to decide there.
    pub fn dropped_field(&self, key: &str) -> Option<CertificateField> {
        let (field, attribute) = field_of(key)?;
        let specifiers = self.rules[field as usize].as_ref()?;
        let attribute = default_tag_attribute(field, attribute)?;
        (!specifiers.iter().any(|s| selects(s, &attribute))).then_some(field)
    }

    /// Whether the tag `key` (`x509Subject/CN`, `x509SAN/Name/OU`...) is selected.
    fn keeps(&self, key: &str) -> bool {
        let Some((field, attribute)) = field_of(key) else {
            return false;
        };
        match &self.rules[field as usize] {
            None => true,
            Some(specifiers) => specifiers.iter().any(|s| selects(s, attribute)),
        }
    }
}

/// `AWS default`, or the fields mapped otherwise: `x509Subject [CN, OU], x509Issuer [] (x509SAN by default)`.
impl std::fmt::Display for AttributeMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_default() {
            return f.write_str("AWS default");
        }
        let mut defaults = Vec::new();
        let mut first = true;
        for field in CertificateField::ALL {
            match &self.rules[field as usize] {
                Some(specifiers) => {
                    if !first {
                        f.write_str(", ")?;
                    }
                    first = false;
                    write!(f, "{} [{}]", field.name(), specifiers.join(", "))?;
                }
                None => defaults.push(field.name()),
            }
        }
        if !defaults.is_empty() {
            write!(f, " ({} by default)", defaults.join(", "))?;
        }
        Ok(())
    }
}

/// Whether `specifier` selects the tag of `attribute` (a key without its field prefix): `*`
/// every RDN, `Name/*` every RDN of the SAN directory name, anything else itself.
fn selects(specifier: &str, attribute: &str) -> bool {
    match specifier {
        "*" => true,
        "Name/*" => attribute.starts_with("Name/"),
        _ => specifier == attribute,
    }
}

/// The field of the tag `key` (`x509Subject/CN`: the subject; the field's name in any case, as
/// a policy's `aws:PrincipalTag/…` may write it) and the rest of the key after its `/`.
fn field_of(key: &str) -> Option<(CertificateField, &str)> {
    CertificateField::ALL.into_iter().find_map(|field| {
        let name = key.get(..field.name().len())?;
        let rest = key[field.name().len()..].strip_prefix('/')?;
        name.eq_ignore_ascii_case(field.name()).then_some((field, rest))
    })
}

/// `attribute` (the part of a tag key after its field, in any case) as AWS's default rules
/// spell the tag of `field` they make of it — `CN`, `emailAddress`; `DNS`, `URI`, `Name/CN` —
/// or `None` when those rules make no such tag.
fn default_tag_attribute(field: CertificateField, attribute: &str) -> Option<String> {
    match field {
        CertificateField::Subject | CertificateField::Issuer => short_name_of(attribute).map(str::to_owned),
        CertificateField::San => {
            if let Some(name) = ["DNS", "URI"].into_iter().find(|n| n.eq_ignore_ascii_case(attribute)) {
                return Some(name.to_owned());
            }
            let rdn = attribute.get(..5).filter(|p| p.eq_ignore_ascii_case("Name/"))?;
            short_name_of(&attribute[rdn.len()..]).map(|rdn| format!("Name/{rdn}"))
        }
    }
}

/// AWS's spelling of a specifier: for SAN, `Name` and `Name/` are `Name/*` ("Both Name and
/// Name/ are equivalent to Name/* and will be displayed as Name/*",
/// <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/attribute-mapping.html>).
fn canonical_specifier(field: CertificateField, specifier: String) -> String {
    match (field, specifier.as_str()) {
        (CertificateField::San, "Name" | "Name/") => "Name/*".to_owned(),
        _ => specifier,
    }
}

/// The specifiers AWS documents for each field: subject and issuer, `*` or an RDN type; SAN,
/// `DNS`, `URI`, `Name/*` or `Name/` and an RDN type.
fn check_specifier(field: CertificateField, specifier: &str) -> Result<(), String> {
    let rdn = |s: &str| TAG_ATTRIBUTES.contains(&s);
    let known = match field {
        CertificateField::Subject | CertificateField::Issuer => specifier == "*" || rdn(specifier),
        CertificateField::San => match specifier.strip_prefix("Name/") {
            Some(name) => name == "*" || rdn(name),
            None => matches!(specifier, "DNS" | "URI"),
        },
    };
    if known {
        return Ok(());
    }
    let choices = match field {
        CertificateField::Subject | CertificateField::Issuer => format!("* or one of {}", TAG_ATTRIBUTES.join(", ")),
        CertificateField::San => format!("DNS, URI, Name/* or Name/ and one of {}", TAG_ATTRIBUTES.join(", ")),
    };
    Err(format!(
        "'{specifier}' is not a specifier of {}: use {choices}",
        field.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(keys: &[&str]) -> Vec<(String, String)> {
        keys.iter()
            .map(|k| ((*k).to_owned(), format!("value of {k}")))
            .collect()
    }

    fn mapping(rules: Rules<'_>) -> AttributeMapping {
        let mut m = AttributeMapping::aws_default();
        for (field, specifiers) in rules {
            m.set(*field, specifiers.iter().map(|s| (*s).to_owned()).collect())
                .unwrap();
        }
        m
    }

    const ALL: &[&str] = &[
        "x509Subject/CN",
        "x509Subject/OU",
        "x509Subject/O",
        "x509Issuer/CN",
        "x509Issuer/O",
        "x509SAN/DNS",
        "x509SAN/URI",
        "x509SAN/Name/CN",
        "x509SAN/Name/OU",
    ];

    #[test]
    fn a_dropped_tag_is_named_with_its_field() {
        use CertificateField::*;
        let m = mapping(&[(Subject, &["CN"]), (San, &["DNS", "Name/OU"])]);
        assert_eq!(m.dropped_field("x509Subject/OU"), Some(Subject));
        assert_eq!(
            m.dropped_field("x509subject/ou"),
            Some(Subject),
            "keys are case-insensitive"
        );
        assert_eq!(m.dropped_field("x509Subject/emailaddress"), Some(Subject));
        assert_eq!(m.dropped_field("x509SAN/URI"), Some(San));
        assert_eq!(m.dropped_field("x509san/name/cn"), Some(San));
        for kept in ["x509Subject/CN", "X509SUBJECT/cn", "x509SAN/dns", "x509SAN/Name/OU"] {
            assert_eq!(m.dropped_field(kept), None, "{kept}");
        }
        // The issuer keeps its default rules; keys no certificate attribute becomes are not
        // decided.
        for undecided in [
            "x509Issuer/CN",
            "x509Subject/Foo",
            "x509Subject/*",
            "x509SAN/Email",
            "x509SAN/Name/*",
            "team",
            "x509Subjec/CN",
            "x509Subject",
        ] {
            assert_eq!(m.dropped_field(undecided), None, "{undecided}");
        }
        assert_eq!(mapping(&[(Issuer, &[])]).dropped_field("x509Issuer/O"), Some(Issuer));
        assert_eq!(AttributeMapping::aws_default().dropped_field("x509Subject/OU"), None);
    }

    #[test]
    fn the_default_mapping_keeps_every_tag_without_copying() {
        let all = tags(ALL);
        let selected = AttributeMapping::aws_default().select(&all);
        assert!(matches!(selected, Cow::Borrowed(_)));
        assert_eq!(selected.as_ref(), all.as_slice());
    }

    /// The rules of some fields, as `(field, specifiers)`.
    type Rules<'a> = &'a [(CertificateField, &'a [&'a str])];

    #[test]
    fn a_mapped_field_keeps_its_specifiers_and_the_others_their_defaults() {
        use CertificateField::*;
        let all = tags(ALL);
        let cases: &[(Rules<'_>, &[&str])] = &[
            // Only CN and OU of the subject; issuer and SAN by default.
            (
                &[(Subject, &["CN", "OU"])],
                &[
                    "x509Subject/CN",
                    "x509Subject/OU",
                    "x509Issuer/CN",
                    "x509Issuer/O",
                    "x509SAN/DNS",
                    "x509SAN/URI",
                    "x509SAN/Name/CN",
                    "x509SAN/Name/OU",
                ],
            ),
            // Nothing of the issuer.
            (
                &[(Issuer, &[])],
                &[
                    "x509Subject/CN",
                    "x509Subject/OU",
                    "x509Subject/O",
                    "x509SAN/DNS",
                    "x509SAN/URI",
                    "x509SAN/Name/CN",
                    "x509SAN/Name/OU",
                ],
            ),
            // The SAN's URI and the CN of its directory name only.
            (
                &[(San, &["URI", "Name/CN"]), (Subject, &["*"]), (Issuer, &["O"])],
                &[
                    "x509Subject/CN",
                    "x509Subject/OU",
                    "x509Subject/O",
                    "x509Issuer/O",
                    "x509SAN/URI",
                    "x509SAN/Name/CN",
                ],
            ),
            (
                &[(San, &["Name/*"]), (Subject, &[]), (Issuer, &[])],
                &["x509SAN/Name/CN", "x509SAN/Name/OU"],
            ),
            // A specifier the certificate has no value for selects nothing.
            (&[(Subject, &["UID"]), (Issuer, &[]), (San, &["DNS"])], &["x509SAN/DNS"]),
        ];
        for (rules, want) in cases {
            let m = mapping(rules);
            assert!(!m.is_default());
            let selected = m.select(&all);
            let got: Vec<&str> = selected.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(got, *want, "{rules:?}");
        }
        // The values travel with their keys.
        let m = mapping(&[(Subject, &["OU"])]);
        assert!(
            m.select(&all)
                .contains(&("x509Subject/OU".to_owned(), "value of x509Subject/OU".to_owned()))
        );
    }

    #[test]
    fn the_effective_rules_fill_in_aws_defaults() {
        use CertificateField::*;
        let m = mapping(&[(Issuer, &["O", "CN"])]);
        assert_eq!(
            m.effective(),
            [
                (Subject, vec!["*"]),
                (Issuer, vec!["O", "CN"]),
                (San, vec!["DNS", "URI", "Name/*"])
            ]
        );
        // The defaults select every tag: writing them out changes nothing.
        let all = tags(ALL);
        let spelled_out = mapping(&[(Subject, &["*"]), (Issuer, &["*"]), (San, &["DNS", "URI", "Name/*"])]);
        assert_eq!(spelled_out.select(&all).as_ref(), all.as_slice());
    }

    #[test]
    fn a_mapping_describes_itself() {
        use CertificateField::*;
        assert_eq!(AttributeMapping::aws_default().to_string(), "AWS default");
        assert_eq!(
            mapping(&[(Subject, &["CN", "OU"]), (Issuer, &[])]).to_string(),
            "x509Subject [CN, OU], x509Issuer [] (x509SAN by default)"
        );
        assert_eq!(
            mapping(&[(San, &["URI"])]).to_string(),
            "x509SAN [URI] (x509Subject, x509Issuer by default)"
        );
        // AWS's other spellings of Name/*, displayed as AWS displays them.
        assert_eq!(
            mapping(&[(San, &["Name", "Name/"])]).to_string(),
            "x509SAN [Name/*, Name/*] (x509Subject, x509Issuer by default)"
        );
    }

    #[test]
    fn specifiers_are_those_aws_documents_for_the_field() {
        use CertificateField::*;
        for (field, good) in [
            (Subject, &["*", "CN", "OU", "emailAddress", "serialNumber"][..]),
            (Issuer, &["*", "C", "DC"][..]),
            (San, &["DNS", "URI", "Name/*", "Name/CN", "Name/title"][..]),
        ] {
            for specifier in good {
                assert_eq!(check_specifier(field, specifier), Ok(()), "{field:?} {specifier}");
            }
        }
        let cases = [
            (
                Subject,
                "cn",
                "'cn' is not a specifier of x509Subject: use * or one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
            ),
            (
                Issuer,
                "DNS",
                "'DNS' is not a specifier of x509Issuer: use * or one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
            ),
            (
                San,
                "CN",
                "'CN' is not a specifier of x509SAN: use DNS, URI, Name/* or Name/ and one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
            ),
            (
                San,
                "Name/2.5.4.3",
                "'Name/2.5.4.3' is not a specifier of x509SAN: use DNS, URI, Name/* or Name/ and one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
            ),
            (
                San,
                "*",
                "'*' is not a specifier of x509SAN: use DNS, URI, Name/* or Name/ and one of CN, C, L, ST, O, OU, DC, UID, emailAddress, serialNumber, SN, GN, title",
            ),
        ];
        for (field, specifier, want) in cases {
            assert_eq!(check_specifier(field, specifier).unwrap_err(), want);
            let mut m = AttributeMapping::aws_default();
            assert!(m.set(field, vec![specifier.to_owned()]).is_err());
            assert!(m.is_default(), "a refused mapping changes nothing");
        }
    }
}
