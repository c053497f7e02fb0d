//! cpio newc writer/reader: GNU-compatible bytes, determinism across
//! machines, roundtrip and malformed input.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use build_spec::cpio::{
    read_entries, write_dir, write_files, CpioError, CpioOptions, EntryHeader, EntryKind,
    FileSource, ModePolicy, NewcWriter,
};
use sha2::{Digest, Sha256};

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The GNU cpio 2.13 vector of docs/formats/eif-and-pcrs.md §6.5: `dev` (0755 dir), `init`
/// = "INIT" (0555), `nsm.ko` = "NSM" (0444), mtime 1, `-H newc -R +0:+0
/// --reproducible`.
#[test]
fn matches_gnu_cpio_reproducible_vector() {
    let out = write_files(
        vec![
            (EntryHeader::file("nsm.ko", 3, 0o444), FileSource::Bytes(b"NSM".to_vec())),
            (EntryHeader::dir("dev", 0o755), FileSource::None),
            (EntryHeader::file("init", 4, 0o555), FileSource::Bytes(b"INIT".to_vec())),
        ],
        Vec::new(),
        CpioOptions::with_mtime(1),
    )
    .expect("writes");
    assert_eq!(out.len(), 512);
    assert_eq!(
        sha256_hex(&out),
        "0775a79887f48f7d5e2682690d12c6dd3483b6280ac750cf11f4f60285ff3249"
    );
    let entries = read_entries(&out[..]).expect("reads");
    let names: Vec<_> = entries.iter().map(|e| (e.path.as_str(), e.ino, e.nlink)).collect();
    assert_eq!(names, [("dev", 0, 2), ("init", 1, 1), ("nsm.ko", 2, 1)]);
    assert_eq!(entries[1].sha256.to_vec(), Sha256::digest(b"INIT").to_vec());
    assert_eq!(entries[2].mode, 0o444);
    assert_eq!(entries[0].mtime, 1);
}

#[test]
fn special_files_roundtrip() {
    use build_spec::cpio::{S_IFCHR, S_IFIFO};
    let console = EntryHeader {
        path: "dev/console".into(),
        kind: EntryKind::Special { file_type: S_IFCHR, rdev_major: 5, rdev_minor: 1 },
        mode: 0o600,
        uid: 0,
        gid: 0,
    };
    let fifo = EntryHeader {
        path: "dev/fifo".into(),
        kind: EntryKind::Special { file_type: S_IFIFO, rdev_major: 0, rdev_minor: 0 },
        mode: 0o644,
        uid: 0,
        gid: 0,
    };
    let out = write_files(
        vec![
            (EntryHeader::dir("dev", 0o755), FileSource::None),
            (console.clone(), FileSource::None),
            (fifo, FileSource::None),
        ],
        Vec::new(),
        CpioOptions::default(),
    )
    .expect("writes");
    let e = read_entries(&out[..]).expect("reads");
    assert_eq!(e[1].kind, console.kind);
    assert_eq!(e[1].mode, 0o600);
    // rdevmajor/rdevminor fields of the console header
    let h = &out[e[1].offset as usize..];
    assert_eq!(&h[6 + 8 * 9..6 + 8 * 11], b"0000000500000001");
    let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
    let bad = EntryHeader {
        kind: EntryKind::Special { file_type: 0o170000, rdev_major: 0, rdev_minor: 0 },
        ..console
    };
    assert!(w.append(&bad, &mut std::io::empty()).is_err());
}

