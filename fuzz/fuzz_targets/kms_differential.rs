//! The analyser's soundness property on generated policies (issue 19): the
//! input bytes drive `kms_policy::differential`'s policy and
//! request generator; a PINNED verdict contradicted by a request the concrete
//! evaluator allows, or a NOT_PINNED without a witness it allows, panics.
//! Unlike `kms_policy` (raw bytes as policy text, mostly syntax errors),
//! every input here becomes a policy inside the grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = kms_policy::differential::check_bytes(data) {
        panic!("{v}");
    }
});
