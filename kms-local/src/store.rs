//! Key records, the key lifecycle and their persistence.
//!
//! State lives in `<state-dir>/keys/<key-id>.json`, one file per key, written
//! atomically (temp file + rename) with mode 0600. **Key material is stored
//! unencrypted at rest**: this is a development server; protect the directory
//! like a private key. Material is never logged.
//!
//! Lifecycle (KMS's key states): `Enabled ⇄ Disabled` (EnableKey/DisableKey);
//! `Enabled|Disabled → PendingDeletion` (ScheduleKeyDeletion, 7–30 days);
//! `PendingDeletion → Disabled` (CancelKeyDeletion, as in KMS); once the
//! clock passes the deletion date the key is erased and every call gets
//! `NotFoundException`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A key's lifecycle state (KMS's `KeyState` field), named apart from the
/// verifier's `audit::KeyState`, the audit stage that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyLifecycle {
    /// Usable.
    Enabled,
    /// Disabled: cryptographic operations fail with `DisabledException`.
    Disabled,
    /// Scheduled for deletion: operations fail with `KMSInvalidStateException`.
    PendingDeletion,
}

impl KeyLifecycle {
    /// KMS's string.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyLifecycle::Enabled => "Enabled",
            KeyLifecycle::Disabled => "Disabled",
            KeyLifecycle::PendingDeletion => "PendingDeletion",
        }
    }
}

/// One symmetric key.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRecord {
    /// UUID.
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<uuid>`.
    pub arn: String,
    /// Account id.
    pub account: String,
    /// Description given at creation.
    pub description: String,
    /// Unix seconds.
    pub creation_date: i64,
    /// Current state.
    pub key_state: KeyLifecycle,
    /// Unix seconds at which a pending deletion happens.
    pub deletion_date: Option<i64>,
    /// The key policy text, exactly as put.
    pub policy: String,
    /// AES-256 key material, hex (plain at rest; see module docs).
    #[serde(with = "zeroizing_string")]
    material: Zeroizing<String>,
}

mod zeroizing_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(d).map(Zeroizing::new)
    }
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("arn", &self.arn)
            .field("key_state", &self.key_state)
            .field("material", &"[redacted]")
            .finish()
    }
}

impl KeyRecord {
    /// The key material.
    pub fn material(&self) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(self.material.as_bytes(), k.as_mut())
            .map_err(|_| StoreError::Corrupt(self.key_id.clone()))?;
        Ok(k)
    }
}

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Filesystem failure.
    #[error("key store I/O at {path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A key file does not parse.
    #[error("key store entry {0} is corrupt")]
    Corrupt(String),
}

/// The keys, in memory and on disk.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    keys: BTreeMap<String, KeyRecord>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// A random UUID v4 string.
pub fn uuid4() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Store {
    /// Opens (creating) `<dir>/keys` and loads every key.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let kd = dir.join("keys");
        std::fs::create_dir_all(&kd).map_err(io(&kd))?;
        let mut keys = BTreeMap::new();
        for e in std::fs::read_dir(&kd).map_err(io(&kd))? {
            let e = e.map_err(io(&kd))?;
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let bytes = Zeroizing::new(std::fs::read(&p).map_err(io(&p))?);
            let rec: KeyRecord = serde_json::from_slice(&bytes)
                .map_err(|_| StoreError::Corrupt(p.display().to_string()))?;
            keys.insert(rec.key_id.clone(), rec);
        }
        Ok(Self { dir: kd, keys })
    }

    /// Creates a new enabled key with fresh material.
    pub fn create(
        &mut self,
        region: &str,
        account: &str,
        description: &str,
        policy: String,
        now: i64,
    ) -> Result<&KeyRecord, StoreError> {
        let id = uuid4();
        let mut m = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(m.as_mut());
        let rec = KeyRecord {
            arn: format!("arn:aws:kms:{region}:{account}:key/{id}"),
            key_id: id.clone(),
            account: account.into(),
            description: description.into(),
            creation_date: now,
            key_state: KeyLifecycle::Enabled,
            deletion_date: None,
            policy,
            material: Zeroizing::new(hex::encode(m.as_ref())),
        };
        self.write(&rec)?;
        self.keys.insert(id.clone(), rec);
        self.keys.get(&id).ok_or(StoreError::Corrupt(id))
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn write(&self, rec: &KeyRecord) -> Result<(), StoreError> {
        let path = self.path_of(&rec.key_id);
        let tmp = self.dir.join(format!(".{}.tmp", rec.key_id));
        let bytes = Zeroizing::new(
            serde_json::to_vec_pretty(rec).map_err(|_| StoreError::Corrupt(rec.key_id.clone()))?,
        );
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// Applies pending deletions whose date has passed.
    pub fn expire(&mut self, now: i64) -> Result<(), StoreError> {
        let due: Vec<String> = self
            .keys
            .values()
            .filter(|k| {
                k.key_state == KeyLifecycle::PendingDeletion
                    && k.deletion_date.is_some_and(|d| now >= d)
            })
            .map(|k| k.key_id.clone())
            .collect();
        for id in due {
            let p = self.path_of(&id);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Io { path: p, source: e }),
            }
            self.keys.remove(&id);
        }
        Ok(())
    }

    /// Resolves a key id or key ARN.
    pub fn resolve(&self, key: &str) -> Option<&KeyRecord> {
        let id = key.rsplit_once(":key/").map(|(_, id)| id).unwrap_or(key);
        let rec = self.keys.get(id)?;
        if key.starts_with("arn:") && key != rec.arn {
            return None;
        }
        Some(rec)
    }

    /// Every key, in id order.
    pub fn list(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.values()
    }

    /// Mutates a key and persists it.
    pub fn update(
        &mut self,
        key_id: &str,
        f: impl FnOnce(&mut KeyRecord),
    ) -> Result<(), StoreError> {
        let rec = self.keys.get_mut(key_id).ok_or_else(|| StoreError::Corrupt(key_id.into()))?;
        f(rec);
        let rec = self.keys.get(key_id).ok_or_else(|| StoreError::Corrupt(key_id.into()))?;
        self.write(rec)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn persist_reload_resolve_expire() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        let (id, arn) = {
            let r = s.create("us-east-1", "111122223333", "t", "{}".into(), 100).unwrap();
            (r.key_id.clone(), r.arn.clone())
        };
        assert_eq!(id.len(), 36);
        let m1 = *s.resolve(&id).unwrap().material().unwrap();
        let s2 = Store::open(d.path()).unwrap();
        assert_eq!(*s2.resolve(&arn).unwrap().material().unwrap(), m1);
        assert!(s2.resolve(&format!("arn:aws:kms:eu-west-1:111122223333:key/{id}")).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join("keys").join(format!("{id}.json")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        s.update(&id, |k| {
            k.key_state = KeyLifecycle::PendingDeletion;
            k.deletion_date = Some(200);
        })
        .unwrap();
        s.expire(199).unwrap();
        assert!(s.resolve(&id).is_some());
        s.expire(200).unwrap();
        assert!(s.resolve(&id).is_none());
        assert!(Store::open(d.path()).unwrap().resolve(&id).is_none());
        assert!(!format!("{:?}", s2.resolve(&id).unwrap()).contains(&hex::encode(m1)));
    }
}
