//! Precompiled `*` / `?` wildcard patterns, as used by IAM for actions, resources, `StringLike`
//! and `ArnLike`.
//!
//! `*` matches any run of characters (including none) and `?` exactly one character
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards>).
//! Patterns are compiled once at parse time; matching allocates nothing.

/// Whether letters compare exactly or ASCII-case-insensitively (action names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Sensitive,
    AsciiInsensitive,
}

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    /// A literal character (stored ASCII-lowercased for [`Case::AsciiInsensitive`]).
    Char(char),
    /// `?`: exactly one character.
    AnyChar,
    /// `*`: any run of characters.
    Star,
}

/// A compiled wildcard pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    elems: Vec<Elem>,
    case: Case,
}

impl Pattern {
    /// Compile `text`, treating `*` and `?` as wildcards.
    pub(crate) fn compile(text: &str, case: Case) -> Self {
        let mut pattern = Self::empty(case);
        pattern.push_wildcard_text(text);
        pattern
    }

    /// An empty pattern (matches only the empty string) to be extended by the push methods.
    pub(crate) fn empty(case: Case) -> Self {
        Self {
            elems: Vec::new(),
            case,
        }
    }

    /// Append `text`, treating `*` and `?` as wildcards.
    pub(crate) fn push_wildcard_text(&mut self, text: &str) {
        for c in text.chars() {
            let elem = match c {
                '*' => Elem::Star,
                '?' => Elem::AnyChar,
                c => Elem::Char(self.fold(c)),
            };
            self.elems.push(elem);
        }
    }

    /// Append `text` literally: `*` and `?` in it match only themselves. Used for the values of
    /// policy variables, so that a principal tag value of `*` cannot widen a pattern.
    pub(crate) fn push_literal(&mut self, text: &str) {
        for c in text.chars() {
            self.elems.push(Elem::Char(self.fold(c)));
        }
    }

    /// Whether `input` matches the whole pattern.
    ///
    /// Iterative glob matching with single-star backtracking: linear in the common case,
    /// O(pattern × input) at worst, never exponential.
    pub(crate) fn matches(&self, input: &str) -> bool {
        let p = &self.elems;
        let (mut pi, mut si) = (0usize, 0usize);
        // (index of the last `*` in the pattern, input position it currently absorbs up to)
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            let next = input.get(si..).and_then(|rest| rest.chars().next());
            let Some(c) = next else {
                return p.get(pi..).is_some_and(|rest| rest.iter().all(|e| *e == Elem::Star));
            };
            match p.get(pi) {
                Some(Elem::Star) => {
                    backtrack = Some((pi, si));
                    pi += 1;
                    continue;
                }
                Some(Elem::AnyChar) => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                Some(Elem::Char(pc)) if *pc == self.fold(c) => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last star absorb one more character, or fail.
            let Some((star, absorbed)) = backtrack else {
                return false;
            };
            let skipped = input
                .get(absorbed..)
                .and_then(|rest| rest.chars().next())
                .map_or(1, char::len_utf8);
            backtrack = Some((star, absorbed + skipped));
            pi = star + 1;
            si = absorbed + skipped;
        }
    }

    /// Split at literal `:` into at most `n` component patterns (the last keeps any further
    /// colons), for component-wise ARN matching.
    pub(crate) fn split_colons(&self, n: usize) -> Vec<Self> {
        let mut parts = vec![Self::empty(self.case)];
        for elem in &self.elems {
            match (elem, parts.len() < n) {
                (Elem::Char(':'), true) => parts.push(Self::empty(self.case)),
                _ => {
                    if let Some(last) = parts.last_mut() {
                        last.elems.push(*elem);
                    }
                }
            }
        }
        parts
    }

    /// Whether this pattern is exactly `*`.
    pub(crate) fn is_match_all(&self) -> bool {
        self.elems == [Elem::Star]
    }

    fn fold(&self, c: char) -> char {
        match self.case {
            Case::Sensitive => c,
            Case::AsciiInsensitive => c.to_ascii_lowercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, Case, bool)] = &[
            ("*", "", Case::Sensitive, true),
            ("*", "anything", Case::Sensitive, true),
            ("", "", Case::Sensitive, true),
            ("", "a", Case::Sensitive, false),
            ("abc", "abc", Case::Sensitive, true),
            ("abc", "ABC", Case::Sensitive, false),
            ("abc", "ABC", Case::AsciiInsensitive, true),
            ("sts:*", "STS:AssumeRole", Case::AsciiInsensitive, true),
            ("sts:Assume*", "sts:assumerole", Case::AsciiInsensitive, true),
            ("sts:Assume*", "sts:TagSession", Case::AsciiInsensitive, false),
            ("a?c", "abc", Case::Sensitive, true),
            ("a?c", "ac", Case::Sensitive, false),
            ("a?c", "aéc", Case::Sensitive, true),
            ("a*b*c", "axxbyyc", Case::Sensitive, true),
            ("a*b*c", "axxbyy", Case::Sensitive, false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Case::Sensitive, false),
            (
                "arn:aws:s3:::bucket/*",
                "arn:aws:s3:::bucket/a/b",
                Case::Sensitive,
                true,
            ),
            (
                "arn:aws:s3:::bucket/*",
                "arn:aws:s3:::bucket2/a",
                Case::Sensitive,
                false,
            ),
            ("**", "x", Case::Sensitive, true),
            ("x*", "x", Case::Sensitive, true),
            ("*x", "éx", Case::Sensitive, true),
        ];
        for (pattern, input, case, want) in cases {
            assert_eq!(
                Pattern::compile(pattern, *case).matches(input),
                *want,
                "{pattern} vs {input} ({case:?})"
            );
        }
    }

    #[test]
    fn literal_text_is_not_a_wildcard() {
        let mut p = Pattern::compile("team/", Case::Sensitive);
        p.push_literal("*");
        assert!(p.matches("team/*"));
        assert!(!p.matches("team/x"));
    }

    #[test]
    fn split_colons_keeps_rest_in_last_part() {
        let p = Pattern::compile("arn:aws:iam::1:role/a:b", Case::Sensitive);
        let parts = p.split_colons(6);
        assert_eq!(parts.len(), 6);
        assert!(parts[5].matches("role/a:b"));
        assert!(parts[3].matches(""));
    }

    /// Reference semantics: straightforward recursion over characters.
    fn reference(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some('*'), _) => reference(&p[1..], s) || (!s.is_empty() && reference(p, &s[1..])),
            (Some('?'), Some(_)) => reference(&p[1..], &s[1..]),
            (Some(pc), Some(sc)) if pc == sc => reference(&p[1..], &s[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_reference(p in "[ab*?:]{0,8}", s in "[ab:]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            proptest::prop_assert_eq!(
                Pattern::compile(&p, Case::Sensitive).matches(&s),
                reference(&pc, &sc)
            );
        }
    }
}
