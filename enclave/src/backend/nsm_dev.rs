//! The **development** NSM: signs attestation documents with the test CA of
//! [`attestation::testca`] instead of AWS's hardware.
//!
//! Its PCRs are never made up: they are computed from the EIF file it is told
//! it runs (build_spec's EIF reader, the same PCR engine the verifier uses),
//! so a document from this NSM carries exactly the PCR0/1/2 (and PCR8 when
//! signed) of real image bytes. Everything about it is labelled development:
//! [`Nsm::kind`] is `"development"`, the `module_id` of every document starts
//! with `development-nsm-`, and the CA names are the test CA's. Documents
//! verify only against that test CA's root, which a verifier must be given
//! explicitly.

use std::path::{Path, PathBuf};

use build_spec::eif::read::{read_eif_file, ReadOptions};
use build_spec::pcr::Measurements;

use super::nsm::check_limits;
use super::{AttestationRequest, Nsm, NsmError};
use attestation::testca::{DocSpec, TestCa};

/// Prefix of every `module_id` this NSM writes.
pub const MODULE_ID_PREFIX: &str = "development-nsm-";

/// A development NSM bound to one EIF and one test CA.
#[derive(Debug)]
pub struct DevNsm {
    ca: TestCa,
    pcrs: Measurements,
    eif: PathBuf,
    module_id: String,
}

impl DevNsm {
    /// Measures `eif` and loads the test CA saved in `ca_dir`.
    pub fn new(eif: &Path, ca_dir: &Path) -> Result<Self, NsmError> {
        let summary = read_eif_file(eif, &ReadOptions::default()).map_err(|e| {
            NsmError::Device(format!("development NSM cannot measure {}: {e}", eif.display()))
        })?;
        let ca = TestCa::load(ca_dir).map_err(|e| {
            NsmError::Device(format!("development NSM test CA {}: {e}", ca_dir.display()))
        })?;
        Ok(Self::with_measurements(ca, summary.measurements(), eif))
    }

    /// A development NSM with already-computed measurements of `eif`.
    pub fn with_measurements(ca: TestCa, pcrs: Measurements, eif: &Path) -> Self {
        let mut id = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        Self {
            ca,
            pcrs,
            eif: eif.to_path_buf(),
            module_id: format!("{MODULE_ID_PREFIX}{}", hex::encode(id)),
        }
    }

    /// The PCRs this NSM attests (from the EIF).
    pub fn pcrs(&self) -> &Measurements {
        &self.pcrs
    }

    /// The EIF it measured.
    pub fn eif(&self) -> &Path {
        &self.eif
    }

    /// The `module_id` of its documents.
    pub fn module_id(&self) -> &str {
        &self.module_id
    }
}

impl Nsm for DevNsm {
    fn attest(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
        check_limits(req)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| NsmError::Device("system clock before 1970".into()))?
            .as_millis() as u64;
        let mut spec = DocSpec::new(now_ms, self.pcrs.clone());
        spec.module_id = Some(self.module_id.clone());
        spec.public_key = req.public_key.clone();
        spec.user_data = req.user_data.clone();
        spec.nonce = req.nonce.clone();
        self.ca
            .mint(&spec)
            .map_err(|e| NsmError::Device(format!("development NSM signing failed: {e}")))
    }

    fn kind(&self) -> &'static str {
        "development"
    }
}
