//! End-to-end tests of `proofpack build`, `proofpack rebuild` and
//! `proofpack blobs fetch` on a tiny generated workspace (an init crate and an
//! app crate with no dependencies), so each compile takes a second or two.
//!
//! The real project's enclave is built the same way; these fixtures only keep
//! CI time bounded.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::tiny_workspace;
use crate::common::tiny_workspace::{
    generate_lockfile, ok_json as ok, rustc, write_files, Rustc, TinyApp, TinySpec, INIT_MANIFEST,
};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_proofpack")
}

/// The fixture's spec. `extra` is appended verbatim.
fn spec_text(epoch: &str, commit_hash: &str, extra: &str) -> String {
    let r = rustc();
    TinySpec {
        name: "tiny",
        release: &r.release,
        commit_hash,
        target: &r.host,
        epoch,
        app: TinyApp::Cargo { args: &["--serve"], env: &["MODE=demo"], features: &["loud"] },
        rootfs_conf: true,
        extra,
    }
    .render()
}

const APP_SRC: &str = "#[cfg(not(feature = \"loud\"))]\ncompile_error!(\"the spec's features were not passed to cargo\");\nfn main() {\n    println!(\"hello from the tiny app\");\n}\n";

/// Writes the fixture workspace into `dir` with `Cargo.lock` generated
/// offline (no dependencies).
fn write_workspace(dir: &Path, spec: &str, app_src: &str) {
    let files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"init\", \"app\"]\nresolver = \"2\"\n".into(),
        ),
        ("init/Cargo.toml", INIT_MANIFEST.into()),
        ("init/src/main.rs", "fn main() {}\n".into()),
        (
            "app/Cargo.toml",
            "[package]\nname = \"tiny-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[features]\nloud = []\n[[bin]]\nname = \"app\"\npath = \"src/main.rs\"\n".into(),
        ),
        ("app/src/main.rs", app_src.into()),
        ("tiny.conf", "setting = 1\n".into()),
        ("enclave.toml", spec.into()),
        (".gitignore", "/target\n".into()),
    ];
    write_files(dir, &files);
    generate_lockfile(dir);
}

fn set_mtimes(dir: &Path, t: SystemTime) {
    for e in walk(dir) {
        if e.is_file() {
            std::fs::File::options().write(true).open(&e).unwrap().set_modified(t).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != ".git" && p.file_name().unwrap() != "target" {
                out.extend(walk(&p));
            }
        } else {
            out.push(p);
        }
    }
    out
}

/// Commits everything in `dir` with a fixed author time; returns the commit id.
fn commit_all(dir: &Path, time: i64, msg: &str) -> String {
    tiny_workspace::commit_all(dir, time, msg).0
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin()).args(args).current_dir(cwd).env("NO_COLOR", "1").output().unwrap()
}

