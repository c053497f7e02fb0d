//! `proofpack build` of a spec whose application is an OCI image
//! (`[app.oci]`), and `proofpack diff` naming the layer behind a changed
//! file. The fixture workspace has only the init crate: a build that tried
//! to compile a cargo application would fail.
use crate::common::oci_fixtures;

use std::path::Path;
use std::process::{Command, Output};

use crate::common::tiny_workspace;
use crate::common::tiny_workspace::{
    generate_lockfile, ok_json as ok, rustc, write_files, TinyApp, TinySpec, INIT_MANIFEST,
};
use oci_fixtures::*;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_proofpack")
}

fn spec_text(digest: &str) -> String {
    let r = rustc();
    TinySpec {
        name: "ociapp",
        release: &r.release,
        commit_hash: &r.commit_hash,
        target: &r.host,
        epoch: "1700000000",
        app: TinyApp::Oci { image: "images/app.tar", digest },
        rootfs_conf: false,
        extra: "",
    }
    .render()
}

fn layers(motd: &[u8]) -> Vec<Vec<u8>> {
    vec![
        tar_layer(&[
            E::Dir("etc", 0o755, 0, 0),
            E::File("etc/motd", motd, 0o644, 0, 0),
            E::File("etc/hostname", b"enclave\n", 0o644, 0, 0),
        ]),
        tar_layer(&[E::Dir("bin", 0o755, 0, 0), E::File("bin/app", b"APP", 0o755, 0, 0)]),
    ]
}

/// A workspace with only the init crate, and the image as an OCI archive
/// (a tar of a layout). Returns the manifest digest and layer digests.
fn workspace(dir: &Path, motd: &[u8]) -> Written {
    let layout = dir.join("layout");
    let w = write_layout(&layout, &Image::new(layers(motd)), Comp::Gzip);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    tar_dir(&layout, &dir.join("images/app.tar"));
    std::fs::remove_dir_all(&layout).unwrap();
    write_files(
        dir,
        &[
            ("Cargo.toml", "[workspace]\nmembers = [\"init\"]\nresolver = \"2\"\n".to_string()),
            ("init/Cargo.toml", INIT_MANIFEST.into()),
            ("init/src/main.rs", "fn main() {}\n".into()),
            ("enclave.toml", spec_text(&w.manifest_digest)),
        ],
    );
    generate_lockfile(dir);
    w
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin()).args(args).current_dir(cwd).env("NO_COLOR", "1").output().unwrap()
}

