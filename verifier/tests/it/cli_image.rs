//! End-to-end tests of the image subcommands, run on the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use build_spec::pcr::Measurements;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.env_remove("SOURCE_DATE_EPOCH").env("NO_COLOR", "1");
    c
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif")
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = c.output().expect("runs proofpack");
    (
        status.code().expect("exit code"),
        String::from_utf8(stdout).expect("utf8"),
        String::from_utf8(stderr).expect("utf8"),
    )
}

#[test]
fn pcrs_match_every_vector() {
    for v in ["tiny", "v1-one-ramdisk", "v2-two-ramdisks"] {
        let dir = vectors().join(v);
        let (code, out, err) = run(bin().arg("pcrs").arg(dir.join("image.eif")));
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("{\n  \"Measurements\": {\n    \"HashAlgorithm\""));
        let got = Measurements::from_json(out.as_bytes()).expect("nitro json");
        let want = Measurements::from_json(&std::fs::read(dir.join("pcrs.json")).expect("pcrs"))
            .expect("json");
        assert_eq!(got, want, "{v}");
        assert!(got.get(8).is_none());
    }
    let (code, out, _) =
        run(bin().args(["pcrs", "--format", "text"]).arg(vectors().join("tiny/image.eif")));
    assert_eq!(code, 0);
    assert!(out.starts_with("PCR0  bb50ac737a9fcfc0"), "{out}");
}

#[test]
fn malformed_image_exits_2_with_offset() {
    let t = tempfile::tempdir().expect("tmp");
    let mut img = std::fs::read(vectors().join("tiny/image.eif")).expect("img");
    img[560] ^= 0xff;
    let p = t.path().join("bad.eif");
    std::fs::write(&p, &img).expect("write");
    let (code, out, err) = run(bin().arg("pcrs").arg(&p));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("CRC mismatch at offset 544"), "{err}");
    // describe shows it and fails the check.
    let (code, out, _) = run(bin().arg("describe").arg(&p));
    assert_eq!(code, 1);
    assert!(out.contains("MISMATCH"), "{out}");
    // --lenient computes like nitro-cli.
    let (code, _, err) = run(bin().args(["pcrs", "--lenient"]).arg(&p));
    assert_eq!(code, 0);
    assert!(err.contains("CRC mismatch"));
    std::fs::write(&p, &img[..100]).expect("write");
    let (code, _, err) = run(bin().arg("describe").arg(&p));
    assert_eq!(code, 2);
    assert!(err.contains("offset 100") && err.contains("section_offsets"), "{err}");
}

#[test]
fn describe_text_and_json() {
    let img = vectors().join("v2-two-ramdisks/image.eif");
    let (code, out, _) = run(bin().arg("describe").arg(&img));
    assert_eq!(code, 0);
    for needle in [
        "CRC-32 stored 80e6cf87 computed 80e6cf87  OK",
        "ramdisk",
        "12242",
        "ImageName         v2",
        "PCR2  d32cebc5",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let (code, out, _) = run(bin().args(["describe", "--format", "json"]).arg(&img));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["CheckCRC"], true);
    assert_eq!(v["sections"][4]["header_offset"], 12242);
    assert_eq!(v["metadata"]["CustomMetadata"]["nested"]["a"], 1);
    assert_eq!(v["IsSigned"], false);
}

#[test]
fn pcr_of_file_and_certificate() {
    let (code, out, _) = run(bin().args(["pcr", "--input"]).arg(vectors().join("tiny/ramdisk2")));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["PCR"],
        "2cd856f1e4972f1947f680062077b9dc8d0c6179f7098d8ff298ff592accf884ed26df19b87937cbfe620dc14fc57bad"
    );
    let (code, out, _) =
        run(bin().args(["pcr", "--signing-certificate"]).arg(vectors().join("signing/cert-a.pem")));
    assert_eq!(code, 0);
    assert!(out.contains("\"PCR8\""));
    let (code, _, _) =
        run(bin().args(["pcr", "--signing-certificate"]).arg(vectors().join("tiny/kernel")));
    assert_eq!(code, 2);
    let (code, _, _) = run(bin().arg("pcr"));
    assert_eq!(code, 2, "no input is a usage error");
}

fn build_vector(dir: &Path, out: &Path) -> (i32, String, String) {
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("describe.json")).expect("d"))
            .expect("json");
    let m = &d["metadata"];
    let s = |v: &serde_json::Value| v.as_str().expect("str").to_owned();
    let mut c = bin();
    c.args(["eif", "build", "--kernel"]).arg(dir.join("kernel"));
    c.arg("--cmdline-file").arg(dir.join("cmdline.txt"));
    for i in 1..=2 {
        let r = dir.join(format!("ramdisk{i}"));
        if r.exists() {
            c.arg("--ramdisk").arg(r);
        }
    }
    if dir.join("custom.json").exists() {
        c.arg("--metadata").arg(dir.join("custom.json"));
    }
    c.args(["--name", &s(&m["ImageName"]), "--version", &s(&m["ImageVersion"])]);
    let b = &m["BuildMetadata"];
    c.args(["--build-tool", &s(&b["BuildTool"])]);
    c.args(["--build-tool-version", &s(&b["BuildToolVersion"])]);
    c.args(["--img-os", &s(&b["OperatingSystem"]), "--img-kernel", &s(&b["KernelVersion"])]);
    c.arg("-o").arg(out);
    run(&mut c)
}

