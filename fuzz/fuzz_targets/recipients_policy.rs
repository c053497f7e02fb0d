//! Fuzz the recipients-policy parser (issue 20) and the job request member
//! that carries it. Invariants (in `enclave::recipients::fuzz_policy`):
//! never panics; whatever parses hashes to its own digest and answers
//! `check` for each of its keys. Seed corpus: any `.proofpack/recipients.json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    enclave::recipients::fuzz_policy(data);
});