fn build(dir: &Path, target: &Path, out: &str) -> Value {
    ok(&run(
        &[
            "build",
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--out",
            out,
            "--target-dir",
            target.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        dir,
    ))
}

#[test]
fn oci_spec_builds_reproducibly_and_diff_names_the_layer() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("target");
    let a = root.path().join("a");
    let b = root.path().join("b");
    let wa = workspace(&a, b"hello\n");
    let wb = workspace(&b, b"hello, world\n");

    let ja = build(&a, &target, "out");
    let ja2 = build(&a, &target, "out2");
    let jb = build(&b, &target, "out");
    // Twice the same: identical EIF bytes and PCRs.
    assert_eq!(ja["eif_sha256"], ja2["eif_sha256"]);
    assert_eq!(
        std::fs::read(a.join("out/image.eif")).unwrap(),
        std::fs::read(a.join("out2/image.eif")).unwrap()
    );
    assert_eq!(ja["measurements"], ja2["measurements"]);
    // One file changed in layer 0: PCR2 (and PCR0) move, PCR1 does not.
    assert_eq!(ja["measurements"]["PCR1"], jb["measurements"]["PCR1"]);
    assert_ne!(ja["measurements"]["PCR2"], jb["measurements"]["PCR2"]);
    assert_ne!(ja["measurements"]["PCR0"], jb["measurements"]["PCR0"]);
    // The manifest records the image; the provenance is written.
    let m: Value =
        serde_json::from_slice(&std::fs::read(a.join("out/build-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["oci"]["manifest_digest"], wa.manifest_digest);
    assert_eq!(m["oci"]["layers"][0], wa.layer_digests[0]);
    assert!(a.join("out/oci-provenance.json").is_file());

    // `proofpack diff` names the file and the layer that introduced it on
    // each side (provenance found beside each EIF, bound by its manifest).
    let ea = a.join("out/image.eif");
    let eb = b.join("out/image.eif");
    let o = run(&["diff", ea.to_str().unwrap(), eb.to_str().unwrap()], root.path());
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}\n{}", String::from_utf8_lossy(&o.stderr));
    let line =
        text.lines().find(|l| l.contains("~ rootfs/etc/motd")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("A: layer 0 {}", wa.layer_digests[0]))
            && line.contains(&format!("B: layer 0 {}", wb.layer_digests[0])),
        "{line}"
    );
    assert!(text.contains(&format!("manifest {} -> {}", wa.manifest_digest, wb.manifest_digest)));
    // JSON: the same attribution under "oci".
    let o =
        run(&["diff", ea.to_str().unwrap(), eb.to_str().unwrap(), "--format", "json"], root.path());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = v["oci"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["path"], "rootfs/etc/motd");
    assert_eq!(files[0]["new_layer"][1], wb.layer_digests[0]);

    // Copied EIFs without their out directories: no attribution unless the
    // provenance files are named explicitly.
    let lone = root.path().join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(&ea, lone.join("a.eif")).unwrap();
    std::fs::copy(&eb, lone.join("b.eif")).unwrap();
    let o = run(&["diff", "a.eif", "b.eif"], &lone);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("~ rootfs/etc/motd") && !text.contains("layer 0"), "{text}");
    let pa = a.join("out/oci-provenance.json");
    let pb = b.join("out/oci-provenance.json");
    let o = run(
        &[
            "diff",
            "a.eif",
            "b.eif",
            "--provenance-a",
            pa.to_str().unwrap(),
            "--provenance-b",
            pb.to_str().unwrap(),
        ],
        &lone,
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("B: layer 0 {}", wb.layer_digests[0])), "{text}");
}

#[test]
fn wrong_pin_is_refused_before_compiling_or_writing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ws");
    let w = workspace(&dir, b"hello\n");
    let wrong = format!("sha256:{}", sha256_hex(b"not the manifest"));
    let spec = std::fs::read_to_string(dir.join("enclave.toml")).unwrap();
    std::fs::write(dir.join("enclave.toml"), spec.replace(&w.manifest_digest, &wrong)).unwrap();
    let target = root.path().join("target");
    let o = run(
        &[
            "build",
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--out",
            "out",
            "--target-dir",
            target.to_str().unwrap(),
        ],
        &dir,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("OCI image images/app.tar") && err.contains(&wrong), "{err}");
    assert!(!dir.join("out").exists(), "output written");
    assert!(!target.exists(), "cargo ran before the image was verified");
}

/// Commits everything in `dir` into a new repository; returns the commit id.
fn commit_all(dir: &Path) -> String {
    tiny_workspace::commit_all(dir, 1_650_000_000, "image").0
}

#[test]
fn rebuild_of_an_oci_spec_matches_and_carries_the_provenance() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    workspace(&repo, b"hello\n");
    let rev = commit_all(&repo);
    let target = root.path().join("target");
    let direct = root.path().join("direct");
    build(&repo, &target, direct.to_str().unwrap());
    let rb = root.path().join("rb");
    let cache = root.path().join("cache");
    let r = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &rev,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct.join("pcrs.json").to_str().unwrap(),
            "--out",
            rb.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--target-dir",
            target.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    assert_eq!(r["verdict"], "pass", "{r}");
    // The image came from the commit's tree; its attribution came along.
    assert_eq!(
        std::fs::read(direct.join("oci-provenance.json")).unwrap(),
        std::fs::read(rb.join("oci-provenance.json")).unwrap()
    );
    let o = run(
        &[
            "diff",
            direct.join("image.eif").to_str().unwrap(),
            rb.join("image.eif").to_str().unwrap(),
        ],
        root.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
}
