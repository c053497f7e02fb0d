//! OCI image -> ramdisk: whiteouts, links, ownership, formats, tampering and
//! path safety, on generated images (see `oci_fixtures`).

use std::path::Path;

use crate::common::oci_fixtures::*;
use build_spec::cpio::{read_entries, Entry, EntryKind};
use build_spec::oci::{self, OciError, Platform, Sha256Digest};

fn amd64() -> Platform {
    Platform::linux_amd64()
}

fn convert(input: &Path, digest: &str) -> Result<(Vec<u8>, oci::Conversion), OciError> {
    let d: Sha256Digest = digest.parse().unwrap();
    oci::write_ramdisk(input, d, &amd64(), 1_700_000_000, Vec::new()).map(|(c, out)| (out, c))
}

fn entries(bytes: &[u8]) -> Vec<Entry> {
    read_entries(bytes).unwrap()
}

fn find<'a>(es: &'a [Entry], p: &str) -> Option<&'a Entry> {
    es.iter().find(|e| e.path == p)
}

fn file_data(bytes: &[u8], e: &Entry) -> Vec<u8> {
    // Entry data follows the header+name, padded to 4.
    let name_end = e.offset as usize + 110 + e.path.len() + 1;
    let start = (name_end + 3) & !3;
    bytes[start..start + e.size as usize].to_vec()
}

fn base_layer() -> Vec<u8> {
    tar_layer(&[
        E::Dir("bin", 0o755, 0, 0),
        E::File("bin/app", b"APP v1", 0o755, 0, 0),
        E::Dir("etc", 0o755, 0, 0),
        E::File("etc/passwd", b"root:x:0:0\n", 0o644, 0, 0),
        E::File("etc/shadow", b"secret", 0o640, 0, 42),
        E::Dir("opt", 0o755, 0, 0),
        E::Dir("opt/old", 0o700, 1000, 1000),
        E::File("opt/old/a", b"a", 0o600, 1000, 1000),
        E::File("opt/old/b", b"b", 0o600, 1000, 1000),
        E::Dir("data", 0o755, 0, 0),
        E::File("data/keep", b"keep", 0o644, 0, 0),
        E::File("data/gone", b"gone", 0o644, 0, 0),
        E::Dir("data/sub", 0o755, 0, 0),
        E::File("data/sub/deep", b"deep", 0o644, 0, 0),
    ])
}

fn top_layer() -> Vec<u8> {
    tar_layer(&[
        E::File("bin/app", b"APP v2", 0o750, 7, 8),
        E::Symlink("bin/sh", "/bin/app"),
        E::Hardlink("bin/app2", "bin/app"),
        E::File("data/.wh.gone", b"", 0o644, 0, 0),
        E::File("data/.wh.sub", b"", 0o644, 0, 0),
        E::Dir("opt/old", 0o755, 0, 0),
        E::File("opt/old/.wh..wh..opq", b"", 0o644, 0, 0),
        E::File("opt/old/new", b"new", 0o644, 0, 0),
        E::Fifo("run/fifo"),
        E::XattrFile("usr/lib/cap", b"cap", "security.capability"),
        E::File("./weird//./norm", b"n", 0o644, 0, 0),
    ])
}

fn two_layer_image() -> Image {
    Image::new(vec![base_layer(), top_layer()])
}

