//! Checking an organisation-key bundle before sealing for it (issue 10):
//! the attestation document must verify against the trusted root and the
//! expected PCRs (at least PCR0, PCR1 and PCR2), and must bind exactly the
//! bundle's public key (`public_key` = its SPKI DER, `user_data` =
//! [`enclave::seal::org_key::binding`]). Only then does a user know that
//! the public key was made inside that enclave image, so that only that
//! image can ever decrypt what they seal.

use build_spec::pcr::Measurements;
use enclave::seal::org_key::{binding, OrgKeyBundle, OrgKeyError};

use crate::attestation::verify::{verify, VerifyOptions};
use crate::report::Verdict;

/// PCRs that must be pinned: image, kernel/boot, application.
pub const REQUIRED_PCRS: [u8; 3] = [0, 1, 2];

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrgKeyCheckError {
    /// The bundle does not parse.
    #[error("{0}")]
    Bundle(#[from] OrgKeyError),
    /// The expected PCR set misses a required index.
    #[error("the expected PCRs must include PCR{0} (PCR0, PCR1 and PCR2 are required)")]
    MissingPcr(u8),
    /// The attestation document does not verify, or does not bind the key.
    #[error("the organisation key's attestation does not verify: {0}")]
    Attestation(String),
}

/// Parses `bytes` and verifies the bundle's attestation with `opts` (roots,
/// time), requiring `expect_pcrs` and the binding of the public key.
pub fn verify_bundle(
    bytes: &[u8],
    expect_pcrs: &Measurements,
    opts: &VerifyOptions,
) -> Result<OrgKeyBundle, OrgKeyCheckError> {
    let bundle = OrgKeyBundle::parse(bytes)?;
    for i in REQUIRED_PCRS {
        if expect_pcrs.get(i).is_none() {
            return Err(OrgKeyCheckError::MissingPcr(i));
        }
    }
    let mut o = opts.clone();
    o.expect.pcrs = Some(expect_pcrs.clone());
    o.expect.public_key = Some(bundle.public_key_der.clone());
    o.expect.user_data = Some(binding(&bundle.public_key_der));
    let report = verify(&bundle.attestation, &o);
    if report.verdict() != Verdict::Pass {
        let why = report.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        return Err(OrgKeyCheckError::Attestation(why));
    }
    Ok(bundle)
}
