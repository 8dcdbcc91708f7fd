//! Where a configuration error's key is in the file: `role[2].trust_policy` to the line and
//! column of that value, so an error in the twentieth `[[profile]]` need not be counted to;
//! and the other way, for a syntax error (the file does not parse, so its tables are not
//! known), the key path of the line it is on ([`key_at`]).

use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// `key` with the place in `text` of the value it names appended: `role[2].arn (line 40,
/// column 7)`, before what the parentheses of a key already say (`crls[0] (line 9, column 8;
/// root.crl)`). A key whose value the file lacks (a default) is placed at the nearest table
/// or array it is in (a `[[role]]` at its header); a key that names nothing in the file is returned as it is.
pub(super) fn with_place(text: &str, key: &str) -> String {
    let (path, note) = match key.split_once(" (") {
        Some((path, rest)) => (path, rest.strip_suffix(')')),
        None => (key, None),
    };
    let Some(offset) = offset_of(text, path) else {
        return key.to_owned();
    };
    let place = super::toml_errors::line_and_column(text, offset);
    match note {
        Some(note) => format!("{path} ({place}; {note})"),
        None => format!("{path} ({place})"),
    }
}

/// The byte offset in `text` of the value at `path` (`a.b[1].c`), or of the deepest table or
/// array on the way to it that the file has. None when `text` does not parse or the path's
/// first key is not in it.
fn offset_of(text: &str, path: &str) -> Option<usize> {
    walk(text, path).map(|(offset, _)| offset)
}

/// The byte offset in `text` of the value at `path` when the file has it (not of a table on
/// the way): where a key given twice was first given, read from the text before the second.
pub(super) fn defined_at(text: &str, path: &str) -> Option<usize> {
    walk(text, path).and_then(|(offset, complete)| complete.then_some(offset))
}

/// [`offset_of`], and whether the value found is the one at the end of `path`.
fn walk(text: &str, path: &str) -> Option<(usize, bool)> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found: Option<&Spanned<DeValue<'_>>> = None;
    let segments: Vec<&str> = path.split('.').collect();
    let mut complete = false;
    'path: for (i, segment) in segments.iter().enumerate() {
        let (name, indexes) = split_indexes(segment)?;
        let Some(mut value) = table.get(name) else {
            break;
        };
        for index in indexes {
            match value.get_ref() {
                DeValue::Array(items) if index < items.len() => value = &items[index],
                // Past the end, or not an array: the place is the value the file has.
                _ => {
                    found = Some(value);
                    break 'path;
                }
            }
        }
        found = Some(value);
        complete = i + 1 == segments.len();
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    // A value's span starts at the value (a `[[role]]` table's at its header).
    Some((found?.span().start, complete))
}

/// `name[1][2]` as `name` and its indexes; None when an index is not a number.
fn split_indexes(segment: &str) -> Option<(&str, Vec<usize>)> {
    let (name, mut rest) = match segment.find('[') {
        Some(at) => (&segment[..at], &segment[at..]),
        None => return Some((segment, Vec::new())),
    };
    let mut indexes = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let (number, after) = inner.split_once(']')?;
        indexes.push(number.parse().ok()?);
        rest = after;
    }
    rest.is_empty().then_some((name, indexes))
}

/// The key path (`server.tls_cert`, `tokens.keys[0].active`) of the `key = value` line of
/// `text` that byte `offset` falls on, read from the text alone: the table header in force
/// (an array of tables indexed by how many of its headers came before) and the line's key.
/// None when that cannot be known: the line holds no `key =` (a multi-line value's), the
/// offset is inside an inline table or array, or a key or header is not plain.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[line_start..].find('\n').map_or(text.len(), |at| line_start + at);
    let line = &text[line_start..line_end];
    let column = offset - line_start;
    // A line inside a multi-line array or inline table holds a member's value, not a key,
    // whatever it looks like (`CN=ops2`).
    if inside_open_value(&text[..line_start]) {
        return None;
    }
    if let Some(header) = header_of(line) {
        return header.map(|(path, _)| path.join("."));
    }
    let equals = line.find('=')?;
    let key = dotted_key(&line[..equals])?;
    // Past an inline table's or array's opening, the key is one of its members'.
    if column > equals && line[equals..column].contains(['{', '[']) {
        return None;
    }
    let mut path = table_at(&text[..line_start])?;
    path.extend(key);
    Some(path.join("."))
}

