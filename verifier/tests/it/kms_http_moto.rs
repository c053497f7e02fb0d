//! Our KMS client against moto's server, an independent KMS implementation
//! (Python, `pip install 'moto[server]'`), standing in for AWS: plain
//! Encrypt/Decrypt without Recipient, error mapping, the request id.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::backend::{DecryptRequest, EncryptRequest, EncryptionContext, Kms, KmsError};
use enclave::secret::SecretBytes;

struct Moto(Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn our_client_talks_to_moto_kms() {
    let port = free_port();
    let _moto = Moto(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (scripts/install-test-deps)"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let creds = Credentials {
        access_key_id: "AKIDMOTO".into(),
        secret_access_key: SecretBytes::from_slice(b"moto-secret"),
        session_token: Some("moto-session".into()),
    };
    let c = KmsHttpClient::new(KmsHttpConfig::new(
        format!("http://127.0.0.1:{port}"),
        "us-east-1",
        creds,
    ))
    .unwrap();
    let md =
        c.call("CreateKey", &serde_json::json!({"Description": "proofpack client test"})).unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let ctx: EncryptionContext = [("app".to_string(), "api".to_string())].into();
    let (enc, request_id) = c.encrypt_traced(&EncryptRequest {
        key_id: arn.clone(),
        plaintext: SecretBytes::from_slice(b"data key bytes"),
        encryption_context: ctx.clone(),
    });
    let enc = enc.unwrap();
    assert!(request_id.is_some_and(|r| !r.is_empty()));
    let dec = c
        .decrypt(&DecryptRequest {
            ciphertext_blob: enc.ciphertext_blob.clone(),
            key_id: None,
            encryption_context: ctx.clone(),
            recipient: None,
        })
        .unwrap();
    assert_eq!(dec.plaintext.unwrap().expose(), b"data key bytes");
    assert!(dec.key_id.ends_with(arn.rsplit('/').next().unwrap()), "{}", dec.key_id);
    // moto's errors come back as typed service errors.
    let e = c
        .encrypt(&EncryptRequest {
            key_id: "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
                .into(),
            plaintext: SecretBytes::from_slice(b"x"),
            encryption_context: ctx,
        })
        .unwrap_err();
    match e {
        KmsError::Service { code, .. } => assert_eq!(code, "NotFoundException"),
        other => panic!("{other}"),
    }
}
