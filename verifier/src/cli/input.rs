//! Reading input files for the CLI: every file an auditor hands us is
//! untrusted, so each read is bounded before anything is allocated.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Reads `path` (or standard input for `-`), refusing anything larger than
/// `max` bytes. At most `max + 1` bytes are ever read, so a huge or endless
/// input cannot exhaust memory.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().take(max + 1).read_to_end(&mut buf).context("reading standard input")?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("opening {}", path.display()))?
            .take(max + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    if buf.len() as u64 > max {
        bail!("{} is larger than the {max}-byte limit for this input", path.display());
    }
    Ok(buf)
}