#[test]
fn whiteouts_links_ownership_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &two_layer_image(), Comp::Gzip);
    let (bytes, conv) = convert(dir.path(), &w.manifest_digest).unwrap();
    let es = entries(&bytes);
    let paths: Vec<&str> = es.iter().map(|e| e.path.as_str()).collect();
    // Canonical order and the fixed top level.
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(&paths[..3], &["cmd", "env", "rootfs"]);
    assert_eq!(file_data(&bytes, find(&es, "cmd").unwrap()), b"/bin/app\n--flag\n");
    assert_eq!(file_data(&bytes, find(&es, "env").unwrap()), b"PATH=/bin\nA=b c\n");
    // Upper layer replaced the file: content, mode, owner from layer 1.
    let app = find(&es, "rootfs/bin/app").unwrap();
    assert_eq!(file_data(&bytes, app), b"APP v2");
    assert_eq!((app.mode, app.uid, app.gid), (0o750, 7, 8));
    // Hard link: a copy with the target's content and metadata.
    let app2 = find(&es, "rootfs/bin/app2").unwrap();
    assert_eq!(file_data(&bytes, app2), b"APP v2");
    assert_eq!((app2.mode, app2.uid, app2.gid), (0o750, 7, 8));
    assert_eq!(
        find(&es, "rootfs/bin/sh").unwrap().kind,
        EntryKind::Symlink { target: "/bin/app".into() }
    );
    // Ownership kept.
    let shadow = find(&es, "rootfs/etc/shadow").unwrap();
    assert_eq!((shadow.mode, shadow.uid, shadow.gid), (0o640, 0, 42));
    // Whiteouts: file and directory (with its contents) gone, sibling kept.
    assert!(find(&es, "rootfs/data/gone").is_none());
    assert!(find(&es, "rootfs/data/sub").is_none());
    assert!(find(&es, "rootfs/data/sub/deep").is_none());
    assert!(find(&es, "rootfs/data/keep").is_some());
    assert!(!paths.iter().any(|p| p.contains(".wh.")));
    // Opaque dir: lower children gone, own child kept, metadata replaced.
    assert!(find(&es, "rootfs/opt/old/a").is_none());
    assert!(find(&es, "rootfs/opt/old/b").is_none());
    assert_eq!(file_data(&bytes, find(&es, "rootfs/opt/old/new").unwrap()), b"new");
    let old = find(&es, "rootfs/opt/old").unwrap();
    assert_eq!((old.mode, old.uid), (0o755, 0));
    // Implicit parent of usr/lib/cap; xattr dropped and listed; fifo dropped.
    assert_eq!(find(&es, "rootfs/usr/lib").unwrap().mode, 0o755);
    assert_eq!(conv.dropped().xattr_count, 1);
    assert_eq!(conv.dropped().xattrs[0].what, "security.capability");
    assert_eq!(conv.dropped().xattrs[0].path, "usr/lib/cap");
    assert_eq!(conv.dropped().special_count, 1);
    assert!(find(&es, "rootfs/run/fifo").is_none());
    // Normalised path.
    assert!(find(&es, "rootfs/weird/norm").is_some());
    // Mount points.
    for m in oci::MOUNT_POINTS {
        assert_eq!(find(&es, &format!("rootfs/{m}")).unwrap().kind, EntryKind::Dir, "{m}");
    }
    // mtimes normalised.
    assert!(es.iter().all(|e| e.mtime == 1_700_000_000));
    // Provenance names the layer of each file.
    let prov = serde_json::to_value(conv.provenance()).unwrap();
    assert_eq!(prov["manifest_digest"], w.manifest_digest);
    assert_eq!(prov["config_digest"], w.config_digest);
    assert_eq!(prov["layers"][1]["digest"], w.layer_digests[1]);
    let files = prov["files"].as_array().unwrap();
    let rec = |p: &str| files.iter().find(|f| f["path"] == p).unwrap().clone();
    assert_eq!(rec("rootfs/bin/app")["layer"], 1);
    assert_eq!(rec("rootfs/bin/app")["layer_digest"], w.layer_digests[1]);
    assert_eq!(rec("rootfs/etc/passwd")["layer"], 0);
    assert_eq!(rec("rootfs/bin/app2")["hardlink_of"], "rootfs/bin/app");
    assert_eq!(rec("rootfs/etc/passwd")["sha256"], sha256_hex(b"root:x:0:0\n"));
    assert!(rec("rootfs/dev").get("layer").is_none());
}

#[test]
fn same_rootfs_three_formats_and_three_compressions_give_same_bytes() {
    let img = two_layer_image();
    let mut outputs = Vec::new();
    for comp in [Comp::None, Comp::Gzip, Comp::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let w = write_layout(&layout, &img, comp);
        outputs.push(convert(&layout, &w.manifest_digest).unwrap().0);
        let archive = dir.path().join("oci.tar");
        tar_dir(&layout, &archive);
        outputs.push(convert(&archive, &w.manifest_digest).unwrap().0);
    }
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("docker.tar");
    let id = write_docker_save(&ds, &img);
    outputs.push(convert(&ds, &id).unwrap().0);
    for o in &outputs[1..] {
        assert!(o == &outputs[0], "ramdisks differ between formats");
    }
}

