//! Field rules shared by the request parser, the statement builder and the
//! receipt verifier (docs/formats/receipts.md §2.5, §3.2, §3.6), so producer and checker
//! cannot drift apart.

use std::collections::BTreeMap;

/// `job.id` / `jobId`: 1..128 characters of `[A-Za-z0-9._-]`.
pub fn is_job_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Lowercase hex of exactly `bytes` bytes.
pub fn is_hex_len(s: &str, bytes: usize) -> bool {
    s.len() == bytes * 2 && is_lower_hex(s)
}

/// 64 lowercase hex characters as 32 bytes.
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    if !is_hex_len(s, 32) {
        return None;
    }
    hex::decode(s).ok()?.try_into().ok()
}

/// Non-empty lowercase hex of even length.
pub fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A git object id: lowercase hex, 40 or 64 characters.
pub fn is_git_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && is_lower_hex(s)
}

/// The job nonce: lowercase hex of 32..64 bytes.
pub fn is_nonce_hex(s: &str) -> bool {
    (64..=128).contains(&s.len()) && is_lower_hex(s)
}

/// An artifact (subject) name: 1..255 bytes, no `/`, `\`, control characters, not `.`/`..`.
pub fn is_artifact_name(s: &str) -> bool {
    is_input_name(s) && !s.contains('/')
}

/// An input name: like an artifact name, but `/` is allowed (a path); no empty,
/// `.` or `..` path component.
pub fn is_input_name(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && !s.chars().any(|c| c.is_control() || c == '\\')
        && s.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A KMS key or alias ARN: `arn:<partition>:kms:<region>:<account>:key/<id>` or `…:alias/<name>`.
pub fn is_kms_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "kms" {
        return false;
    }
    let partition_ok = parts[1].starts_with("aws");
    let region_ok = !parts[3].is_empty()
        && parts[3].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit());
    let res = parts[5];
    let res_ok = res
        .strip_prefix("key/")
        .or_else(|| res.strip_prefix("alias/"))
        .is_some_and(|id| !id.is_empty() && !id.chars().any(|c| c.is_control() || c == ' '));
    partition_ok && region_ok && account_ok && res_ok && s.len() <= 2048
}

/// An encryption context: keys and values non-empty, no characters >= U+10000 in keys.
pub fn is_enc_ctx(ctx: &BTreeMap<String, String>) -> bool {
    ctx.len() <= 64
        && ctx.iter().all(|(k, v)| {
            !k.is_empty()
                && !v.is_empty()
                && k.chars().all(|c| (c as u32) < 0x10000)
                && !k.contains('\0')
                && !v.contains('\0')
        })
}

/// Renders an NSM millisecond timestamp as `YYYY-MM-DDTHH:MM:SS.sssZ`
/// (docs/formats/receipts.md §3.2).
pub fn render_time_ms(ms: u64) -> Option<String> {
    let secs = i64::try_from(ms / 1000).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    if t.year() > 9999 {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms % 1000
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_artifact_name("prod.ppa"));
        assert!(!is_artifact_name("a/b"));
        assert!(!is_artifact_name(".."));
        assert!(!is_artifact_name(""));
        assert!(is_input_name("secrets/prod.enc.yaml"));
        assert!(!is_input_name("secrets/../x"));
        assert!(!is_input_name("a\nb"));
    }

    #[test]
    fn arns() {
        assert!(is_kms_arn("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab"));
        assert!(is_kms_arn("arn:aws:kms:us-east-1:111122223333:alias/app"));
        assert!(!is_kms_arn("arn:aws:s3:us-east-1:111122223333:key/x"));
        assert!(!is_kms_arn("arn:aws:kms:us-east-1:1111:key/x"));
        assert!(!is_kms_arn("arn:aws:kms:us-east-1:111122223333:key/"));
    }

    #[test]
    fn times() {
        assert_eq!(render_time_ms(1_736_935_200_000).as_deref(), Some("2025-01-15T10:00:00.000Z"));
        assert_eq!(render_time_ms(1_736_935_202_500).as_deref(), Some("2025-01-15T10:00:02.500Z"));
    }
}