/// Linux unpacks archives placed back to back (e.g. early microcode + main
/// initramfs); the reader lists both, and still rejects other trailing data.
#[test]
fn concatenated_archives() {
    let one = write_files(
        vec![(EntryHeader::file("a", 1, 0o644), FileSource::Bytes(b"1".to_vec()))],
        Vec::new(),
        CpioOptions::default(),
    )
    .expect("one");
    let two = write_files(
        vec![(EntryHeader::file("b", 1, 0o644), FileSource::Bytes(b"2".to_vec()))],
        Vec::new(),
        CpioOptions { block_size: 4, ..CpioOptions::default() },
    )
    .expect("two");
    let empty =
        write_files(vec![], Vec::new(), CpioOptions { block_size: 4, ..CpioOptions::default() })
            .expect("empty");
    let mut all = one.clone();
    for _ in 0..1000 {
        all.extend_from_slice(&empty);
    }
    all.extend_from_slice(&two);
    all.extend_from_slice(&[0u8; 8]);
    let e = read_entries(&all[..]).expect("reads both");
    let paths: Vec<_> = e.iter().map(|x| x.path.as_str()).collect();
    assert_eq!(paths, ["a", "b"]);
    assert_eq!(e[1].offset, (one.len() + 1000 * empty.len()) as u64);

    let mut bad = one.clone();
    bad.extend_from_slice(b"070702");
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::TrailingData { .. })));
    let mut bad = one.clone();
    bad.extend_from_slice(b"0707");
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::TrailingData { .. })));
    let mut bad = one;
    bad.extend_from_slice(&b"070701"[..]);
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::Truncated { field: "header", .. })));
}

#[test]
fn gzip_ramdisk_is_listed() {
    use std::io::Write;
    let raw = write_files(
        vec![(EntryHeader::file("a", 1, 0o644), FileSource::Bytes(b"x".to_vec()))],
        Vec::new(),
        CpioOptions::default(),
    )
    .expect("writes");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gz");
    let gz = gz.finish().expect("gz");
    let entries = read_entries(&gz[..]).expect("reads gz");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].path, "a");
}

#[test]
fn writer_enforces_canonical_order_and_sizes() {
    let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
    w.append(&EntryHeader::dir("b", 0o755), &mut std::io::empty()).expect("first");
    let err =
        w.append(&EntryHeader::dir("a", 0o755), &mut std::io::empty()).expect_err("must fail");
    assert!(matches!(err, CpioError::OutOfOrder { .. }), "{err}");
    let err =
        w.append(&EntryHeader::dir("b", 0o755), &mut std::io::empty()).expect_err("must fail");
    assert!(matches!(err, CpioError::OutOfOrder { .. }), "duplicate: {err}");
    let err = w.append(&EntryHeader::file("c", 5, 0o644), &mut &b"abc"[..]).expect_err("must fail");
    assert!(matches!(err, CpioError::SizeMismatch { .. }), "{err}");
    let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
    let err = w.append(&EntryHeader::file("c", 2, 0o644), &mut &b"abc"[..]).expect_err("must fail");
    assert!(matches!(err, CpioError::SizeMismatch { .. }), "{err}");
    for bad in ["/abs", "a/../b", "", "a//b", "./a", "TRAILER!!!"] {
        let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
        let err =
            w.append(&EntryHeader::dir(bad, 0o755), &mut std::io::empty()).expect_err("must fail");
        assert!(matches!(err, CpioError::BadPath { .. }), "{bad}: {err}");
    }
    let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
    let err =
        w.append(&EntryHeader::dir("d", 0o40755), &mut std::io::empty()).expect_err("must fail");
    assert!(matches!(err, CpioError::BadMode { .. }), "{err}");
    let mut w = NewcWriter::new(Vec::new(), CpioOptions::default());
    let big = EntryHeader::file("big", 1 << 32, 0o644);
    let err = w.append(&big, &mut std::io::empty()).expect_err("must fail");
    assert!(matches!(err, CpioError::TooLarge { .. }), "{err}");
}

