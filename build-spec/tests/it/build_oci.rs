//! `build()` with an `[app.oci]` application: reproducible EIF and PCRs,
//! the digests in the build manifest, `oci-provenance.json` bound to the
//! EIF, PCR2-only changes named down to the file and layer, and a wrong pin
//! or a tampered layer refused before any output exists.
//!
//! The init is supplied prebuilt (arbitrary bytes: the demo kernel is not
//! bootable anyway), so these tests run no cargo; the CLI test in
//! `verifier/tests/it/build_oci.rs` compiles a real init.

use std::path::{Path, PathBuf};

use crate::common::tiny_spec::{rustc, TinyApp, TinySpec};

use crate::common::oci_fixtures::*;
use build_spec::build::{
    build, provenance_beside_eif, BuildError, BuildOutput, BuildRequest, NoProgress, Prebuilt,
    ProvenanceBindingError, SourceInfo, OCI_PROVENANCE_FILE,
};
use build_spec::cpio::{read_entries, Entry};
use build_spec::diff::{diff_files, Detail};
use build_spec::eif::{read_eif_file, ReadOptions, SectionType};
use build_spec::oci::diff::{attribute_cpio_diff, Change};
use build_spec::oci::{self, OciError, Platform};

const EPOCH: u64 = 1_700_000_000;

/// A spec whose application is the image at `images/app` pinned by `digest`.
fn spec_text(digest: &str) -> String {
    let r = rustc();
    TinySpec {
        name: "ociapp",
        release: &r.release,
        commit_hash: &r.commit_hash,
        target: "x86_64-unknown-linux-gnu",
        epoch: &EPOCH.to_string(),
        app: TinyApp::Oci { image: "images/app", digest },
        rootfs_conf: false,
        extra: "",
    }
    .render()
}

fn base_layer(motd: &[u8]) -> Vec<u8> {
    tar_layer(&[
        E::Dir("etc", 0o755, 0, 0),
        E::File("etc/motd", motd, 0o644, 0, 0),
        E::File("etc/hostname", b"enclave\n", 0o644, 0, 0),
        E::Dir("srv", 0o750, 1000, 1000),
        E::File("srv/data", b"seed", 0o600, 1000, 1000),
    ])
}

fn app_layer() -> Vec<u8> {
    tar_layer(&[
        E::Dir("bin", 0o755, 0, 0),
        E::File("bin/app", b"\x7fELF the application", 0o755, 0, 0),
        E::File("srv/.wh.data", b"", 0o644, 0, 0),
    ])
}

struct Fixture {
    root: PathBuf,
    written: Written,
}

/// A workspace at `root`: spec, a `Cargo.lock` (the build hashes it; no
/// package is compiled), a prebuilt init and the image (layer 0 carries
/// `etc/motd` = `motd`).
fn fixture(root: &Path, motd: &[u8]) -> Fixture {
    std::fs::create_dir_all(root).unwrap();
    let written = write_layout(
        &root.join("images/app"),
        &Image::new(vec![base_layer(motd), app_layer()]),
        Comp::Gzip,
    );
    std::fs::write(root.join("enclave.toml"), spec_text(&written.manifest_digest)).unwrap();
    std::fs::write(root.join("Cargo.lock"), "version = 3\n").unwrap();
    std::fs::write(root.join("init.bin"), b"\x7fELF prebuilt init").unwrap();
    Fixture { root: root.to_path_buf(), written }
}

fn request(f: &Fixture, out: &Path, epoch: u64) -> BuildRequest {
    let spec_path = f.root.join("enclave.toml");
    BuildRequest {
        spec_bytes: std::fs::read(&spec_path).unwrap(),
        spec_path,
        profile: "demo".into(),
        out_dir: out.to_path_buf(),
        target_dir: None,
        source_date_epoch: epoch,
        allow_toolchain_mismatch: false,
        blobs: None,
        source: SourceInfo::default(),
        verbose: false,
        prebuilt: Some(Prebuilt { init: f.root.join("init.bin"), app: None }),
        spec_repo_path: None,
        debian_kernel: None,
    }
}

