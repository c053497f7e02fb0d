//! `CiphertextForRecipient` built by `proofpack-kms-local` opens with an
//! independent CMS implementation: OpenSSL's `cms -decrypt` (Debian openssl).
use std::process::Command;

use kms_local::cms::{envelope, subject_key_identifier, Encoding};

fn openssl(args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (scripts/install-test-deps)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn openssl_decrypts_der_and_ber_envelopes() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("key.pem");
    let key_s = key.to_str().unwrap();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_s]);
    let spki = openssl(&["pkey", "-in", key_s, "-pubout", "-outform", "DER"]).stdout;
    // A 32-byte data key like KMS releases, and a multi-chunk content for the BER chunking.
    let contents: [Vec<u8>; 2] =
        [(0u8..32).collect(), (0..3000u32).map(|i| (i * 7) as u8).collect()];
    for content in &contents {
        for enc in [Encoding::Der, Encoding::BerIndefinite] {
            let env = envelope(content, &spki, enc).unwrap();
            let p = d.path().join("env.der");
            std::fs::write(&p, &env).unwrap();
            let out = openssl(&[
                "cms",
                "-decrypt",
                "-inform",
                "DER",
                "-in",
                p.to_str().unwrap(),
                "-inkey",
                key_s,
                "-binary",
            ]);
            assert_eq!(&out.stdout, content, "{enc:?}");
            // The structure names OAEP, AES-256-CBC and the SKI.
            let dump = String::from_utf8(
                openssl(&[
                    "cms",
                    "-cmsout",
                    "-print",
                    "-inform",
                    "DER",
                    "-in",
                    p.to_str().unwrap(),
                ])
                .stdout,
            )
            .unwrap();
            assert!(dump.contains("rsaesOaep"), "{dump}");
            assert!(dump.contains("aes-256-cbc"), "{dump}");
            assert!(dump.contains("sha256"), "{dump}");
            if enc == Encoding::BerIndefinite {
                assert_eq!(&env[..2], &[0x30, 0x80]);
            }
        }
    }
    // Our subjectKeyIdentifier equals the one OpenSSL puts into a certificate
    // for the same key (RFC 5280 method 1).
    let cert = d.path().join("c.pem");
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        key_s,
        "-subj",
        "/CN=r",
        "-days",
        "1",
        "-out",
        cert.to_str().unwrap(),
    ]);
    let ext = String::from_utf8(
        openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-ext", "subjectKeyIdentifier"])
            .stdout,
    )
    .unwrap();
    let theirs: String = ext.lines().nth(1).unwrap().trim().replace(':', "").to_lowercase();
    assert_eq!(hex::encode(subject_key_identifier(&spki).unwrap()), theirs);
    // The wrong private key cannot open it.
    let other = d.path().join("other.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        other.to_str().unwrap(),
    ]);
    let env = envelope(b"secret", &spki, Encoding::Der).unwrap();
    let p = d.path().join("env2.der");
    std::fs::write(&p, &env).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            p.to_str().unwrap(),
            "-inkey",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success() || out.stdout != b"secret");
}
