//! Fault injection (issue 17) against the enclave's real KMS client: each
//! kind of fault reaches the client as the error AWS would give, the
//! client's standard-mode retries get through a faulty KMS within a job's
//! budget, the budget bounds them, administrative calls are never faulted
//! nor retried, and a seed replays the same run.

use std::time::Duration;

use enclave::backend::kms_http::retry::RetryPolicy;
use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::backend::{DecryptRequest, EncryptRequest, Kms, KmsError};
use enclave::secret::SecretBytes;
use kms_local::http::{CredentialsFile, Principal};
use kms_local::{Config, Faults, LogTo, Running};
use serde_json::json;

struct Server {
    running: Running,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn start(faults: Faults) -> Server {
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
    cfg.faults = faults;
    Server { running: kms_local::spawn(cfg).unwrap(), log, _dir: dir }
}

fn client(url: String, retry: RetryPolicy) -> KmsHttpClient {
    let creds = Credentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: SecretBytes::from_slice(b"test-secret"),
        session_token: None,
    };
    let mut cfg = KmsHttpConfig::new(url, "us-east-1", creds);
    cfg.retry = retry;
    cfg.timeout = Duration::from_secs(5);
    KmsHttpClient::new(cfg).unwrap()
}

fn encrypt(key: &str) -> EncryptRequest {
    EncryptRequest {
        key_id: key.into(),
        plaintext: SecretBytes::from_slice(b"0123456789abcdef0123456789abcdef"),
        encryption_context: [("app".to_string(), "faults".to_string())].into(),
    }
}

fn new_key(c: &KmsHttpClient) -> String {
    c.call("CreateKey", &json!({})).unwrap()["KeyMetadata"]["Arn"].as_str().unwrap().to_owned()
}

fn log_count(s: &Server, needle: &str) -> usize {
    std::fs::read_to_string(&s.log).unwrap().lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn each_fault_reaches_the_client_as_aws_would_answer() {
    let cases: [(Faults, &str); 4] = [
        (Faults { throttle: 1.0, ..Faults::default() }, "ThrottlingException"),
        (Faults { internal: 1.0, ..Faults::default() }, "KMSInternalException"),
        (Faults { unavailable: 1.0, ..Faults::default() }, "HTTP503"),
        (Faults { cut: 1.0, ..Faults::default() }, "transport"),
    ];
    for (faults, want) in cases {
        let s = start(faults);
        let c = client(s.running.url(), RetryPolicy::never());
        // Administrative calls are not faulted.
        let key = new_key(&c);
        let e = c.encrypt(&encrypt(&key)).unwrap_err();
        match (&e, want) {
            (KmsError::Transport(_), "transport") => {}
            (KmsError::Service { code, .. }, w) => assert_eq!(code, w),
            _ => panic!("{want}: got {e}"),
        }
        assert_eq!(log_count(&s, "injected"), 1, "{want}: one attempt only");
    }
}

#[test]
fn retries_get_through_a_faulty_kms_and_are_counted_per_job() {
    let faults = Faults {
        seed: 7,
        throttle: 0.15,
        internal: 0.05,
        unavailable: 0.05,
        cut: 0.05,
        ..Faults::default()
    };
    let s = start(faults);
    let retry = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        job_budget: 1000,
    };
    let c = client(s.running.url(), retry);
    let key = new_key(&c);
    let job = c.for_job();
    for _ in 0..60 {
        let blob = job.encrypt(&encrypt(&key)).unwrap().ciphertext_blob;
        let out = job
            .decrypt(&DecryptRequest {
                ciphertext_blob: blob,
                key_id: Some(key.clone()),
                encryption_context: [("app".to_string(), "faults".to_string())].into(),
                recipient: None,
            })
            .unwrap();
        assert_eq!(out.plaintext.unwrap().expose(), b"0123456789abcdef0123456789abcdef");
    }
    let injected = log_count(&s, "injected");
    assert!(injected > 10, "only {injected} faults in 120 calls at 30 %");
    // Every injected fault cost exactly one retry of this job.
    assert_eq!(job.retries() as usize, injected);
    assert!(job.retry_wait() <= Duration::from_millis(5) * job.retries());
    // Another job on the same client starts with its own count.
    assert_eq!(c.for_job().retries(), 0);
}

#[test]
fn a_jobs_budget_bounds_its_retries() {
    let s = start(Faults { throttle: 1.0, ..Faults::default() });
    let retry = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        job_budget: 3,
    };
    let c = client(s.running.url(), retry);
    let key = new_key(&c);
    let job = c.for_job();
    assert!(job.encrypt(&encrypt(&key)).is_err()); // 3 attempts: 2 retries
    assert!(job.encrypt(&encrypt(&key)).is_err()); // 2 attempts: the last retry
    assert!(job.encrypt(&encrypt(&key)).is_err()); // 1 attempt: budget spent
    assert_eq!(job.retries(), 3);
    assert_eq!(log_count(&s, "injected"), 6);
    // Administrative calls are never retried (and not faulted here).
    assert_eq!(log_count(&s, "CreateKey"), 1);
}

/// With one client, a seed replays the same run: the same calls fail the
/// same way, in the same order.
#[test]
fn a_seed_replays_the_same_faults() {
    let run = |seed| {
        let s = start(Faults { seed, throttle: 0.2, internal: 0.1, ..Faults::default() });
        let c = client(s.running.url(), RetryPolicy::never());
        let key = new_key(&c);
        let fates: Vec<String> = (0..40)
            .map(|_| match c.encrypt(&encrypt(&key)) {
                Ok(_) => "ok".to_string(),
                Err(KmsError::Service { code, .. }) => code,
                Err(e) => e.to_string(),
            })
            .collect();
        fates
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a, run(12));
    assert!(a.iter().any(|f| f == "ThrottlingException"));
    assert!(a.iter().any(|f| f == "KMSInternalException"));
    assert!(a.iter().any(|f| f == "ok"));
}

#[test]
fn spawn_refuses_bad_fault_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path().join("state"), CredentialsFile { principals: vec![] });
    cfg.faults = Faults { throttle: 0.7, cut: 0.7, ..Faults::default() };
    assert!(matches!(kms_local::spawn(cfg), Err(kms_local::SpawnError::Faults(_))));
}