#[test]
fn index_resolution_by_platform() {
    let dir = tempfile::tempdir().unwrap();
    let mut arm = two_layer_image();
    arm.arch = "arm64";
    arm.cmd = Some(vec!["/bin/arm".into()]);
    let wa = write_layout(dir.path(), &arm, Comp::Gzip);
    let ma = std::fs::read(dir.path().join("blobs/sha256").join(&wa.manifest_digest[7..])).unwrap();
    let wx = write_layout(dir.path(), &two_layer_image(), Comp::Gzip);
    let mx = std::fs::read(dir.path().join("blobs/sha256").join(&wx.manifest_digest[7..])).unwrap();
    let idx = add_index(
        dir.path(),
        &[(&wa.manifest_digest, "arm64", ma.len()), (&wx.manifest_digest, "amd64", mx.len())],
    );
    let d: Sha256Digest = idx.parse().unwrap();
    let (conv, out) =
        oci::write_ramdisk(dir.path(), d, &"linux/arm64".parse().unwrap(), 0, Vec::new()).unwrap();
    assert_eq!(conv.image.manifest_digest.unwrap().to_string(), wa.manifest_digest);
    assert_eq!(conv.image.index_digest.unwrap().to_string(), idx);
    assert_eq!(file_data(&out, find(&entries(&out), "cmd").unwrap()), b"/bin/arm\n");
    let (conv, _) = oci::write_ramdisk(dir.path(), d, &amd64(), 0, Vec::new()).unwrap();
    assert_eq!(conv.image.manifest_digest.unwrap().to_string(), wx.manifest_digest);
    // A manifest pinned directly but for the other platform.
    let err = convert(dir.path(), &wa.manifest_digest).unwrap_err();
    assert!(matches!(err, OciError::WrongPlatform { .. }), "{err}");
    // An index without the platform.
    let only_arm = add_index(dir.path(), &[(&wa.manifest_digest, "arm64", ma.len())]);
    let err = convert(dir.path(), &only_arm).unwrap_err();
    assert!(matches!(err, OciError::PlatformNotFound { .. }), "{err}");
}

#[test]
fn cmd_wins_over_entrypoint_and_entrypoint_is_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = two_layer_image();
    img.entrypoint = Some(vec!["/ep".into()]);
    let w = write_layout(dir.path(), &img, Comp::None);
    let (out, _) = convert(dir.path(), &w.manifest_digest).unwrap();
    assert_eq!(file_data(&out, find(&entries(&out), "cmd").unwrap()), b"/bin/app\n--flag\n");
    let dir = tempfile::tempdir().unwrap();
    img.cmd = None;
    let w = write_layout(dir.path(), &img, Comp::None);
    let (out, _) = convert(dir.path(), &w.manifest_digest).unwrap();
    assert_eq!(file_data(&out, find(&entries(&out), "cmd").unwrap()), b"/ep\n");
    let dir = tempfile::tempdir().unwrap();
    img.entrypoint = None;
    let w = write_layout(dir.path(), &img, Comp::None);
    assert!(matches!(convert(dir.path(), &w.manifest_digest).unwrap_err(), OciError::NoCommand));
    let dir = tempfile::tempdir().unwrap();
    img.cmd = Some(vec!["a\nb".into()]);
    let w = write_layout(dir.path(), &img, Comp::None);
    assert!(matches!(
        convert(dir.path(), &w.manifest_digest).unwrap_err(),
        OciError::BadCommand { .. }
    ));
}

fn corrupt_blob(dir: &Path, digest: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let p = dir.join("blobs/sha256").join(&digest[7..]);
    let mut b = std::fs::read(&p).unwrap();
    f(&mut b);
    std::fs::write(p, b).unwrap();
}

