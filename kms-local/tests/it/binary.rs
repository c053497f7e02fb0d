//! The `proofpack-kms-local` binary over the library: it writes its port,
//! serves, and exits cleanly when its standard input closes.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn binary_writes_its_port_and_exits_on_stdin_eof() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    std::fs::write(
        &creds,
        r#"{"principals":[{"access_key_id":"AKIDTEST","secret_access_key":"s","principal_arn":"arn:aws:iam::111122223333:role/test"}]}"#,
    )
    .unwrap();
    let port_file = dir.path().join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_proofpack-kms-local"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--credentials")
        .arg(&creds)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let port: u16 = loop {
        if let Ok(s) = std::fs::read_to_string(&port_file) {
            break s.trim().parse().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no port file");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "kms-local: listening on http://127.0.0.1:{port} (region us-east-1, account 111122223333)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("kms-local: standard input closed, exiting"), "{stderr}");
}

#[test]
fn binary_exits_2_on_a_missing_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let out = Command::new(env!("CARGO_BIN_EXE_proofpack-kms-local"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--credentials")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("proofpack-kms-local: error: reading {}", missing.display())),
        "{stderr}"
    );
}
