//! Fuzz the BER CMS EnvelopedData reader (KMS CiphertextForRecipient). A
//! small fixed RSA key keeps iterations fast; structure errors are the target.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn key() -> &'static rsa::RsaPrivateKey {
    static K: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        rsa::RsaPrivateKey::new(&mut rng, 1024).expect("key generation")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = enclave::cms::decrypt_enveloped(data, key());
});