fn run_sh(script: &str, cwd: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PROOFPACK", bin())
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn fails_with(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn reproducible_across_paths_umask_mtimes_and_target_dirs() {
    let commit = rustc().commit_hash;
    let spec = spec_text("1700000000", &commit, "");
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("first/checkout");
    let b = root.path().join("second-place/deeper/co");
    write_workspace(&a, &spec, APP_SRC);
    write_workspace(&b, &spec, APP_SRC);
    set_mtimes(&a, SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
    set_mtimes(&b, SystemTime::now());
    let ta = root.path().join("target-a");
    let tb = root.path().join("tgt/b");
    let build = |ws: &Path, umask: &str, tdir: &Path, out: &str| {
        let o = run_sh(
            &format!(
                "umask {umask} && \"$PROOFPACK\" build --spec enclave.toml --profile demo --out {out} --target-dir {} --format json --quiet",
                tdir.display()
            ),
            ws,
        );
        ok(&o)
    };
    let ja = build(&a, "022", &ta, "out");
    let jb = build(&b, "077", &tb, "out");
    assert_eq!(ja["eif_sha256"], jb["eif_sha256"]);
    assert_eq!(ja["measurements"], jb["measurements"]);
    assert_eq!(sha256_file(&a.join("out/image.eif")), sha256_file(&b.join("out/image.eif")));
    assert_eq!(
        std::fs::read(a.join("out/pcrs.json")).unwrap(),
        std::fs::read(b.join("out/pcrs.json")).unwrap()
    );
    // The manifest carries no path, so it is identical too.
    assert_eq!(
        std::fs::read(a.join("out/build-manifest.json")).unwrap(),
        std::fs::read(b.join("out/build-manifest.json")).unwrap()
    );
    let m: Value =
        serde_json::from_slice(&std::fs::read(a.join("out/build-manifest.json")).unwrap()).unwrap();
    assert!(m["nix"]["store_path"].as_str().unwrap().starts_with("/nix/store/"));
    assert!(m["warnings"][0].as_str().unwrap().contains("NOT BOOTABLE"));
    let manifest_text =
        String::from_utf8(std::fs::read(a.join("out/build-manifest.json")).unwrap()).unwrap();
    assert!(!manifest_text.contains(a.to_str().unwrap()), "checkout path leaked into the manifest");
    // The checkout path must not leak into the binaries either.
    let eif = std::fs::read(a.join("out/image.eif")).unwrap();
    let needle = a.to_str().unwrap().as_bytes();
    assert!(!eif.windows(needle.len()).any(|w| w == needle), "checkout path leaked into the image");
    // The flake's path: assembling prebuilt binaries with the same layout
    // code gives the same PCRs.
    let prebuilt = ok(&run(
        &[
            "build",
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--out",
            "out-prebuilt",
            "--prebuilt-init",
            ta.join(rustc().host).join("release/init").to_str().unwrap(),
            "--prebuilt-app",
            ta.join(rustc().host).join("release/app").to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        &a,
    ));
    assert_eq!(prebuilt["measurements"], ja["measurements"]);
    let pm = std::fs::read_to_string(a.join("out-prebuilt/build-manifest.json")).unwrap();
    assert!(pm.contains("prebuilt init"), "prebuilt origin not recorded");
    // pcrs.json is nitro-cli format.
    let p: Value =
        serde_json::from_slice(&std::fs::read(a.join("out/pcrs.json")).unwrap()).unwrap();
    assert_eq!(p["Measurements"]["PCR0"], ja["measurements"]["PCR0"]);
}

#[test]
fn rebuild_matches_direct_build_cache_and_one_byte_change() {
    let commit_hash = rustc().commit_hash;
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    write_workspace(&repo, &spec_text("\"commit\"", &commit_hash, ""), APP_SRC);
    let c1 = commit_all(&repo, 1_650_000_000, "first");
    let target = root.path().join("shared-target");
    let cache = root.path().join("cache");
    let tdir = target.to_str().unwrap();
    let cdir = cache.to_str().unwrap();

    // Direct build of the (clean) working tree.
    let direct = ok(&run(
        &[
            "build",
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--out",
            "../direct",
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        &repo,
    ));
    let direct_pcrs = root.path().join("direct/pcrs.json");

    // Rebuild of the commit gives the same PCRs (and the same EIF bytes: the
    // commit time is the epoch in both).
    let r1 = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c1,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct_pcrs.to_str().unwrap(),
            "--cache-dir",
            cdir,
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    assert_eq!(r1["verdict"], "pass");
    assert_eq!(r1["from_cache"], false);
    assert_eq!(r1["measurements"], direct["measurements"]);
    assert_eq!(r1["eif_sha256"], direct["eif_sha256"]);

    // Second rebuild: from the (verified) cache, in under a second.
    let t = std::time::Instant::now();
    let r2 = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c1,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct_pcrs.to_str().unwrap(),
            "--cache-dir",
            cdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    let elapsed = t.elapsed();
    assert_eq!(r2["from_cache"], true);
    assert_eq!(r2["verdict"], "pass");
    // The sub-second figure is measured on a release build by
    // `scripts/bench-build` (docs/notes/build.md); this debug binary on a
    // shared CI machine only gets a loose bound that still excludes a build.
    let seconds = r2["seconds"].as_f64().unwrap();
    assert!(seconds < 5.0, "cached rebuild took {seconds}s ({elapsed:?} wall)");

    // A corrupt cache entry is rejected and rebuilt, never believed.
    let eif = std::path::PathBuf::from(r2["eif"].as_str().unwrap());
    let mut bytes = std::fs::read(&eif).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&eif, &bytes).unwrap();
    let r3 = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c1,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct_pcrs.to_str().unwrap(),
            "--cache-dir",
            cdir,
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    assert_eq!(r3["from_cache"], false);
    assert!(r3["cache_entry_rejected"].as_str().unwrap().contains("sha256"));
    assert_eq!(r3["verdict"], "pass");

    // --no-cache forces work.
    let r4 = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c1,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--no-cache",
            "--cache-dir",
            cdir,
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    assert_eq!(r4["from_cache"], false);
    assert_eq!(r4["measurements"], direct["measurements"]);

    // One byte of app source changes PCR0 and PCR2, not PCR1; the diff names
    // the changed file.
    std::fs::write(repo.join("app/src/main.rs"), APP_SRC.replace("tiny app", "tiny apq")).unwrap();
    let c2 = commit_all(&repo, 1_650_000_100, "one byte");
    let o = run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c2,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct_pcrs.to_str().unwrap(),
            "--expect-eif",
            root.path().join("direct/image.eif").to_str().unwrap(),
            "--cache-dir",
            cdir,
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let r5: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r5["verdict"], "fail");
    let m = &r5["measurements"];
    let d = &direct["measurements"];
    assert_ne!(m["PCR0"], d["PCR0"]);
    assert_ne!(m["PCR2"], d["PCR2"]);
    assert_eq!(m["PCR1"], d["PCR1"]);
    let checks = r5["checks"].as_array().unwrap();
    let status = |id: &str| {
        checks.iter().find(|c| c["id"] == id).map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("pcr.0").as_deref(), Some("fail"));
    assert_eq!(status("pcr.1").as_deref(), Some("pass"));
    assert_eq!(status("pcr.2").as_deref(), Some("fail"));
    let diff = r5["diff"].to_string();
    assert!(diff.contains("rootfs/bin/app"), "diff does not name the changed file: {diff}");
    assert!(!diff.contains("rootfs/etc/tiny.conf\""), "diff names an unchanged file: {diff}");

    // Text output names each PCR check with its status, as every check list.
    let o = run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c2,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect",
            direct_pcrs.to_str().unwrap(),
            "--cache-dir",
            cdir,
            "--target-dir",
            tdir,
            "-q",
        ],
        root.path(),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.lines().any(|l| l.starts_with("FAIL pcr.0")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("PASS pcr.1")), "{text}");
}

#[test]
fn bad_inputs_each_have_their_own_error() {
    let Rustc { release, commit_hash, .. } = rustc();
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    write_workspace(&ws, &spec_text("1", &commit_hash, ""), APP_SRC);

    // Unknown spec key.
    std::fs::write(
        ws.join("bad-key.toml"),
        spec_text("1", &commit_hash, "").replace("[cargo]\n", "[cargo]\nopt_level = 3\n"),
    )
    .unwrap();
    fails_with(
        &run(&["build", "--spec", "bad-key.toml", "--profile", "demo"], &ws),
        2,
        "unknown key `opt_level`",
    );

    // Missing pin.
    std::fs::write(
        ws.join("no-pin.toml"),
        spec_text("1", &commit_hash, "").replace(&format!("release = \"{release}\"\n"), ""),
    )
    .unwrap();
    fails_with(
        &run(&["build", "--spec", "no-pin.toml", "--profile", "demo"], &ws),
        2,
        "missing the pin `toolchain.release`",
    );

    // Unknown profile.
    fails_with(
        &run(&["build", "--spec", "enclave.toml", "--profile", "staging"], &ws),
        2,
        "no profile \"staging\"",
    );

    // Toolchain mismatch: refused, then allowed and recorded.
    let other = "0000000000000000000000000000000000000000";
    std::fs::write(ws.join("other-tc.toml"), spec_text("1", other, "")).unwrap();
    fails_with(
        &run(&["build", "--spec", "other-tc.toml", "--profile", "demo", "--out", "o1"], &ws),
        2,
        "toolchain mismatch",
    );
    let target = root.path().join("t");
    let j = ok(&run(
        &[
            "build",
            "--spec",
            "other-tc.toml",
            "--profile",
            "demo",
            "--out",
            "o2",
            "--allow-toolchain-mismatch",
            "--target-dir",
            target.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        &ws,
    ));
    assert_eq!(j["toolchain_mismatch_allowed"], true);
    assert!(j["warnings"].to_string().contains("TOOLCHAIN MISMATCH ALLOWED"));
    let m = std::fs::read_to_string(ws.join("o2/build-manifest.json")).unwrap();
    assert!(m.contains("TOOLCHAIN MISMATCH ALLOWED") && m.contains("\"mismatch_allowed\": true"));
    let eif = std::fs::read(ws.join("o2/image.eif")).unwrap();
    let needle = b"\"proofpack_toolchain_mismatch_allowed\":true";
    assert!(
        eif.windows(needle.len()).any(|w| w == needle),
        "mismatch not recorded in the EIF metadata"
    );

    // Missing blobs for a production profile.
    let prod = spec_text(
        "1",
        &commit_hash,
        "[profiles.production]\nkernel = \"nitro-cli-blobs\"\n[blobs]\nrepository = \"https://example.invalid/nitro-cli\"\ncommit = \"2950b3699d81ad304df2458915688a552734833d\"\nkernel = { path = \"blobs/x86_64/bzImage\", sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\" }\nkernel_config = { path = \"blobs/x86_64/bzImage.config\" }\n",
    );
    let prod = reorder_blobs(&prod);
    std::fs::write(ws.join("prod.toml"), &prod).unwrap();
    fails_with(
        &run(&["build", "--spec", "prod.toml", "--profile", "production"], &ws),
        2,
        "none were supplied",
    );
    let empty = root.path().join("empty-blobs");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &run(
            &[
                "build",
                "--spec",
                "prod.toml",
                "--profile",
                "production",
                "--blobs",
                empty.to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        "blob kernel (blobs/x86_64/bzImage) not found",
    );
    // Wrong pin: a file that does not hash to the pinned sha256.
    std::fs::write(empty.join("bzImage"), b"not the pinned kernel").unwrap();
    std::fs::write(empty.join("bzImage.config"), b"# config\n").unwrap();
    fails_with(
        &run(
            &[
                "build",
                "--spec",
                "prod.toml",
                "--profile",
                "production",
                "--blobs",
                empty.to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        "does not match its sha256 pin",
    );

    // Dirty working tree.
    let repo = root.path().join("dirty");
    write_workspace(&repo, &spec_text("\"commit\"", &commit_hash, ""), APP_SRC);
    let c = commit_all(&repo, 1_600_000_000, "c");
    // The build's own output inside the repository does not make it dirty.
    for _ in 0..2 {
        ok(&run(
            &[
                "build",
                "--spec",
                "enclave.toml",
                "--profile",
                "demo",
                "--out",
                "out",
                "--target-dir",
                target.to_str().unwrap(),
                "-q",
            ],
            &repo,
        ));
    }
    std::fs::write(repo.join("app/src/main.rs"), "fn main() { /* edited */ }\n").unwrap();
    fails_with(
        &run(&["build", "--spec", "enclave.toml", "--profile", "demo"], &repo),
        2,
        "uncommitted changes",
    );

    // Missing commit, and a revision that is not a commit id.
    let missing = "1111111111111111111111111111111111111111";
    fails_with(
        &run(
            &[
                "rebuild",
                "--repo",
                repo.to_str().unwrap(),
                "--rev",
                missing,
                "--spec",
                "enclave.toml",
                "--profile",
                "demo",
            ],
            root.path(),
        ),
        2,
        &format!("commit {missing} does not exist"),
    );
    fails_with(
        &run(
            &[
                "rebuild",
                "--repo",
                repo.to_str().unwrap(),
                "--rev",
                "HEAD",
                "--spec",
                "enclave.toml",
                "--profile",
                "demo",
            ],
            root.path(),
        ),
        2,
        "not a full 40-hex commit id",
    );
    // A commit whose tree has no spec at that path.
    fails_with(
        &run(
            &[
                "rebuild",
                "--repo",
                repo.to_str().unwrap(),
                "--rev",
                &c,
                "--spec",
                "nope.toml",
                "--profile",
                "demo",
            ],
            root.path(),
        ),
        2,
        "nope.toml",
    );
}

/// Moves the `[profiles.production]` table after `[blobs]` so inline-table
/// keys land in `[blobs]` (TOML tables end at the next header).
fn reorder_blobs(text: &str) -> String {
    let (head, tail) = text.split_once("[profiles.production]").unwrap();
    let (prof, blobs) = tail.split_once("[blobs]").unwrap();
    format!("{head}[blobs]{blobs}\n[profiles.production]{prof}")
}

#[test]
fn blobs_fetch_verifies_the_hash_chain_and_pins() {
    let commit_hash = rustc().commit_hash;
    let root = tempfile::tempdir().unwrap();
    // A stand-in "nitro-cli" repository (no network here).
    let upstream = root.path().join("nitro-cli");
    std::fs::create_dir_all(upstream.join("blobs/x86_64")).unwrap();
    std::fs::write(upstream.join("blobs/x86_64/bzImage"), b"fake bzImage").unwrap();
    std::fs::write(
        upstream.join("blobs/x86_64/bzImage.config"),
        b"#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration\n",
    )
    .unwrap();
    std::fs::write(upstream.join("blobs/x86_64/nsm.ko"), b"fake nsm").unwrap();
    let upstream_commit = commit_all(&upstream, 1_600_000_000, "blobs");
    let nsm_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"fake nsm"))
    };
    let blobs_section = |nsm: &str| {
        format!(
            "[blobs]\nrepository = \"{}\"\ncommit = \"{upstream_commit}\"\nkernel = {{ path = \"blobs/x86_64/bzImage\" }}\nkernel_config = {{ path = \"blobs/x86_64/bzImage.config\" }}\nnsm_ko = {{ path = \"blobs/x86_64/nsm.ko\", sha256 = \"{nsm}\" }}\n",
            upstream.display()
        )
    };
    let ws = root.path().join("ws");
    let spec = reorder_blobs(&spec_text(
        "1",
        &commit_hash,
        &format!(
            "[profiles.production]\nkernel = \"nitro-cli-blobs\"\n{}",
            blobs_section(&nsm_sha)
        ),
    ));
    write_workspace(&ws, &spec, APP_SRC);
    let out = root.path().join("fetched");
    let j = ok(&run(
        &[
            "blobs",
            "fetch",
            "--spec",
            "enclave.toml",
            "--out",
            out.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        &ws,
    ));
    assert_eq!(j["blobs"].as_array().unwrap().len(), 3);
    assert!(j["blobs"][0]["verified_by"].to_string().contains("hash chain re-verified"));

    // A production build from the fetched repository: the kernel metadata
    // comes from the config, nsm.ko is in ramdisk 0.
    let target = root.path().join("t");
    let b = ok(&run(
        &[
            "build",
            "--spec",
            "enclave.toml",
            "--profile",
            "production",
            "--blobs",
            out.to_str().unwrap(),
            "--out",
            "prod-out",
            "--target-dir",
            target.to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        &ws,
    ));
    assert_eq!(b["profile"], "production");
    let eif = std::fs::read(ws.join("prod-out/image.eif")).unwrap();
    let needle = b"\"KernelVersion\":\"4.14.256\"";
    assert!(eif.windows(needle.len()).any(|w| w == needle));
    assert!(eif.windows(8).any(|w| w == b"fake nsm"));

    // A wrong sha256 pin is refused even though the git chain is intact.
    let bad = "0".repeat(64);
    std::fs::write(
        ws.join("bad-pin.toml"),
        reorder_blobs(&spec_text(
            "1",
            &commit_hash,
            &format!(
                "[profiles.production]\nkernel = \"nitro-cli-blobs\"\n{}",
                blobs_section(&bad)
            ),
        )),
    )
    .unwrap();
    fails_with(
        &run(
            &[
                "build",
                "--spec",
                "bad-pin.toml",
                "--profile",
                "production",
                "--blobs",
                out.to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        "does not match its sha256 pin",
    );
    // A pinned commit the blob repository does not have.
    let other_commit = "2950b3699d81ad304df2458915688a552734833d";
    std::fs::write(
        ws.join("other-commit.toml"),
        std::fs::read_to_string(ws.join("enclave.toml"))
            .unwrap()
            .replace(&upstream_commit, other_commit),
    )
    .unwrap();
    fails_with(
        &run(
            &[
                "build",
                "--spec",
                "other-commit.toml",
                "--profile",
                "production",
                "--blobs",
                out.to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        "does not contain the pinned commit",
    );
    // Fetching a commit the upstream does not have fails clearly.
    fails_with(
        &run(
            &[
                "blobs",
                "fetch",
                "--spec",
                "other-commit.toml",
                "--out",
                root.path().join("f2").to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        other_commit,
    );
    // A plain directory holding the kernel without a content pin is refused.
    let plain = root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    for f in ["bzImage", "bzImage.config", "nsm.ko"] {
        std::fs::copy(upstream.join("blobs/x86_64").join(f), plain.join(f)).unwrap();
    }
    fails_with(
        &run(
            &[
                "build",
                "--spec",
                "enclave.toml",
                "--profile",
                "production",
                "--blobs",
                plain.to_str().unwrap(),
            ],
            &ws,
        ),
        2,
        "has no sha256/git_blob pin",
    );
}

#[test]
fn flake_parses() {
    // scripts/install-test-deps installs Debian's nix-bin; a missing tool is
    // a loud failure, never a silent pass.
    let flake = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flake.nix");
    let o = Command::new("nix-instantiate").arg("--parse").arg(&flake).output().expect(
        "nix-instantiate not found: run scripts/install-test-deps (Debian package nix-bin)",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&flake).unwrap();
    // The pins the flake must carry.
    assert!(text.contains("aws-nitro-enclaves-cli/2950b3699d81ad304df2458915688a552734833d"));
    // Every `github:` input names a full 40-hex revision, never a branch.
    let urls: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("\"github:").nth(1))
        .map(|u| u.trim_end_matches(['"', ';']))
        .collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    for u in urls {
        let rev = u.rsplit('/').next().unwrap();
        assert!(
            rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
            "flake input {u} is not pinned by revision"
        );
    }
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../build-spec/enclave.toml"),
    )
    .unwrap();
    let release =
        spec.lines().find_map(|l| l.strip_prefix("release = \"")).unwrap().trim_end_matches('"');
    assert!(
        text.contains(&format!("rustVersion = \"{release}\"")),
        "flake toolchain differs from the spec pin"
    );
    assert!(text.contains("--prebuilt-init") && text.contains("--blobs ${nitro-cli}"));
}

#[test]
fn project_enclave_spec_parses_and_pins_production() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build-spec/enclave.toml");
    let spec = build_spec::spec::Spec::parse(&std::fs::read(p).unwrap()).unwrap();
    let prod = spec.profile("production").unwrap();
    assert_eq!(spec.target_for(prod).0, "x86_64-unknown-linux-musl");
    let demo = spec.profile("demo").unwrap();
    let (t, why) = spec.target_for(demo);
    assert_eq!(t, "x86_64-unknown-linux-gnu");
    assert!(why.unwrap().contains("NOT the production target"));
    let b = spec.blobs.as_ref().unwrap();
    assert_eq!(b.commit.as_deref(), Some("2950b3699d81ad304df2458915688a552734833d"));
    assert_eq!(
        b.nsm_ko.as_ref().unwrap().sha256.as_deref(),
        Some("48904e520db2541ca4378da29d85791749408febc81987ade56cc5c556bd90df")
    );
}

/// The library API the audit helper uses: concurrent rebuilds of the same
/// commit share one build and the cache, and agree.
#[test]
fn concurrent_library_rebuilds_share_the_cache() {
    use verifier::rebuild::{rebuild, RebuildOptions};
    let commit_hash = rustc().commit_hash;
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    write_workspace(&repo, &spec_text("\"commit\"", &commit_hash, ""), APP_SRC);
    let c = commit_all(&repo, 1_700_000_000, "c");
    let mut opts = RebuildOptions::new(repo.to_str().unwrap(), c.clone());
    opts.spec_path = "enclave.toml".into();
    opts.profile = "demo".into();
    opts.cache_dir = Some(root.path().join("cache"));
    opts.target_dir = Some(root.path().join("target"));
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| rebuild(&opts, &build_spec::build::NoProgress).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| !r.from_cache).count(), 1, "exactly one thread builds");
    for r in &results {
        assert_eq!(r.pcrs, results[0].pcrs);
        assert_eq!(r.commit, c);
        assert!(r.eif_path.is_file());
    }
}

/// `--expect-attestation`: the document is verified first (a real AWS
/// document from testvectors/attestation); its PCRs are then compared and,
/// being another enclave's, mismatch.
#[test]
fn expect_attestation_verifies_then_compares() {
    let commit_hash = rustc().commit_hash;
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    write_workspace(&repo, &spec_text("1", &commit_hash, ""), APP_SRC);
    let c = commit_all(&repo, 1_700_000_000, "c");
    let doc = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testvectors/attestation/2024-02-26_ap-south-1_marlin_nondebug.cbor");
    let o = run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect-attestation",
            doc.to_str().unwrap(),
            "--cache-dir",
            root.path().join("cache").to_str().unwrap(),
            "--target-dir",
            root.path().join("t").to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let get = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap()["status"].clone();
    assert_eq!(get("attestation.verified"), "pass");
    assert_eq!(get("pcr.0"), "fail");
    // A corrupted document is not trusted as an expectation at all.
    let mut bad = std::fs::read(&doc).unwrap();
    let n = bad.len();
    bad[n - 10] ^= 0xff;
    let badp = root.path().join("bad.cbor");
    std::fs::write(&badp, bad).unwrap();
    let o = run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c,
            "--spec",
            "enclave.toml",
            "--profile",
            "demo",
            "--expect-attestation",
            badp.to_str().unwrap(),
            "--cache-dir",
            root.path().join("cache").to_str().unwrap(),
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["id"] == "attestation.verified" && c["status"] == "fail"));
    assert!(!checks
        .iter()
        .any(|c| c["status"] == "pass" && c["id"].as_str().unwrap().starts_with("pcr.")));
}

/// The file `path` of the application ramdisk (ramdisk 1) of an EIF.
fn app_ramdisk_file(eif: &Path, path: &str) -> Option<Vec<u8>> {
    use build_spec::eif::{read_eif_file, ReadOptions, SectionType};
    let s = read_eif_file(eif, &ReadOptions::inspect()).unwrap();
    let sec = s.sections.iter().filter(|x| x.kind == SectionType::Ramdisk).nth(1).unwrap();
    let bytes = std::fs::read(eif).unwrap();
    let rd = &bytes[sec.data_offset as usize..(sec.data_offset + sec.size) as usize];
    let entry = build_spec::cpio::read_entries(rd).unwrap().into_iter().find(|e| e.path == path)?;
    // newc stores file data uncompressed and contiguous: the build-info is
    // the JSON object line in the archive whose SHA-256 the entry records.
    let start = rd.windows(13).position(|w| w == b"{\"buildSpec\":")?;
    let len = rd[start..].windows(2).position(|w| w == b"}\n")? + 2;
    let data = rd[start..start + len].to_vec();
    use sha2::Digest as _;
    assert_eq!(<[u8; 32]>::from(sha2::Sha256::digest(&data)), entry.sha256);
    Some(data)
}

/// Issue 14, item 1: build and rebuild bake the same canonical
/// `/etc/proofpack/build-info.json` (which `proofpack-enclave serve` accepts);
/// a dirty tree is refused, and recorded as dirty with `--allow-dirty`.
#[test]
fn build_info_is_baked_reproduced_by_rebuild_and_records_dirty() {
    let commit_hash = rustc().commit_hash;
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    let spec = spec_text("\"commit\"", &commit_hash, "").replacen(
        "arch = \"x86_64\"\n",
        "arch = \"x86_64\"\nrepository = \"git+https://example.invalid/tiny\"\n",
        1,
    );
    write_workspace(&repo, &spec, APP_SRC);
    std::fs::create_dir_all(repo.join("spec")).unwrap();
    std::fs::write(
        repo.join("spec/enclave.toml"),
        spec.replace("workspace = \".\"", "workspace = \"..\""),
    )
    .unwrap();
    let c1 = commit_all(&repo, 1_650_000_000, "first");
    let target = root.path().join("target");
    let tdir = target.to_str().unwrap();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "build",
            "--spec",
            "spec/enclave.toml",
            "--profile",
            "demo",
            "--out",
            out,
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ];
        args.extend_from_slice(extra);
        run(&args, &repo)
    };
    let direct = ok(&build("../direct", &[]));
    let eif = root.path().join("direct/image.eif");
    let info = app_ramdisk_file(&eif, "rootfs/etc/proofpack/build-info.json").expect("baked");
    let parsed = enclave::receipt::statement::BuildInfo::parse(&info).unwrap();
    assert_eq!(parsed.source.commit.git_commit, c1.as_str());
    assert_eq!(parsed.source.build_spec.path, "spec/enclave.toml");
    assert_eq!(parsed.source.profile.as_deref(), Some("demo"));
    assert_eq!(parsed.source.repository, "git+https://example.invalid/tiny");
    assert!(parsed.source.dirty.is_none());
    let text = std::str::from_utf8(&info).unwrap();
    let canonical = serde_json::to_string(
        &serde_json::from_str::<std::collections::BTreeMap<String, Value>>(text).unwrap(),
    )
    .unwrap();
    assert_eq!(text, format!("{canonical}\n"), "not canonical (sorted, compact)");

    // The rebuild of the commit bakes the same bytes: same PCRs, same EIF.
    let r = ok(&run(
        &[
            "rebuild",
            "--repo",
            repo.to_str().unwrap(),
            "--rev",
            &c1,
            "--spec",
            "spec/enclave.toml",
            "--profile",
            "demo",
            "--expect",
            root.path().join("direct/pcrs.json").to_str().unwrap(),
            "--cache-dir",
            root.path().join("cache").to_str().unwrap(),
            "--target-dir",
            tdir,
            "--format",
            "json",
            "-q",
        ],
        root.path(),
    ));
    assert_eq!(r["verdict"], "pass", "{r}");
    assert_eq!(r["eif_sha256"], direct["eif_sha256"]);

    // Dirty: refused, then recorded.
    std::fs::write(repo.join("tiny.conf"), "edited\n").unwrap();
    fails_with(&build("../dirty", &[]), 2, "uncommitted changes");
    ok(&build("../dirty", &["--allow-dirty"]));
    let info = app_ramdisk_file(
        &root.path().join("dirty/image.eif"),
        "rootfs/etc/proofpack/build-info.json",
    )
    .unwrap();
    let parsed = enclave::receipt::statement::BuildInfo::parse(&info).unwrap();
    assert_eq!(parsed.source.dirty, Some(true));
    assert_eq!(parsed.source.commit.git_commit, c1.as_str());
}