#[test]
fn tampered_and_missing_blobs_are_named() {
    for comp in [Comp::None, Comp::Gzip, Comp::Zstd] {
        // Flipped byte in a layer: digest mismatch naming layer 1.
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), &two_layer_image(), comp);
        corrupt_blob(dir.path(), &w.layer_digests[1], |b| {
            let n = b.len() / 2;
            b[n] ^= 0x55
        });
        let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
        match &err {
            OciError::BlobDigestMismatch { descriptor, .. } => {
                assert!(
                    descriptor.contains("layer 1") && descriptor.contains(&w.layer_digests[1]),
                    "{err}"
                )
            }
            other => panic!("{comp:?}: {other}"),
        }
        // Truncated layer: size mismatch.
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), &two_layer_image(), comp);
        corrupt_blob(dir.path(), &w.layer_digests[0], |b| b.truncate(b.len() - 1));
        let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
        assert!(matches!(err, OciError::BlobSizeMismatch { .. }), "{comp:?}: {err}");
        // Appended bytes: size mismatch too.
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), &two_layer_image(), comp);
        corrupt_blob(dir.path(), &w.layer_digests[0], |b| b.push(0));
        let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
        assert!(matches!(err, OciError::BlobSizeMismatch { .. }), "{comp:?}: {err}");
    }
    // Tampered config and manifest.
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &two_layer_image(), Comp::Gzip);
    corrupt_blob(dir.path(), &w.config_digest, |b| b[10] ^= 1);
    let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
    assert!(
        matches!(&err, OciError::BlobDigestMismatch { descriptor, .. } if descriptor.contains("config")),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &two_layer_image(), Comp::Gzip);
    corrupt_blob(dir.path(), &w.manifest_digest, |b| b[10] ^= 1);
    assert!(matches!(
        convert(dir.path(), &w.manifest_digest).unwrap_err(),
        OciError::BlobDigestMismatch { .. }
    ));
    // Missing layer blob.
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &two_layer_image(), Comp::Gzip);
    std::fs::remove_file(dir.path().join("blobs/sha256").join(&w.layer_digests[0][7..])).unwrap();
    let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
    assert!(
        matches!(&err, OciError::BlobMissing { descriptor, .. } if descriptor.contains("layer 0")),
        "{err}"
    );
    // Wrong pin.
    let err = convert(dir.path(), &format!("sha256:{}", "0".repeat(64))).unwrap_err();
    assert!(matches!(err, OciError::BlobMissing { .. }), "{err}");
    // A layer whose diff_id in the config does not match (config re-signed
    // by re-pinning: the config is valid but lies about the layer).
    let dir = tempfile::tempdir().unwrap();
    let mut img = two_layer_image();
    let w = write_layout(dir.path(), &img, Comp::Gzip);
    img.layers[1] = tar_layer(&[E::File("x", b"y", 0o644, 0, 0)]);
    let cfg = img.config_json();
    let cfg_d = format!("sha256:{}", sha256_hex(&cfg));
    std::fs::write(dir.path().join("blobs/sha256").join(&cfg_d[7..]), &cfg).unwrap();
    let mpath = dir.path().join("blobs/sha256").join(&w.manifest_digest[7..]);
    let m = std::fs::read_to_string(&mpath).unwrap().replace(&w.config_digest, &cfg_d);
    let m = m.replace(
        &format!("\"size\":{}", two_layer_image().config_json().len()),
        &format!("\"size\":{}", cfg.len()),
    );
    let md = format!("sha256:{}", sha256_hex(m.as_bytes()));
    std::fs::write(dir.path().join("blobs/sha256").join(&md[7..]), m).unwrap();
    let err = convert(dir.path(), &md).unwrap_err();
    assert!(matches!(err, OciError::DiffIdMismatch { .. }), "{err}");
}

#[test]
fn unknown_media_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &two_layer_image(), Comp::None);
    let mpath = dir.path().join("blobs/sha256").join(&w.manifest_digest[7..]);
    let m = std::fs::read_to_string(&mpath).unwrap().replacen(
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.example.layer.v1.squashfs",
        1,
    );
    let md = format!("sha256:{}", sha256_hex(m.as_bytes()));
    std::fs::write(dir.path().join("blobs/sha256").join(&md[7..]), m).unwrap();
    let err = convert(dir.path(), &md).unwrap_err();
    assert!(
        matches!(&err, OciError::UnknownMediaType { descriptor, media_type } if descriptor.contains("layer 0") && media_type.contains("squashfs")),
        "{err}"
    );
}

