//! Building blocks of the tiny generated cargo workspaces that the build,
//! rebuild, OCI-build and audit tests compile (crates without dependencies,
//! so a build takes seconds): the host toolchain's identity, writing a file
//! tree, locking it offline, and committing it with a fixed time.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use git2::{Repository, Signature, Time};
use serde_json::Value;

#[path = "../../../../build-spec/tests/it/common/tiny_spec.rs"]
mod tiny_spec;
// The bench and the demo include this file too and use only part of it.
#[allow(unused_imports)]
pub use tiny_spec::{rustc, Rustc, TinyApp, TinySpec};

/// The `Cargo.toml` of the fixtures' init crate (`tiny-init`, binary `init`).
pub const INIT_MANIFEST: &str = "[package]\nname = \"tiny-init\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[[bin]]\nname = \"init\"\npath = \"src/main.rs\"\n";

/// Writes `files` (relative path, content) below `dir`, creating parents.
pub fn write_files<S: AsRef<str>>(dir: &Path, files: &[(&str, S)]) {
    for (rel, body) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body.as_ref()).unwrap();
    }
}

/// `cargo generate-lockfile --offline` in `dir` (the fixtures have no
/// dependencies, so nothing is fetched).
pub fn generate_lockfile(dir: &Path) {
    let st = Command::new("cargo")
        .args(["generate-lockfile", "--offline", "--quiet"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Commits everything in `dir` (a repository is created if needed) on top
/// of HEAD with a fixed author time; returns the commit and tree ids.
pub fn commit_all(dir: &Path, time: i64, msg: &str) -> (String, String) {
    let repo = Repository::open(dir).or_else(|_| Repository::init(dir)).unwrap();
    let mut idx = repo.index().unwrap();
    idx.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None).unwrap();
    idx.write().unwrap();
    let tree_id = idx.write_tree().unwrap();
    let tree = repo.find_tree(tree_id).unwrap();
    let sig = Signature::new("t", "t@example.com", &Time::new(time, 0)).unwrap();
    let parents: Vec<git2::Commit> =
        repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
    let prefs: Vec<&git2::Commit> = parents.iter().collect();
    let id = repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &prefs).unwrap().to_string();
    (id, tree_id.to_string())
}

/// Asserts that a command succeeded (printing its output otherwise) and
/// returns its stdout as JSON (`Null` when it is not JSON).
pub fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}
