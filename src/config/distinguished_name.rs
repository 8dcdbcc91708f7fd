//! `admin_subjects` as distinguished names (RFC 4514): each entry written as the audit log
//! writes a certificate's subject, and why an entry could never match one.

/// Why `subject` is not a distinguished name, unless it starts as one does, `ATTRIBUTE=` (an
/// admin certificate's subject can only equal such a string; values may hold escaped commas).
pub(super) fn not_a_distinguished_name(subject: &str) -> Option<String> {
    (!looks_like_distinguished_name(subject)).then(|| {
        format!(
            "'{subject}' is not a distinguished name: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\""
        )
    })
}

/// Why `subject` could never match, when it separates attributes with `;`: RFC 2253 let `;`
/// separate them; the audit log (RFC 4514) writes `,` and escapes a `;` in a value.
pub(super) fn bare_semicolon(subject: &str) -> Option<String> {
    has_bare_semicolon(subject).then(|| {
        format!(
            "'{subject}' separates attributes with ';': write them separated by ',' as the audit log shows the subject, e.g. \"CN=ops,O=Acme\" (a ';' in a value is written '\\;')"
        )
    })
}

/// Why `subject` could never match, when one of its attributes is malformed: empty
/// (`CN=ops,,O=x`, a separator at an end), without `=` or a type, or without a value
/// (`O=`). No certificate's subject, as the audit log writes it, has such an attribute.
pub(super) fn malformed_attribute(subject: &str) -> Option<String> {
    let problem = split_unescaped(subject, &[',', '+'])
        .into_iter()
        .find_map(|(attribute, _)| attribute_problem(attribute))?;
    Some(format!(
        "'{subject}' has {problem}, which no certificate's subject has: write the subject of an admin certificate as the audit log shows it, e.g. \"CN=ops,O=Acme\""
    ))
}

/// What is wrong with one `TYPE=value` attribute of a distinguished name, if anything.
fn attribute_problem(attribute: &str) -> Option<String> {
    if attribute.trim().is_empty() {
        return Some("an empty attribute (two separators in a row, or one at an end)".to_owned());
    }
    match attribute.split_once('=') {
        None => Some(format!("an attribute without '=' ('{attribute}')")),
        Some((kind, _)) if kind.trim().is_empty() => Some(format!("an attribute without a type ('{attribute}')")),
        Some((_, value)) if value.trim().is_empty() => Some(format!("an attribute without a value ('{attribute}')")),
        Some(_) => None,
    }
}

/// Whether `subject` holds a `;` that no `\\` escapes.
fn has_bare_semicolon(subject: &str) -> bool {
    let mut escaped = false;
    for c in subject.chars() {
        match (c, escaped) {
            (';', false) => return true,
            ('\\', false) => escaped = true,
            _ => escaped = false,
        }
    }
    false
}

/// An `admin_subjects` entry as the audit log writes a certificate's subject, which it is
/// compared with: OpenSSL's `subject=` prefix dropped, no white space around `=` or between
/// attributes (`openssl x509 -subject` prints `CN = ops, O = Acme`), and attribute types in
/// their short name's spelling (`cn` → `CN`: type names are case-insensitive, RFC 4512 §1.4).
/// Values are kept as written, escapes included; white space a value begins or ends with is
/// written escaped (`\ `) in RFC 4514, so unescaped white space there is layout.
pub(super) fn subject_as_logged(written: &str) -> String {
    let written = written.trim();
    let written = written.strip_prefix("subject=").unwrap_or(written);
    let mut out = String::with_capacity(written.len());
    for (attribute, separator) in split_unescaped(written, &[',', '+']) {
        match attribute.split_once('=') {
            Some((kind, value)) => {
                let kind = kind.trim();
                out += crate::identity::short_name_of(kind).unwrap_or(kind);
                out.push('=');
                out += trim_unescaped(value);
            }
            None => out += attribute.trim(),
        }
        out.extend(separator);
    }
    out
}

/// The pieces of `s` between unescaped `separators` (a `\` escapes the character after it),
/// each with the separator that ends it.
fn split_unescaped<'a>(s: &'a str, separators: &[char]) -> Vec<(&'a str, Option<char>)> {
    let mut pieces = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, c) if separators.contains(&c) => {
                pieces.push((&s[start..i], Some(c)));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push((&s[start..], None));
    pieces
}

/// `value` without the white space it begins or ends with, but an escaped one (`\ `).
fn trim_unescaped(value: &str) -> &str {
    let value = value.trim_start();
    let mut end = value.len();
    while let Some(c) = value[..end].chars().next_back().filter(|c| c.is_whitespace()) {
        let before = &value[..end - c.len_utf8()];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if backslashes % 2 == 1 {
            break;
        }
        end = before.len();
    }
    &value[..end]
}

fn looks_like_distinguished_name(subject: &str) -> bool {
    subject
        .split_once('=')
        .is_some_and(|(attribute, _)| !attribute.trim().is_empty() && !attribute.contains(','))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An admin subject written as OpenSSL prints it, or with type names in another case, is
    /// the subject the audit log writes; values and escapes are kept.
    #[test]
    fn admin_subjects_are_compared_as_the_audit_log_writes_them() {
        for (written, logged) in [
            ("CN=ops,O=Acme", "CN=ops,O=Acme"),
            (
                "subject=CN = dev-admin, O = rolegate dev",
                "CN=dev-admin,O=rolegate dev",
            ),
            ("cn=dev-admin,o=rolegate dev", "CN=dev-admin,O=rolegate dev"),
            (
                "  EMAILADDRESS = a@b.example , dc=corp ",
                "emailAddress=a@b.example,DC=corp",
            ),
            ("CN=a\\, b + uid = 7, O=x", "CN=a\\, b+UID=7,O=x"),
            ("CN=trailing\\ , O=x", "CN=trailing\\ ,O=x"),
            ("CN=back\\\\ , O=x", "CN=back\\\\,O=x"),
            ("2.5.4.97=VATDE-1, CN=x", "2.5.4.97=VATDE-1,CN=x"),
        ] {
            assert_eq!(subject_as_logged(written), logged, "{written}");
        }
    }
}
