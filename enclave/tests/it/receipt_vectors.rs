//! DSSE/PAE/Ed25519 vectors, the synthetic receipt of testvectors/receipts,
//! and cross-checks with the securesystemslib reference implementation.
use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use enclave::receipt::dsse::{self, parse_ed25519_spki, DsseError, Envelope, PAYLOAD_TYPE};
use enclave::receipt::model::{self, Predicate, StatementLayer};
use enclave::receipt::statement::binding;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn rv(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/receipts").join(name),
    )
    .unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&rv(name)).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn pae_vectors() {
    for case in json("dsse_pae.json")["cases"].as_array().unwrap() {
        let t = case["payloadType"].as_str().unwrap();
        assert_eq!(
            dsse::pae(t.as_bytes(), &h(&case["payload_hex"])),
            h(&case["pae_hex"]),
            "{}",
            case["description"]
        );
    }
}

#[test]
fn ed25519_envelopes_reproduce_byte_for_byte() {
    let v = json("dsse_ed25519_rfc8032_test1.json");
    let seed: [u8; 32] = h(&v["seed_hex"]).try_into().unwrap();
    let sk = SigningKey::from_bytes(&seed);
    for e in v["envelopes"].as_array().unwrap() {
        let t = e["payloadType"].as_str().unwrap();
        let keyid = e["envelope"]["signatures"][0]["keyid"].as_str().unwrap().to_owned();
        let ours = Envelope::sign(t, h(&e["payload_hex"]), &sk, Some(keyid)).unwrap();
        assert_eq!(ours.signatures[0].sig, h(&e["sig_hex"]));
        assert_eq!(ours.to_json_bytes(), e["envelope_json"].as_str().unwrap().as_bytes());
        let parsed = Envelope::parse(e["envelope_json"].as_str().unwrap().as_bytes()).unwrap();
        assert!(parsed.verify(&sk.verifying_key()));
        let mut tampered = parsed.clone();
        tampered.payload.push(b' ');
        assert!(!tampered.verify(&sk.verifying_key()));
    }
    // keyid = SHA-256 of the SPKI.
    assert_eq!(hex::encode(sk.verifying_key().as_bytes()), v["public_key_hex"].as_str().unwrap());
    assert_eq!(
        sk.sign(b"").to_bytes().to_vec(),
        h(&v["rfc8032_test1_empty_message_signature_hex"])
    );
    let spki = dsse::ed25519_spki(&sk.verifying_key());
    assert_eq!(hex::encode(spki), v["public_key_spki_der_hex"].as_str().unwrap());
    assert_eq!(hex::encode(Sha256::digest(spki)), v["keyid"].as_str().unwrap());
}

#[test]
fn ed25519_negative_vectors_rejected() {
    for case in json("ed25519_negative.json")["cases"].as_array().unwrap() {
        let pk: [u8; 32] = h(&case["public_key_hex"]).try_into().unwrap();
        let expect_accept = case["strict_expected"] == "accept";
        let accepted = VerifyingKey::from_bytes(&pk)
            .map(|k| dsse::verify_strict(&k, &h(&case["message_hex"]), &h(&case["signature_hex"])))
            .unwrap_or(false);
        assert_eq!(accepted, expect_accept, "{}", case["name"]);
        if case["name"] == "small_order_key_universal_forgery" {
            let mut spki = dsse::ED25519_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(&pk);
            assert_eq!(
                parse_ed25519_spki(&spki).unwrap_err(),
                DsseError::Key("small-order (weak) key")
            );
        }
    }
}