/// Builds the same logical tree in `root`, creating entries in `order`.
fn build_tree(root: &Path, reverse: bool) {
    type Step = Box<dyn Fn(&Path)>;
    let mut steps: Vec<Step> = vec![
        Box::new(|r| fs::create_dir_all(r.join("etc/ssl")).expect("mkdir")),
        Box::new(|r| fs::create_dir_all(r.join("bin")).expect("mkdir")),
        Box::new(|r| {
            fs::create_dir_all(r.join("bin")).expect("mkdir");
            fs::write(r.join("bin/app"), b"#!/bin/sh\necho hi\n").expect("write")
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("etc")).expect("mkdir");
            fs::write(r.join("etc/conf"), b"k=v\n").expect("write")
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("etc")).expect("mkdir");
            symlink("../bin/app", r.join("etc/link")).expect("symlink")
        }),
        Box::new(|r| fs::write(r.join("a-b"), vec![7u8; 70_001]).expect("write")),
    ];
    if reverse {
        steps.reverse();
    }
    for s in &steps {
        s(root);
    }
}

fn set_modes(root: &Path) {
    let set = |p: &str, m: u32| {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).expect("chmod")
    };
    set("bin", 0o755);
    set("bin/app", 0o755);
    set("etc", 0o750);
    set("etc/ssl", 0o700);
    set("etc/conf", 0o640);
    set("a-b", 0o600);
}

fn touch_all(root: &Path, secs: i64) {
    let out = std::process::Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d"])
        .arg(format!("@{secs}"))
        .args(["{}", "+"])
        .status()
        .expect("find/touch");
    assert!(out.success());
}