/// Whether `before` (whole lines) ends inside a value that spans lines: an array or inline
/// table opened and not closed, or a multi-line string. Brackets in strings and comments do
/// not count; header lines (`[table]`, `[[array]]`) outside any value open nothing.
fn inside_open_value(before: &str) -> bool {
    let mut depth = 0usize;
    let (lines, ends_in_string) = lines_outside_multiline_strings(before);
    for line in lines {
        if depth == 0 && header_of(line).is_some() {
            continue;
        }
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for c in line.chars() {
            match (quote, c) {
                (Some('"'), '\\') if !escaped => escaped = true,
                (Some(q), c) if c == q && !escaped => quote = None,
                (Some(_), _) => escaped = false,
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    depth > 0 || ends_in_string
}

/// The lines of `text` that are not inside a multi-line string (`"""` or `'''`; the line
/// opening one is), and whether `text` ends inside one.
fn lines_outside_multiline_strings(text: &str) -> (Vec<&str>, bool) {
    let mut lines = Vec::new();
    let mut in_string: Option<&str> = None;
    for line in text.lines() {
        if let Some(delimiter) = in_string {
            if line.matches(delimiter).count() % 2 == 1 {
                in_string = None;
            }
            continue;
        }
        lines.push(line);
        in_string = ["'''", "\"\"\""]
            .into_iter()
            .find(|delimiter| line.matches(delimiter).count() % 2 == 1);
    }
    (lines, in_string.is_some())
}

/// The key path of the table in force at the end of `before` (the lines before the error's):
/// `[]` at the top, `["server"]`, `["tokens", "keys[1]"]`. None when a header is not plain.
fn table_at(before: &str) -> Option<Vec<String>> {
    let mut table = Vec::new();
    let mut arrays: HashMap<String, usize> = HashMap::new();
    for line in lines_outside_multiline_strings(before).0 {
        if let Some(header) = header_of(line) {
            let (mut path, is_array) = header?;
            if is_array {
                let seen = arrays.entry(path.join(".")).or_insert(0);
                if let Some(last) = path.last_mut() {
                    *last = format!("{last}[{seen}]");
                }
                *seen += 1;
            }
            table = path;
        }
    }
    Some(table)
}

/// A `[table]` or `[[array]]` header line: Some with its path (None when not plain) and
/// whether it is an array of tables; None for any other line.
fn header_of(line: &str) -> Option<Option<(Vec<String>, bool)>> {
    let line = line.split('#').next()?.trim();
    let (inner, is_array) = match line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        Some(inner) => (inner, true),
        None => (line.strip_prefix('[')?.strip_suffix(']')?, false),
    };
    Some(dotted_key(inner).map(|path| (path, is_array)))
}

/// The parts of a dotted key of bare parts (`a.b_c`) or quoted ones without a `.` in them
/// (`"x"`); None for any other text.
fn dotted_key(text: &str) -> Option<Vec<String>> {
    text.split('.')
        .map(|part| {
            let part = part.trim();
            let bare = part
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .or_else(|| part.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')))
                .unwrap_or(part);
            let plain = !bare.is_empty()
                && bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            plain.then(|| bare.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nregion = \"us-east-1\"\n\n[[role]]\narn = \"a\"\n\n[[role]]\narn = \"b\"\nmax_session_duration = 99\n\n[[trust_anchor]]\nid = \"x\"\ncrls = [\"one.crl\", \"two.crl\"]\n";

    #[test]
    fn places_a_value_of_an_array_of_tables() {
        assert_eq!(
            with_place(TEXT, "role[1].max_session_duration"),
            "role[1].max_session_duration (line 9, column 24)"
        );
        assert_eq!(with_place(TEXT, "role[0].arn"), "role[0].arn (line 5, column 7)");
        assert_eq!(with_place(TEXT, "server.region"), "server.region (line 2, column 10)");
    }

    #[test]
    fn keeps_a_note_and_indexes_into_a_value_array() {
        assert_eq!(
            with_place(TEXT, "trust_anchor[0].crls[1] (two.crl)"),
            "trust_anchor[0].crls[1] (line 13, column 20; two.crl)"
        );
    }

    #[test]
    fn a_missing_key_is_placed_at_its_table() {
        // `role[1].trust_policy` is absent: the place is role[1]'s `[[role]]` header.
        assert_eq!(
            with_place(TEXT, "role[1].trust_policy"),
            "role[1].trust_policy (line 7, column 1)"
        );
    }

    #[test]
    fn a_key_naming_nothing_is_kept() {
        assert_eq!(with_place(TEXT, "tokens.keys[0].file"), "tokens.keys[0].file");
        assert_eq!(with_place(TEXT, "role[x].arn"), "role[x].arn");
        assert_eq!(with_place("not toml [", "role[0].arn"), "role[0].arn");
    }

    /// The byte offset of `needle` in `text`.
    fn at(text: &str, needle: &str) -> usize {
        text.find(needle).expect("in the text")
    }

    #[test]
    fn a_syntax_error_is_keyed_by_its_line() {
        let text = "[server]\ntls_cert = \"a\"\ntls_cert = \"b\"\naccount_id = 123-456\n\n[[tokens.keys]]\nid = \"k0\"\n[[tokens.keys]]\nid = \"k1\"\nactive = k1\n";
        assert_eq!(
            key_at(text, at(text, "tls_cert = \"b")).as_deref(),
            Some("server.tls_cert")
        );
        assert_eq!(key_at(text, at(text, "123-456")).as_deref(), Some("server.account_id"));
        assert_eq!(key_at(text, at(text, "k1\n")).as_deref(), Some("tokens.keys[1].active"));
        assert_eq!(key_at(text, at(text, "[[tokens")).as_deref(), Some("tokens.keys"));
    }

    #[test]
    fn headers_in_multi_line_strings_are_not_tables() {
        let text = "[role]\na = '''\n[not]\n'''\nb = x\n";
        assert_eq!(key_at(text, at(text, "x")).as_deref(), Some("role.b"));
        assert_eq!(key_at("c = 1-\n", 4).as_deref(), Some("c"));
    }

    #[test]
    fn an_unknowable_key_is_none() {
        let text = "[server]\nkeys = [{ id = x }]\nlist = [\n  yy\n]\n";
        assert_eq!(key_at(text, at(text, "x")), None, "inside an inline table");
        assert_eq!(key_at(text, at(text, "yy")), None, "a line without a key");
        assert_eq!(key_at(text, at(text, "keys")).as_deref(), Some("server.keys"));
        // A member of a multi-line array that looks like a key is none.
        let text = "[server]\nadmin_subjects = [\n \"CN=ops,O=Acme\",\n CN=ops2\n]\nregion = x\n";
        assert_eq!(key_at(text, at(text, "CN=ops2")), None);
        assert_eq!(
            key_at(text, at(text, "x\n")).as_deref(),
            Some("server.region"),
            "after it closes"
        );
        let text = "[[profile]]\nrole_arns = [\n  \"a]\", # ]\n  region = 1\n]\n";
        assert_eq!(
            key_at(text, at(text, "region")),
            None,
            "brackets in strings and comments"
        );
    }
}
