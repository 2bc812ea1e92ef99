//! Redis glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET, ...).
//!
//! Every pattern token other than `*` consumes exactly one subject byte, so
//! a match can be found greedily, remembering only the most recent `*`: when
//! the text after that star fails, let the star swallow one more byte and
//! retry. Backtracking to an earlier star never helps (it could only start
//! the later segments further left, which the latest star already covers),
//! so the work is O(pattern × subject) at worst and there is no recursion,
//! where Redis recurses once per star and caps the nesting depth.

/// Redis's `stringmatchlen`: does `pattern` match all of `s`?
///
/// - `*` any run of bytes, `?` any one byte;
/// - `[abc]`, `[a-z]` (a reversed range `[z-a]` means the same), `[^...]`
///   negates; inside brackets `\x` is a literal `x`, `]` closes, and a class
///   left open runs to the end of the pattern;
/// - `\x` outside brackets is a literal `x`; a trailing `\` is a literal `\`;
/// - `nocase` folds ASCII case (except for `\`-escaped bytes inside
///   brackets, which Redis compares exactly).
///
/// Faithful to Redis down to its quirks: an empty subject matches only the
/// empty pattern (so `*` does not match ""; KEYS and SCAN special-case a
/// lone `*` themselves, see [`crate::Db::keys_matching`]). One deliberate
/// difference: byte ranges compare bytes as unsigned, where Redis's C code
/// compares `char`s whose sign depends on the platform.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    // Redis's loop never runs for an empty subject, leaving only the check
    // that both are exhausted.
    if s.is_empty() {
        return pattern.is_empty();
    }
    let mut p = 0;
    let mut i = 0;
    // After the latest star: where its continuation starts in the pattern,
    // and the subject position that continuation was last tried at.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, i));
            continue;
        }
        if p < pattern.len() {
            if let Some(next) = match_one(pattern, p, s[i], nocase) {
                p = next;
                i += 1;
                continue;
            }
        }
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

/// Matches the one-byte token at `pattern[p]` (not a `*`) against `c`;
/// returns where the next token starts, or `None` on a mismatch.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], c).then_some(p + 2),
        lit => eq(lit, c).then_some(p + 1),
    }
}

