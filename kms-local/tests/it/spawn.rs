//! `kms_local::spawn`: the in-process server answers real KMS requests, logs
//! them to its own file, and stops when its handle is dropped.
use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::secret::SecretBytes;
use kms_local::http::{CredentialsFile, Principal};
use kms_local::{Config, LogTo};
use serde_json::json;

fn client(url: String) -> KmsHttpClient {
    let creds = Credentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: SecretBytes::from_slice(b"test-secret"),
        session_token: None,
    };
    KmsHttpClient::new(KmsHttpConfig::new(url, "us-east-1", creds)).unwrap()
}

#[test]
fn spawn_serves_logs_and_stops_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let creds = CredentialsFile {
        principals: vec![Principal {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "test-secret".into(),
            principal_arn: "arn:aws:iam::111122223333:role/test".into(),
            iam_allow_all: true,
        }],
    };
    let log = dir.path().join("server.log");
    let mut cfg = Config::new(dir.path().join("state"), creds);
    cfg.log = LogTo::File(log.clone());
    let server = kms_local::spawn(cfg).unwrap();
    assert!(server.addr().ip().is_loopback());
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.port()));

    let c = client(server.url());
    let md = c.call("CreateKey", &json!({})).unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:kms:us-east-1:111122223333:key/"), "{arn}");
    let keys = c.call("ListKeys", &json!({})).unwrap();
    assert_eq!(keys["Keys"].as_array().unwrap().len(), 1);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("role/test CreateKey -> 200 OK"), "{text}");
    assert!(text.lines().all(|l| l.starts_with("kms-local: ")), "{text}");

    let url = server.url();
    drop(server);
    assert!(client(url).call("ListKeys", &json!({})).is_err());
}

#[test]
fn spawn_reports_an_unreadable_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path().join("state"), CredentialsFile { principals: vec![] });
    cfg.clock = kms_local::Clock::File(dir.path().join("missing-clock"));
    let err = kms_local::spawn(cfg).unwrap_err();
    assert!(matches!(err, kms_local::SpawnError::Clock(_)), "{err}");
}
