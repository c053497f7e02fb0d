//! Shared helpers: the test-vector directory and a collecting reader.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use cloudtrail::read::{read_bytes, read_file};
use cloudtrail::{Event, FileSummary, TrailError};

/// `testvectors/cloudtrail/NAME`.
pub fn vector(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/cloudtrail").join(name)
}

/// Every record of a file, with offsets.
pub fn read_all(path: &Path) -> (Result<FileSummary, TrailError>, Vec<(u64, Event)>) {
    let mut out = Vec::new();
    let r = read_file(path, &mut |l| {
        out.push((l.offset, l.event));
        ControlFlow::Continue(())
    });
    (r, out)
}

/// Every record of bytes.
pub fn read_all_bytes(data: &[u8]) -> (Result<FileSummary, TrailError>, Vec<(u64, Event)>) {
    let mut out = Vec::new();
    let r = read_bytes("mem", data, &mut |l| {
        out.push((l.offset, l.event));
        ControlFlow::Continue(())
    });
    (r, out)
}