fn run(f: &Fixture, out: &Path) -> BuildOutput {
    build(&request(f, out, EPOCH), &NoProgress).unwrap()
}

/// Bytes of the `n`th ramdisk section of an EIF.
fn ramdisk(eif: &Path, n: usize) -> Vec<u8> {
    let s = read_eif_file(eif, &ReadOptions::inspect()).unwrap();
    let sec = s.sections.iter().filter(|x| x.kind == SectionType::Ramdisk).nth(n).unwrap();
    let bytes = std::fs::read(eif).unwrap();
    bytes[sec.data_offset as usize..(sec.data_offset + sec.size) as usize].to_vec()
}

fn entries(bytes: &[u8]) -> Vec<Entry> {
    read_entries(bytes).unwrap()
}

#[test]
fn oci_app_builds_reproducibly_and_records_every_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture(&tmp.path().join("one/place"), b"hello\n");
    let b = fixture(&tmp.path().join("another-place"), b"hello\n");
    assert_eq!(a.written.manifest_digest, b.written.manifest_digest, "fixture not deterministic");
    let oa = run(&a, &a.root.join("out"));
    let ob = run(&b, &tmp.path().join("elsewhere/out"));

    // Same inputs, different paths: identical EIF, PCRs, manifest, provenance.
    let eif_a = std::fs::read(&oa.eif_path).unwrap();
    assert_eq!(eif_a, std::fs::read(&ob.eif_path).unwrap());
    assert_eq!(oa.measurements, ob.measurements);
    assert_eq!(
        std::fs::read(&oa.manifest_path).unwrap(),
        std::fs::read(&ob.manifest_path).unwrap()
    );
    let prov_a = std::fs::read(a.root.join("out").join(OCI_PROVENANCE_FILE)).unwrap();
    assert_eq!(
        prov_a,
        std::fs::read(tmp.path().join("elsewhere/out/oci-provenance.json")).unwrap()
    );

    // The manifest records manifest, config and every layer digest, and
    // binds the provenance file.
    let rec = oa.manifest.oci.as_ref().expect("manifest has an oci section");
    assert_eq!(rec.image, "images/app");
    assert_eq!(rec.input_format, "oci-layout");
    assert_eq!(rec.digests.pinned.to_string(), a.written.manifest_digest);
    assert_eq!(rec.digests.manifest_digest.unwrap().to_string(), a.written.manifest_digest);
    assert_eq!(rec.digests.config_digest.to_string(), a.written.config_digest);
    let layers: Vec<String> = rec.digests.layers.iter().map(|d| d.to_string()).collect();
    assert_eq!(layers, a.written.layer_digests);
    assert_eq!(rec.digests.platform, "linux/amd64");
    assert_eq!(rec.provenance.sha256, sha256_hex(&prov_a));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&oa.manifest_path).unwrap()).unwrap();
    assert_eq!(json["oci"]["config_digest"], a.written.config_digest);
    assert_eq!(json["oci"]["layers"][1], a.written.layer_digests[1]);
    // No cargo application was built or recorded.
    assert!(oa.manifest.inputs.iter().all(|i| i.role != "app"), "{:?}", oa.manifest.inputs);
    assert!(oa.manifest.inputs.iter().any(|i| i.role == "init"));

    // Ramdisk 1 is exactly the standalone converter's output at mtime 0
    // (the build's ramdisk mtime policy), whatever SOURCE_DATE_EPOCH is.
    let (_, direct) = oci::write_ramdisk(
        &a.root.join("images/app"),
        a.written.manifest_digest.parse().unwrap(),
        &Platform::linux_amd64(),
        0,
        Vec::new(),
    )
    .unwrap();
    let r1 = ramdisk(&oa.eif_path, 1);
    assert_eq!(r1, direct);
    assert_eq!(oa.manifest.outputs.ramdisks[1].sha256, sha256_hex(&r1));
    let es = entries(&r1);
    assert!(es.iter().all(|e| e.mtime == 0));
    let paths: Vec<&str> = es.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"rootfs/bin/app") && paths.contains(&"rootfs/etc/motd"));
    assert!(!paths.contains(&"rootfs/srv/data"), "whiteout not applied");
    // Ramdisk 0 is the usual bootstrap.
    let r0: Vec<String> = entries(&ramdisk(&oa.eif_path, 0)).into_iter().map(|e| e.path).collect();
    assert_eq!(r0, ["dev", "init"]);

    // Another SOURCE_DATE_EPOCH: same PCRs (only the unmeasured BuildTime moves).
    let oc = build(&request(&a, &a.root.join("out-later"), EPOCH + 86_400), &NoProgress).unwrap();
    assert_eq!(oc.measurements, oa.measurements);
    assert_ne!(std::fs::read(&oc.eif_path).unwrap(), eif_a);

    // The provenance beside the EIF is bound to it by the manifest.
    let p = provenance_beside_eif(&oa.eif_path).unwrap().expect("bound provenance");
    assert_eq!(p.config_digest.to_string(), a.written.config_digest);
}

