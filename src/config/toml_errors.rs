//! Parsing the configuration file's TOML into the schema, and its syntax and type errors
//! worded for the file's author: where (key path, line and column) and what, in TOML's terms.

use super::{ConfigFile, locate};

/// Parses the configuration file; on a syntax or schema error, where it is (the key path
/// when the document parsed, and the line and column) and toml's message.
pub(super) fn parse_toml(text: &str) -> Result<ConfigFile, (String, String)> {
    let error = match toml::Deserializer::parse(text) {
        Ok(document) => match serde_path_to_error::deserialize(document) {
            Ok(file) => return Ok(file),
            Err(e) => {
                let key = e.path().to_string();
                let key = if key == "." { None } else { Some(key) };
                (key, e.into_inner())
            }
        },
        Err(e) => (None, e),
    };
    let (key, e) = error;
    // A syntax error names no key: the key path of the line it is on, where the text tells
    // it (`server.account_id` for `account_id = 123-456` under `[server]`), else none.
    let key = key.or_else(|| e.span().and_then(|span| locate::key_at(text, span.start)));
    let at = e.span().map(|span| line_and_column(text, span.start));
    let message = match (e.message(), &key, e.span()) {
        ("duplicate key", Some(key), Some(span)) => duplicate_key(text, key, span.start),
        (message, Some(key), _) if message.starts_with("invalid type: map") => {
            table_brackets(key).unwrap_or_else(|| plain_type_names(message))
        }
        (message, _, Some(span)) if message.starts_with(UNQUOTED) => {
            unquoted_value(text, span.start).unwrap_or_else(|| message.to_owned())
        }
        (message, ..) => suggest_known_field(message).unwrap_or_else(|| plain_type_names(message)),
    };
    let key = match (key, at) {
        (Some(key), Some(at)) => format!("{key} ({at})"),
        (Some(key), None) => key,
        (None, Some(at)) => at,
        (None, None) => "(document)".to_owned(),
    };
    Err((key, message))
}

/// toml's "duplicate key" at byte `offset`, saying where `key` was first given (read from the
/// lines before the second) — an inline `keys = [...]` followed by `[[tokens.keys]]` tables is
/// the common case: two definitions of one key.
fn duplicate_key(text: &str, key: &str, offset: usize) -> String {
    let before = text
        .get(..offset)
        .map_or("", |b| b.rfind('\n').map_or("", |end| &b[..=end]));
    let Some(first) = locate::defined_at(before, key) else {
        return "duplicate key".to_owned();
    };
    let line = text.get(before.len()..).unwrap_or("").trim_start();
    let hint = match (
        line.starts_with("[["),
        line.starts_with('[') && ARRAYS_OF_TABLES.contains(&key),
    ) {
        (true, _) => {
            format!("a `[[{key}]]` table cannot follow `{key} = [...]`: write every entry in one of the two forms")
        }
        (false, true) => format!("each of several is a table of the array `[[{key}]]`: write `[[{key}]]`"),
        (false, false) => "give each key once".to_owned(),
    };
    format!(
        "duplicate key: {key} is already given at {}; {hint}",
        line_and_column(text, first)
    )
}

/// How toml's message for an unquoted value at the start of a value starts.
const UNQUOTED: &str = "string values must be quoted";

/// The longest unquoted value a message repeats (a line pasted in by mistake is not).
const MOST_ECHOED: usize = 64;

/// toml's "string values must be quoted" for the unquoted value at byte `offset`, said of
/// what was written: a value followed by more (`duration_seconds = 3600 x`, which toml reads
/// as one unquoted string) is told that one value goes there; a bare word (`active = k1`)
/// gets the quoted form to write. In an array or inline table the value ends at the next
/// `,`, `]` or `}`. `None` to keep toml's message.
fn unquoted_value(text: &str, offset: usize) -> Option<String> {
    let element = in_array_or_inline_table(text, offset);
    let rest = text.get(offset..)?.split(['\n', '#']).next()?;
    let written = match element {
        true => rest.split([',', ']', '}']).next()?,
        false => rest,
    }
    .trim();
    if written.is_empty() || written.chars().count() > MOST_ECHOED || written.contains(['"', '\'']) {
        return None;
    }
    if let Some((first, more)) = written.split_once(char::is_whitespace) {
        let is_value = format!("v = {first}")
            .parse::<toml::Table>()
            .is_ok_and(|table| !table.get("v").is_some_and(toml::Value::is_str));
        if is_value {
            let rule = match element {
                true => "separate the elements with commas",
                false => "one value per key; a comment starts with `#`",
            };
            return Some(format!(
                "`{written}` is not one value: `{}` follows the value {first} ({rule})",
                more.trim()
            ));
        }
    }
    let quoted = serde_json::to_string(written).ok()?;
    Some(format!("{UNQUOTED}: write {quoted}"))
}

