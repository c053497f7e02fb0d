//! Generated OCI images for the tests: layer tars built entry by entry with
//! the `tar` crate (raw header bytes where a test needs a path the crate
//! refuses to write), packed as an OCI layout, an OCI archive or a classic
//! `docker save` archive.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// One tar entry of a generated layer.
pub enum E<'a> {
    Dir(&'a str, u32, u64, u64),
    File(&'a str, &'a [u8], u32, u64, u64),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
    /// A file preceded by a PAX header carrying an xattr.
    XattrFile(&'a str, &'a [u8], &'a str),
    /// A file whose name is written raw into the header (no validation).
    RawName(&'a [u8], &'a [u8]),
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn tar_layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_600_000_000 + 12345);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Fifo(p) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::XattrFile(p, data, name) => {
                let key = format!("SCHILY.xattr.{name}");
                b.append_pax_extensions([(key.as_str(), &b"v"[..])]).unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::RawName(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let n = &mut h.as_old_mut().name;
                n.fill(0);
                n[..name.len()].copy_from_slice(name);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

pub fn compress(tar: &[u8], c: Comp) -> (Vec<u8>, &'static str) {
    match c {
        Comp::None => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            (e.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip")
        }
        Comp::Zstd => {
            (zstd::encode_all(tar, 1).unwrap(), "application/vnd.oci.image.layer.v1.tar+zstd")
        }
    }
}

pub struct Image {
    pub layers: Vec<Vec<u8>>, // uncompressed tars
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub arch: &'static str,
}

impl Image {
    pub fn new(layers: Vec<Vec<u8>>) -> Self {
        Self {
            layers,
            cmd: Some(vec!["/bin/app".into(), "--flag".into()]),
            entrypoint: None,
            env: vec!["PATH=/bin".into(), "A=b c".into()],
            arch: "amd64",
        }
    }

    pub fn config_json(&self) -> Vec<u8> {
        let diff_ids: Vec<String> =
            self.layers.iter().map(|l| format!("sha256:{}", sha256_hex(l))).collect();
        let mut config = serde_json::json!({"Env": self.env});
        if let Some(c) = &self.cmd {
            config["Cmd"] = serde_json::json!(c);
        }
        if let Some(e) = &self.entrypoint {
            config["Entrypoint"] = serde_json::json!(e);
        }
        serde_json::to_vec(&serde_json::json!({
            "architecture": self.arch,
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [],
        }))
        .unwrap()
    }
}

pub struct Written {
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let h = sha256_hex(bytes);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&h), bytes).unwrap();
    format!("sha256:{h}")
}

/// Writes an OCI layout with one manifest (listed in index.json).
pub fn write_layout(dir: &Path, img: &Image, comp: Comp) -> Written {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = img.config_json();
    let config_digest = put_blob(dir, &config);
    let mut layers = Vec::new();
    let mut layer_digests = Vec::new();
    for l in &img.layers {
        let (bytes, mt) = compress(l, comp);
        let d = put_blob(dir, &bytes);
        layers.push(serde_json::json!({"mediaType": mt, "digest": d, "size": bytes.len()}));
        layer_digests.push(d);
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len()}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Written { manifest_digest, config_digest, layer_digests }
}

/// Adds an index for several platforms to a layout and returns its digest.
pub fn add_index(dir: &Path, manifests: &[(&str, &str, usize)]) -> String {
    let list: Vec<_> = manifests
        .iter()
        .map(|(d, arch, size)| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": size,
                "platform": {"architecture": arch, "os": "linux"}})
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list})).unwrap();
    put_blob(dir, &index)
}

/// Tars a directory tree (sorted, for reproducibility) into `out`.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut paths: Vec<_> = walk(dir);
    paths.sort();
    for p in paths {
        let rel = p.strip_prefix(dir).unwrap();
        if p.is_dir() {
            b.append_dir(rel, &p).unwrap();
        } else {
            b.append_path_with_name(&p, rel).unwrap();
        }
    }
    b.finish().unwrap();
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        v.push(p.clone());
        if p.is_dir() {
            v.extend(walk(&p));
        }
    }
    v
}

/// A classic `docker save` archive of `img` (uncompressed layers).
pub fn write_docker_save(out: &Path, img: &Image) -> String {
    let config = img.config_json();
    let id = sha256_hex(&config);
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{id}.json"), &config);
    let mut names = Vec::new();
    for l in &img.layers {
        let name = format!("{}/layer.tar", sha256_hex(l));
        add(&name, l);
        names.push(name);
    }
    let manifest = serde_json::json!([{"Config": format!("{id}.json"), "RepoTags": ["x:latest"], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
    format!("sha256:{id}")
}
