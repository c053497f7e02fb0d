//! The tiny build spec the build, OCI and audit tests share, written once.
//!
//! Every test image is the same two-binary workspace (`tiny-init`, and either
//! the cargo `tiny-app` or an OCI image) on the host toolchain; tests vary
//! only the fields below. Shared by the build-spec and verifier test crates
//! (the verifier reaches this file by `#[path]`).

use std::process::Command;

/// What `rustc -vV` says of the host toolchain: the spec pins it.
#[derive(Debug, Clone)]
pub struct Rustc {
    /// `release:` (the spec's `[toolchain] release`).
    pub release: String,
    /// `commit-hash:` (the spec's `[toolchain] commit_hash`).
    pub commit_hash: String,
    /// `host:` (the target the fixtures build for).
    pub host: String,
}

/// Runs `$RUSTC -vV` (or `rustc -vV`).
pub fn rustc() -> Rustc {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let t = String::from_utf8(out.stdout).expect("rustc -vV is UTF-8");
    let f = |k: &str| {
        t.lines().find_map(|l| l.strip_prefix(k)).expect("rustc -vV field").trim().to_string()
    };
    Rustc { release: f("release:"), commit_hash: f("commit-hash:"), host: f("host:") }
}

/// Where the application comes from.
#[derive(Debug, Clone)]
pub enum TinyApp<'a> {
    /// The cargo `tiny-app` package, binary `app`.
    Cargo {
        /// `args = [...]` entries, verbatim TOML strings without quotes.
        args: &'a [&'a str],
        /// `env = [...]` entries.
        env: &'a [&'a str],
        /// `features = [...]`, omitted when empty.
        features: &'a [&'a str],
    },
    /// `[app.oci]` with this image path and pinned digest.
    Oci {
        /// Path of the image, relative to the workspace.
        image: &'a str,
        /// `sha256:...` digest pin.
        digest: &'a str,
    },
}

/// The varying parts of the tiny spec.
#[derive(Debug, Clone)]
pub struct TinySpec<'a> {
    /// `[image] name`.
    pub name: &'a str,
    /// `[toolchain] release` (from `rustc -vV`).
    pub release: &'a str,
    /// `[toolchain] commit_hash`.
    pub commit_hash: &'a str,
    /// `[cargo] target`.
    pub target: &'a str,
    /// `[time] source_date_epoch`, verbatim.
    pub epoch: &'a str,
    /// The application.
    pub app: TinyApp<'a>,
    /// Whether the spec adds `etc/tiny.conf` from `tiny.conf` to the rootfs.
    pub rootfs_conf: bool,
    /// Appended verbatim after `[profiles.demo]`.
    pub extra: &'a str,
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl TinySpec<'_> {
    /// The spec TOML.
    pub fn render(&self) -> String {
        let mut s = format!(
            "spec_version = 1\n[image]\nname = \"{}\"\nversion = \"1.0\"\narch = \"x86_64\"\n\
             cmdline = \"console=ttyS0\"\n[toolchain]\nrelease = \"{}\"\ncommit_hash = \"{}\"\n\
             [time]\nsource_date_epoch = {}\n[cargo]\nworkspace = \".\"\ntarget = \"{}\"\n\
             profile = \"release\"\n[init]\npackage = \"tiny-init\"\nbin = \"init\"\n",
            self.name, self.release, self.commit_hash, self.epoch, self.target
        );
        match &self.app {
            TinyApp::Cargo { args, env, features } => {
                s.push_str("[app]\npackage = \"tiny-app\"\nbin = \"app\"\n");
                s.push_str(&format!("args = {}\nenv = {}\n", list(args), list(env)));
                if !features.is_empty() {
                    s.push_str(&format!("features = {}\n", list(features)));
                }
            }
            TinyApp::Oci { image, digest } => {
                s.push_str(&format!("[app.oci]\nimage = \"{image}\"\ndigest = \"{digest}\"\n"));
            }
        }
        if self.rootfs_conf {
            s.push_str(
                "[[rootfs.files]]\npath = \"etc/tiny.conf\"\nsource = \"tiny.conf\"\nmode = 0o644\n",
            );
        }
        s.push_str("[profiles.demo]\nkernel = \"demo-stand-in\"\n");
        s.push_str(self.extra);
        s
    }
}
