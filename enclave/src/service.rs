//! The pack operation (receipts.md §4.3): the one place where secrets exist
//! in plaintext, inside the enclave.
//!
//! ```text
//! request bytes Q ─ parse/limits ─ job keys (RSA-2048, Ed25519) ─ doc_K (NSM)
//!   └─ per input: digest check ─ SOPS parse ─ kms:Decrypt(Recipient=doc_K) ─ CMS open
//!        ─ SOPS values + MAC ─ merge (defaults < service < environment)
//!   └─ per output: envelope (AES-256-GCM, RSA-OAEP-SHA512, optional kms:Encrypt)
//!   └─ zeroize ─ binding B ─ doc_R (NSM) ─ in-toto statement (JCS) ─ DSSE (Ed25519)
//! ```
//!
//! The transport (`proofpack-enclave serve`, vsock or TCP) hands a [`PackJob`]
//! to [`PackService::pack`] and returns the [`PackOutput`].

pub mod request;

pub use request::{PackRequest, RequestError};

/// One job as received by the transport: the exact request bytes and the SOPS
/// input files in the order the request names them.
#[derive(Clone, PartialEq, Eq)]
pub struct PackJob {
    /// The job request bytes (JSON, receipts.md §3.6), hashed as received.
    pub request: Vec<u8>,
    /// The SOPS files, one per `inputs[]` entry of the request, same order.
    pub inputs: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PackJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackJob")
            .field("request_len", &self.request.len())
            .field("input_lens", &self.inputs.iter().map(Vec::len).collect::<Vec<_>>())
            .finish()
    }
}

/// One encrypted output artifact (receipts.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// File name (= receipt subject name).
    pub name: String,
    /// The artifact bytes (ciphertext only).
    pub bytes: Vec<u8>,
}

/// What a successful pack returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOutput {
    /// The artifacts, in request order.
    pub artifacts: Vec<Artifact>,
    /// The DSSE envelope (JSON bytes) of the signed receipt.
    pub receipt: Vec<u8>,
}
