//! The real implementations of the audit stages, over the other modules'
//! APIs: the image engine (`build_spec::eif`), ...
//!
//! Each adapter only translates; the checks themselves live in the modules
//! that own them.

use std::path::Path;

use build_spec::eif::read::{read_eif_file, ReadOptions};
use build_spec::pcr::Measurements;

use super::CandidateImage;

/// Computes an image's PCRs (PCR0, 1, 2, and 8 when signed) with the strict
/// EIF reader; any defect is an error naming what is wrong.
pub fn image_pcrs(path: &Path) -> Result<Measurements, String> {
    read_eif_file(path, &ReadOptions::default())
        .map(|s| s.measurements())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Collects the images under `path` (a file, or every `*.eif` in a
/// directory) with their computed PCRs. Unreadable or invalid images are
/// returned as errors so the caller can report them.
pub fn find_images(path: &Path) -> Result<(Vec<CandidateImage>, Vec<String>), String> {
    let mut files = Vec::new();
    if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "eif") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut images = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match image_pcrs(&f) {
            Ok(pcrs) => images.push(CandidateImage { path: f, pcrs }),
            Err(e) => errors.push(e),
        }
    }
    Ok((images, errors))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vectors() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif")
    }

    #[test]
    fn image_pcrs_match_the_vector() {
        let dir = vectors().join("tiny");
        let got = image_pcrs(&dir.join("image.eif")).unwrap();
        let want = Measurements::from_json(&std::fs::read(dir.join("pcrs.json")).unwrap()).unwrap();
        for i in [0, 1, 2] {
            assert_eq!(got.get(i), want.get(i));
        }
        assert!(image_pcrs(&dir.join("kernel")).is_err());
    }

    #[test]
    fn find_images_in_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(vectors().join("tiny/image.eif"), tmp.path().join("a.eif")).unwrap();
        std::fs::write(tmp.path().join("b.eif"), b"not an eif").unwrap();
        std::fs::write(tmp.path().join("c.txt"), b"ignored").unwrap();
        let (imgs, errs) = find_images(tmp.path()).unwrap();
        assert_eq!(imgs.len(), 1);
        assert_eq!(errs.len(), 1);
    }
}