fn one_layer(entries: &[E<'_>]) -> Result<(Vec<u8>, oci::Conversion), OciError> {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new(vec![tar_layer(entries)]);
    let w = write_layout(dir.path(), &img, Comp::None);
    convert(dir.path(), &w.manifest_digest)
}

#[test]
fn path_escapes_and_conflicts_are_rejected() {
    for raw in [&b"../escape"[..], b"a/../../escape", b"/etc/passwd", b"ok/\xff"] {
        let err = one_layer(&[E::RawName(raw, b"x")]).unwrap_err();
        assert!(matches!(err, OciError::BadPath { .. }), "{raw:?}: {err}");
    }
    let long = "d".repeat(256);
    let err = one_layer(&[E::File(&long, b"x", 0o644, 0, 0)]).unwrap_err();
    assert!(matches!(err, OciError::BadPath { .. }), "{err}");
    // Hard link escaping the root or to nothing.
    let err =
        one_layer(&[E::RawName(b"f", b"x"), E::Hardlink("h", "../../etc/shadow")]).unwrap_err();
    assert!(matches!(err, OciError::HardlinkTarget { .. }), "{err}");
    let err = one_layer(&[E::Hardlink("h", "missing")]).unwrap_err();
    assert!(matches!(err, OciError::HardlinkTarget { .. }), "{err}");
    // Writing through a symlink (the classic escape) is refused.
    let err = one_layer(&[E::Symlink("etc", "/tmp/x"), E::File("etc/passwd", b"x", 0o644, 0, 0)])
        .unwrap_err();
    assert!(matches!(err, OciError::ParentNotDirectory { .. }), "{err}");
    // Duplicate in one layer.
    let err =
        one_layer(&[E::File("a", b"1", 0o644, 0, 0), E::File("a", b"2", 0o644, 0, 0)]).unwrap_err();
    assert!(matches!(err, OciError::DuplicateEntry { .. }), "{err}");
    // A symlink whose target points outside is kept verbatim (never followed).
    let (out, _) = one_layer(&[E::Symlink("up", "../../../../etc")]).unwrap();
    assert_eq!(
        find(&entries(&out), "rootfs/up").unwrap().kind,
        EntryKind::Symlink { target: "../../../../etc".into() }
    );
    // Symlink across layers: a later layer writing below it is refused.
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new(vec![
        tar_layer(&[E::Symlink("lib", "/etc")]),
        tar_layer(&[E::File("lib/evil", b"x", 0o644, 0, 0)]),
    ]);
    let w = write_layout(dir.path(), &img, Comp::Gzip);
    let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
    assert!(matches!(err, OciError::ParentNotDirectory { .. }), "{err}");
}

#[test]
fn file_replacing_directory_hides_lower_contents() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new(vec![
        tar_layer(&[E::Dir("x", 0o755, 0, 0), E::File("x/in", b"1", 0o644, 0, 0)]),
        tar_layer(&[E::File("x", b"now a file", 0o644, 0, 0)]),
        tar_layer(&[E::File(".wh.x", b"", 0o644, 0, 0), E::Dir("x", 0o711, 0, 0)]),
    ]);
    let w = write_layout(dir.path(), &img, Comp::Zstd);
    let (out, conv) = convert(dir.path(), &w.manifest_digest).unwrap();
    let es = entries(&out);
    assert!(find(&es, "rootfs/x/in").is_none());
    let x = find(&es, "rootfs/x").unwrap();
    assert_eq!((x.kind.clone(), x.mode), (EntryKind::Dir, 0o711));
    let prov = serde_json::to_value(conv.provenance()).unwrap();
    let x =
        prov["files"].as_array().unwrap().iter().find(|f| f["path"] == "rootfs/x").unwrap().clone();
    assert_eq!(x["layer"], 2);
}

