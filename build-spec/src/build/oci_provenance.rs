//! Finding the `oci-provenance.json` that belongs to an EIF.
//!
//! `proofpack diff A.eif B.eif` can name the layer behind every changed file
//! of an `[app.oci]` image, but only from the provenance of *that* image. A
//! file that merely sits next to the EIF proves nothing (an out directory
//! reused for another build, a copied EIF), so a provenance file found by
//! location is used only when the build manifest beside it binds both: the
//! manifest's `outputs.eif.sha256` is the EIF's digest and its
//! `oci.provenance.sha256` is the provenance file's digest.

use std::path::{Path, PathBuf};

use crate::digest::{Digest, Sha256};

use super::{Manifest, MANIFEST_FILE, OCI_PROVENANCE_FILE};
use crate::oci::diff::{Provenance, MAX_PROVENANCE_BYTES};

/// Largest build manifest read here (real ones are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Why a provenance file beside an EIF is not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvenanceBindingError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file exceeds its size bound.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        limit: u64,
    },
    /// There is no build manifest to bind the provenance to the EIF.
    #[error("no {MANIFEST_FILE} beside it binds it to the image")]
    NoManifest,
    /// The build manifest is not one of ours.
    #[error("{MANIFEST_FILE}: {0}")]
    BadManifest(String),
    /// The build manifest describes another EIF.
    #[error("{MANIFEST_FILE} beside it records another image (eif sha256 {recorded}, this one is {actual})")]
    OtherImage {
        /// `outputs.eif.sha256` in the manifest.
        recorded: String,
        /// The EIF's SHA-256.
        actual: String,
    },
    /// The build manifest has no `oci` section (a cargo application).
    #[error("{MANIFEST_FILE} beside it records no OCI image (the application was not [app.oci])")]
    NotOci,
    /// The provenance file is not the one the build wrote.
    #[error("its sha256 {actual} differs from the {recorded} recorded in {MANIFEST_FILE}")]
    ProvenanceChanged {
        /// `oci.provenance.sha256` in the manifest.
        recorded: String,
        /// The file's SHA-256.
        actual: String,
    },
    /// The provenance file does not parse.
    #[error("{0}")]
    BadProvenance(#[from] crate::oci::OciError),
}

fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ProvenanceBindingError> {
    use crate::bounded::ReadError;
    crate::bounded::read_file(path, limit).map_err(|e| match e {
        ReadError::TooLarge { path, limit, .. } => ProvenanceBindingError::TooLarge { path, limit },
        ReadError::Open { path, source } | ReadError::Read { path, source } => {
            ProvenanceBindingError::Io { path, source }
        }
    })
}

fn sha256_of_file(path: &Path) -> Result<String, ProvenanceBindingError> {
    let io = |source| ProvenanceBindingError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io)?;
    Ok(hex::encode(h.finalize()))
}

/// The provenance of the OCI application inside `eif`, from the
/// [`OCI_PROVENANCE_FILE`] in the same directory, checked against the
/// [`MANIFEST_FILE`] there (see the module docs).
///
/// `Ok(None)`: there is no provenance file (a cargo application, or an EIF
/// that is not a build output). `Err`: there is one, but it cannot be tied
/// to this EIF; the caller should say so rather than attribute layers.
pub fn provenance_beside_eif(eif: &Path) -> Result<Option<Provenance>, ProvenanceBindingError> {
    let dir = match eif.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prov_path = dir.join(OCI_PROVENANCE_FILE);
    if !prov_path.is_file() {
        return Ok(None);
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        return Err(ProvenanceBindingError::NoManifest);
    }
    let manifest = Manifest::from_json(&read_capped(&manifest_path, MAX_MANIFEST_BYTES)?)
        .map_err(ProvenanceBindingError::BadManifest)?;
    let actual = sha256_of_file(eif)?;
    if manifest.outputs.eif.sha256 != actual {
        return Err(ProvenanceBindingError::OtherImage {
            recorded: manifest.outputs.eif.sha256,
            actual,
        });
    }
    let oci = manifest.oci.ok_or(ProvenanceBindingError::NotOci)?;
    let bytes = read_capped(&prov_path, MAX_PROVENANCE_BYTES)?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if oci.provenance.sha256 != actual {
        return Err(ProvenanceBindingError::ProvenanceChanged {
            recorded: oci.provenance.sha256,
            actual,
        });
    }
    Ok(Some(Provenance::from_slice(&bytes)?))
}
