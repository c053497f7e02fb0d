//! The local KMS for a test, a bench or the demo: [`kms_local::spawn`] on a
//! free loopback port in this process, with fixed principals, a clock file
//! the test can move forward, and a request log file to read back.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ::kms_local::http::{CredentialsFile, Principal};
use ::kms_local::policy::AttestationRecipients;
use ::kms_local::{Clock, Config, Faults, LogTo, Running};
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
    /// Declared first so that it drops first: the server stops before its
    /// state directory is removed.
    server: Running,
    pub port: u16,
    pub clock_file: PathBuf,
    pub log: PathBuf,
    /// The CloudTrail directory, when the server writes one.
    pub trail: Option<PathBuf>,
    /// The temporary state directory of [`KmsLocal::start`].
    _dir: Option<tempfile::TempDir>,
}

impl KmsLocal {
    /// Starts the server in a temporary directory; `root` is the attestation
    /// root PEM, if any.
    pub fn start(root: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_in(dir.path(), root, false, Faults::default()).with_dir(dir)
    }

    /// [`KmsLocal::start`] writing a CloudTrail record per call under
    /// `<tmp>/cloudtrail` (issue 16).
    pub fn start_with_trail(root: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_full(dir.path(), root, false, Faults::default(), true).with_dir(dir)
    }

    /// [`KmsLocal::start`] also accepting unsigned QEMU emulator documents
    /// (`proofpack-kms-local --accept-emulator-attestation`).
    pub fn start_accepting_emulator(root: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_in(dir.path(), Some(root), true, Faults::default()).with_dir(dir)
    }

    /// Starts the server with its state, clock and log under `dir` (the demo).
    pub fn start_in(dir: &Path, root: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::spawn_in(dir, Some(root), false, Faults::default())
    }

    /// [`KmsLocal::start`] with injected faults (issue 17).
    pub fn start_with_faults(root: Option<&Path>, faults: Faults) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_in(dir.path(), root, false, faults).with_dir(dir)
    }

    fn spawn_in(dir: &Path, root: Option<&Path>, emulator: bool, faults: Faults) -> Self {
        Self::spawn_full(dir, root, emulator, faults, false)
    }

    fn spawn_full(
        dir: &Path,
        root: Option<&Path>,
        emulator: bool,
        faults: Faults,
        trail: bool,
    ) -> Self {
        let credentials = CredentialsFile {
            principals: PRINCIPALS
                .iter()
                .map(|(id, secret, arn, iam)| Principal {
                    access_key_id: id.to_string(),
                    secret_access_key: secret.to_string(),
                    principal_arn: arn.to_string(),
                    iam_allow_all: *iam,
                })
                .collect(),
        };
        let clock_file = dir.join("clock");
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        std::fs::write(&clock_file, now.to_string()).unwrap();
        let log = dir.join("server.log");
        let mut cfg = Config::new(dir.join("state"), credentials);
        cfg.region = REGION.into();
        cfg.account = ACCOUNT.into();
        cfg.clock = Clock::File(clock_file.clone());
        cfg.log = LogTo::File(log.clone());
        cfg.faults = faults;
        let trail = trail.then(|| dir.join("cloudtrail"));
        cfg.trail = trail.clone();
        cfg.recipients = root.map(|r| {
            let pem = std::fs::read(r).unwrap();
            let recipients = AttestationRecipients::new(&pem, &r.display().to_string()).unwrap();
            if emulator {
                recipients.accepting_emulator_documents()
            } else {
                recipients
            }
        });
        let server = ::kms_local::spawn(cfg).unwrap();
        Self { port: server.port(), server, clock_file, log, trail, _dir: None }
    }

    fn with_dir(mut self, dir: tempfile::TempDir) -> Self {
        self._dir = Some(dir);
        self
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Moves the server's lifecycle clock forward.
    pub fn advance_days(&self, days: u64) {
        let now: u64 = std::fs::read_to_string(&self.clock_file).unwrap().trim().parse().unwrap();
        std::fs::write(&self.clock_file, (now + days * 86_400).to_string()).unwrap();
    }

    /// Sets the server's clock (Unix seconds): key dates and trail times.
    pub fn set_clock(&self, t: i64) {
        std::fs::write(&self.clock_file, t.to_string()).unwrap();
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
