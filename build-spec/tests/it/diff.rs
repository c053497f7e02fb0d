//! `diff`: which PCRs differ and why, down to files inside cpio ramdisks.

use std::path::Path;

use build_spec::cpio::{write_files, CpioOptions, EntryHeader, FileSource};
use build_spec::diff::{diff_files, Detail, SectionState};
use build_spec::eif::metadata::BuildMetadata;
use build_spec::eif::{EifBuilder, EifMetadata, Input};

fn cpio(files: &[(&str, &[u8], u32)], mtime: u32) -> Vec<u8> {
    let list = files
        .iter()
        .map(|(p, d, m)| (EntryHeader::file(*p, d.len() as u64, *m), FileSource::Bytes(d.to_vec())))
        .collect();
    write_files(list, Vec::new(), CpioOptions::with_mtime(mtime)).expect("cpio")
}

fn image(dir: &Path, name: &str, user: Vec<u8>, time: &str) -> std::path::PathBuf {
    let sys = cpio(&[("init", b"INIT", 0o755)], 0);
    let b = EifBuilder {
        kernel: Input::Bytes(b"kernel".to_vec()),
        cmdline: b"console=ttyS0".to_vec(),
        ramdisks: vec![Input::Bytes(sys), Input::Bytes(user)],
        arch: Default::default(),
        metadata: EifMetadata {
            image_name: "app".into(),
            image_version: "1".into(),
            build: BuildMetadata {
                build_time: time.into(),
                build_tool: "t".into(),
                build_tool_version: "0".into(),
                operating_system: "Linux".into(),
                kernel_version: "6.1".into(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        },
        signer: None,
    };
    let p = dir.join(name);
    b.write_to(std::fs::File::create(&p).expect("create")).expect("build");
    p
}

#[test]
fn explains_a_pcr2_change_down_to_files() {
    let t = tempfile::tempdir().expect("tmp");
    let a = image(
        t.path(),
        "a.eif",
        cpio(&[("app", b"v1", 0o755), ("conf", b"x", 0o644), ("old", b"o", 0o644)], 0),
        "T0",
    );
    let b = image(
        t.path(),
        "b.eif",
        cpio(&[("app", b"v2!", 0o755), ("conf", b"x", 0o600), ("new", b"n", 0o644)], 0),
        "T0",
    );
    let d = diff_files(&a, &b).expect("diff");
    assert!(!d.identical);
    let idx: Vec<u8> = d.pcrs.iter().map(|p| p.index).collect();
    assert_eq!(idx, [0, 2], "PCR1 must be unchanged");
    assert_eq!(d.pcrs[0].because, ["ramdisk[1]"]);
    let rd = d.sections.iter().find(|s| s.role == "ramdisk[1]").expect("rd1");
    assert_eq!(rd.status, SectionState::Changed);
    let Some(Detail::Cpio(c)) = &rd.detail else { panic!("{:?}", rd.detail) };
    assert_eq!(c.added.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["new"]);
    assert_eq!(c.removed.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["old"]);
    let app = c.changed.iter().find(|e| e.path == "app").expect("app changed");
    let fields: Vec<_> = app.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["size", "sha256"]);
    let conf = c.changed.iter().find(|e| e.path == "conf").expect("conf changed");
    assert_eq!(conf.fields[0].field, "mode");
    assert_eq!(conf.fields[0].a.as_deref(), Some("0644"));
    assert!(d
        .sections
        .iter()
        .filter(|s| s.role != "ramdisk[1]")
        .all(|s| s.status == SectionState::Same));
}

#[test]
fn metadata_only_change_moves_no_pcr() {
    let t = tempfile::tempdir().expect("tmp");
    let user = cpio(&[("app", b"v1", 0o755)], 5);
    let a = image(t.path(), "a.eif", user.clone(), "1970-01-01T00:00:00+00:00");
    let b = image(t.path(), "b.eif", user.clone(), "2024-01-01T00:00:00+00:00");
    let d = diff_files(&a, &b).expect("diff");
    assert!(!d.identical);
    assert!(d.pcrs.is_empty());
    assert!(d.header.iter().any(|h| h.field == "eif_crc32"));
    let m = d.sections.iter().find(|s| s.role == "metadata").expect("meta");
    let Some(Detail::Metadata { fields }) = &m.detail else { panic!() };
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].field, "BuildMetadata.BuildTime");

    let c = image(t.path(), "c.eif", user, "1970-01-01T00:00:00+00:00");
    let d = diff_files(&a, &c).expect("diff");
    assert!(d.identical && d.pcrs.is_empty() && d.header.is_empty());
}

#[test]
fn mtime_only_change_in_system_ramdisk() {
    let t = tempfile::tempdir().expect("tmp");
    let a = image(t.path(), "a.eif", cpio(&[("app", b"v1", 0o755)], 0), "T");
    let b = image(t.path(), "b.eif", cpio(&[("app", b"v1", 0o755)], 1), "T");
    let d = diff_files(&a, &b).expect("diff");
    let rd = d.sections.iter().find(|s| s.role == "ramdisk[1]").expect("rd1");
    let Some(Detail::Cpio(c)) = &rd.detail else { panic!() };
    assert_eq!(c.changed[0].fields[0].field, "mtime");
    assert_eq!(d.pcrs.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 2]);
}
