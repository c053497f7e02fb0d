//! Fuzz the SOPS reader (YAML and JSON, metadata, ENC values) and, when a
//! file parses, the decrypt walk with a fixed key (exercises value parsing,
//! type canonicalisation and the MAC path). Seed corpus: `testvectors/sops/*`.
#![no_main]

use enclave::secret::SecretKey32;
use enclave::sops::SopsFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = SopsFile::parse(data) {
        let _ = f.decrypt(&SecretKey32::new([7; 32]));
    }
});