#[test]
fn eif_build_reproduces_vectors() {
    let t = tempfile::tempdir().expect("tmp");
    for v in ["tiny", "v1-one-ramdisk", "v2-two-ramdisks"] {
        let dir = vectors().join(v);
        let out = t.path().join(format!("{v}.eif"));
        // BuildTime defaults to the epoch: no clock involved.
        let (code, stdout, err) = build_vector(&dir, &out);
        assert_eq!(code, 0, "{err}");
        assert!(
            std::fs::read(&out).expect("out") == std::fs::read(dir.join("image.eif")).expect("v"),
            "{v}: bytes differ"
        );
        let want = Measurements::from_json(&std::fs::read(dir.join("pcrs.json")).expect("p"))
            .expect("json");
        assert_eq!(Measurements::from_json(stdout.as_bytes()).expect("json"), want);
    }
    // SOURCE_DATE_EPOCH changes only the metadata, never the PCRs.
    let dir = vectors().join("tiny");
    let out = t.path().join("sde.eif");
    let mut c = bin();
    c.env("SOURCE_DATE_EPOCH", "1700000000");
    c.args(["eif", "build", "--cmdline", "console=ttyS0", "--kernel"]).arg(dir.join("kernel"));
    c.arg("--ramdisk").arg(dir.join("ramdisk1")).arg("--ramdisk").arg(dir.join("ramdisk2"));
    let (code, _, err) = run(c.arg("-o").arg(&out));
    assert_eq!(code, 0, "{err}");
    let (_, o, _) = run(bin().args(["describe", "--format", "json"]).arg(&out));
    let v: serde_json::Value = serde_json::from_str(&o).expect("json");
    assert_eq!(v["metadata"]["BuildMetadata"]["BuildTime"], "2023-11-14T22:13:20+00:00");
    assert_eq!(
        v["Measurements"]["PCR0"],
        "bb50ac737a9fcfc0d1aa3a43d2e6095c06a2b74e42d0cbad74401ec0444c8a10e2c0b1e7f12246e34aa21e0e178d194a"
    );
}

#[test]
fn build_from_directories_is_deterministic_and_diff_explains() {
    let t = tempfile::tempdir().expect("tmp");
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::write(root.join("bin/app"), b"v1").expect("write");
    let dir = vectors().join("tiny");
    let build = |out: &Path, extra: &[&str]| {
        let mut c = bin();
        c.args(["eif", "build", "--cmdline", "console=ttyS0", "--kernel"]).arg(dir.join("kernel"));
        c.arg("--ramdisk").arg(dir.join("ramdisk1")).arg("--ramdisk-dir").arg(&root);
        c.arg("-o").arg(out).args(extra);
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
    };
    let a = t.path().join("a.eif");
    let a2 = t.path().join("a2.eif");
    build(&a, &[]);
    // Rewrite the file (new mtime): the image must not change.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(root.join("bin/app"), b"v1").expect("rewrite");
    build(&a2, &[]);
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&a2).expect("a2"));
    let (code, out, _) = run(bin().arg("diff").arg(&a).arg(&a2));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("identical"));

    std::fs::write(root.join("bin/app"), b"v2").expect("change");
    let sig = vectors().join("signing");
    let b = t.path().join("b.eif");
    let cert = sig.join("cert-a.pem");
    let key = sig.join("key-a.pem");
    build(
        &b,
        &[
            "--signing-certificate",
            cert.to_str().expect("utf8"),
            "--private-key",
            key.to_str().expect("utf8"),
        ],
    );
    let (code, out, _) = run(bin().arg("diff").arg(&a).arg(&b));
    assert_eq!(code, 1);
    for needle in
        ["PCR0", "PCR2", "because ramdisk[1] changed", "~ bin/app: content", "signature   ADDED"]
    {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!out.contains("PCR1 "), "PCR1 must not differ:\n{out}");
    let (code, out, _) = run(bin().args(["diff", "--pcrs-only"]).arg(&a).arg(&b));
    assert_eq!(code, 1, "{out}");
    let (code, out, _) = run(bin().args(["diff", "--format", "json"]).arg(&a).arg(&b));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["identical"], false);
    // Signed image: pcrs shows PCR8 and exits 0; describe confirms PCR0.
    let (code, out, _) = run(bin().arg("pcrs").arg(&b));
    assert_eq!(code, 0);
    assert!(Measurements::from_json(out.as_bytes()).expect("json").get(8).is_some());
    let (code, out, _) = run(bin().arg("describe").arg(&b));
    assert_eq!(code, 0);
    assert!(out.contains("matches this image"), "{out}");

    // Corrupt the last byte of the signature section (end of the ECDSA
    // signature): pcrs --lenient (CRC not enforced) must fail the check.
    let mut bad = std::fs::read(&b).expect("b");
    let last = bad.len() - 1;
    bad[last] = if bad[last] == 0x17 { 0x16 } else { 0x17 };
    let badp = t.path().join("bad-sig.eif");
    std::fs::write(&badp, &bad).expect("write");
    let (code, out, err) = run(bin().args(["pcrs", "--lenient"]).arg(&badp));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("signature check failed"), "{err}");
    let (code, out, _) = run(bin().arg("describe").arg(&badp));
    assert_eq!(code, 1);
    assert!(out.contains("COSE signature    INVALID"), "{out}");
}
