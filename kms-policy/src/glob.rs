//! IAM wildcard matching: `*` (any run, possibly empty) and `?` (exactly one
//! character), anchored at both ends.
//!
//! Implemented as the classic two-pointer backtracking matcher, which runs in
//! O(len(pattern) * len(text)) worst case. A regex built from policy text
//! would need escaping and could be made expensive; this cannot.

/// One pattern token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A literal character.
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    Question,
}

/// Turns a pattern string into tokens (`*` and `?` are wildcards).
pub fn tokens(pattern: &str) -> Vec<Tok> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::Question,
            c => Tok::Char(c),
        })
        .collect()
}

/// True if the pattern contains a wildcard token.
pub fn has_wildcard(toks: &[Tok]) -> bool {
    toks.iter().any(|t| !matches!(t, Tok::Char(_)))
}

/// Matches `text` against tokens. With `fold_case`, characters are compared
/// after Unicode lowercasing (used for action names, which IAM compares
/// case-insensitively).
pub fn matches(toks: &[Tok], text: &str, fold_case: bool) -> bool {
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if fold_case {
            a == b || a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match toks.get(pi) {
            Some(Tok::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Tok::Question) => {
                pi += 1;
                ti += 1;
            }
            Some(Tok::Char(c)) if t.get(ti).is_some_and(|x| eq(*c, *x)) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks.get(pi..).is_some_and(|rest| rest.iter().all(|t| *t == Tok::Star))
}

/// Convenience: match a pattern string.
pub fn matches_str(pattern: &str, text: &str, fold_case: bool) -> bool {
    matches(&tokens(pattern), text, fold_case)
}

/// ARN matching as `ArnLike` does it: the six `:`-separated parts are
/// matched separately (the last part keeps any further `:`), so a `*` never
/// crosses a part boundary. Case-sensitive.
pub fn arn_matches(pattern: &[Tok], text: &str) -> bool {
    let pparts = split_arn_tokens(pattern);
    let tparts: Vec<&str> = text.splitn(6, ':').collect();
    if pparts.len() != 6 || tparts.len() != 6 {
        return false;
    }
    pparts.iter().zip(tparts).all(|(p, t)| matches(p, t, false))
}

fn split_arn_tokens(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut parts = vec![Vec::new()];
    for t in toks {
        if *t == Tok::Char(':') && parts.len() < 6 {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*t);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(matches_str("kms:*", "kms:Decrypt", false));
        assert!(matches_str("kms:*Crypt*", "kms:ReEncryptFrom", true));
        assert!(!matches_str("kms:*CRYPT*", "kms:ReEncryptFrom", false));
        assert!(matches_str("kms:*CRYPT*", "kms:ReEncryptFrom", true));
        assert!(matches_str("KMS:decrypt", "kms:Decrypt", true));
        assert!(!matches_str("KMS:decrypt", "kms:Decrypt", false));
        assert!(matches_str("a?c", "abc", false));
        assert!(!matches_str("a?c", "ac", false));
        assert!(matches_str("*", "", false));
        assert!(!matches_str("", "x", false));
        assert!(matches_str("a*b*c", "axxbyyc", false));
        assert!(!matches_str("a*b*c", "axxbyy", false));
    }

    #[test]
    fn arn_parts() {
        let p = tokens("arn:aws:iam::*:role/ci-*");
        assert!(arn_matches(&p, "arn:aws:iam::111122223333:role/ci-x"));
        assert!(!arn_matches(&p, "arn:aws:iam::111122223333:user/ci-x"));
        // `*` does not cross a colon.
        assert!(!arn_matches(&tokens("arn:*:role/x"), "arn:aws:iam::1:role/x"));
    }
}
