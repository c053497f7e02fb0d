//! Fuzz the EIF reader: strict, lenient, with and without a known length.
//! Seed corpus: `testvectors/eif/*/image.eif`.
#![no_main]

use build_spec::eif::{read_eif, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let small = ReadOptions { chunk_size: 4096, ..ReadOptions::default() };
    let _ = read_eif(data, Some(data.len() as u64), &small);
    let _ = read_eif(data, None, &small);
    let _ = read_eif(data, None, &ReadOptions { chunk_size: 4096, ..ReadOptions::inspect() });
});