#[test]
fn one_changed_layer_file_moves_pcr2_not_pcr1_and_is_attributed_to_its_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture(&tmp.path().join("a"), b"hello\n");
    let b = fixture(&tmp.path().join("b"), b"hello, world\n");
    assert_ne!(a.written.layer_digests[0], b.written.layer_digests[0]);
    assert_eq!(a.written.layer_digests[1], b.written.layer_digests[1]);
    let oa = run(&a, &a.root.join("out"));
    let ob = run(&b, &b.root.join("out"));
    let pcr = |o: &BuildOutput, i: u8| *o.measurements.get(i).unwrap();
    assert_eq!(pcr(&oa, 1), pcr(&ob, 1), "PCR1 (kernel, cmdline, init) must not move");
    assert_ne!(pcr(&oa, 2), pcr(&ob, 2), "PCR2 must move");
    assert_ne!(pcr(&oa, 0), pcr(&ob, 0));

    // The EIF diff finds the file; the bound provenance names its layer.
    let d = diff_files(&oa.eif_path, &ob.eif_path).unwrap();
    let cpio = d
        .sections
        .iter()
        .find(|s| s.role == "ramdisk[1]")
        .and_then(|s| match &s.detail {
            Some(Detail::Cpio(c)) => Some(c.clone()),
            _ => None,
        })
        .expect("ramdisk[1] compared entry by entry");
    let changed: Vec<&str> = cpio.changed.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(changed, ["rootfs/etc/motd"]);
    assert!(cpio.added.is_empty() && cpio.removed.is_empty());
    let pa = provenance_beside_eif(&oa.eif_path).unwrap().unwrap();
    let pb = provenance_beside_eif(&ob.eif_path).unwrap().unwrap();
    let att = attribute_cpio_diff(&cpio, &pa, &pb);
    assert_eq!(att.len(), 1);
    assert_eq!(att[0].path, "rootfs/etc/motd");
    assert_eq!(att[0].change, Change::Modified);
    let layer = |l: Option<(u32, oci::Sha256Digest)>| l.map(|(i, d)| (i, d.to_string()));
    assert_eq!(layer(att[0].old_layer), Some((0, a.written.layer_digests[0].clone())));
    assert_eq!(layer(att[0].new_layer), Some((0, b.written.layer_digests[0].clone())));

    // Binding: B's provenance beside A's EIF is refused, and so is a
    // provenance file with no manifest beside it.
    std::fs::copy(b.root.join("out/oci-provenance.json"), a.root.join("out/oci-provenance.json"))
        .unwrap();
    assert!(matches!(
        provenance_beside_eif(&oa.eif_path),
        Err(ProvenanceBindingError::ProvenanceChanged { .. })
    ));
    let lone = tmp.path().join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    std::fs::copy(&ob.eif_path, lone.join("image.eif")).unwrap();
    assert!(provenance_beside_eif(&lone.join("image.eif")).unwrap().is_none());
    std::fs::copy(b.root.join("out/oci-provenance.json"), lone.join("oci-provenance.json"))
        .unwrap();
    assert!(matches!(
        provenance_beside_eif(&lone.join("image.eif")),
        Err(ProvenanceBindingError::NoManifest)
    ));
    // A's manifest beside B's EIF: another image.
    std::fs::copy(a.root.join("out/build-manifest.json"), lone.join("build-manifest.json"))
        .unwrap();
    assert!(matches!(
        provenance_beside_eif(&lone.join("image.eif")),
        Err(ProvenanceBindingError::OtherImage { .. })
    ));
}

