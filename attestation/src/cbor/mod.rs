//! CBOR (RFC 8949), both directions, each written by hand for a reason the
//! module says: [`encode`] must produce exact (and deliberately malformed)
//! byte shapes; [`decode`] must report absolute offsets, keep original
//! bytes and cap every length before allocating.

pub mod decode;
pub mod encode;

pub use encode::Item;
