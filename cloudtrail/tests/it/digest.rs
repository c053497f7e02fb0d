//! Digest-file verification: a signed chain over two log files verifies;
//! a changed log, a missing log, a broken chain, a wrong key and an unknown
//! signature are each reported.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use cloudtrail::digest::{read_digest, read_public_key, signing_string, verify, DigestFile};
use cloudtrail::write::DeliveryWriter;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256};

use crate::common::vector;

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    logs: Vec<PathBuf>,
    digests: Vec<PathBuf>,
    key: RsaPrivateKey,
}

fn sha_uncompressed(p: &Path) -> [u8; 32] {
    let mut h = None;
    let s = cloudtrail::read::read_file_hashed(p, true, &mut |_| ControlFlow::Continue(()))
        .expect("read");
    h.get_or_insert(s.sha256.expect("hashed"));
    h.expect("hash")
}

fn digest_json(
    start: &str,
    end: &str,
    object: &str,
    prev: Option<(&str, String, String)>,
    logs: &[(String, [u8; 32])],
) -> String {
    let mut v = serde_json::json!({
        "awsAccountId": "111122223333",
        "digestStartTime": start,
        "digestEndTime": end,
        "digestS3Bucket": "amzn-s3-demo-bucket",
        "digestS3Object": object,
        "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": end,
        "oldestEventTime": start,
        "logFiles": logs.iter().map(|(name, h)| serde_json::json!({
            "s3Bucket": "amzn-s3-demo-bucket",
            "s3Object": format!("AWSLogs/111122223333/CloudTrail/us-west-2/2020/03/04/{name}"),
            "hashValue": hex::encode(h),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": end,
            "oldestEventTime": start
        })).collect::<Vec<_>>()
    });
    match prev {
        Some((obj, hash, sig)) => {
            v["previousDigestS3Bucket"] = "amzn-s3-demo-bucket".into();
            v["previousDigestS3Object"] = obj.into();
            v["previousDigestHashValue"] = hash.into();
            v["previousDigestHashAlgorithm"] = "SHA-256".into();
            v["previousDigestSignature"] = sig.into();
        }
        None => {
            v["previousDigestSignature"] = serde_json::Value::Null;
        }
    }
    serde_json::to_string_pretty(&v).expect("json")
}

fn sign(
    key: &RsaPrivateKey,
    end: &str,
    object: &str,
    content: &str,
    prev_sig: Option<&str>,
) -> String {
    let msg = format!(
        "{end}\namzn-s3-demo-bucket/{object}\n{}\n{}",
        hex::encode(Sha256::digest(content.as_bytes())),
        prev_sig.unwrap_or("null")
    );
    let sk = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    hex::encode(sk.sign(msg.as_bytes()).to_bytes())
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("trail");
    let (r, evs) = crate::common::read_all(&vector("aws-docs-createkey-putkeypolicy.json"));
    r.expect("vector");
    let records: Vec<_> = evs.into_iter().map(|(_, e)| e).collect();
    let mut w = DeliveryWriter::new(&root, "111122223333", "us-west-2");
    let logs = vec![w.write(&records[..1]).expect("w"), w.write(&records[1..]).expect("w")];
    let name = |p: &PathBuf| p.file_name().expect("name").to_string_lossy().to_string();
    let mut rng = rand::thread_rng();
    let key = RsaPrivateKey::new(&mut rng, 2048).expect("key");
    let ddir = root.join("AWSLogs/111122223333/CloudTrail-Digest/us-west-2/2020/03/04");
    std::fs::create_dir_all(&ddir).expect("mkdir");
    let o1 = "AWSLogs/111122223333/CloudTrail-Digest/us-west-2/2020/03/04/d1.json.gz";
    let o2 = "AWSLogs/111122223333/CloudTrail-Digest/us-west-2/2020/03/04/d2.json.gz";
    let d1 = digest_json(
        "2020-03-04T22:30:00Z",
        "2020-03-04T23:30:00Z",
        o1,
        None,
        &[(name(&logs[0]), sha_uncompressed(&logs[0]))],
    );
    let s1 = sign(&key, "2020-03-04T23:30:00Z", o1, &d1, None);
    let d2 = digest_json(
        "2020-03-04T23:30:00Z",
        "2020-03-05T00:30:00Z",
        o2,
        Some((o1, hex::encode(Sha256::digest(d1.as_bytes())), s1.clone())),
        &[(name(&logs[1]), sha_uncompressed(&logs[1]))],
    );
    let s2 = sign(&key, "2020-03-05T00:30:00Z", o2, &d2, Some(&s1));
    let p1 = ddir.join("d1.json");
    let p2 = ddir.join("d2.json");
    std::fs::write(&p1, &d1).expect("w");
    std::fs::write(&p2, &d2).expect("w");
    std::fs::write(ddir.join("d2.json.sig"), &s2).expect("w");
    World { _dir: dir, root, logs, digests: vec![p1, p2], key }
}

fn public(w: &World) -> RsaPublicKey {
    RsaPublicKey::from(&w.key)
}

fn hashes(w: &World) -> HashMap<String, [u8; 32]> {
    w.logs.iter().map(|p| (cloudtrail::digest::log_name(p), sha_uncompressed(p))).collect()
}

fn digests(w: &World) -> Vec<DigestFile> {
    w.digests.iter().map(|p| read_digest(p).expect("digest")).collect()
}

#[test]
fn a_signed_chain_verifies_and_covers_its_hours() {
    let w = world();
    let got = cloudtrail::read::collect(std::slice::from_ref(&w.root)).expect("collect");
    assert_eq!(got.digests.len(), 2, "digest files are recognised by their folder");
    let i = verify(&digests(&w), &[public(&w)], &hashes(&w));
    assert_eq!((i.signed, i.failures.clone(), i.undecided.clone()), (2, vec![], vec![]), "{i:?}");
    assert_eq!(i.covered, Some((1_583_361_000, 1_583_368_200)));
}