/// Two "machines": different parent paths, umask, creation order and
/// mtimes; same logical tree with explicitly set modes -> same bytes. With
/// `ModePolicy::Normalize`, even the umask-derived modes do not matter.
#[test]
fn same_tree_same_bytes_across_machines() {
    let t1 = tempfile::tempdir().expect("tmp");
    let t2 = tempfile::tempdir().expect("tmp");
    let r1 = t1.path().join("one");
    let r2 = t2.path().join("deeper/two");
    fs::create_dir_all(&r1).expect("mkdir");
    fs::create_dir_all(&r2).expect("mkdir");

    // Machine 1: umask 022 style modes, forward order, mtime 1000.
    build_tree(&r1, false);
    fs::set_permissions(r1.join("bin/app"), fs::Permissions::from_mode(0o755)).expect("chmod");
    touch_all(&r1, 1000);
    // Machine 2: umask 077 style (private) modes, reverse order, other mtime.
    build_tree(&r2, true);
    for p in ["bin", "etc", "etc/ssl", "bin/app"] {
        fs::set_permissions(r2.join(p), fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    for p in ["etc/conf", "a-b"] {
        fs::set_permissions(r2.join(p), fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    touch_all(&r2, 2_000_000);

    let norm = CpioOptions { modes: ModePolicy::Normalize, ..CpioOptions::with_mtime(7) };
    let a = write_dir(&r1, Vec::new(), norm).expect("a");
    let b = write_dir(&r2, Vec::new(), norm).expect("b");
    assert_eq!(sha256_hex(&a), sha256_hex(&b), "normalized modes differ");

    set_modes(&r1);
    set_modes(&r2);
    let a = write_dir(&r1, Vec::new(), CpioOptions::with_mtime(7)).expect("a");
    let b = write_dir(&r2, Vec::new(), CpioOptions::with_mtime(7)).expect("b");
    assert_eq!(a, b);

    let entries = read_entries(&a[..]).expect("reads");
    let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
    // Bytewise order: '-' (0x2d) sorts before '/' (0x2f).
    assert_eq!(paths, ["a-b", "bin", "bin/app", "etc", "etc/conf", "etc/link", "etc/ssl"]);
    assert!(entries.iter().all(|e| e.mtime == 7 && e.uid == 0 && e.gid == 0));
    let link = &entries[5];
    assert_eq!(link.kind, EntryKind::Symlink { target: "../bin/app".into() });
    assert_eq!(entries[4].mode, 0o640);
    assert_eq!(entries[0].size, 70_001);
    let inos: Vec<_> = entries.iter().map(|e| e.ino).collect();
    assert_eq!(inos, (0..7).collect::<Vec<u32>>());
}

fn sample() -> Vec<u8> {
    write_files(
        vec![
            (EntryHeader::dir("d", 0o755), FileSource::None),
            (EntryHeader::file("d/f", 5, 0o644), FileSource::Bytes(b"hello".to_vec())),
        ],
        Vec::new(),
        CpioOptions { block_size: 4, ..CpioOptions::default() },
    )
    .expect("writes")
}

#[test]
fn malformed_archives_give_typed_errors() {
    let good = sample();
    assert_eq!(read_entries(&good[..]).expect("good").len(), 2);

    let mut bad = good.clone();
    bad[0] = b'1';
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadMagic { offset: 0, .. })));

    let mut bad = good.clone();
    bad[5] = b'2';
    let err = read_entries(&bad[..]).expect_err("must fail");
    assert!(err.to_string().contains("070702"), "{err}");

    let mut bad = good.clone();
    bad[6 + 8 * 2 + 3] = b'g'; // uid field
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadHex { field: "uid", .. })));

    let mut bad = good.clone();
    bad[6 + 8 * 2] = b' ';
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadHex { .. })));

    for cut in [10, 110, 113, 120, 240, good.len() - 5] {
        let err = read_entries(&good[..cut]).expect_err("must fail");
        assert!(matches!(err, CpioError::Truncated { .. }), "cut {cut}: {err}");
    }

    // namesize far too large
    let mut bad = good.clone();
    bad[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"FFFFFFFF");
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadName { .. })));

    // non-zero name padding: entry 2's header is at 112, "d/f\0" at
    // 222..226, padding 226..228
    let mut bad = good.clone();
    bad[227] = 1;
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadPadding { offset: 227 })));

    // garbage after the trailer
    let mut bad = good.clone();
    bad.extend_from_slice(&[0, 0, 9]);
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::TrailingData { .. })));

    // missing trailer
    let trailer_at = good.len() - 124;
    assert!(matches!(
        read_entries(&good[..trailer_at]),
        Err(CpioError::Truncated { field: "header", .. })
    ));

    // absolute path: rename "d" to "/" keeps lengths
    let mut bad = good.clone();
    bad[110] = b'/';
    assert!(matches!(read_entries(&bad[..]), Err(CpioError::BadPath { .. })));
    // ".." component in the second entry ("d/f" -> "../")? keep the length: "d/f" -> "../"
    let mut bad = good.clone();
    let pos = bad.windows(4).position(|w| w == b"d/f\0").expect("name");
    bad[pos..pos + 3].copy_from_slice(b"..\0");
    assert!(read_entries(&bad[..]).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn roundtrip(files in proptest::collection::btree_map("[a-z]{1,8}(/[a-z]{1,8})?", proptest::collection::vec(any::<u8>(), 0..300), 0..12), mtime in any::<u32>(), upper in any::<bool>()) {
            let list: Vec<_> = files.iter().map(|(p, d)| {
                (EntryHeader::file(p.clone(), d.len() as u64, 0o640), FileSource::Bytes(d.clone()))
            }).collect();
            let opts = CpioOptions { mtime, uppercase_hex: upper, ..CpioOptions::default() };
            match write_files(list, Vec::new(), opts) {
                Ok(out) => {
                    prop_assert_eq!(out.len() % 512, 0);
                    let entries = read_entries(&out[..]).expect("reads back");
                    prop_assert_eq!(entries.len(), files.len());
                    for (e, (p, d)) in entries.iter().zip(files.iter()) {
                        prop_assert_eq!(&e.path, p);
                        prop_assert_eq!(e.size, d.len() as u64);
                        prop_assert_eq!(e.mtime, mtime);
                        prop_assert_eq!(e.sha256.to_vec(), Sha256::digest(d).to_vec());
                    }
                }
                Err(e) => prop_assert!(false, "write failed: {}", e),
            }
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = read_entries(&bytes[..]);
        }
    }
}
