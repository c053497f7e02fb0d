//! Wrappers for secret bytes: SOPS data keys, decrypted values, KMS plaintext
//! data keys, private keys.
//!
//! They have no `Clone`, `Display` or derived `Debug`; `Debug` prints
//! `[redacted]` so a secret can never reach a log line through `{:?}`. The
//! bytes are zeroized on drop.

use zeroize::Zeroizing;

/// Secret bytes of any length, zeroized on drop.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies from a slice. Prefer [`SecretBytes::new`] to avoid a second copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// Exposes the bytes. Every call site is a place where plaintext is used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

/// A 256-bit secret key (AES-256 data keys), zeroized on drop.
pub struct SecretKey32(Zeroizing<[u8; 32]>);

impl SecretKey32 {
    /// Wraps a key.
    pub fn new(key: [u8; 32]) -> Self {
        Self(Zeroizing::new(key))
    }

    /// Builds a key from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::new(arr))
    }

    /// Generates a fresh random key from the OS RNG.
    pub fn generate() -> Self {
        use rand_core::RngCore;
        let mut k = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// Exposes the key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey32([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_plaintext() {
        let s = SecretBytes::new(b"hunter2-plaintext".to_vec());
        let k = SecretKey32::new([0x41; 32]);
        let shown = format!("{s:?} {k:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("65, 65"));
        assert!(shown.contains("redacted"));
    }
}
