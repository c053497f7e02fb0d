//! Fuzzes the KMS key-policy parser (strict and duplicate-reading modes),
//! the pinning analyser, and checks that a PINNED verdict never coexists
//! with an unattested Decrypt the evaluator allows. Any panic is a bug.
//! Seed corpus: the policies of testvectors/kms-policies (see README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kms_policy::fuzz_policy(data);
});
