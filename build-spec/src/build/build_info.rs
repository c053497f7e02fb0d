//! `/etc/proofpack/build-info.json`: the application's claim about its own
//! source, baked into the application ramdisk (PCR2) by `proofpack build`
//! and `proofpack rebuild`.
//!
//! `proofpack-enclave serve` refuses to start without it, and copies it into
//! every receipt's `source` (its SHA-256 becomes `buildInfoSha256`). The
//! audit checks the claim by rebuilding the named commit: a rebuild bakes
//! the same bytes, so the claim is part of what PCR2 pins.
//!
//! Canonical JSON: object members sorted by key (byte order), no
//! insignificant whitespace, one trailing newline. Members:
//! `buildSpec {digest {sha256}, path}`, `commit {gitCommit}`, `dirty`
//! (present, `true`, only for `--allow-dirty` builds), `profile`,
//! `repository`, `tools {proofpack}`, `tree`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::Spec;

/// Path of the file inside the application root file system.
pub const BUILD_INFO_ROOTFS_PATH: &str = "etc/proofpack/build-info.json";

/// File mode of the baked file.
pub const BUILD_INFO_MODE: u32 = 0o644;

/// Where the sources of a build came from, as the build-info records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfoSource {
    /// The spec's path relative to the repository root (`build-spec/enclave.toml`).
    pub spec_path: String,
    /// The built commit (for a dirty tree: `HEAD`, plus uncommitted changes).
    pub commit: String,
    /// That commit's tree.
    pub tree: String,
    /// Built from a working tree with uncommitted changes (`--allow-dirty`).
    pub dirty: bool,
}

/// The canonical build-info bytes for this spec, profile and source.
///
/// `repository` is the spec's `image.repository` (the identity of the
/// sources, the same for every clone); `None` when the spec names none.
pub fn render(
    spec: &Spec,
    spec_bytes: &[u8],
    profile: &str,
    src: &BuildInfoSource,
) -> Option<Vec<u8>> {
    let repository = spec.image.repository.as_ref()?;
    let obj = |pairs: Vec<(&str, Value)>| -> Value {
        let m: BTreeMap<String, Value> =
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        // BTreeMap order = sorted keys; serde_json keeps insertion order.
        Value::Object(m.into_iter().collect())
    };
    let mut members = vec![
        (
            "buildSpec",
            obj(vec![
                ("digest", obj(vec![("sha256", Value::String(Spec::hash_bytes(spec_bytes)))])),
                ("path", Value::String(src.spec_path.clone())),
            ]),
        ),
        ("commit", obj(vec![("gitCommit", Value::String(src.commit.clone()))])),
        ("profile", Value::String(profile.to_owned())),
        ("repository", Value::String(repository.clone())),
        ("tools", obj(vec![("proofpack", Value::String(env!("CARGO_PKG_VERSION").to_owned()))])),
        ("tree", Value::String(src.tree.clone())),
    ];
    if src.dirty {
        members.push(("dirty", Value::Bool(true)));
    }
    let mut out = serde_json::to_vec(&obj(members)).ok()?;
    out.push(b'\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(repo: Option<&str>) -> Spec {
        let mut text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/enclave.toml")).unwrap();
        if repo.is_none() {
            text = text
                .lines()
                .filter(|l| !l.starts_with("repository = \"git+"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        Spec::parse(text.as_bytes()).unwrap()
    }

    fn src(dirty: bool) -> BuildInfoSource {
        BuildInfoSource {
            spec_path: "build-spec/enclave.toml".into(),
            commit: "3d942f9c40422e95265e7e04c140c0cc6116c6df".into(),
            tree: "f57fcd9750789003261a6ef6faf9f7572106ef32".into(),
            dirty,
        }
    }

    #[test]
    fn canonical_sorted_compact() {
        let s = spec(Some("x"));
        let b = render(&s, b"spec", "production", &src(false)).unwrap();
        let text = std::str::from_utf8(&b).unwrap();
        assert!(text.ends_with("}\n") && !text.contains(": ") && !text.contains(", "));
        let keys: Vec<&str> =
            ["buildSpec", "commit", "profile", "repository", "tools", "tree"].into_iter().collect();
        let mut last = 0;
        for k in keys {
            let at = text.find(&format!("\"{k}\":")).unwrap();
            assert!(at > last, "{k} out of order in {text}");
            last = at;
        }
        assert!(!text.contains("dirty"));
        assert!(text.contains("\"profile\":\"production\""));
    }

    #[test]
    fn dirty_recorded_and_sorted() {
        let s = spec(Some("x"));
        let b = render(&s, b"spec", "emulator", &src(true)).unwrap();
        let text = std::str::from_utf8(&b).unwrap();
        assert!(text.contains("\"dirty\":true"));
        assert!(text.find("\"commit\"").unwrap() < text.find("\"dirty\"").unwrap());
        assert!(text.find("\"dirty\"").unwrap() < text.find("\"profile\"").unwrap());
    }

    #[test]
    fn no_repository_no_file() {
        assert!(render(&spec(None), b"spec", "production", &src(false)).is_none());
    }
}