#[test]
fn each_break_is_reported() {
    let w = world();
    let key = public(&w);
    // A changed log file.
    let mut h = hashes(&w);
    let first = cloudtrail::digest::log_name(&w.logs[0]);
    h.insert(first.clone(), [0u8; 32]);
    let i = verify(&digests(&w), std::slice::from_ref(&key), &h);
    assert!(i.failures.iter().any(|f| f.contains(&first) && f.contains("changed")), "{i:?}");
    // A missing one, and a file no digest lists.
    let mut h = hashes(&w);
    h.remove(&first);
    h.insert("extra.json.gz".into(), [1u8; 32]);
    let i = verify(&digests(&w), std::slice::from_ref(&key), &h);
    assert!(i.failures.iter().any(|f| f.contains("missing")), "{i:?}");
    assert!(i.undecided.iter().any(|f| f.contains("extra.json.gz")), "{i:?}");
    // Another key.
    let other =
        RsaPublicKey::from(&RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("key"));
    let i = verify(&digests(&w), &[other], &hashes(&w));
    assert_eq!(i.signed, 0);
    assert_eq!(i.failures.len(), 2, "{i:?}");
    // The newest signature unknown: undecided, not a pass.
    std::fs::remove_file(format!("{}.sig", w.digests[1].display())).expect("rm");
    let i = verify(&digests(&w), std::slice::from_ref(&key), &hashes(&w));
    assert_eq!(i.signed, 1);
    assert!(i.undecided.iter().any(|u| u.contains("signature is unknown")), "{i:?}");
    // A digest edited after signing breaks the chain hash and its signature.
    let t = std::fs::read_to_string(&w.digests[0]).expect("r").replace("22:30:00Z", "22:31:00Z");
    std::fs::write(&w.digests[0], t).expect("w");
    let i = verify(&digests(&w), &[key], &hashes(&w));
    assert!(i.failures.iter().any(|f| f.contains("previousDigestHashValue")), "{i:?}");
    assert!(i.failures.iter().any(|f| f.contains("does not verify")), "{i:?}");
}

#[test]
fn public_keys_in_every_documented_form() {
    let w = world();
    let k = public(&w);
    let d = tempfile::tempdir().expect("tmp");
    let der = k.to_public_key_der().expect("der");
    let pem = k.to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
    use base64::Engine as _;
    let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&k).expect("pkcs1");
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs1.as_bytes());
    for (name, bytes) in [
        ("k.der", der.as_bytes().to_vec()),
        ("k.pem", pem.into_bytes()),
        ("k.b64", b64.into_bytes()),
    ] {
        std::fs::write(d.path().join(name), bytes).expect("w");
        assert_eq!(read_public_key(&d.path().join(name)).expect(name), k, "{name}");
    }
    std::fs::write(d.path().join("bad"), b"not a key").expect("w");
    assert!(read_public_key(&d.path().join("bad")).is_err());
    std::fs::write(d.path().join("bad.json"), b"{}").expect("w");
    assert!(read_digest(&d.path().join("bad.json")).is_err());
}

#[test]
fn the_documented_sample_digest_parses() {
    // Structure only: AWS's signature and public key are not available.
    let path = vector("aws-docs-digest.json");
    let d = read_digest(&path).expect("documented digest");
    assert_eq!(d.end_text, "2015-08-17T15:01:31Z");
    assert_eq!(d.end - d.start, 3600);
    assert_eq!(d.fingerprint.as_deref(), Some("31e8b5433410dfb61a9dc45cc65b22ff"));
    assert!(d.s3_path.starts_with(
        "amzn-s3-demo-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
    ));
    assert!(d.previous_object.as_deref().is_some_and(|o| o.ends_with("_20150817T140131Z.json.gz")));
    assert_eq!(
        d.previous_hash.as_deref(),
        Some("97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d")
    );
    assert_eq!(d.logs.len(), 1);
    assert!(d
        .logs
        .contains_key("111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz"));
    // The string CloudTrail signs: end time, bucket/object, SHA-256 of the
    // file, the previous signature.
    let s = signing_string(&d);
    let lines: Vec<&str> = s.split('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "2015-08-17T15:01:31Z");
    assert_eq!(lines[1], d.s3_path);
    assert_eq!(lines[2], hex::encode(Sha256::digest(std::fs::read(&path).expect("read"))));
    assert!(lines[3].starts_with("50887ccffad4c002"));
    // No key verifies it; with a key of ours it is a bad signature, not a pass.
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("key");
    assert!(!cloudtrail::digest::signature_valid(&d, lines[3], &[RsaPublicKey::from(&key)]));
}

#[test]
fn a_digest_moved_from_its_object_name_fails() {
    // aws-cli's validate-logs rejects a digest found elsewhere than its
    // digestS3Object ("has been moved from its original location"); so do we.
    let w = world();
    let moved = w.digests[1].with_file_name("d3.json");
    std::fs::rename(&w.digests[1], &moved).expect("mv");
    std::fs::rename(format!("{}.sig", w.digests[1].display()), format!("{}.sig", moved.display()))
        .expect("mv sig");
    let ds = vec![read_digest(&w.digests[0]).expect("d1"), read_digest(&moved).expect("d3")];
    let i = verify(&ds, &[public(&w)], &hashes(&w));
    assert_eq!(i.signed, 2, "the signatures still verify: {i:?}");
    assert!(i.failures.iter().any(|f| f.contains("d3.json") && f.contains("moved")), "{i:?}");
}
