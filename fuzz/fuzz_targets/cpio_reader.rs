//! Fuzz the cpio newc reader (plain and gzip-detected input).
//! Seed corpus: any archive made by `build_spec::cpio::write_files`.
#![no_main]

use build_spec::cpio::read_entries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_entries(data);
});
