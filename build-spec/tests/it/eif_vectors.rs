//! The shipped AWS vectors (`testvectors/eif/`): every image rebuilt byte for
//! byte from its inputs, every PCR and table entry read back as AWS's
//! library reports it.

use std::fs;
use std::path::{Path, PathBuf};

use build_spec::eif::metadata::BuildMetadata;
use build_spec::eif::{read_eif, read_eif_file, EifBuilder, EifMetadata, Input, ReadOptions};
use build_spec::pcr::Measurements;
use serde_json::Value;

fn vectors() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif");
    let mut v: Vec<_> = fs::read_dir(&root)
        .expect("testvectors/eif exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("image.eif").exists())
        .collect();
    v.sort();
    assert_eq!(v.len(), 3, "expected the three shipped vectors");
    v
}

fn describe(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("describe.json")).expect("describe.json"))
        .expect("json")
}

fn ramdisks(dir: &Path) -> Vec<Input> {
    (1..)
        .map(|i| dir.join(format!("ramdisk{i}")))
        .take_while(|p| p.exists())
        .map(Input::File)
        .collect()
}

/// The inputs: files of the folder plus the metadata fields from
/// describe.json (custom metadata from custom.json, as given to the builder).
fn builder(dir: &Path) -> EifBuilder {
    let d = describe(dir);
    let m = &d["metadata"];
    let s = |v: &Value| v.as_str().expect("string").to_owned();
    let b = &m["BuildMetadata"];
    let custom = match fs::read(dir.join("custom.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("custom json"),
        Err(_) => Value::Null,
    };
    EifBuilder {
        kernel: Input::File(dir.join("kernel")),
        cmdline: fs::read(dir.join("cmdline.txt")).expect("cmdline"),
        ramdisks: ramdisks(dir),
        arch: Default::default(),
        metadata: EifMetadata {
            image_name: s(&m["ImageName"]),
            image_version: s(&m["ImageVersion"]),
            build: BuildMetadata {
                build_time: s(&b["BuildTime"]),
                build_tool: s(&b["BuildTool"]),
                build_tool_version: s(&b["BuildToolVersion"]),
                operating_system: s(&b["OperatingSystem"]),
                kernel_version: s(&b["KernelVersion"]),
            },
            docker_info: Value::Null,
            custom,
        },
        signer: None,
    }
}

#[test]
fn every_vector_rebuilt_byte_for_byte() {
    for dir in vectors() {
        let expected = fs::read(dir.join("image.eif")).expect("image");
        let (got, out) = builder(&dir).to_vec().expect("builds");
        assert_eq!(got.len(), expected.len(), "{}", dir.display());
        assert!(got == expected, "{}: bytes differ", dir.display());
        let pcrs = Measurements::from_json(&fs::read(dir.join("pcrs.json")).expect("pcrs"))
            .expect("pcrs json");
        assert_eq!(out.pcrs.to_measurements(), pcrs, "{}", dir.display());
    }
}

#[test]
fn every_vector_read_back_like_aws() {
    for dir in vectors() {
        let d = describe(&dir);
        let s = read_eif_file(&dir.join("image.eif"), &ReadOptions::default()).expect("reads");
        let pcrs = Measurements::from_json(&fs::read(dir.join("pcrs.json")).expect("pcrs"))
            .expect("pcrs json");
        assert_eq!(s.measurements(), pcrs, "{}", dir.display());
        assert!(s.crc_ok());
        assert_eq!(format!("{:08x}", s.computed_crc32), d["computed_crc32"].as_str().expect("crc"));
        assert_eq!(s.file_len, d["file_size"].as_u64().expect("size"));
        let secs = d["sections"].as_array().expect("sections");
        assert_eq!(s.sections.len(), secs.len());
        for (got, want) in s.sections.iter().zip(secs) {
            assert_eq!(got.header_offset, want["header_offset"].as_u64().expect("off"));
            assert_eq!(got.data_offset, want["data_offset"].as_u64().expect("off"));
            assert_eq!(got.size, want["size"].as_u64().expect("size"));
            assert_eq!(got.kind.aws_name(), want["type"].as_str().expect("type"));
            assert_eq!(u64::from(got.kind.to_u16()), want["type_value"].as_u64().expect("tv"));
        }
        let meta = s.metadata.as_ref().expect("metadata");
        assert_eq!(
            serde_json::to_value(meta).expect("ser")["ImageName"],
            d["metadata"]["ImageName"]
        );
        // Streamed without a known length gives the same answer.
        let bytes = fs::read(dir.join("image.eif")).expect("image");
        let s2 =
            read_eif(&bytes[..], None, &ReadOptions { chunk_size: 4096, ..ReadOptions::default() })
                .expect("reads stream");
        assert_eq!(s2.pcrs, s.pcrs);
    }
}

#[test]
fn tiny_vector_matches_spec_worked_example() {
    let dir = vectors().into_iter().find(|p| p.ends_with("tiny")).expect("tiny");
    let s = read_eif_file(&dir.join("image.eif"), &ReadOptions::default()).expect("reads");
    assert_eq!(s.header.eif_crc32, 0x4EE6_0715);
    assert_eq!(&s.header.section_offsets[..6], &[548, 566, 591, 846, 869, 0]);
    let m = s.measurements();
    assert_eq!(
        m.hex(0).as_deref(),
        Some("bb50ac737a9fcfc0d1aa3a43d2e6095c06a2b74e42d0cbad74401ec0444c8a10e2c0b1e7f12246e34aa21e0e178d194a")
    );
    assert_eq!(m.get(8), None);
}
