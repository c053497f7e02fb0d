//! Nitro attestation documents: the data model, their CBOR/COSE encoding and
//! a test CA that mints them.
//!
//! What lives here is the *producing* side. The strict parser and the chain
//! verifier live in the `verifier` crate (`verifier::attestation`); both sides
//! share the field names and limits defined in [`doc`].
//!
//! * [`cbor`]: a tiny CBOR encoder with explicit control over definite vs
//!   indefinite maps and key order (real NSMs switched from definite to
//!   indefinite payload maps in 2025, so both must be producible).
//! * [`doc`]: [`AttestationDoc`], the nine payload fields, and its encoding.
//! * [`cose`]: the COSE_Sign1 envelope (RFC 9052) and its `Sig_structure`.
//! * [`cert`]: a low-level X.509 issuer ([`cert::CertSpec`]) expressive enough
//!   to produce deliberately broken certificates for tamper tests.
//! * [`testca`]: [`testca::TestCa`], a P-384 hierarchy shaped like AWS's
//!   (root, regional, zonal, instance, per-document leaf) for tests and the
//!   development NSM. **Test and development use only**: its keys are stored
//!   as plain PEM files and nothing it signs chains to the AWS root.

pub mod cbor;
pub mod cert;
pub mod cose;
pub mod doc;
pub mod testca;

pub use doc::{AttestationDoc, MapStyle};
