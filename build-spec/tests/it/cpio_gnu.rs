//! GNU cpio as an independent peer: for a tree whose directories have no
//! sub-directories (GNU copies st_nlink for directories; we write 2), our
//! writer's bytes equal `cpio -o -H newc -R +0:+0 --reproducible`, and GNU
//! cpio lists our archives. Needs `cpio` (scripts/install-test-deps).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::{Command, Stdio};

use build_spec::cpio::{read_entries, write_dir, CpioOptions};

fn gnu_cpio() -> Command {
    let probe = Command::new("cpio").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "GNU cpio is required for this test: run scripts/install-test-deps"
    );
    Command::new("cpio")
}

#[test]
fn same_bytes_as_gnu_cpio_reproducible() {
    let t = tempfile::tempdir().expect("tmp");
    let root = t.path().join("root");
    fs::create_dir_all(root.join("dev")).expect("mkdir");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("init"), b"#!/bin/sh\nexec app\n").expect("w");
    fs::write(root.join("etc/a.conf"), vec![b'a'; 1001]).expect("w");
    fs::write(root.join("etc/b"), b"").expect("w");
    fs::write(root.join(".hidden"), b"h").expect("w");
    symlink("etc/a.conf", root.join("link")).expect("symlink");
    for (p, m) in [
        ("dev", 0o755),
        ("etc", 0o750),
        ("init", 0o555),
        ("etc/a.conf", 0o644),
        ("etc/b", 0o600),
        (".hidden", 0o400),
    ] {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).expect("chmod");
    }
    let st = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -mindepth 1 -exec touch -h -d @1 {} +")
        .arg("sh")
        .arg(&root)
        .status()
        .expect("touch");
    assert!(st.success());

    // GNU: sorted NUL-separated list on stdin (monzo's recipe, docs/formats/eif-and-pcrs.md §6.4).
    let mut list: Vec<String> = Vec::new();
    for p in [".hidden", "dev", "etc", "etc/a.conf", "etc/b", "init", "link"] {
        list.push(p.into());
    }
    list.sort();
    let mut child = gnu_cpio()
        .args(["-o", "-H", "newc", "-R", "+0:+0", "--reproducible", "--null", "--quiet"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cpio");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for p in &list {
            stdin.write_all(p.as_bytes()).expect("w");
            stdin.write_all(&[0]).expect("w");
        }
    }
    let gnu = child.wait_with_output().expect("cpio output");
    assert!(gnu.status.success());

    let ours = write_dir(&root, Vec::new(), CpioOptions::with_mtime(1)).expect("ours");
    assert_eq!(read_entries(&gnu.stdout[..]).expect("we read GNU's archive").len(), 7);
    assert!(ours == gnu.stdout, "bytes differ from GNU cpio");

    // GNU cpio reads ours.
    let mut child = gnu_cpio()
        .args(["-it", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cpio -it");
    child.stdin.take().expect("stdin").write_all(&ours).expect("w");
    let listed = child.wait_with_output().expect("out");
    assert!(listed.status.success());
    let names: Vec<&str> = std::str::from_utf8(&listed.stdout).expect("utf8").lines().collect();
    assert_eq!(names, list);
}