/// Whether the value at byte `offset` is an element of an array (after `[` or `,`, on its
/// line or a line before, comments and blank lines aside) or the value of a key inside an
/// inline table (`{` still open on its line). Quoted text is not read for brackets.
fn in_array_or_inline_table(text: &str, offset: usize) -> bool {
    let before = text.get(..offset).unwrap_or_default();
    let mut lines = before.rsplit('\n');
    let this_line = lines.next().unwrap_or_default();
    let last = std::iter::once(this_line)
        .chain(lines)
        .map(outside_quotes)
        .find_map(|line| line.trim_end().chars().last());
    match last {
        Some('[' | ',') => true,
        Some('=') => {
            let line = outside_quotes(this_line);
            line.matches('{').count() > line.matches('}').count()
        }
        _ => false,
    }
}

/// `line` without its quoted strings (each kept as an empty `""`) and without its comment.
fn outside_quotes(line: &str) -> String {
    let mut code = String::with_capacity(line.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    code.push(c);
                }
            }
            None if c == '#' => break,
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                code.push(c);
            }
        }
    }
    code
}

/// serde's "unknown field `tls_crt`, expected one of `listen`, `tls_cert`, …" with the known
/// field closest to the unknown one put first, when one is close enough to be a misspelling
/// ([`crate::error::closest_name`]): "unknown field `tls_crt` (did you mean `tls_cert`?), expected one of …".
/// The list stays: the guess may be wrong, and a reload's error or `admin status` is read
/// where the file's author cannot easily look the names up. `None` for another message, or
/// when no field is close.
fn suggest_known_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once("`, expected ")?;
    let known = expected.split('`').skip(1).step_by(2);
    let suggestion = crate::error::closest_name(unknown, known)?;
    Some(format!(
        "unknown field `{unknown}` (did you mean `{suggestion}`?), expected {expected}"
    ))
}

/// The sections written `[[name]]`, one table per entry (an array of tables).
const ARRAYS_OF_TABLES: [&str; 5] = ["trust_anchor", "profile", "role", "managed_policy", "tokens.keys"];
/// The sections written `[name]`, one table.
const SINGLE_TABLES: [&str; 2] = ["server", "tokens"];

/// What to write for a section whose brackets say the other kind of table: `[role]` (one
/// table) where roles are `[[role]]` (an array of tables), or `[[server]]` where the server
/// section is one table. `key` is serde's path of the value in error: `role`, or `server[0]`.
fn table_brackets(key: &str) -> Option<String> {
    if let Some(single) = key.strip_suffix("[0]").filter(|k| SINGLE_TABLES.contains(k)) {
        return Some(format!(
            "`[[{single}]]` makes an array of tables; [{single}] is one table: write `[{single}]`"
        ));
    }
    ARRAYS_OF_TABLES.contains(&key).then(|| {
        format!("`[{key}]` makes one table; each entry is a table of the array `[[{key}]]`: write `[[{key}]]`")
    })
}

/// `line L, column C` (1-based, columns in characters) of byte `offset` in `text`.
pub(super) fn line_and_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}")
}

