//! Redis glob patterns. (Helper: implement.)

/// Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-c]`, `[a-z]`, `\x` escapes;
/// `nocase` folds ASCII case. Must not recurse without bound on patterns like
/// `*a*a*a*a*...` (Redis 7 limits nesting; be at least as safe).
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool { let _ = (pattern, s, nocase); todo!() }