#[test]
fn docker_save_wrong_id_and_tampered_layer() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("d.tar");
    let img = two_layer_image();
    write_docker_save(&ds, &img);
    let err = convert(&ds, &format!("sha256:{}", "1".repeat(64))).unwrap_err();
    assert!(matches!(err, OciError::DigestNotFound { .. }), "{err}");
    // Same archive, one layer byte changed (size kept).
    let mut bytes = std::fs::read(&ds).unwrap();
    let needle = b"APP v2";
    let pos = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    bytes[pos] = b'X';
    std::fs::write(&ds, bytes).unwrap();
    let id = format!("sha256:{}", sha256_hex(&img.config_json()));
    let err = convert(&ds, &id).unwrap_err();
    assert!(matches!(err, OciError::BlobDigestMismatch { .. }), "{err}");
}

#[test]
fn not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let err = convert(dir.path(), &format!("sha256:{}", "1".repeat(64))).unwrap_err();
    assert!(matches!(err, OciError::NotAnImage { .. }), "{err}");
}

#[test]
fn tar_without_end_marker_is_accepted_but_cut_data_is_not() {
    let full = tar_layer(&[E::File("a", b"hello", 0o644, 0, 0)]);
    // Header (512) + data (5): no padding, no end blocks, as umoci 0.4.7 writes.
    let cut_after_data = full[..517].to_vec();
    let (out, conv) = {
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), &Image::new(vec![cut_after_data]), Comp::Gzip);
        convert(dir.path(), &w.manifest_digest).unwrap()
    };
    assert_eq!(file_data(&out, find(&entries(&out), "rootfs/a").unwrap()), b"hello");
    assert_eq!(conv.dropped().other.len(), 1);
    // Cut inside the data: never zero-filled.
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &Image::new(vec![full[..515].to_vec()]), Comp::Gzip);
    let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
    assert!(matches!(err, OciError::LayerTar { .. }), "{err}");
    // Cut inside a header.
    let two = tar_layer(&[E::File("a", b"hello", 0o644, 0, 0), E::File("b", b"x", 0o644, 0, 0)]);
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(dir.path(), &Image::new(vec![two[..1024 + 100].to_vec()]), Comp::None);
    let err = convert(dir.path(), &w.manifest_digest).unwrap_err();
    assert!(matches!(err, OciError::LayerTar { .. }), "{err}");
}

#[test]
fn provenance_diff_names_the_layer() {
    use build_spec::oci::diff;
    let prov = |img: &Image| {
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), img, Comp::Gzip);
        let (_, conv) = convert(dir.path(), &w.manifest_digest).unwrap();
        (diff::Provenance::from_slice(&serde_json::to_vec(&conv.provenance()).unwrap()).unwrap(), w)
    };
    let (old, _) = prov(&two_layer_image());
    let mut img = two_layer_image();
    img.layers.push(tar_layer(&[
        E::File("etc/passwd", b"root:x:0:0:evil\n", 0o644, 0, 0),
        E::File("new", b"n", 0o600, 0, 0),
    ]));
    let (new, w) = prov(&img);
    let d = diff::diff(&old, &new);
    assert_eq!(d.layers_added, vec![w.layer_digests[2].parse().unwrap()]);
    let passwd = d.files.iter().find(|f| f.path == "rootfs/etc/passwd").unwrap();
    assert_eq!(passwd.change, diff::Change::Modified);
    assert_eq!(passwd.fields, vec!["content"]);
    assert_eq!(passwd.old_layer.unwrap().0, 0);
    assert_eq!(passwd.new_layer.unwrap(), (2, w.layer_digests[2].parse().unwrap()));
    let added = d.files.iter().find(|f| f.path == "rootfs/new").unwrap();
    assert_eq!(added.change, diff::Change::Added);
    assert_eq!(d.files.len(), 2, "{:?}", d.files);
    assert!(diff::diff(&old, &old).is_empty());
}

mod mutated_layers {
    use super::*;
    use build_spec::oci::tree::Tree;
    use proptest::prelude::*;