/// Matches the bracket class whose body starts at `pattern[p]`.
fn match_class(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut hit = false;
    let end = loop {
        let rest = pattern.len().saturating_sub(p);
        match pattern.get(p) {
            // Unterminated: the class is whatever was left.
            None => break pattern.len(),
            Some(b'\\') if rest >= 2 => {
                p += 1;
                // Redis compares an escaped byte exactly, even with nocase.
                hit |= pattern[p] == c;
            }
            Some(b']') => break p + 1,
            Some(&lo) if rest >= 3 && pattern[p + 1] == b'-' => {
                let hi = pattern[p + 2];
                // Order first, fold after: Redis's order, so `[Z-a]` under
                // nocase becomes the empty range z..a, as there.
                let (mut lo, mut hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                let mut ch = c;
                if nocase {
                    lo = lo.to_ascii_lowercase();
                    hi = hi.to_ascii_lowercase();
                    ch = ch.to_ascii_lowercase();
                }
                hit |= lo <= ch && ch <= hi;
                p += 2;
            }
            Some(&lit) => {
                hit |= if nocase {
                    lit.eq_ignore_ascii_case(&c)
                } else {
                    lit == c
                };
            }
        }
        p += 1;
    };
    (hit != negate).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    /// A direct transcription of the recursive definition, to compare
    /// against on random inputs (no nesting cap: inputs are small).
    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        fn go(p: &[u8], s: &[u8], nocase: bool) -> bool {
            match p.first() {
                None => s.is_empty(),
                Some(b'*') => (0..=s.len()).any(|k| go(&p[1..], &s[k..], nocase)),
                Some(_) => match s.first() {
                    None => false,
                    Some(&c) => match match_one(p, 0, c, nocase) {
                        Some(n) => go(&p[n..], &s[1..], nocase),
                        None => false,
                    },
                },
            }
        }
        if s.is_empty() {
            return p.is_empty();
        }
        go(p, s, nocase)
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
        assert!(m("**", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(!m("a*?", "a"));
        assert!(m("*a", "bba"));
        assert!(!m("*a", "bab"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("user:*:name", "user:1000:name"));
        assert!(!m("user:*:name", "user:1000:age"));
        assert!(m("*llo*", "hello world"));
        assert!(m("a*b*", "ab"));
        assert!(m("?*", "x"));
        assert!(!m("?", "xy"));
    }

    #[test]
    fn empty_subject_matches_only_empty_pattern() {
        assert!(m("", ""));
        assert!(!m("*", ""));
        assert!(!m("?", ""));
        assert!(!m("a", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("[z-a]", "m"));
        assert!(m("[0-9][0-9]", "42"));
        assert!(!m("[^0-9]", "4"));
        assert!(m("[a-cx-z]", "y"));
        assert!(!m("[a-cx-z]", "m"));
        assert!(m("[-a]", "-"));
        assert!(m("[a-]", "]"), "range a..] as in Redis, then unterminated");
        assert!(!m("[]", "a"), "empty class matches nothing");
        assert!(!m("[]", "]"));
        assert!(m("[^]", "a"), "negated empty class matches anything");
        assert!(
            !m("[]a]", "]a"),
            "first ] closes: an empty class, as in Redis"
        );
        assert!(m("[^]a]", "xa]"));
    }

    #[test]
    fn unterminated_classes() {
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "d"));
        assert!(!m("[abc", "bb"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        assert!(m("[a\\", "\\"), "trailing backslash in a class is literal");
        assert!(m("x[a-", "x-"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "x"));
        assert!(m("a\\[b", "a[b"));
        assert!(m("\\a", "a"));
        assert!(m("a\\", "a\\"), "trailing backslash is literal");
        assert!(!m("a\\", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\^a]", "^"));
        assert!(m("[\\-]", "-"));
        assert!(!m("[\\-]", "\\"));
        assert!(m("*\\*", "abc*"));
        assert!(!m("*\\*", "abc"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HELLO", "hello"));
        assert!(mi("h*O", "HELLO"));
        assert!(mi("[A-C]", "b"));
        assert!(mi("[a-c]", "B"));
        assert!(mi("[^a]", "B"));
        assert!(!mi("[^a]", "A"));
        assert!(mi("\\H", "h"), "escape outside brackets folds");
        assert!(!mi("[\\H]", "h"), "escape inside brackets does not");
        assert!(!m("HELLO", "hello"));
        assert!(!mi("[Z-a]", "m"), "order before fold, as in Redis");
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"\xff*\x00", b"\xff\x01\x00", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!glob_match(b"[\x80-\xff]", b"\x10", false));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let s = vec![b'a'; 10_000];
        let mut p = b"a*".repeat(200);
        p.push(b'b');
        let start = std::time::Instant::now();
        assert!(!glob_match(&p, &s, false));
        let mut p = b"*a".repeat(5_000);
        p.extend_from_slice(b"*");
        assert!(glob_match(&p, &s, false));
        assert!(!glob_match(&b"*?".repeat(10_001), &s, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn agrees_with_reference_on_random_input() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"ab*?[]^-\\Ac";
        for _ in 0..200_000 {
            let p: Vec<u8> = (0..rng.usize(0..8))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let s: Vec<u8> = (0..rng.usize(0..7))
                .map(|_| b"abA-]^\\*"[rng.usize(..8)])
                .collect();
            for nocase in [false, true] {
                assert_eq!(
                    glob_match(&p, &s, nocase),
                    reference(&p, &s, nocase),
                    "pattern {:?} subject {:?} nocase {nocase}",
                    String::from_utf8_lossy(&p),
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }
}
