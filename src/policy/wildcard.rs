//! Precompiled `*` / `?` wildcard patterns, as used by IAM for actions, resources, `StringLike`
//! and `ArnLike`.
//!
//! `*` matches any run of characters (including none) and `?` exactly one character
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html#reference_policies_elements_resource_wildcards>).
//! Patterns are compiled once at parse time. Matching backtracks, allocation-free, while the
//! pattern's length times the input's is small (every pattern and value of a realistic policy);
//! beyond that it simulates the pattern's automaton 64 states per machine word, so that a
//! caller-supplied pattern (a session policy) against a caller-supplied value (an Authorize
//! resource or context value) costs O(input × pattern / 64 + pattern × log pattern), not
//! O(input × pattern).
//!
//! In ARNs (`Resource`, `ArnLike`) wildcards stay within the colon-separated segment they are
//! written in, except a `*` that ends its segment, which may reach past colons: IAM's rule
//! ("If the * wildcard is the last character of a resource ARN segment, it can expand to match
//! beyond the colon boundaries"), applied by [`Pattern::within_arn_segments`]. So
//! `function:app-*-dev` does not match `function:app-prod:canary-dev`, while
//! `function:app-*` matches `function:app-prod:canary`.

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
    /// `*` within an ARN segment: any run of characters without `:`.
    SegmentStar,
    /// `?` within an ARN segment: one character other than `:`.
    SegmentChar,
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

    /// This pattern read as an ARN: each `*` not at the end of its segment (before a literal
    /// `:` or the pattern's end) and each `?` stay within their segment. Runs of `*` are one.
    pub(crate) fn within_arn_segments(mut self) -> Self {
        self.elems.dedup_by(|a, b| *a == Elem::Star && *b == Elem::Star);
        for i in 0..self.elems.len() {
            // What follows is read before it is rewritten: only `*` and `?` change.
            let ends_segment = matches!(self.elems.get(i + 1), None | Some(Elem::Char(':')));
            self.elems[i] = match self.elems[i] {
                Elem::Star if !ends_segment => Elem::SegmentStar,
                Elem::AnyChar => Elem::SegmentChar,
                other => other,
            };
        }
        self
    }

    /// Whether `input` matches the whole pattern.
    pub(crate) fn matches(&self, input: &str) -> bool {
        self.matches_counting(input, &mut 0)
    }

    /// [`Pattern::matches`], adding to `steps` the work it took: one per character comparison
    /// when backtracking, one per input character and machine word of the automaton. A request
    /// bounds the sum over all its matches ([`super::RequestContext::pattern_matches`]).
    pub(crate) fn matches_counting(&self, input: &str, steps: &mut u64) -> bool {
        match self.takes_automaton(input) {
            false => self.matches_backtracking(input, steps),
            true => self.matches_bit_parallel(input, steps),
        }
    }

    /// Whether [`Pattern::matches`] simulates the automaton for `input`: when backtracking
    /// could take more than [`BACKTRACKING_BUDGET`] steps (it is linear without a `*`), and
    /// always for a pattern with segment wildcards (backtracking to the last `*` alone is exact
    /// only when every `*` matches anything).
    fn takes_automaton(&self, input: &str) -> bool {
        let segmented = self
            .elems
            .iter()
            .any(|e| matches!(e, Elem::SegmentStar | Elem::SegmentChar));
        segmented
            || (self.elems.len().saturating_mul(input.len()) > BACKTRACKING_BUDGET && self.elems.contains(&Elem::Star))
    }

    /// Iterative glob matching with single-star backtracking: linear without a star or in
    /// the common case, O(pattern × input) at worst, never exponential. Patterns with segment
    /// wildcards are not matched here ([`Pattern::takes_automaton`]); they would not match.
    fn matches_backtracking(&self, input: &str, steps: &mut u64) -> bool {
        let p = &self.elems;
        let (mut pi, mut si) = (0usize, 0usize);
        // (index of the last `*` in the pattern, input position it currently absorbs up to)
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            *steps += 1;
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

    /// The pattern as an automaton, simulated bit-parallel (Shift-And with stars): state `i`
    /// (bit `i`) means the first `i` elements have matched. A character moves state `i` to
    /// `i + 1` when element `i` is `?` or that character, and keeps state `i` when element `i`
    /// is `*`; a `*` at `i` also reaches `i + 1` with no character. The input matches when
    /// state `len` is reached at its end. Runs of `*` are one `*`, so one closure pass suffices.
    /// A `:` moves past a segment `?` and is kept by a segment `*` in no state.
    fn matches_bit_parallel(&self, input: &str, steps: &mut u64) -> bool {
        let mut elems = self.elems.clone();
        elems.dedup_by(|a, b| a == b && matches!(a, Elem::Star | Elem::SegmentStar));
        let len = elems.len();
        let words = (len + 1).div_ceil(64);
        *steps += len as u64;
        // Every star and `?`, and those that take a `:` too.
        let (mut stars, mut colon_stars) = (vec![0u64; words], vec![0u64; words]);
        let (mut any, mut colon_any) = (vec![0u64; words], vec![0u64; words]);
        for (i, elem) in elems.iter().enumerate() {
            match elem {
                Elem::Star => {
                    set_bit(&mut stars, i);
                    set_bit(&mut colon_stars, i);
                }
                Elem::SegmentStar => set_bit(&mut stars, i),
                Elem::AnyChar => {
                    set_bit(&mut any, i);
                    set_bit(&mut colon_any, i);
                }
                Elem::SegmentChar => set_bit(&mut any, i),
                Elem::Char(_) => {}
            }
        }
        // The moves of each character the pattern holds, built in one pass over it; any
        // other character moves only past `?`.
        let mut chars: Vec<char> = elems
            .iter()
            .filter_map(|e| match e {
                Elem::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        chars.sort_unstable();
        chars.dedup();
        let mut rows: Vec<u64> = chars
            .iter()
            .flat_map(|c| if *c == ':' { &colon_any } else { &any })
            .copied()
            .collect();
        for (i, elem) in elems.iter().enumerate() {
            if let Elem::Char(c) = elem
                && let Ok(row) = chars.binary_search(c)
            {
                set_bit(&mut rows[row * words..(row + 1) * words], i);
            }
        }
        let mut state = vec![0u64; words];
        let mut next = vec![0u64; words];
        set_bit(&mut state, 0);
        close_over_stars(&mut state, &stars);
        for c in input.chars() {
            *steps += words as u64;
            let moves = match chars.binary_search(&self.fold(c)) {
                Ok(row) => &rows[row * words..(row + 1) * words],
                Err(_) if c == ':' => &colon_any[..],
                Err(_) => &any[..],
            };
            let keeps = if c == ':' { &colon_stars } else { &stars };
            let mut carry = 0;
            for w in 0..words {
                let advanced = state[w] & moves[w];
                next[w] = (advanced << 1) | carry | (state[w] & keeps[w]);
                carry = advanced >> 63;
            }
            close_over_stars(&mut next, &stars);
            std::mem::swap(&mut state, &mut next);
            if state.iter().all(|w| *w == 0) {
                return false;
            }
        }
        state[len / 64] & (1 << (len % 64)) != 0
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

/// Up to this many pattern elements × input bytes, [`Pattern::matches`] backtracks (at most
/// about this many steps); beyond, it simulates the automaton.
const BACKTRACKING_BUDGET: usize = 16 * 1024;

fn set_bit(words: &mut [u64], i: usize) {
    words[i / 64] |= 1 << (i % 64);
}

/// Adds to `state` the states a `*` reaches by matching nothing (one pass: runs of `*` are
/// single).
fn close_over_stars(state: &mut [u64], stars: &[u64]) {
    let mut carry = 0;
    for (word, star) in state.iter_mut().zip(stars) {
        let from = *word & star;
        *word |= (from << 1) | carry;
        carry = from >> 63;
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

    /// Reference semantics of ARN patterns: a `*` that ends its segment (before `:` or the end)
    /// absorbs anything, any other `*` and every `?` no `:`.
    fn reference_segmented(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some('*'), _) => {
                let after_run = p.iter().find(|c| **c != '*');
                let spans = matches!(after_run, None | Some(':'));
                reference_segmented(&p[1..], s)
                    || (s.first().is_some_and(|c| *c != ':' || spans) && reference_segmented(p, &s[1..]))
            }
            (Some('?'), Some(c)) => *c != ':' && reference_segmented(&p[1..], &s[1..]),
            (Some(pc), Some(sc)) if pc == sc => reference_segmented(&p[1..], &s[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn arn_patterns_agree_with_reference(p in "[ab*?:]{0,8}", s in "[ab:]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            proptest::prop_assert_eq!(
                Pattern::compile(&p, Case::Sensitive).within_arn_segments().matches(&s),
                reference_segmented(&pc, &sc)
            );
        }

        #[test]
        fn agrees_with_reference(p in "[ab*?:]{0,8}", s in "[ab:]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            proptest::prop_assert_eq!(
                Pattern::compile(&p, Case::Sensitive).matches(&s),
                reference(&pc, &sc)
            );
        }

        /// Both algorithms on the same inputs, across word boundaries (patterns of up to 150
        /// elements, so up to three words), with non-ASCII characters and case folding.
        #[test]
        fn automaton_agrees_with_backtracking(
            p in "[aAé*?]{0,150}",
            s in "[aAéb]{0,40}",
            insensitive in proptest::bool::ANY,
        ) {
            let case = if insensitive { Case::AsciiInsensitive } else { Case::Sensitive };
            let pattern = Pattern::compile(&p, case);
            proptest::prop_assert_eq!(pattern.matches_bit_parallel(&s, &mut 0), pattern.matches_backtracking(&s, &mut 0));
        }
    }

    #[test]
    fn arn_wildcards_stay_in_their_segment_unless_a_star_ends_it() {
        let lambda = "arn:aws:lambda:us-east-1:123456789012:function";
        let cases: &[(String, String, bool)] = &[
            // IAM's example: a `*` inside a segment does not reach past its colons…
            (
                format!("{lambda}:app-*-dev"),
                format!("{lambda}:app-prod:canary-dev"),
                false,
            ),
            (format!("{lambda}:app-*-dev"), format!("{lambda}:app-prod-dev"), true),
            // …one that ends its segment does.
            (format!("{lambda}:app-*"), format!("{lambda}:app-prod:canary"), true),
            (
                "arn:aws:lambda:*:123456789012:function:f".into(),
                "arn:aws:lambda:us:east:123456789012:function:f".into(),
                true,
            ),
            ("*".into(), "arn:aws:s3:::a:b".into(), true),
            ("arn:aws:s3:::b**x".into(), "arn:aws:s3:::b:x".into(), false),
            ("arn:aws:s3:::b**".into(), "arn:aws:s3:::b:x".into(), true),
            // `?` is one character of its segment.
            ("arn:aws:s3:::a?c".into(), "arn:aws:s3:::a:c".into(), false),
            ("arn:aws:s3:::a?c".into(), "arn:aws:s3:::abc".into(), true),
        ];
        for (pattern, input, want) in cases {
            let p = Pattern::compile(pattern, Case::Sensitive).within_arn_segments();
            assert_eq!(p.matches(input), *want, "{pattern} vs {input}");
        }
    }

    #[test]
    fn automaton_wildcard_table() {
        let long_a = "a".repeat(100);
        let cases: Vec<(String, String, bool)> = vec![
            ("*".into(), String::new(), true),
            (String::new(), String::new(), true),
            (String::new(), "a".into(), false),
            ("**x**".into(), "yyx".into(), true),
            ("a?c".into(), "aéc".into(), true),
            (format!("*{long_a}b"), long_a.repeat(3), false),
            (format!("*{long_a}b"), format!("{}b", long_a.repeat(3)), true),
            (format!("{long_a}?*"), format!("{long_a}x"), true),
            (format!("{long_a}?*"), long_a.clone(), false),
            (
                format!("*{}*", "a?".repeat(70)),
                format!("zz{}zz", "ab".repeat(70)),
                true,
            ),
        ];
        for (pattern, input, want) in &cases {
            let p = Pattern::compile(pattern, Case::Sensitive);
            assert_eq!(p.matches_bit_parallel(input, &mut 0), *want, "{pattern} vs {input}");
            assert_eq!(p.matches_backtracking(input, &mut 0), *want, "{pattern} vs {input}");
        }
    }

    #[test]
    fn a_caller_supplied_pattern_against_a_long_value_takes_the_automaton() {
        // The shape of the reviewer's Authorize request: backtracking would take about
        // 1,900 × 250,000 steps; the automaton takes 250,000 × 30 words.
        let pattern = Pattern::compile(&format!("arn:aws:s3:::*{}b", "a".repeat(1900)), Case::Sensitive);
        let value = format!("arn:aws:s3:::{}", "a".repeat(250_000));
        assert!(pattern.takes_automaton(&value));
        assert!(!pattern.matches(&value));
        assert!(pattern.matches(&format!("{value}b")));
        // Non-ASCII input the pattern does not hold moves only past `?`.
        let pattern = Pattern::compile(&format!("*{}?", "a".repeat(1900)), Case::Sensitive);
        let value = "ü".repeat(2048);
        assert!(pattern.takes_automaton(&value));
        assert!(!pattern.matches(&value));
        // Policies' own patterns against request values backtrack, allocation-free.
        let resource = Pattern::compile("arn:aws:s3:::bucket/*", Case::Sensitive);
        assert!(!resource.takes_automaton("arn:aws:s3:::bucket/some/key/of/a/usual/length.txt"));
        assert!(!Pattern::compile(&"a".repeat(5000), Case::Sensitive).takes_automaton(&"a".repeat(5000)));
    }
}
