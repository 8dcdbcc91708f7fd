//! Where a configuration error's key is in the file: `role[2].trust_policy` to the line and
//! column of that value, so an error in the twentieth `[[profile]]` need not be counted to.

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
    let place = super::line_and_column(text, offset);
    match note {
        Some(note) => format!("{path} ({place}; {note})"),
        None => format!("{path} ({place})"),
    }
}

/// The byte offset in `text` of the value at `path` (`a.b[1].c`), or of the deepest table or
/// array on the way to it that the file has. None when `text` does not parse or the path's
/// first key is not in it.
fn offset_of(text: &str, path: &str) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found: Option<&Spanned<DeValue<'_>>> = None;
    'path: for segment in path.split('.') {
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
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    // A value's span starts at the value (a `[[role]]` table's at its header).
    Some(found?.span().start)
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
}
