//! OCI images made by tools no one here wrote: Debian's `umoci` builds a
//! layout layer by layer (files, hard and symbolic links, a whiteout, an
//! opaque directory, a replaced file, CMD/ENV), `skopeo` re-packs it as an
//! OCI archive, a classic `docker save` archive and a zstd-compressed
//! layout. All must give the same ramdisk bytes and PCR2.
//!
//! Needs `umoci` and `skopeo` (installed by `scripts/install-test-deps`);
//! fails loudly when they are missing.
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use build_spec::cpio::{read_entries, Entry, EntryKind};
use build_spec::oci::{self, Platform, Sha256Digest};
use sha2::{Digest, Sha384};

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd} ({e}); install it with scripts/install-test-deps")
    });
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn convert(input: &Path, digest: &str) -> (Vec<u8>, oci::Conversion) {
    let d: Sha256Digest = digest.parse().unwrap();
    let (c, out) = oci::write_ramdisk(input, d, &Platform::linux_amd64(), 1, Vec::new()).unwrap();
    (out, c)
}

fn pcr2(bytes: &[u8]) -> String {
    hex::encode(oci::pcr_of_content_digest(&Sha384::digest(bytes).into()))
}

fn data(bytes: &[u8], e: &Entry) -> Vec<u8> {
    let start = (e.offset as usize + 110 + e.path.len() + 1 + 3) & !3;
    bytes[start..start + e.size as usize].to_vec()
}

fn manifest_digest(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn umoci_and_skopeo_images_convert_identically() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    // Source tree.
    let src = root.join("src");
    for d in ["bin", "etc", "lib", "opt/dir"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    std::fs::write(src.join("bin/app"), b"#!/bin/sh\necho v1\n").unwrap();
    std::fs::set_permissions(src.join("bin/app"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(src.join("etc/conf"), b"k=v\n").unwrap();
    std::fs::set_permissions(src.join("etc/conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(src.join("lib/a"), b"a").unwrap();
    std::fs::write(src.join("lib/b"), b"b").unwrap();
    std::fs::write(src.join("opt/dir/x"), b"x").unwrap();
    std::fs::write(src.join("opt/dir/y"), b"y").unwrap();
    std::fs::write(src.join("lib/hl1"), b"shared inode").unwrap();
    std::fs::hard_link(src.join("lib/hl1"), src.join("lib/hl2")).unwrap();
    std::os::unix::fs::symlink("../bin/app", src.join("lib/app-link")).unwrap();
    let owner = std::fs::metadata(src.join("etc/conf")).unwrap();
    let src2 = root.join("src2");
    std::fs::create_dir_all(&src2).unwrap();
    std::fs::write(src2.join("z"), b"z").unwrap();
    let app2 = root.join("app2");
    std::fs::write(&app2, b"#!/bin/sh\necho v2\n").unwrap();
    std::fs::set_permissions(&app2, std::fs::Permissions::from_mode(0o750)).unwrap();

    // Layers by umoci.
    let layout = root.join("layout");
    let img = format!("{}:t", layout.display());
    run("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    run("umoci", &["new", "--image", &img]);
    run("umoci", &["insert", "--image", &img, src.to_str().unwrap(), "/"]);
    run("umoci", &["insert", "--image", &img, "--whiteout", "/lib/a"]);
    run("umoci", &["insert", "--image", &img, "--opaque", src2.to_str().unwrap(), "/opt/dir"]);
    run("umoci", &["insert", "--image", &img, app2.to_str().unwrap(), "/bin/app"]);
    run(
        "umoci",
        &[
            "config",
            "--image",
            &img,
            "--config.cmd",
            "/bin/app",
            "--config.cmd",
            "--serve",
            "--config.env",
            "MODE=prod",
        ],
    );
    let digest = manifest_digest(&layout, "t");

    let (bytes, conv) = convert(&layout, &digest);
    let es = read_entries(&bytes[..]).unwrap();
    let get = |p: &str| es.iter().find(|e| e.path == p);
    assert_eq!(data(&bytes, get("cmd").unwrap()), b"/bin/app\n--serve\n");
    assert!(String::from_utf8(data(&bytes, get("env").unwrap())).unwrap().contains("MODE=prod\n"));
    // Whiteout and opaque directory applied.
    assert!(get("rootfs/lib/a").is_none());
    assert!(get("rootfs/lib/b").is_some());
    assert!(get("rootfs/opt/dir/x").is_none() && get("rootfs/opt/dir/y").is_none());
    assert_eq!(data(&bytes, get("rootfs/opt/dir/z").unwrap()), b"z");
    // Replaced file, with its mode.
    let app = get("rootfs/bin/app").unwrap();
    assert_eq!(data(&bytes, app), b"#!/bin/sh\necho v2\n");
    assert_eq!(app.mode, 0o750);
    // Ownership and modes as on disk.
    let conf = get("rootfs/etc/conf").unwrap();
    assert_eq!((conf.mode, conf.uid, conf.gid), (0o640, owner.uid(), owner.gid()));
    // Links.
    assert_eq!(data(&bytes, get("rootfs/lib/hl2").unwrap()), b"shared inode");
    assert_eq!(data(&bytes, get("rootfs/lib/hl1").unwrap()), b"shared inode");
    assert_eq!(
        get("rootfs/lib/app-link").unwrap().kind,
        EntryKind::Symlink { target: "../bin/app".into() }
    );
    // Provenance: bin/app from the 4th layer, etc/conf from the 1st.
    let prov = serde_json::to_value(conv.provenance()).unwrap();
    let rec = |p: &str| {
        prov["files"].as_array().unwrap().iter().find(|f| f["path"] == p).unwrap().clone()
    };
    assert_eq!(rec("rootfs/bin/app")["layer"], 3);
    assert_eq!(rec("rootfs/etc/conf")["layer"], 0);
    assert_eq!(conv.image.layers.len(), 4);

    // Same image re-packed by skopeo: OCI archive, docker save, zstd layout.
    let oa = root.join("oci.tar");
    let da = root.join("docker.tar");
    let zl = root.join("zstd");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "-q",
            &format!("oci:{img}"),
            &format!("oci-archive:{}", oa.display()),
        ],
    );
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "-q",
            &format!("oci:{img}"),
            &format!("docker-archive:{}:x:t", da.display()),
        ],
    );
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "-q",
            "--dest-compress-format",
            "zstd",
            &format!("oci:{img}"),
            &format!("oci:{}:t", zl.display()),
        ],
    );
    let (from_archive, _) = convert(&oa, &digest);
    let (from_docker, _) = convert(&da, &conv.image.config_digest.to_string());
    let zdigest = manifest_digest(&zl, "t");
    let (from_zstd, zconv) = convert(&zl, &zdigest);
    assert!(
        zconv.image.layers.iter().all(|l| l.media_type.ends_with("+zstd")),
        "skopeo did not write zstd layers"
    );
    for (name, other) in [
        ("oci-archive", &from_archive),
        ("docker-archive", &from_docker),
        ("zstd layout", &from_zstd),
    ] {
        assert!(other == &bytes, "{name} gives different ramdisk bytes");
        assert_eq!(pcr2(other), pcr2(&bytes), "{name}");
    }
}
