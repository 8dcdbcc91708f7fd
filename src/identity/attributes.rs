//! Certificate attributes as IAM Roles Anywhere exposes them: distinguished names, principal
//! tags, the source identity and serial number formats.
//!
//! AWS rules: <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html>
//! and <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/attribute-mapping.html>
//! (default mapping: every supported subject/issuer RDN, and the *first* SAN of each of the
//! types DNS, URI and directory name).

use std::fmt;

use x509_parser::x509::X509Name;

use super::CertificateError;

/// An ordered distinguished name: (short attribute name, value) in certificate order, one entry
/// per attribute (the attributes of a multi-valued RDN one after the other, remembered as one
/// RDN for writing).
///
/// Short names follow OpenSSL/AWS: `CN`, `C`, `L`, `ST`, `O`, `OU`, `DC`, `UID`,
/// `emailAddress`, `serialNumber`, `SN`, `GN`, `title`; any other attribute type is named by
/// its dotted OID. Values that are not character strings are shown as `#` + hex of their DER
/// (RFC 4514 §2.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    attributes: Vec<(String, String)>,
    /// Indexes of the values that are `#` + hex (not character strings): written unescaped.
    /// Ascending (pushed in attribute order), so looked up by binary search: a certificate
    /// can carry thousands of attributes, and is parsed before anything is authenticated.
    hex_values: Vec<usize>,
    /// For each attribute, the index of the RDN it belongs to: attributes of one multi-valued
    /// RDN are written joined by `+`, RDNs by `,` (RFC 4514 §2.2), so `CN=a+O=b` (one RDN) is
    /// never written as `CN=a,O=b` (two).
    rdns: Vec<usize>,
}

impl DistinguishedName {
    /// Builds a name from (short name, value) pairs in order.
    #[cfg(test)]
    pub fn from_attributes<I, K, V>(attributes: I) -> DistinguishedName
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let attributes: Vec<(String, String)> = attributes.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        DistinguishedName {
            rdns: (0..attributes.len()).collect(),
            attributes,
            hex_values: Vec::new(),
        }
    }

    /// Whether the value of attribute `i` is `#` + hex.
    fn is_hex(&self, i: usize) -> bool {
        self.hex_values.binary_search(&i).is_ok()
    }

    /// The first value of attribute `name`, if present.
    #[cfg(test)]
    pub fn first(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of attribute `name` when it is text (not a value shown as `#` + hex).
    pub fn first_text(&self, name: &str) -> Option<&str> {
        let (i, (_, value)) = self.attributes.iter().enumerate().find(|(_, (k, _))| k == name)?;
        (!self.is_hex(i)).then_some(value.as_str())
    }

    /// Principal tag values for the supported attribute types, in order of first appearance.
    ///
    /// Rule (DESIGN §1): one tag per supported attribute type; when a type is repeated
    /// (e.g. two `OU`), the values are joined with `/` in certificate order. Types AWS does not
    /// recognise (those named by a dotted OID) produce no tag, nor do values that are not text
    /// (shown as `#` + hex): a policy could not match them. Text values are kept whatever
    /// characters they hold (`CN=John Smith (EMP1)`, `O=Acme, Inc.`), where AWS refuses the
    /// whole CreateSession ("Some attributes failed to be mapped into session tags") for a
    /// mapped value outside the STS tag pattern; see README, Attribute mappings.
    pub fn tag_values(&self) -> Vec<(&str, String)> {
        let mut out: Vec<(&str, String)> = Vec::new();
        for (i, (name, value)) in self.attributes.iter().enumerate() {
            if !is_supported_tag_attribute(name) || self.is_hex(i) {
                continue;
            }
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, joined)) => {
                    joined.push('/');
                    joined.push_str(value);
                }
                None => out.push((name.as_str(), value.clone())),
            }
        }
        out
    }
}

/// RFC 4514 rendering (`CN=x,O=y`, certificate order) for logs, audit events and messages;
/// each value is escaped by `write_rfc4514_value`.
impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, self.attributes.iter().enumerate())
    }
}