#[test]
fn envelope_parsing_is_strict() {
    let ok = br#"{"payload":"eyJhIjoxfQ==","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}"#;
    assert!(Envelope::parse(ok).is_ok());
    let url = br#"{"payload":"eyJhIjoxfQ==","payloadType":"x","signatures":[{"sig":"-_8="}]}"#;
    assert_eq!(Envelope::parse(url).unwrap().signatures[0].sig, vec![0xfb, 0xff]);
    for bad in [
        &br#"{"payload":"eyJhIjoxfQ","payloadType":"x","signatures":[{"sig":"AA=="}]}"#[..], // unpadded
        br#"{"payload":"eyJhIjoxfQ==","payloadType":"x","signatures":[]}"#,
        br#"{"payload":"eyJhIjoxfQ==","payloadType":"x","payloadType":"y","signatures":[{"sig":"AA=="}]}"#,
        br#"{"payload":"eyJhIjoxfQ==","payloadType":1,"signatures":[{"sig":"AA=="}]}"#,
        br#"{"payload":"eyJhIjoxfQ==","payloadType":"x","signatures":[{"sig":"AA==","keyid":3}]}"#,
        br#"{"payload":"eyJh+_oxfQ==","payloadType":"x","signatures":[{"sig":"AA=="}]}"#, // mixed alphabets
        br#"[]"#,
    ] {
        assert!(Envelope::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(
        Envelope::sign("has space", vec![], &SigningKey::from_bytes(&[1; 32]), None).unwrap_err(),
        DsseError::PayloadType
    );
}

#[test]
fn synthetic_receipt_verifies() {
    let exp = json("synthetic_receipt_expected.json");
    let env_bytes = rv("synthetic_receipt.dsse.json");
    let env = Envelope::parse(&env_bytes).unwrap();
    assert_eq!(env.payload_type, PAYLOAD_TYPE);
    assert_eq!(env.payload, rv("synthetic_receipt_statement.json"));
    assert!(enclave::json::is_canonical(&env.payload));
    let st = enclave::json::parse_strict(&env.payload).unwrap();
    let (doc_k, doc_r) = model::extract_documents(&st).unwrap();
    assert_eq!(doc_k, rv("synthetic_doc_k.cbor"));
    assert_eq!(doc_r, rv("synthetic_doc_r.cbor"));
    let r = attestation::parse(&doc_r).unwrap().doc;
    let key = parse_ed25519_spki(r.public_key.as_ref().unwrap()).unwrap();
    assert!(env.verify(&key));
    StatementLayer::from_value(&st).unwrap();
    Predicate::from_value(&st["predicate"]).unwrap();
    let request = STANDARD.decode(st["predicate"]["job"]["request"].as_str().unwrap()).unwrap();
    assert_eq!(request, rv("synthetic_job_request.json"));
    let b = binding(&Sha256::digest(&request).into(), &doc_k);
    assert_eq!(hex::encode(b), exp["binding_user_data_hex"].as_str().unwrap());
    assert_eq!(r.user_data.unwrap(), b.to_vec());
    assert_eq!(hex::encode(Sha256::digest(r.public_key.unwrap())), exp["keyid"].as_str().unwrap());
    // The request in the receipt parses with the service's strict request parser.
    assert!(enclave::service::PackRequest::parse(&request).is_ok());

    // Negative: a flipped payload byte breaks the signature; an extra predicate
    // member is a schema problem; pretty-printing is non-canonical.
    let mut flipped = env.clone();
    flipped.payload[10] ^= 1;
    assert!(!flipped.verify(&key));
    let mut extra = st.clone();
    extra["predicate"]["extra"] = Value::from(1);
    assert!(Predicate::from_value(&extra["predicate"]).unwrap_err().to_string().contains("extra"));
    let mut no_pcr8 = st.clone();
    no_pcr8["predicate"]["enclave"]["pcrs"].as_object_mut().unwrap().remove("8");
    assert!(Predicate::from_value(&no_pcr8["predicate"]).is_err());
    assert!(!enclave::json::is_canonical(serde_json::to_string_pretty(&st).unwrap().as_bytes()));
}

fn python() -> Command {
    let ok = Command::new("python3")
        .args(["-c", "import securesystemslib.dsse, cryptography"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "python3 with securesystemslib is required: run scripts/install-test-deps");
    Command::new("python3")
}

const SSLIB_VERIFY: &str = r#"
import json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
env = Envelope.from_dict(json.loads(sys.stdin.read()))
key = SSlibKey(keyid=env.signatures and list(env.signatures)[0], keytype="ed25519", scheme="ed25519", keyval={"public": sys.argv[1]})
env.verify([key], 1)
print("VERIFIED")
"#;

const SSLIB_SIGN: &str = r#"
import json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey
priv = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[1]))
signer = CryptoSigner(priv, public_key=SSlibKey.from_crypto(priv.public_key(), keyid="theirs"))
env = Envelope(payload=sys.argv[2].encode(), payload_type="application/vnd.in-toto+json", signatures={})
env.sign(signer)
print(json.dumps(env.to_dict()))
"#;

#[test]
fn securesystemslib_verifies_our_envelope() {
    use std::io::Write;
    let sk = SigningKey::from_bytes(&[7; 32]);
    let payload =
        br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[]}"#.to_vec();
    let env = Envelope::sign(PAYLOAD_TYPE, payload, &sk, Some("ours".into())).unwrap();
    for (bytes, want) in [
        (env.to_json_bytes(), true),
        (
            {
                let mut t = env.clone();
                t.payload.push(b'x');
                t.to_json_bytes()
            },
            false,
        ),
    ] {
        let mut child = python()
            .args(["-c", SSLIB_VERIFY, &hex::encode(sk.verifying_key().as_bytes())])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        let verified =
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("VERIFIED");
        assert_eq!(verified, want, "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn we_verify_a_securesystemslib_envelope() {
    let seed = [9u8; 32];
    let out = python().args(["-c", SSLIB_SIGN, &hex::encode(seed), r#"{"a":1}"#]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = Envelope::parse(String::from_utf8(out.stdout).unwrap().trim().as_bytes()).unwrap();
    let vk = SigningKey::from_bytes(&seed).verifying_key();
    assert!(env.verify(&vk));
    assert_eq!(env.payload, br#"{"a":1}"#);
    assert!(!env.verify(&SigningKey::from_bytes(&[8; 32]).verifying_key()));
}
