//! Reading input files for the CLI: every file an auditor hands us is
//! untrusted, so each read is bounded before anything is allocated.

use std::path::Path;

use anyhow::Result;

/// Largest receipt file read: the DSSE envelope cap, so a larger file can
/// never be a valid receipt.
pub const MAX_RECEIPT: u64 = enclave::receipt::dsse::MAX_ENVELOPE as u64;
/// Largest artifact read (artifacts are hashed and their header parsed in
/// memory).
pub const MAX_ARTIFACT: u64 = 1 << 30;
/// Largest key-policy file read. KMS itself refuses policies over 32 KiB;
/// up to this size the analyser still reads the file and reports the
/// oversize policy as a finding instead of refusing the input.
pub const MAX_POLICY_FILE: u64 = 1024 * 1024;
/// Largest trust-root certificate file (PEM or DER).
pub const MAX_CERT_FILE: u64 = 64 * 1024;

/// Reads `path` (or standard input for `-`), refusing anything larger than
/// `max` bytes. A regular file larger than `max` is refused from its size,
/// before a byte is read; standard input and other streams are read to at
/// most `max + 1` bytes (see [`build_spec::bounded`], the one implementation
/// shared by every crate). The error says "too large" and names the limit.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    Ok(build_spec::bounded::read_file_or_stdin(path, max)?)
}

/// [`read_limited`] for a text file (a PEM key, a list of paths).
pub fn read_limited_string(path: &Path, max: u64) -> Result<String> {
    String::from_utf8(read_limited(path, max)?)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}