impl DistinguishedName {
    /// The RFC 4514 string in RFC 4514's own order, the last RDN first (`O=y,CN=x`): what
    /// `openssl x509 -nameopt RFC2253` and most LDAP tools print.
    pub fn to_rfc4514_order_string(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, self.attributes.iter().enumerate().rev());
        out
    }

    fn write<'a>(
        &self,
        f: &mut impl fmt::Write,
        attributes: impl Iterator<Item = (usize, &'a (String, String))>,
    ) -> fmt::Result {
        let mut previous: Option<usize> = None;
        for (i, (name, value)) in attributes {
            if let Some(p) = previous {
                let same_rdn = self.rdns.get(p).is_some() && self.rdns.get(p) == self.rdns.get(i);
                f.write_str(if same_rdn { "+" } else { "," })?;
            }
            previous = Some(i);
            f.write_str(name)?;
            f.write_str("=")?;
            if self.is_hex(i) {
                f.write_str(value)?;
            } else {
                write_rfc4514_value(f, value)?;
            }
        }
        Ok(())
    }
}

/// An attribute value as RFC 4514 §2.4 writes it: `"`, `+`, `,`, `;`, `<`, `>`, `\` (and `=`)
/// after a backslash, as are a leading `#` or space and a trailing space; control characters
/// (C0, DEL, C1) as `\` and two hex digits per UTF-8 byte. A certificate is chosen by whoever
/// presents it, so its names reach a log line as one unambiguous token whatever they contain.
fn write_rfc4514_value(f: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if c.is_control() {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                write!(f, "\\{b:02x}")?;
            }
        } else {
            if special {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Maximum length of an STS source identity (AWS: 2–64 characters).
pub(super) const SOURCE_IDENTITY_MAX: usize = 64;

/// The longest serial number (its magnitude, without DER's sign padding) a certificate may
/// have: RFC 5280 §4.1.2.2 caps conforming CAs at 20 octets; non-conforming ones get up to
/// what an `ID=` source identity holds (`ID=` + two hex digits per octet in 64 characters).
/// x509-parser sets no bound, and the decimal form the signature's `Credential` names costs
/// time quadratic in the length: a 46 KB serial cost seconds before this bound.
pub(crate) const MAX_SERIAL_OCTETS: usize = (SOURCE_IDENTITY_MAX - 3) / 2;

/// RFC 5280 §4.1.2.2 (with [`MAX_SERIAL_OCTETS`]'s leniency): the serial is not negative
/// ("a positive integer"; zero, which names no other certificate, is let through) and its
/// magnitude is at most that long. A negative serial would be shown, logged, turned into a
/// session name and revoked by its bytes read as unsigned — as a positive serial's.
pub(crate) fn check_serial(raw_serial: &[u8]) -> Result<(), CertificateError> {
    if raw_serial.first().is_some_and(|first| first & 0x80 != 0) {
        return Err(CertificateError::NegativeSerial);
    }
    let octets = strip_leading_zeros(raw_serial).len();
    match octets <= MAX_SERIAL_OCTETS {
        true => Ok(()),
        false => Err(CertificateError::SerialTooLong { octets }),
    }
}

/// Source identity of a Roles Anywhere session (DESIGN §1): `CN=` + CN when that fits in 64
/// characters, otherwise the bare CN; `ID=` + hex serial when the subject has no CN.
///
/// Two certificates never share a source identity through these rules, so what would make
/// them is refused: a CN of more than 64 characters (RFC 5280's `ub-common-name`; it would be
/// cut, and equal every CN it begins), one too long for the prefix that itself begins with
/// `CN=` or `ID=` (its bare CN would be the identity of the certificate whose CN, or serial,
/// is the rest), a serial too long for `ID=` (over 30 octets; RFC 5280 allows 20), and a CN
/// holding a control character (the identity is carried into logs, XML and policies).
pub fn source_identity(common_name: Option<&str>, serial_hex: &str) -> Result<String, CertificateError> {
    let Some(cn) = common_name else {
        return match serial_hex.len() + 3 <= SOURCE_IDENTITY_MAX {
            true => Ok(format!("ID={serial_hex}")),
            false => Err(CertificateError::SerialTooLong {
                octets: serial_hex.len() / 2,
            }),
        };
    };
    if let Some(c) = cn.chars().find(|c| c.is_control()) {
        return Err(CertificateError::CommonNameControlCharacter(u32::from(c)));
    }
    let characters = cn.chars().count();
    if characters > SOURCE_IDENTITY_MAX {
        return Err(CertificateError::CommonNameTooLong { characters });
    }
    if characters + 3 <= SOURCE_IDENTITY_MAX {
        return Ok(format!("CN={cn}"));
    }
    if cn.starts_with("CN=") || cn.starts_with("ID=") {
        return Err(CertificateError::CommonNameTakesAnotherIdentity);
    }
    Ok(cn.to_owned())
}

/// Lowercase hex of a DER INTEGER serial's magnitude: the sign-padding `00` bytes the DER
/// encoding adds are removed, every remaining byte is two digits (so the result may start
/// with `0`); a zero serial is `"00"`. This is the default RoleSessionName.
pub fn format_serial_hex(raw_serial: &[u8]) -> String {
    let magnitude = strip_leading_zeros(raw_serial);
    if magnitude.is_empty() {
        return "00".to_owned();
    }
    hex::encode(magnitude)
}

/// Converts an x509-parser name into our ordered [`DistinguishedName`].
pub(crate) fn distinguished_name(name: &X509Name<'_>) -> DistinguishedName {
    let mut dn = DistinguishedName::default();
    let attributes = name
        .iter()
        .enumerate()
        .flat_map(|(rdn, attrs)| attrs.iter().map(move |attr| (rdn, attr)));
    for (i, (rdn, attr)) in attributes.enumerate() {
        dn.rdns.push(rdn);
        let oid = attr.attr_type().to_id_string();
        let short = short_name(&oid).map_or(oid, str::to_owned);
        let value = match attr
            .as_str()
            .map(str::to_owned)
            .or_else(|_| decode_other_string(attr.attr_value()))
        {
            Ok(s) => s,
            Err(()) => {
                dn.hex_values.push(i);
                format!("#{}", hex::encode(attr.attr_value().data))
            }
        };
        dn.attributes.push((short, value));
    }
    dn
}

/// The text of the directory string types x509-parser leaves undecoded (RFC 5280 §4.1.2.4
/// `DirectoryString`): BMPString (UTF-16BE), UniversalString (UTF-32BE) and TeletexString
/// (read as Latin-1, as OpenSSL prints it), and VisibleString (ISO 646: printable ASCII),
/// which is no `DirectoryString` but which some CAs write names in and OpenSSL prints as
/// text. A CA that writes a name as BMPString (Windows AD CS does) names the same subject as
/// one that writes UTF8String: tags, policies and the source identity must see the same text.
fn decode_other_string(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Result<String, ()> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let data = value.data;
    match value.tag() {
        Tag::BmpString if data.len().is_multiple_of(2) => {
            let units = data.chunks_exact(2).map(|u| u16::from_be_bytes([u[0], u[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().map_err(|_| ())
        }
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).ok_or(()))
            .collect(),
        Tag::TeletexString => Ok(data.iter().map(|&b| char::from(b)).collect()),
        Tag::VisibleString if data.iter().all(|b| (0x20..=0x7e).contains(b)) => {
            Ok(data.iter().map(|&b| char::from(b)).collect())
        }
        _ => Err(()),
    }
}

/// The attribute types AWS maps to principal tags for subject/issuer RDNs and SAN directory
/// names (and so the RDN specifiers an attribute mapping may name).
pub(super) const TAG_ATTRIBUTES: [&str; 13] = [
    "CN",
    "C",
    "L",
    "ST",
    "O",
    "OU",
    "DC",
    "UID",
    "emailAddress",
    "serialNumber",
    "SN",
    "GN",
    "title",
];

fn is_supported_tag_attribute(name: &str) -> bool {
    TAG_ATTRIBUTES.contains(&name)
}

/// The short name of an attribute type written in any case (`cn`, `Cn`), as names are
/// printed: attribute type names are case-insensitive (RFC 4512 §1.4).
/// (Every type [`short_name`] names is one of [`TAG_ATTRIBUTES`].)
pub(crate) fn short_name_of(written: &str) -> Option<&'static str> {
    TAG_ATTRIBUTES
        .iter()
        .copied()
        .find(|name| name.eq_ignore_ascii_case(written))
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of a Name whose RDNs hold the given (OID bytes, UTF8String value) attributes.
    fn name_der(rdns: &[&[(&[u8], &str)]]) -> Vec<u8> {
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            assert!(content.len() < 128, "short-form lengths only");
            [&[tag, content.len() as u8][..], content].concat()
        }
        let sets: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| {
                let attrs: Vec<u8> = rdn
                    .iter()
                    .flat_map(|(oid, value)| tlv(0x30, &[tlv(0x06, oid), tlv(0x0c, value.as_bytes())].concat()))
                    .collect();
                tlv(0x31, &attrs)
            })
            .collect();
        tlv(0x30, &sets)
    }

    #[test]
    fn a_multi_valued_rdn_is_written_with_plus() {
        use x509_parser::prelude::FromDer;
        const CN: &[u8] = &[0x55, 0x04, 0x03];
        const O: &[u8] = &[0x55, 0x04, 0x0a];
        const C: &[u8] = &[0x55, 0x04, 0x06];
        // One RDN holding CN and O, then C: not the name of CN, O and C in three RDNs.
        let der = name_der(&[&[(CN, "dev-admin"), (O, "rolegate dev")], &[(C, "US")]]);
        let (_, name) = X509Name::from_der(&der).unwrap();
        let dn = distinguished_name(&name);
        assert_eq!(dn.to_string(), "CN=dev-admin+O=rolegate dev,C=US");
        assert_eq!(dn.to_rfc4514_order_string(), "C=US,O=rolegate dev+CN=dev-admin");
        // Tags and lookups see the attributes as before.
        assert_eq!(dn.first("O"), Some("rolegate dev"));
        let der = name_der(&[&[(CN, "dev-admin")], &[(O, "rolegate dev")], &[(C, "US")]]);
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(
            distinguished_name(&name).to_string(),
            "CN=dev-admin,O=rolegate dev,C=US"
        );
    }

    #[test]
    fn serial_formats() {
        let cases: &[(&[u8], &str, &str)] = &[
            (&[0x00], "00", "0"),
            (&[0x01], "01", "1"),
            (&[0x00, 0xff], "ff", "255"),
            (&[0x01, 0x00], "0100", "256"),
            (
                &[0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44],
                "deadbeef0011223344",
                "4107696891161223508804",
            ),
            (
                &[
                    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
                "7fffffffffffffffffffffffffffffff",
                "170141183460469231731687303715884105727",
            ),
        ];
        for (raw, hex, dec) in cases {
            assert_eq!(format_serial_hex(raw), *hex, "{raw:?}");
            // The decimal form is x509-parser's (its unsigned serial, as AWS4-X509's
            // `Credential=` writes it): leading zeros dropped, 0 as "0".
            let decimal = x509_parser::num_bigint::BigUint::from_bytes_be(raw).to_string();
            assert_eq!(decimal, *dec, "{raw:?}");
        }
    }

    /// A value that is no character string (shown as `#` + hex, RFC 4514 §2.4) makes no tag
    /// and no source identity: AWS ignores values outside the tag pattern.
    #[test]
    fn values_that_are_not_text_make_no_tag() {
        let mut dn = DistinguishedName::from_attributes([("O", "Acme"), ("CN", "#0401ff")]);
        dn.hex_values.push(1);
        assert_eq!(dn.first_text("O"), Some("Acme"));
        assert_eq!(dn.first("CN"), Some("#0401ff"));
        assert_eq!(dn.first_text("CN"), None);
        assert_eq!(dn.tag_values(), vec![("O", "Acme".to_owned())]);
    }

    #[test]
    fn source_identity_rules() {
        let cn63 = "a".repeat(61); // "CN=" + 61 = 64
        let cn62 = "b".repeat(62); // "CN=" + 62 = 65 -> bare
        let cn70 = "c".repeat(70);
        let cn64 = "d".repeat(64);
        let cases: &[(Option<&str>, &str, Result<String, CertificateError>)] = &[
            (Some("svc"), "01", Ok("CN=svc".to_owned())),
            (Some(&cn63), "01", Ok(format!("CN={cn63}"))),
            (Some(&cn62), "01", Ok(cn62.clone())),
            (Some(&cn64), "01", Ok(cn64.clone())),
            (None, "0a1b", Ok("ID=0a1b".to_owned())),
            (
                Some(&cn70),
                "01",
                Err(CertificateError::CommonNameTooLong { characters: 70 }),
            ),
            (
                Some("web\n1"),
                "01",
                Err(CertificateError::CommonNameControlCharacter(0x0a)),
            ),
            (
                Some("a\u{1b}[31m"),
                "01",
                Err(CertificateError::CommonNameControlCharacter(0x1b)),
            ),
        ];
        for (cn, serial, want) in cases {
            assert_eq!(&source_identity(*cn, serial), want, "{cn:?}");
        }
        // `CN=` + 59 characters is the identity of the CN of those 59 characters: a CN that
        // spells it out cannot have it.
        let victim = "x".repeat(59);
        assert_eq!(source_identity(Some(&victim), "01"), Ok(format!("CN={victim}")));
        assert_eq!(
            source_identity(Some(&format!("CN={victim}")), "02"),
            Err(CertificateError::CommonNameTakesAnotherIdentity)
        );
        // Nor one that spells out a serial's identity, nor a serial too long for `ID=`.
        assert_eq!(
            source_identity(Some(&format!("ID={}", "0a".repeat(30))), "01"),
            Err(CertificateError::CommonNameTakesAnotherIdentity)
        );
        assert_eq!(
            source_identity(None, &"0a".repeat(30)),
            Ok(format!("ID={}", "0a".repeat(30)))
        );
        assert_eq!(
            source_identity(None, &"0a".repeat(31)),
            Err(CertificateError::SerialTooLong { octets: 31 })
        );
        // The parse refuses longer serials, with the same error.
        assert_eq!(check_serial(&[0x0a; 30]), Ok(()));
        assert_eq!(check_serial(&[[0u8].as_slice(), &[0x8a; 30]].concat()), Ok(()));
        assert_eq!(
            check_serial(&[0x0a; 46_000]),
            Err(CertificateError::SerialTooLong { octets: 46_000 })
        );
        // Short enough for the prefix, such a CN is unambiguous: `CN=CN=…`.
        assert_eq!(source_identity(Some("CN=x"), "01"), Ok("CN=CN=x".to_owned()));
    }

    #[test]
    fn tag_values_join_repeated_and_skip_unknown() {
        let dn = DistinguishedName::from_attributes([
            ("CN", "svc"),
            ("OU", "a"),
            ("1.2.3.4", "x"),
            ("OU", "b"),
            ("DC", "example"),
            ("DC", "com"),
        ]);
        assert_eq!(
            dn.tag_values(),
            vec![
                ("CN", "svc".to_owned()),
                ("OU", "a/b".to_owned()),
                ("DC", "example/com".to_owned()),
            ]
        );
        assert_eq!(dn.first("OU"), Some("a"));
    }

    #[test]
    fn display_escapes() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CN", "a,b"), ("O", "x+y=z")], r"CN=a\,b,O=x\+y\=z"),
            (&[("CN", r#"q"u<o>t;e\"#)], r#"CN=q\"u\<o\>t\;e\\"#),
            (&[("CN", "#not hex"), ("OU", " padded ")], r"CN=\#not hex,OU=\ padded\ "),
            (&[("CN", " ")], r"CN=\ "),
            (&[("CN", "")], "CN="),
            // A line break or escape sequence in a name cannot end or forge a log line.
            (
                &[("CN", "evil\n2026-12-02T00:00:00Z INFO audit: outcome=allow")],
                r"CN=evil\0a2026-12-02T00:00:00Z INFO audit: outcome\=allow",
            ),
            (&[("CN", "a\u{1b}[31mb\u{7f}\u{85}\0")], r"CN=a\1b[31mb\7f\c2\85\00"),
            (&[("CN", "Zoë ünïcode")], "CN=Zoë ünïcode"),
        ];
        for (attributes, want) in cases {
            let dn = DistinguishedName::from_attributes(attributes.iter().copied());
            assert_eq!(dn.to_string(), *want, "{attributes:?}");
        }
    }

    #[test]
    fn rfc4514_order_is_the_last_rdn_first() {
        let dn = DistinguishedName::from_attributes([("C", "DE"), ("O", "a,b"), ("CN", "ops")]);
        assert_eq!(dn.to_string(), r"C=DE,O=a\,b,CN=ops");
        assert_eq!(dn.to_rfc4514_order_string(), r"CN=ops,O=a\,b,C=DE");
        assert_eq!(DistinguishedName::default().to_rfc4514_order_string(), "");
    }
}
