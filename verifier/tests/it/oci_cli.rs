//! `proofpack oci ...` end to end: output files, digests, PCR2, exit codes,
//! and that nothing is written when a blob does not verify.
use crate::common::oci_fixtures;

use std::path::Path;
use std::process::Command;

use oci_fixtures::*;
use sha2::{Digest, Sha256, Sha384};

fn proofpack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_proofpack")).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn image() -> Image {
    Image::new(vec![
        tar_layer(&[
            E::Dir("bin", 0o755, 0, 0),
            E::File("bin/app", b"v1", 0o755, 0, 0),
            E::File("etc/a", b"a", 0o644, 0, 0),
        ]),
        tar_layer(&[
            E::File("bin/app", b"v2", 0o755, 0, 0),
            E::File("etc/.wh.a", b"", 0o644, 0, 0),
        ]),
    ])
}

fn ramdisk(layout: &Path, digest: &str, out: &Path) -> std::process::Output {
    proofpack(&[
        "oci",
        "ramdisk",
        "--image",
        layout.to_str().unwrap(),
        "--digest",
        digest,
        "--source-date-epoch",
        "1700000000",
        "-o",
        out.to_str().unwrap(),
        "--format",
        "json",
    ])
}

#[test]
fn ramdisk_prints_digests_and_pcr2_and_writes_provenance() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("img");
    let w = write_layout(&layout, &image(), Comp::Gzip);
    let out = t.path().join("out/app.cpio");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let o = ramdisk(&layout, &w.manifest_digest, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(v["sha256"], hex::encode(Sha256::digest(&bytes)));
    // PCR2 computed independently here: SHA384(0^48 || SHA384(ramdisk)).
    let mut h = Sha384::new();
    h.update([0u8; 48]);
    h.update(Sha384::digest(&bytes));
    assert_eq!(v["pcr2_if_sole_app_ramdisk"], hex::encode(h.finalize()));
    assert_eq!(v["manifest_digest"], w.manifest_digest);
    assert_eq!(v["config_digest"], w.config_digest);
    assert_eq!(v["layers"][0]["digest"], w.layer_digests[0]);
    assert_eq!(v["layers"][1]["digest"], w.layer_digests[1]);
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path().join("out/oci-provenance.json")).unwrap())
            .unwrap();
    assert_eq!(prov["schema"], "proofpack/oci-provenance/v1");
    let app =
        prov["files"].as_array().unwrap().iter().find(|f| f["path"] == "rootfs/bin/app").unwrap();
    assert_eq!(app["layer_digest"], w.layer_digests[1]);

    // Text mode and inspect.
    let o = proofpack(&[
        "oci",
        "inspect",
        "--image",
        layout.to_str().unwrap(),
        "--digest",
        &w.manifest_digest,
    ]);
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains(&w.config_digest) && s.contains("/bin/app"), "{s}");
    let o = proofpack(&["oci", "inspect", "--image", layout.to_str().unwrap()]);
    assert!(String::from_utf8(o.stdout).unwrap().contains("UNVERIFIED"));
}

#[test]
fn tampered_layer_exits_2_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("img");
    let w = write_layout(&layout, &image(), Comp::None);
    let blob = layout.join("blobs/sha256").join(&w.layer_digests[1][7..]);
    let mut b = std::fs::read(&blob).unwrap();
    let pos = b.windows(2).position(|x| x == b"v2").unwrap();
    b[pos + 1] = b'3';
    std::fs::write(&blob, b).unwrap();
    let out = t.path().join("app.cpio");
    let o = ramdisk(&layout, &w.manifest_digest, &out);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("digest mismatch") && err.contains(&w.layer_digests[1]), "{err}");
    assert!(!out.exists());
    assert!(!t.path().join("oci-provenance.json").exists());
    // Only the layout dir remains in the output directory (no temp files).
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
}

#[test]
fn diff_names_the_layer_and_sets_exit_code() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    let wa = write_layout(&a.join("img"), &image(), Comp::Gzip);
    let mut img = image();
    img.layers.push(tar_layer(&[E::File("bin/app", b"v3", 0o755, 0, 0)]));
    let wb = write_layout(&b.join("img"), &img, Comp::Gzip);
    assert!(ramdisk(&a.join("img"), &wa.manifest_digest, &a.join("app.cpio")).status.success());
    assert!(ramdisk(&b.join("img"), &wb.manifest_digest, &b.join("app.cpio")).status.success());
    let pa = a.join("oci-provenance.json");
    let pb = b.join("oci-provenance.json");
    let o = proofpack(&["oci", "diff", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains("~ rootfs/bin/app [content]"), "{s}");
    assert!(s.contains(&format!("new from layer 2 {}", wb.layer_digests[2])), "{s}");
    let o = proofpack(&["oci", "diff", pa.to_str().unwrap(), pa.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
}
