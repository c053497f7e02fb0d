//! Property tests: write -> read gives the same sections and PCRs, and the
//! PCRs equal an independent computation from the spec's formula.

use build_spec::eif::metadata::BuildMetadata;
use build_spec::eif::{read_eif, Arch, EifBuilder, EifMetadata, Input, ReadOptions, SectionType};
use proptest::prelude::*;
use sha2::{Digest, Sha384};

fn pcr(content: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update([0u8; 48]);
    h.update(Sha384::digest(content));
    h.finalize().into()
}

fn meta(name: String, custom: serde_json::Value) -> EifMetadata {
    EifMetadata {
        image_name: name.clone(),
        image_version: "1".into(),
        build: BuildMetadata {
            build_time: "1970-01-01T00:00:00+00:00".into(),
            build_tool: "proptest".into(),
            build_tool_version: "0".into(),
            operating_system: "Linux".into(),
            kernel_version: "6.1".into(),
        },
        docker_info: serde_json::Value::Null,
        custom,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn write_read_roundtrip(
        kernel in proptest::collection::vec(any::<u8>(), 0..3000),
        cmdline in "[ -~]{0,200}",
        ramdisks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..5000), 1..5),
        arm in any::<bool>(),
        name in "[a-zA-Z0-9 \"\\\\é]{0,20}",
        key in "[a-z]{1,5}",
        chunk in 4096usize..20000,
    ) {
        let custom = serde_json::json!({ key: [1, "x", null], "a": {"z": 1, "b": 2} });
        let b = EifBuilder {
            kernel: Input::Bytes(kernel.clone()),
            cmdline: cmdline.clone().into_bytes(),
            ramdisks: ramdisks.iter().cloned().map(Input::Bytes).collect(),
            arch: if arm { Arch::Aarch64 } else { Arch::X86_64 },
            metadata: meta(name, custom),
            signer: None,
        };
        let (img, out) = b.to_vec().expect("builds");
        let s = read_eif(&img[..], Some(img.len() as u64), &ReadOptions { chunk_size: chunk, section_digests: true, ..ReadOptions::default() }).expect("reads strictly");
        prop_assert_eq!(s.pcrs, out.pcrs);
        prop_assert_eq!(s.header.eif_crc32, out.crc32);
        prop_assert_eq!(s.arch(), b.arch);
        // Stored custom metadata is key-sorted but equal as JSON.
        prop_assert_eq!(s.metadata.as_ref(), Some(&b.metadata));
        let kinds: Vec<_> = s.sections.iter().map(|x| x.kind).collect();
        let mut want = vec![SectionType::Kernel, SectionType::Cmdline, SectionType::Metadata];
        want.extend(std::iter::repeat(SectionType::Ramdisk).take(ramdisks.len()));
        prop_assert_eq!(kinds, want);
        for (sec, rd) in s.sections[3..].iter().zip(&ramdisks) {
            prop_assert_eq!(sec.size, rd.len() as u64);
            prop_assert_eq!(sec.sha256.map(|d| d.to_vec()), Some(sha2::Sha256::digest(rd).to_vec()));
        }
        // Independent PCRs.
        let mut c0 = kernel.clone();
        c0.extend_from_slice(cmdline.as_bytes());
        let mut c1 = c0.clone();
        c1.extend_from_slice(&ramdisks[0]);
        let c2: Vec<u8> = ramdisks[1..].concat();
        for r in &ramdisks { c0.extend_from_slice(r); }
        prop_assert_eq!(s.pcrs.pcr0, pcr(&c0));
        prop_assert_eq!(s.pcrs.pcr1, pcr(&c1));
        prop_assert_eq!(s.pcrs.pcr2, pcr(&c2));
        prop_assert_eq!(s.pcrs.pcr8, None);
    }
}

#[test]
fn builder_rejects_bad_input() {
    let mut b = EifBuilder {
        kernel: Input::Bytes(b"k".to_vec()),
        cmdline: b"a\0b".to_vec(),
        ramdisks: vec![Input::Bytes(b"r".to_vec())],
        arch: Arch::X86_64,
        metadata: meta("x".into(), serde_json::Value::Null),
        signer: None,
    };
    assert!(b.to_vec().is_err(), "NUL in cmdline");
    b.cmdline = b"ok".to_vec();
    b.ramdisks.clear();
    assert!(b.to_vec().is_err(), "no ramdisk");
    b.ramdisks = vec![Input::Bytes(vec![]); 30];
    assert!(b.to_vec().is_err(), "33 sections");
    b.ramdisks = vec![Input::File("/nonexistent/ramdisk".into())];
    assert!(b.to_vec().is_err(), "missing file");
}