/// serde names Rust types in its messages ("expected u32", "expected f64"); a file's or a
/// request's author wrote TOML or JSON. (A `bool` is already "a boolean".)
pub(crate) fn plain_type_names(message: &str) -> String {
    let mut message = message.to_owned();
    for rust in ["u8", "u16", "u32", "u64", "u128", "usize"] {
        message = message.replace(&format!("expected {rust}"), "expected an integer of 0 or more");
    }
    for rust in ["i8", "i16", "i32", "i64", "i128", "isize"] {
        message = message.replace(&format!("expected {rust}"), "expected an integer");
    }
    for rust in ["f32", "f64"] {
        message = message.replace(&format!("expected {rust}"), "expected a number");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `parse_toml` gives `text`, as a load prints it: `key (line, column): message`.
    fn error(text: &str) -> String {
        let Err((key, message)) = parse_toml(text) else {
            panic!("{text:?} parsed");
        };
        format!("{key}: {message}")
    }

    /// A section written with the other kind of brackets is told which to write.
    #[test]
    fn single_and_double_brackets_are_named() {
        let role = "arn = \"arn:aws:iam::123456789012:role/a\"\ntrust_policy = \"{}\"\n";
        assert_eq!(
            error(&format!("[role]\n{role}")),
            "role (line 1, column 1): `[role]` makes one table; each entry is a table of the array `[[role]]`: \
             write `[[role]]`"
        );
        assert_eq!(
            error(&format!("[role]\n{role}\n[role]\n{role}")),
            "role (line 5, column 2): duplicate key: role is already given at line 1, column 1; each of several is a \
             table of the array `[[role]]`: write `[[role]]`"
        );
        assert_eq!(
            error("[[server]]\nregion = \"us-east-1\"\n"),
            "server[0] (line 1, column 1): `[[server]]` makes an array of tables; [server] is one table: write \
             `[server]`"
        );
    }

    /// A TOML syntax error names the key path of its line, as the other errors name theirs —
    /// never the bad value in the key's place — or only the line and column.
    #[test]
    fn a_syntax_error_names_the_key_path_of_its_line() {
        assert_eq!(
            error("[server]\nregion = \"a\"\nregion = \"b\"\n"),
            "server.region (line 3, column 1): duplicate key: server.region is already given at line 2, column 10; give each key once"
        );
        assert_eq!(
            error(
                "[tokens]\nactive = \"k1\"\nkeys = [{ id = \"k1\", file = \"k1.key\" }]\n\n[[tokens.keys]]\nid = \"k2\"\n"
            ),
            "tokens.keys (line 5, column 10): duplicate key: tokens.keys is already given at line 3, column 8; \
             a `[[tokens.keys]]` table cannot follow `tokens.keys = [...]`: write every entry in one of the two forms"
        );
        assert_eq!(
            error("[server]\naccount_id = 123-456\n"),
            "server.account_id (line 2, column 14): invalid date, expected `-` (MM-DD)"
        );
        assert_eq!(
            error("[tokens]\n[[tokens.keys]]\nid = \"k0\"\nactive = k1\n"),
            "tokens.keys[0].active (line 4, column 10): string values must be quoted: write \"k1\""
        );
        assert_eq!(
            error("[server]\nmax_clock_skew_seconds = 300 s # five minutes\n"),
            "server.max_clock_skew_seconds (line 2, column 26): `300 s` is not one value: `s` follows the value 300 \
             (one value per key; a comment starts with `#`)"
        );
        assert_eq!(
            error("[server]\nregion = us east 1\n"),
            "server.region (line 2, column 10): string values must be quoted: write \"us east 1\""
        );
        // In an array or an inline table, the value ends at a comma or the closing bracket.
        assert_eq!(
            error("[server]\nadmin_subjects = [a, b]\n"),
            "line 2, column 19: string values must be quoted: write \"a\""
        );
        assert_eq!(
            error("[server]\nadmin_subjects = [\n  \"CN=x\",\n  dev,\n]\n"),
            "line 4, column 3: string values must be quoted: write \"dev\""
        );
        assert_eq!(
            error("[server]\nadmin_subjects = [\"x\", 1 2]\n"),
            "line 2, column 24: `1 2` is not one value: `2` follows the value 1 \
             (separate the elements with commas)"
        );
        assert_eq!(
            error("[tokens]\nkeys = [{ id = k1, file = \"k.key\" }]\n"),
            "line 2, column 16: string values must be quoted: write \"k1\""
        );
        // Comments and quoted brackets are not read for the place.
        assert_eq!(
            error("[server]\nadmin_subjects = [\n  \"CN=x\", # first\n  dev,\n]\n"),
            "line 4, column 3: string values must be quoted: write \"dev\""
        );
        assert_eq!(
            error("[server]\nadmin_trust_anchors = [ # anchors\n  dev,\n]\n"),
            "line 3, column 3: string values must be quoted: write \"dev\""
        );
        assert_eq!(
            error("[tokens]\nkeys = [{ file = \"}k.key\", id = k1 }]\n"),
            "line 2, column 33: string values must be quoted: write \"k1\""
        );
        // A long line is not repeated: toml's message stays.
        let long = format!("[server]\nregion = {}\n", "x".repeat(65));
        assert_eq!(
            error(&long),
            "server.region (line 2, column 10): string values must be quoted, expected literal string"
        );
        assert_eq!(error("[server\n"), "line 1, column 8: unclosed table, expected `]`");
    }

    /// An unknown key close to a known one (a misspelling) is answered with that one first,
    /// and the list of valid keys after it; one close to none with the list alone.
    #[test]
    fn a_misspelt_key_is_answered_with_the_closest_known_one() {
        let server_fields = "`listen`, `tls_cert`, `tls_key`, `metrics_listen`, `region`, `account_id`";
        let misspelt = error("[server]\ntls_crt = \"server.pem\"\n");
        assert!(
            misspelt.starts_with(&format!(
                "server.tls_crt (line 2, column 1): unknown field `tls_crt` (did you mean `tls_cert`?), expected one of {server_fields}, "
            )) && misspelt.ends_with(", `config_watch_seconds`"),
            "{misspelt}"
        );
        assert_eq!(
            error("[[profil]]\nid = \"p\"\n"),
            "profil (line 1, column 3): unknown field `profil` (did you mean `profile`?), expected one of `server`, `tokens`, `trust_anchor`, `profile`, `role`, `managed_policy`"
        );
        // Transposed letters are one edit.
        assert!(
            error("[server]\nregoin = \"us-east-1\"\n").contains("unknown field `regoin` (did you mean `region`?)"),
        );
        let unlike = error("[server]\ncolour = \"blue\"\n");
        assert!(
            unlike.starts_with(&format!(
                "server.colour (line 2, column 1): unknown field `colour`, expected one of {server_fields}, "
            )),
            "{unlike}"
        );
    }

    #[test]
    fn closeness_is_a_third_of_the_typed_length() {
        let names = ["tls_cert", "tls_key", "region"];
        assert_eq!(
            crate::error::closest_name("tls_crt", names.into_iter()),
            Some("tls_cert")
        );
        assert_eq!(
            crate::error::closest_name("tls_kye", names.into_iter()),
            Some("tls_key")
        );
        assert_eq!(crate::error::closest_name("tls", names.into_iter()), None);
        assert_eq!(crate::error::closest_name("rgn", names.into_iter()), None);
        assert_eq!(crate::error::closest_name("regio", names.into_iter()), Some("region"));
        // Equally near: the first listed.
        assert_eq!(
            crate::error::closest_name("tls_ke", ["tls_key", "tls_kez"].into_iter()),
            Some("tls_key")
        );
    }

    /// A value of the wrong type is described in TOML's terms, not by a Rust type name.
    #[test]
    fn a_type_error_names_no_rust_type() {
        for (line, error) in [
            (
                "rate_limit_per_ip = \"fast\"",
                "server.rate_limit_per_ip (line 2, column 21): invalid type: string \"fast\", expected a number",
            ),
            (
                "max_body_bytes = \"big\"",
                "server.max_body_bytes (line 2, column 18): invalid type: string \"big\", expected an integer of 0 or more",
            ),
            (
                "proxy_protocol = \"yes\"",
                "server.proxy_protocol (line 2, column 18): invalid type: string \"yes\", expected a boolean",
            ),
        ] {
            let Err((key, message)) = parse_toml(&format!("[server]\n{line}\n")) else {
                panic!("{line} parsed");
            };
            assert_eq!(format!("{key}: {message}"), error);
        }
    }
}
