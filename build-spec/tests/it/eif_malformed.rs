//! Malformed-image corpus: each defect gives its own typed error naming the
//! offset/field, never a panic; lenient mode reproduces AWS's PCRs.

use crate::common::*;
use build_spec::eif::{read_eif, EifError, ReadOptions};

fn strict(img: &[u8]) -> Result<build_spec::eif::EifSummary, EifError> {
    read_eif(img, Some(img.len() as u64), &ReadOptions::default())
}

fn strict_stream(img: &[u8]) -> Result<build_spec::eif::EifSummary, EifError> {
    read_eif(img, None, &ReadOptions::default())
}

fn lenient(img: &[u8]) -> build_spec::eif::EifSummary {
    read_eif(img, Some(img.len() as u64), &ReadOptions::inspect()).expect("lenient read")
}

#[test]
fn well_formed_baseline() {
    let img = raw_eif(
        4,
        &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (METADATA, 0, META), (RAMDISK, 0, b"r")],
    );
    let s = strict(&img).expect("reads");
    assert!(s.crc_ok());
    assert!(s.findings.is_empty());
}

#[test]
fn truncated_header_names_the_field() {
    let img = tiny();
    for (cut, field) in [
        (0, "magic"),
        (3, "magic"),
        (5, "version"),
        (100, "section_offsets"),
        (300, "section_sizes"),
        (545, "eif_crc32"),
    ] {
        match strict(&img[..cut]) {
            Err(EifError::TruncatedHeader { offset, field: f }) => {
                assert_eq!((offset, f), (cut as u64, field))
            }
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[test]
fn bad_magic_and_version() {
    let mut img = tiny();
    img[0] = b'x';
    assert!(matches!(strict(&img), Err(EifError::BadMagic { found }) if found == *b"xeif"));
    for v in [0u16, 1, 5, 0xffff] {
        let mut img = tiny();
        img[4..6].copy_from_slice(&v.to_be_bytes());
        fix_crc(&mut img);
        assert!(
            matches!(strict(&img), Err(EifError::UnsupportedVersion { version }) if version == v)
        );
    }
}

#[test]
fn wrong_crc() {
    let mut img = tiny();
    img[560] ^= 1; // first kernel byte
    match strict(&img) {
        Err(EifError::CrcMismatch { stored, computed }) => {
            assert_eq!(stored, 0x4EE6_0715);
            assert_ne!(computed, stored);
        }
        other => panic!("{other:?}"),
    }
    let s = lenient(&img);
    assert!(!s.crc_ok());
    let mut img = tiny();
    img[0x21C] = 1; // `unused` is covered by the CRC
    assert!(matches!(strict(&img), Err(EifError::CrcMismatch { .. })));
}

#[test]
fn section_size_beyond_eof() {
    let mut img = tiny();
    let len = img.len() as u64;
    img[552..560].copy_from_slice(&len.to_be_bytes()); // kernel section_size
    match strict(&img) {
        Err(EifError::SectionBeyondEof { offset: 548, size, available }) => {
            assert_eq!(size, len);
            assert_eq!(available, len - 560);
        }
        other => panic!("{other:?}"),
    }
    // Without a known length the short read is detected the same way.
    assert!(matches!(strict_stream(&img), Err(EifError::SectionBeyondEof { offset: 548, .. })));
    // Truncated file: last ramdisk cut short.
    let img = tiny();
    assert!(matches!(
        strict(&img[..img.len() - 3]),
        Err(EifError::SectionBeyondEof { offset: 869, size: 11, available: 8 })
    ));
}

#[test]
fn lengths_near_u64_max() {
    for size in [u64::MAX, u64::MAX - 11, u64::MAX - 560] {
        let mut img = tiny();
        img[552..560].copy_from_slice(&size.to_be_bytes());
        let known = strict(&img);
        assert!(
            matches!(
                known,
                Err(EifError::SizeOverflow { offset: 548, .. })
                    | Err(EifError::SectionBeyondEof { offset: 548, .. })
            ),
            "{size}: {known:?}"
        );
        let streamed = strict_stream(&img);
        assert!(
            matches!(
                streamed,
                Err(EifError::SizeOverflow { offset: 548, .. })
                    | Err(EifError::SectionBeyondEof { offset: 548, .. })
            ),
            "{size}: {streamed:?}"
        );
    }
    let mut img = tiny();
    img[552..560].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(strict_stream(&img), Err(EifError::SizeOverflow { .. })));
    // Metadata claiming 2^63 bytes is refused before any allocation.
    let mut img = tiny();
    img[595..603].copy_from_slice(&(1u64 << 63).to_be_bytes());
    assert!(matches!(strict_stream(&img), Err(EifError::SectionTooLarge { kind: "metadata", .. })));
}

#[test]
fn more_than_32_sections() {
    let rd: &[u8] = b"r";
    let mut secs = vec![(KERNEL, 0, &b"k"[..]), (CMDLINE, 0, &b"c"[..]), (METADATA, 0, META)];
    secs.extend(std::iter::repeat((RAMDISK, 0, rd)).take(30));
    let img = raw_eif(4, &secs);
    match strict(&img) {
        Err(EifError::TooManySections { offset, count: 33, .. }) => {
            assert_eq!(offset, img.len() as u64 - 13)
        }
        other => panic!("{other:?}"),
    }
    let mut img = tiny();
    img[26..28].copy_from_slice(&33u16.to_be_bytes());
    fix_crc(&mut img);
    assert!(matches!(
        strict(&img),
        Err(EifError::TooManySections { field: "num_sections", count: 33, .. })
    ));
}

#[test]
fn unknown_section_type() {
    for ty in [0u16, 6, 0xffff] {
        let img =
            raw_eif(4, &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (ty, 0, b"x"), (RAMDISK, 0, b"r")]);
        match strict(&img) {
            Err(EifError::UnknownSectionType { offset, value }) => {
                assert_eq!((offset, value), (548 + 13 + 13, ty))
            }
            other => panic!("{ty}: {other:?}"),
        }
    }
    // 12+ trailing zero bytes parse as a type-0 section, as in AWS's reader.
    let mut img = tiny();
    img.extend_from_slice(&[0u8; 12]);
    assert!(matches!(strict(&img), Err(EifError::UnknownSectionType { offset: 892, value: 0 })));
}

/// docs/formats/eif-and-pcrs.md §4.3: Kernel, Ramdisk("ramdisk-one"), Cmdline, Metadata,
/// Ramdisk("ramdisk-two") is rejected by default, and lenient mode gives the
/// PCRs AWS's reader computes for it.
#[test]
fn cmdline_after_ramdisk() {
    let img = raw_eif(
        4,
        &[
            (KERNEL, 0, b"kernel"),
            (RAMDISK, 0, b"ramdisk-one"),
            (CMDLINE, 0, b"console=ttyS0"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"ramdisk-two"),
        ],
    );
    match strict(&img) {
        Err(EifError::SectionOrder { offset, kind, .. }) => {
            assert_eq!(kind, "ramdisk");
            assert_eq!(offset, 548 + 18);
        }
        other => panic!("{other:?}"),
    }
    let s = lenient(&img);
    assert!(s.findings.iter().any(|f| matches!(f, EifError::SectionOrder { kind: "cmdline", .. })));
    let m = s.measurements();
    assert_eq!(m.hex(0).as_deref(), Some("c6bf3eb69e3a577fbe518216e8d8e06d66665647fa0bb23fc09389975139351d20d259a3d47083abed8f1f04adb28f82"));
    assert_eq!(m.hex(1).as_deref(), Some("cdee4741cba1ca7d6edec47e88e174dc2c05116054f85054a1662ad87d4824946143c2d3ca21a9f11248adafd161410a"));
    assert_eq!(m.hex(2).as_deref(), Some("2cd856f1e4972f1947f680062077b9dc8d0c6179f7098d8ff298ff592accf884ed26df19b87937cbfe620dc14fc57bad"));
}

#[test]
fn duplicates_missing_and_table_defects() {
    let img = raw_eif(
        4,
        &[
            (KERNEL, 0, b"k"),
            (KERNEL, 0, b"k"),
            (CMDLINE, 0, b"c"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"r"),
        ],
    );
    assert!(matches!(
        strict(&img),
        Err(EifError::SectionOrder { kind: "kernel", offset: 561, .. })
    ));
    let img = raw_eif(4, &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (RAMDISK, 0, b"r")]);
    assert!(matches!(strict(&img), Err(EifError::MissingSection { .. })));
    // Two signature sections: fatal even in lenient mode.
    let img = raw_eif(
        4,
        &[
            (KERNEL, 0, b"k"),
            (CMDLINE, 0, b"c"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"r"),
            (SIGNATURE, 0, b"\x80"),
            (SIGNATURE, 0, b"\x80"),
        ],
    );
    assert!(matches!(
        read_eif(&img[..], None, &ReadOptions::inspect()),
        Err(EifError::SectionOrder { kind: "signature", .. })
    ));
    let img = raw_eif(3, &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (RAMDISK, 0, b"r")]);
    assert!(strict(&img).is_ok(), "v3 needs no metadata");
    let img = raw_eif(4, &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (METADATA, 0, META)]);
    assert!(matches!(strict(&img), Err(EifError::MissingSection { kind: "ramdisk" })));
    let img = raw_eif(
        4,
        &[(KERNEL, 7, b"k"), (CMDLINE, 0, b"c"), (METADATA, 0, META), (RAMDISK, 0, b"r")],
    );
    assert!(matches!(strict(&img), Err(EifError::SectionFlags { offset: 548, flags: 7 })));

    // Offset table corrupted (CRC recomputed): AWS ignores it, we do not.
    let mut img = tiny();
    img[0x1C + 8..0x1C + 16].copy_from_slice(&999u64.to_be_bytes());
    fix_crc(&mut img);
    match strict(&img) {
        Err(EifError::TableMismatch { offset, field, found, expected }) => {
            assert_eq!(
                (offset, field.as_str(), found, expected),
                (0x24, "section_offsets[1]", 999, 566)
            )
        }
        other => panic!("{other:?}"),
    }
    let s = lenient(&img);
    assert!(s.crc_ok());
    assert_eq!(s.findings.len(), 1);
    assert_eq!(s.pcrs, strict(&tiny()).expect("tiny").pcrs);

    // Trailing bytes shorter than a section header: AWS ignores (and does
    // not CRC) them.
    let mut img = tiny();
    img.extend_from_slice(&[1, 2, 3]);
    assert!(matches!(strict(&img), Err(EifError::TrailingBytes { offset: 892, len: 3 })));
    assert!(lenient(&img).crc_ok());

    let mut img = tiny();
    img[6..8].copy_from_slice(&2u16.to_be_bytes());
    fix_crc(&mut img);
    assert!(matches!(strict(&img), Err(EifError::UnknownFlags { flags: 2 })));

    // Metadata without CustomMetadata (AWS's reader fails on it).
    let bad_meta = br#"{"ImageName":"t","ImageVersion":"1","BuildMetadata":{"BuildTime":"x","BuildTool":"t","BuildToolVersion":"0","OperatingSystem":"L","KernelVersion":"0"},"DockerInfo":null}"#;
    let img = raw_eif(
        4,
        &[(KERNEL, 0, b"k"), (CMDLINE, 0, b"c"), (METADATA, 0, bad_meta), (RAMDISK, 0, b"r")],
    );
    assert!(matches!(strict(&img), Err(EifError::BadMetadata { offset: 574, .. })));
}

