//! Helpers for sealed-input tests (issue 10).
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;

/// Rewrites the header of a sealed input (JCS again), keeping the ciphertext:
/// how an attacker would forge one.
pub fn reheader(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let h = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let mut v: Value = serde_json::from_slice(&bytes[12..12 + h]).unwrap();
    f(&mut v);
    let nh = enclave::json::to_jcs(&v).unwrap();
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&u32::try_from(nh.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&nh);
    out.extend_from_slice(&bytes[12 + h..]);
    out
}