#[test]
fn wrong_pin_or_tampered_layer_fails_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(&tmp.path().join("ws"), b"hello\n");
    let out = f.root.join("out");

    // A well-formed pin that is not in the image.
    let other = format!("sha256:{}", sha256_hex(b"some other manifest"));
    std::fs::write(f.root.join("enclave.toml"), spec_text(&other)).unwrap();
    match build(&request(&f, &out, EPOCH), &NoProgress) {
        Err(BuildError::Oci { image, source: OciError::BlobMissing { .. } }) => {
            assert_eq!(image, "images/app")
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.exists(), "output written despite a wrong pin");

    // Pinned to a layer blob: it is not a manifest.
    std::fs::write(f.root.join("enclave.toml"), spec_text(&f.written.layer_digests[0])).unwrap();
    assert!(matches!(build(&request(&f, &out, EPOCH), &NoProgress), Err(BuildError::Oci { .. })));
    assert!(!out.exists());

    // The right pin, one flipped byte in the top layer's blob.
    std::fs::write(f.root.join("enclave.toml"), spec_text(&f.written.manifest_digest)).unwrap();
    let blob = f
        .root
        .join("images/app/blobs/sha256")
        .join(f.written.layer_digests[1].trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    match build(&request(&f, &out, EPOCH), &NoProgress) {
        Err(BuildError::Oci {
            source: OciError::BlobDigestMismatch { descriptor, .. }, ..
        }) => {
            assert!(descriptor.contains("layer 1"), "{descriptor}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.exists(), "output written despite a tampered layer");
}

#[test]
fn prebuilt_binaries_must_fit_the_application() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(&tmp.path().join("ws"), b"hello\n");
    let out = f.root.join("out");
    // An OCI application has no binary to supply.
    let mut req = request(&f, &out, EPOCH);
    req.prebuilt =
        Some(Prebuilt { init: f.root.join("init.bin"), app: Some(f.root.join("init.bin")) });
    assert!(matches!(build(&req, &NoProgress), Err(BuildError::PrebuiltMismatch(_))));
    // A cargo application needs one.
    let cargo = std::fs::read_to_string(f.root.join("enclave.toml")).unwrap().replace(
        &format!("[app.oci]\nimage = \"images/app\"\ndigest = \"{}\"\n", f.written.manifest_digest),
        "[app]\npackage = \"tiny-app\"\nbin = \"app\"\n",
    );
    assert!(cargo.contains("tiny-app"));
    std::fs::write(f.root.join("enclave.toml"), cargo).unwrap();
    let req = request(&f, &out, EPOCH);
    assert!(matches!(build(&req, &NoProgress), Err(BuildError::PrebuiltMismatch(_))));
    assert!(!out.exists());
}

#[test]
fn docker_save_archive_is_recorded_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(&tmp.path().join("ws"), b"hello\n");
    let id = write_docker_save(
        &f.root.join("images/app.tar"),
        &Image::new(vec![base_layer(b"hello\n"), app_layer()]),
    );
    let spec = spec_text(&id).replace("image = \"images/app\"", "image = \"images/app.tar\"");
    assert!(spec.contains("images/app.tar"));
    std::fs::write(f.root.join("enclave.toml"), spec).unwrap();
    let o = run(&f, &f.root.join("out"));
    let rec = o.manifest.oci.as_ref().unwrap();
    assert_eq!(rec.input_format, "docker-save");
    assert_eq!(rec.digests.manifest_digest, None);
    assert_eq!(rec.digests.config_digest.to_string(), id);
    // Same root filesystem as the OCI layout of the same layers: same PCR2.
    let layout = run(&fixture(&tmp.path().join("ws2"), b"hello\n"), &tmp.path().join("out2"));
    assert_eq!(o.measurements.get(2), layout.measurements.get(2));
}
