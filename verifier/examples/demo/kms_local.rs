//! Starts `proofpack-kms-local` for the demo (path from `PROOFPACK_KMS_LOCAL`,
//! else next to this example's binary). Same surface as the tests' helper
//! (`tests/common/kms_local.rs`), which examples cannot use: it locates the
//! binary with `CARGO_BIN_EXE_*`, set only for tests and benches.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::secret::SecretBytes;

pub const REGION: &str = "us-east-1";

/// (access key id, secret, principal ARN, iam_allow_all) — demo-only credentials.
pub const PRINCIPALS: &[(&str, &str, &str, bool)] = &[
    (
        "AKIDADMIN",
        "admin-secret-0000000000000000000000000",
        "arn:aws:iam::111122223333:role/admin",
        true,
    ),
    (
        "AKIDENCLAVE",
        "enclave-secret-000000000000000000000000",
        "arn:aws:iam::111122223333:role/pack-enclave",
        false,
    ),
];

pub struct KmsLocal {
    child: Child,
    pub port: u16,
    pub clock_file: PathBuf,
    pub log: PathBuf,
}

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PROOFPACK_KMS_LOCAL") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("proofpack-kms-local")
}

impl KmsLocal {
    pub fn start_in(dir: &std::path::Path, root: &std::path::Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let creds = serde_json::json!({"principals": PRINCIPALS.iter().map(|(id, s, arn, iam)| serde_json::json!({
            "access_key_id": id, "secret_access_key": s, "principal_arn": arn, "iam_allow_all": iam
        })).collect::<Vec<_>>()});
        let cred_path = dir.join("credentials.json");
        std::fs::write(&cred_path, creds.to_string()).unwrap();
        let clock_file = dir.join("clock");
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        std::fs::write(&clock_file, now.to_string()).unwrap();
        let port_file = dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let log = dir.join("kms-local.log");
        let child = Command::new(binary())
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--credentials")
            .arg(&cred_path)
            .arg("--clock-file")
            .arg(&clock_file)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--attestation-root")
            .arg(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        let start = Instant::now();
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = s.trim().parse() {
                    break p;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(30), "kms-local did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { child, port, clock_file, log }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self, access_key_id: &str) -> KmsHttpClient {
        let (id, secret, _, _) = PRINCIPALS.iter().find(|p| p.0 == access_key_id).unwrap();
        let creds = Credentials {
            access_key_id: id.to_string(),
            secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
            session_token: None,
        };
        KmsHttpClient::new(KmsHttpConfig::new(self.endpoint(), REGION, creds)).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for KmsLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
