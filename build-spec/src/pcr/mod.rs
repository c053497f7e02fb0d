//! PCR values and their nitro-cli JSON form.
//!
//! A PCR here is always a 48-byte SHA-384 value. [`Measurements`] is the set
//! of PCRs of one image or one attestation document, keyed by index.

pub mod compare;
pub mod compute;
pub mod measurements;

pub use compare::{compare, CompareRules};
pub use compute::{extend, pcr_of_reader, ImagePcrs, PcrRouter};
pub use measurements::{Measurements, MeasurementsError, Pcr};
