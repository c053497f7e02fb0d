//! QEMU `nitro-enclave` NSM documents (issue 14): refused by default with
//! the emulator reason; in emulator mode parsed strictly, the chain replaced
//! by a WARN, every other check still run. The document is a real one
//! (`testvectors/emulator/README.md`).
use build_spec::pcr::Measurements;
use verifier::attestation::{
    parse, parse_with, verify, ParseErrorKind, ParseOptions, VerifyOptions, EMULATOR_DOCUMENT,
};
use verifier::report::{Outcome, Verdict};

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../testvectors/emulator/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn emulator_opts() -> VerifyOptions {
    VerifyOptions {
        parse: ParseOptions { emulator: true, ..Default::default() },
        ..VerifyOptions::default()
    }
}

#[test]
fn refused_by_default_with_the_emulator_reason() {
    let e = parse(&vector("qemu-nsm-doc.cbor")).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::EmulatorDocument);
    assert!(e.to_string().contains("unsigned emulator document, not evidence of Nitro hardware"));
    let r = verify(&vector("qemu-nsm-doc.cbor"), &VerifyOptions::default());
    assert_eq!(r.verdict(), Verdict::Fail);
}

#[test]
fn emulator_mode_warns_and_checks_the_rest() {
    let doc = vector("qemu-nsm-doc.cbor");
    let p = parse_with(&doc, ParseOptions { emulator: true, ..Default::default() }).unwrap();
    assert!(p.emulator);
    let pcrs = Measurements::from_json(&vector("image.pcrs.json")).unwrap();
    let mut opts = emulator_opts();
    opts.expect.pcrs = Some(pcrs.clone());
    let r = verify(&doc, &opts);
    assert_eq!(r.verdict(), Verdict::Pass, "{:#?}", r.checks);
    assert!(r.is_emulator());
    let chain = r.checks.0.iter().find(|c| c.id == "attestation.chain").unwrap();
    assert_eq!(chain.outcome, Outcome::Warn);
    assert_eq!(chain.detail, EMULATOR_DOCUMENT);
    // No signature check pretends to have passed.
    assert!(r.checks.0.iter().all(|c| c.id != "attestation.cose.signature"));
    // QEMU measured the EIF itself: its PCR0/1/2 are ours.
    for i in 0..=2u8 {
        assert_eq!(r.doc.as_ref().unwrap().pcrs.get(i), pcrs.get(i), "PCR{i}");
    }
    // A wrong expected PCR still fails.
    let mut wrong = pcrs;
    wrong.insert(2, [0x22; 48]);
    opts.expect.pcrs = Some(wrong);
    assert_eq!(verify(&doc, &opts).verdict(), Verdict::Fail);
}

#[test]
fn only_qemus_exact_shape_is_an_emulator_document() {
    let doc = vector("qemu-nsm-doc.cbor");
    // The signature is the last 64 bytes (bstr of 64 zeros): one non-zero
    // byte there is no emulator document any more.
    let mut sig = doc.clone();
    let n = sig.len();
    sig[n - 1] = 1;
    assert!(parse_with(&sig, ParseOptions { emulator: true, ..Default::default() }).is_err());
    // alg -35 with QEMU's 64-byte signature: a (broken) real document,
    // refused by the strict rules.
    let mut alg = doc.clone();
    let at = alg.windows(4).position(|w| w == [0x43, 0xa1, 0x01, 0x20]).unwrap();
    alg[at] = 0x44; // bstr of 4: {1: -35}
    alg[at + 3] = 0x38;
    alg.insert(at + 4, 0x22);
    let e = parse_with(&alg, ParseOptions { emulator: true, ..Default::default() }).unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::SignatureLength { len: 64 }), "{e}");
    // A truncated document is refused in emulator mode too.
    let r = verify(&doc[..doc.len() - 10], &emulator_opts());
    assert_eq!(r.verdict(), Verdict::Fail);
}