/// docs/formats/eif-and-pcrs.md §4.3: boundaries are not bound, an empty later ramdisk is
/// invisible,
/// and an empty first ramdisk still shifts routing.
#[test]
fn pcr_routing_facts() {
    let base = strict(&tiny()).expect("tiny").pcrs;
    let moved = raw_eif(
        4,
        &[
            (KERNEL, 0, b"kern"),
            (CMDLINE, 0, b"elconsole=ttyS0"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"ramdisk-one"),
            (RAMDISK, 0, b"ramdisk-two"),
        ],
    );
    assert_eq!(strict(&moved).expect("moved").pcrs, base);
    let extra = raw_eif(
        4,
        &[
            (KERNEL, 0, b"kernel"),
            (CMDLINE, 0, b"console=ttyS0"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"ramdisk-one"),
            (RAMDISK, 0, b""),
            (RAMDISK, 0, b"ramdisk-two"),
        ],
    );
    assert_eq!(strict(&extra).expect("extra").pcrs, base);
    let first_empty = raw_eif(
        4,
        &[
            (KERNEL, 0, b"kernel"),
            (CMDLINE, 0, b"console=ttyS0"),
            (METADATA, 0, META),
            (RAMDISK, 0, b""),
            (RAMDISK, 0, b"ramdisk-one"),
            (RAMDISK, 0, b"ramdisk-two"),
        ],
    );
    let p = strict(&first_empty).expect("first empty").pcrs;
    assert_eq!(p.pcr0, base.pcr0);
    assert_ne!(p.pcr1, base.pcr1);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Random corruption of a valid image never panics.
        #[test]
        fn corrupted_never_panics(pos in 0usize..892, byte in any::<u8>(), cut in 0usize..1000) {
            let mut img = tiny();
            img[pos] = byte;
            img.truncate(cut.min(img.len()));
            let _ = strict(&img);
            let _ = strict_stream(&img);
            let _ = read_eif(&img[..], None, &ReadOptions::inspect());
        }

        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            if bytes.len() >= 6 {
                bytes[..4].copy_from_slice(b".eif");
                bytes[4] = 0;
                bytes[5] = 4;
            }
            let _ = read_eif(&bytes[..], Some(bytes.len() as u64), &ReadOptions::inspect());
        }
    }
}