    fn seed() -> Vec<u8> {
        let mut v = base_layer();
        v.extend_from_slice(&top_layer());
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Byte flips in real layer tars: never a panic, and an accepted
        /// tree always keeps its invariants.
        #[test]
        fn byte_flips_never_break_invariants(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), split in any::<usize>()) {
            let mut data = seed();
            for (pos, val) in flips {
                let n = data.len();
                data[pos % n] = val;
            }
            let cut = split % data.len();
            let mut tree = Tree::new().unwrap();
            if tree.apply_verified_tar(0, &data[..cut]).is_ok() && tree.apply_verified_tar(1, &data[cut..]).is_ok() {
                prop_assert!(tree.check_invariants().is_ok(), "{:?}", tree.check_invariants());
            }
        }
    }
}

#[test]
fn eif_cpio_diff_entries_are_attributed_to_layers() {
    use build_spec::oci::diff;
    let build = |img: &Image| {
        let dir = tempfile::tempdir().unwrap();
        let w = write_layout(dir.path(), img, Comp::Gzip);
        let (bytes, conv) = convert(dir.path(), &w.manifest_digest).unwrap();
        let prov =
            diff::Provenance::from_slice(&serde_json::to_vec(&conv.provenance()).unwrap()).unwrap();
        (entries(&bytes), prov, w)
    };
    let (ea, pa, _) = build(&two_layer_image());
    let mut img = two_layer_image();
    img.layers.push(tar_layer(&[E::File("etc/passwd", b"changed\n", 0o644, 0, 0)]));
    let (eb, pb, w) = build(&img);
    // The eif helper's entry-level cpio diff, then the layer names.
    let cd = build_spec::diff::cpio_diff(&ea, &eb);
    let att = diff::attribute_cpio_diff(&cd, &pa, &pb);
    let passwd = att.iter().find(|a| a.path == "rootfs/etc/passwd").unwrap();
    assert_eq!(passwd.change, diff::Change::Modified);
    assert_eq!(passwd.old_layer.unwrap().0, 0);
    assert_eq!(passwd.new_layer.unwrap(), (2, w.layer_digests[2].parse().unwrap()));
}

#[test]
fn app_oci_table_builds_the_ramdisk_and_records_digests() {
    use build_spec::oci::spec::OciAppSpec;
    let dir = tempfile::tempdir().unwrap();
    let w = write_layout(&dir.path().join("images/app"), &two_layer_image(), Comp::Zstd);
    let t: OciAppSpec =
        toml::from_str(&format!("image = \"images/app\"\ndigest = \"{}\"\n", w.manifest_digest))
            .unwrap();
    let (conv, out) = t.build_ramdisk(dir.path(), 1_700_000_000, Vec::new()).unwrap();
    let (direct, _) = convert(&dir.path().join("images/app"), &w.manifest_digest).unwrap();
    assert_eq!(out, direct);
    let rec = conv.manifest_record();
    assert_eq!(rec.manifest_digest.unwrap().to_string(), w.manifest_digest);
    assert_eq!(rec.config_digest.to_string(), w.config_digest);
    assert_eq!(rec.layers.iter().map(|d| d.to_string()).collect::<Vec<_>>(), w.layer_digests);
    // Strict table: unknown keys and escaping paths are refused.
    assert!(toml::from_str::<OciAppSpec>(
        "image = \"a\"\ndigest = \"sha256:00\"\ntag = \"latest\"\n"
    )
    .is_err());
    let bad = OciAppSpec {
        image: "../elsewhere".into(),
        digest: Some(w.manifest_digest.clone()),
        platform: None,
    };
    assert!(bad.validate().is_err());
    let unpinned = OciAppSpec { image: "images/app".into(), digest: None, platform: None };
    assert!(matches!(unpinned.validate(), Err(OciError::DigestNotPinned)));
}

#[test]
fn repeated_whiteout_marker_is_a_duplicate() {
    let err = one_layer(&[
        E::Dir("d", 0o755, 0, 0),
        E::File("d/.wh..wh..opq", b"", 0o644, 0, 0),
        E::File("d/.wh..wh..opq", b"", 0o644, 0, 0),
    ])
    .unwrap_err();
    assert!(matches!(err, OciError::DuplicateEntry { .. }), "{err}");
}
