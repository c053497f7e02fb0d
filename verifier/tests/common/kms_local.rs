//! Spawns `proofpack-kms-local` on a free loopback port for a test.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::secret::SecretBytes;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";

/// (access key id, secret, principal ARN, iam_allow_all)
pub const PRINCIPALS: &[(&str, &str, &str, bool)] = &[
    (
        "AKIDADMIN",
        "admin-secret-0000000000000000000000000",
        "arn:aws:iam::111122223333:role/admin",
        true,
    ),
    (
        "AKIDAPP",
        "app-secret-00000000000000000000000000000",
        "arn:aws:iam::111122223333:role/app",
        false,
    ),
    (
        "AKIDENCLAVE",
        "enclave-secret-000000000000000000000000",
        "arn:aws:iam::111122223333:role/pack-enclave",
        false,
    ),
    (
        "AKIDOTHER",
        "other-secret-0000000000000000000000000",
        "arn:aws:iam::111122223333:role/other",
        false,
    ),
];

pub struct KmsLocal {
    child: Child,
    /// The write end of the server's stdin: when this process exits, even
    /// without dropping a `static` holding us, the server sees EOF and stops
    /// (`--exit-on-stdin-eof`).
    _lifeline: Option<std::process::ChildStdin>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub clock_file: PathBuf,
    pub log: PathBuf,
}

impl KmsLocal {
    /// Starts the server; `root` is the attestation root PEM, if any.
    pub fn start(root: Option<&Path>) -> Self {
        Self::start_with(root, &[])
    }

    /// [`KmsLocal::start`] with extra server arguments.
    pub fn start_with(root: Option<&Path>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let creds = serde_json::json!({"principals": PRINCIPALS.iter().map(|(id, s, arn, iam)| serde_json::json!({
            "access_key_id": id, "secret_access_key": s, "principal_arn": arn, "iam_allow_all": iam
        })).collect::<Vec<_>>()});
        let cred_path = dir.path().join("credentials.json");
        std::fs::write(&cred_path, creds.to_string()).unwrap();
        let clock_file = dir.path().join("clock");
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        std::fs::write(&clock_file, now.to_string()).unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack-kms-local"));
        cmd.arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--credentials")
            .arg(&cred_path)
            .arg("--clock-file")
            .arg(&clock_file)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(r) = root {
            cmd.arg("--attestation-root").arg(r);
        }
        cmd.args(extra);
        let mut child = cmd.spawn().unwrap();
        let lifeline = child.stdin.take();
        let start = Instant::now();
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                break s.trim().parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "kms-local did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { child, _lifeline: lifeline, port, dir, clock_file, log }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Moves the server's lifecycle clock forward.
    pub fn advance_days(&self, days: u64) {
        let now: u64 = std::fs::read_to_string(&self.clock_file).unwrap().trim().parse().unwrap();
        std::fs::write(&self.clock_file, (now + days * 86_400).to_string()).unwrap();
    }

    /// Our own client, as principal `access_key_id`.
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
