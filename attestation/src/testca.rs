//! A **test and development** certificate authority for attestation documents.
//!
//! [`TestCa`] builds a P-384 hierarchy with the same shape as the AWS Nitro
//! Enclaves PKI — root, regional CA, zonal CA, instance CA, and a fresh leaf
//! per document — and signs COSE_Sign1 documents with chosen PCRs,
//! `user_data`, `nonce`, `public_key`, `module_id` and timestamp.
//!
//! Nothing it signs chains to the AWS Nitro Enclaves Root G1, so a verifier
//! with the default trust anchor rejects every minted document. Its private
//! keys are stored as plain PKCS#8 PEM files by [`TestCa::save`]: they are test
//! fixtures, not secrets, and must never be used for anything real.
//!
//! Names and profiles mirror the real chain (see the verifier's module docs):
//! CA certificates carry critical basic constraints with path lengths
//! none/2/1/0 and critical key usage; the leaf carries critical
//! `CA:FALSE` and non-critical digitalSignature + nonRepudiation, no AKI/SKI.
//! Names use `.test.nitro-enclaves` and `O=proofpack test CA` so a test
//! certificate can never be mistaken for an AWS one.

use std::fmt;
use std::path::{Path, PathBuf};

use build_spec::pcr::Measurements;
use der::pem::LineEnding;
use p384::ecdsa::SigningKey;
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::cert::{self, BasicConstraintsSpec, CertError, CertSpec, KeyUsageSpec};
use super::cose::sign1;
use super::doc::{AttestationDoc, MapStyle, DIGEST_SHA384};

/// Seconds in an hour.
const HOUR: u64 = 3600;
/// Seconds in a day.
const DAY: u64 = 24 * HOUR;
/// Organisation written into every test certificate.
pub const TEST_ORG: &str = "O=proofpack test CA,OU=TEST ONLY";
/// Marker file name written by [`TestCa::save`].
pub const CONFIG_FILE: &str = "testca.json";

/// Errors of the test CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestCaError {
    /// Building a certificate failed.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A PEM file holds something else than expected.
    #[error("{path}: {what}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A level was loaded from disk and cannot be re-issued.
    #[error(
        "the {0} certificate was loaded from disk; its spec is unknown, so it cannot be re-issued"
    )]
    NoSpec(Level),
}

/// One level of the CA hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The self-signed root (`cabundle[0]`).
    Root,
    /// The regional CA (`cabundle[1]`).
    Regional,
    /// The zonal CA (`cabundle[2]`).
    Zonal,
    /// The instance CA (`cabundle[3]`), which issues leaves.
    Instance,
}

impl Level {
    /// All levels, root first.
    pub const ALL: [Level; 4] = [Level::Root, Level::Regional, Level::Zonal, Level::Instance];

    fn file_stem(self) -> &'static str {
        match self {
            Level::Root => "root",
            Level::Regional => "regional",
            Level::Zonal => "zonal",
            Level::Instance => "instance",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_stem())
    }
}

/// Shape of a generated hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCaConfig {
    /// AWS region written into names, e.g. `us-east-1`.
    pub region: String,
    /// EC2 instance id written into names and `module_id`.
    pub instance_id: String,
    /// notBefore of every CA certificate, seconds since the epoch.
    pub valid_from: u64,
    /// Root validity in seconds (AWS: 30 years).
    pub root_validity: u64,
    /// Regional CA validity (AWS: 20 days + 1 hour).
    pub regional_validity: u64,
    /// Zonal CA validity (AWS: about 5 days).
    pub zonal_validity: u64,
    /// Instance CA validity (AWS: 24 hours).
    pub instance_validity: u64,
}

impl TestCaConfig {
    /// AWS-shaped lifetimes starting at `valid_from` (seconds since the epoch).
    pub fn starting_at(valid_from: u64) -> Self {
        Self {
            region: "us-east-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            valid_from,
            root_validity: 30 * 365 * DAY,
            regional_validity: 20 * DAY + HOUR,
            zonal_validity: 5 * DAY,
            instance_validity: DAY,
        }
    }

    /// Like [`Self::starting_at`] but every CA level lives `days` days, for a
    /// long-lived development CA shared across processes.
    pub fn long_lived(valid_from: u64, days: u64) -> Self {
        let v = days * DAY;
        Self {
            regional_validity: v,
            zonal_validity: v,
            instance_validity: v,
            ..Self::starting_at(valid_from)
        }
    }
}

/// One CA certificate with its key.
pub struct CaCert {
    /// The signing key (test material).
    pub key: SigningKey,
    /// The DER certificate.
    pub der: Vec<u8>,
    /// The subject, RFC 4514.
    pub subject: String,
    /// The spec it was issued from (absent when loaded from disk).
    pub spec: Option<CertSpec>,
}

impl fmt::Debug for CaCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCert")
            .field("subject", &self.subject)
            .field("der_len", &self.der.len())
            .field("key", &"[test key]")
            .finish()
    }
}

/// What to put into a minted document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSpec {
    /// `timestamp`, milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// PCR values; indices 0..=15 not given are emitted as zeros, like the NSM.
    pub pcrs: Measurements,
    /// `module_id`; default `<instance_id>-enc<enclave_id>`.
    pub module_id: Option<String>,
    /// Enclave id (16 hex digits) used in the default `module_id` and leaf name.
    pub enclave_id: String,
    /// `public_key`.
    pub public_key: Option<Vec<u8>>,
    /// `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// `nonce`.
    pub nonce: Option<Vec<u8>>,
    /// Payload map framing.
    pub map_style: MapStyle,
    /// Seconds between leaf notBefore and the document timestamp.
    pub leaf_age: u64,
    /// Leaf validity in seconds (AWS: 3 hours).
    pub leaf_validity: u64,
}

impl DocSpec {
    /// A document at `timestamp_ms` with the given PCRs and nothing else.
    pub fn new(timestamp_ms: u64, pcrs: Measurements) -> Self {
        Self {
            timestamp_ms,
            pcrs,
            module_id: None,
            enclave_id: "0123456789abcdef".into(),
            public_key: None,
            user_data: None,
            nonce: None,
            map_style: MapStyle::Definite,
            leaf_age: 2,
            leaf_validity: 3 * HOUR,
        }
    }

    /// What a development NSM puts into a document answering `req`.
    pub fn for_request(
        req: &crate::AttestationRequest,
        timestamp_ms: u64,
        pcrs: Measurements,
    ) -> Self {
        Self {
            user_data: req.user_data.clone(),
            nonce: req.nonce.clone(),
            public_key: req.public_key.clone(),
            ..Self::new(timestamp_ms, pcrs)
        }
    }
}

/// A document before signing, with the leaf key that will sign it. Tamper
/// tests edit `doc` (or encode it by hand) and then call [`Self::sign`].
pub struct MintedDoc {
    /// The payload.
    pub doc: AttestationDoc,
    /// The leaf key matching `doc.certificate`.
    pub leaf_key: SigningKey,
    /// Payload map framing.
    pub map_style: MapStyle,
}

impl fmt::Debug for MintedDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedDoc").field("doc", &self.doc).finish_non_exhaustive()
    }
}

impl MintedDoc {
    /// Encodes and signs the document: the exact COSE_Sign1 bytes.
    pub fn sign(&self) -> Vec<u8> {
        sign1(&self.doc.encode(self.map_style), &self.leaf_key)
    }
}

/// A test CA hierarchy. See the module docs: **test and development only**.
#[derive(Debug)]
pub struct TestCa {
    /// The shape it was generated with.
    pub config: TestCaConfig,
    /// Root CA.
    pub root: CaCert,
    /// Regional CA.
    pub regional: CaCert,
    /// Zonal CA.
    pub zonal: CaCert,
    /// Instance CA.
    pub instance: CaCert,
}

fn random_hex(n_bytes: usize) -> String {
    let mut b = vec![0u8; n_bytes];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn random_serial() -> Vec<u8> {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    // Positive and exactly 16 bytes (no leading zero byte to strip).
    b[0] = (b[0] & 0x7f) | 0x01;
    b.to_vec()
}

fn subject(cn: &str) -> String {
    format!("CN={cn},{TEST_ORG},C=US")
}

impl TestCa {
    /// Generates a fresh hierarchy with random keys.
    pub fn generate(config: &TestCaConfig) -> Result<Self, TestCaError> {
        let c = config;
        let root_key = SigningKey::random(&mut OsRng);
        let root_subject = subject("test.nitro-enclaves");
        let mut root_spec = CertSpec::new(
            &root_subject,
            &root_subject,
            cert::spki_of(&root_key)?,
            c.valid_from,
            c.valid_from + c.root_validity,
        );
        root_spec.serial = random_serial();
        root_spec.basic_constraints =
            Some(BasicConstraintsSpec { critical: true, ca: true, path_len: None });
        root_spec.key_usage = Some(KeyUsageSpec::CA);
        let root = Self::issue_level(root_key, root_spec, None)?;

        let levels = [
            (
                format!("{}.{}.test.nitro-enclaves", random_hex(8), c.region),
                c.regional_validity,
                2u8,
            ),
            (
                format!("{}.zonal.{}.test.nitro-enclaves", random_hex(8), c.region),
                c.zonal_validity,
                1,
            ),
            (format!("{}.{}.test.nitro-enclaves", c.instance_id, c.region), c.instance_validity, 0),
        ];
        let mut chain = vec![root];
        for (cn, validity, path_len) in levels {
            let parent = chain.last().ok_or(TestCaError::NoSpec(Level::Root))?;
            let key = SigningKey::random(&mut OsRng);
            let mut spec = CertSpec::new(
                &subject(&cn),
                &parent.subject,
                cert::spki_of(&key)?,
                c.valid_from,
                c.valid_from + validity,
            );
            spec.serial = random_serial();
            spec.basic_constraints =
                Some(BasicConstraintsSpec { critical: true, ca: true, path_len: Some(path_len) });
            spec.key_usage =
                Some(if path_len == 0 { KeyUsageSpec::INSTANCE_CA } else { KeyUsageSpec::CA });
            let level = Self::issue_level(key, spec, Some(&parent.key))?;
            chain.push(level);
        }
        let mut it = chain.into_iter();
        let (Some(root), Some(regional), Some(zonal), Some(instance)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(TestCaError::NoSpec(Level::Root));
        };
        Ok(Self { config: config.clone(), root, regional, zonal, instance })
    }

    fn issue_level(
        key: SigningKey,
        spec: CertSpec,
        parent: Option<&SigningKey>,
    ) -> Result<CaCert, TestCaError> {
        let der = cert::issue(&spec, parent.unwrap_or(&key))?;
        Ok(CaCert { subject: spec.subject.clone(), key, der, spec: Some(spec) })
    }

    /// The CA certificate at `level`.
    pub fn level(&self, level: Level) -> &CaCert {
        match level {
            Level::Root => &self.root,
            Level::Regional => &self.regional,
            Level::Zonal => &self.zonal,
            Level::Instance => &self.instance,
        }
    }

    fn level_mut(&mut self, level: Level) -> &mut CaCert {
        match level {
            Level::Root => &mut self.root,
            Level::Regional => &mut self.regional,
            Level::Zonal => &mut self.zonal,
            Level::Instance => &mut self.instance,
        }
    }

    /// Re-issues the certificate at `level` after `edit` changes its spec
    /// (validity, constraints, key usage, names, algorithms...). It is signed
    /// by the same parent key and keeps its own key, so the levels below stay
    /// correctly signed: exactly one link of the chain changes.
    pub fn reissue(
        &mut self,
        level: Level,
        edit: impl FnOnce(&mut CertSpec),
    ) -> Result<(), TestCaError> {
        let parent_key = match level {
            Level::Root => None,
            Level::Regional => Some(self.root.key.clone()),
            Level::Zonal => Some(self.regional.key.clone()),
            Level::Instance => Some(self.zonal.key.clone()),
        };
        let ca = self.level_mut(level);
        let mut spec = ca.spec.clone().ok_or(TestCaError::NoSpec(level))?;
        edit(&mut spec);
        ca.der = cert::issue(&spec, parent_key.as_ref().unwrap_or(&ca.key))?;
        ca.spec = Some(spec);
        Ok(())
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> String {
        pem_cert(&self.root.der)
    }

    /// The `cabundle` of a document: root, regional, zonal, instance.
    pub fn cabundle(&self) -> Vec<Vec<u8>> {
        Level::ALL.iter().map(|l| self.level(*l).der.clone()).collect()
    }

    /// The leaf certificate spec for a document: AWS leaf profile.
    pub fn leaf_spec(
        &self,
        spec: &DocSpec,
        leaf_key: &SigningKey,
    ) -> Result<CertSpec, TestCaError> {
        let ts = spec.timestamp_ms / 1000;
        let nb = ts.saturating_sub(spec.leaf_age);
        let cn = format!(
            "{}-enc{}.{}.test",
            self.config.instance_id, spec.enclave_id, self.config.region
        );
        let mut leaf = CertSpec::new(
            &subject(&cn),
            &self.instance.subject,
            cert::spki_of(leaf_key)?,
            nb,
            nb + spec.leaf_validity,
        );
        // AWS leaf serials start with the enclave id.
        let mut serial = hex::decode(&spec.enclave_id).unwrap_or_default();
        serial.extend_from_slice(&random_serial()[..8]);
        if serial.first().is_some_and(|b| *b & 0x80 != 0) || serial.first() == Some(&0) {
            serial.insert(0, 0x01);
        }
        leaf.serial = serial;
        leaf.basic_constraints =
            Some(BasicConstraintsSpec { critical: true, ca: false, path_len: None });
        leaf.key_usage = Some(KeyUsageSpec::LEAF);
        Ok(leaf)
    }

    /// Builds (but does not sign) a document; `edit_leaf` may change the leaf
    /// certificate spec before it is issued.
    pub fn mint_parts_with(
        &self,
        spec: &DocSpec,
        edit_leaf: impl FnOnce(&mut CertSpec),
    ) -> Result<MintedDoc, TestCaError> {
        let leaf_key = SigningKey::random(&mut OsRng);
        let mut leaf = self.leaf_spec(spec, &leaf_key)?;
        edit_leaf(&mut leaf);
        let certificate = cert::issue(&leaf, &self.instance.key)?;
        let mut pcrs = std::collections::BTreeMap::new();
        for i in 0..16u8 {
            pcrs.insert(u64::from(i), vec![0u8; 48]);
        }
        for (i, v) in &spec.pcrs.pcrs {
            pcrs.insert(u64::from(*i), v.to_vec());
        }
        let module_id = spec
            .module_id
            .clone()
            .unwrap_or_else(|| format!("{}-enc{}", self.config.instance_id, spec.enclave_id));
        let doc = AttestationDoc {
            module_id,
            digest: DIGEST_SHA384.into(),
            timestamp: spec.timestamp_ms,
            pcrs,
            certificate,
            cabundle: self.cabundle(),
            public_key: spec.public_key.clone(),
            user_data: spec.user_data.clone(),
            nonce: spec.nonce.clone(),
        };
        Ok(MintedDoc { doc, leaf_key, map_style: spec.map_style })
    }

    /// Builds (but does not sign) a document with the standard leaf.
    pub fn mint_parts(&self, spec: &DocSpec) -> Result<MintedDoc, TestCaError> {
        self.mint_parts_with(spec, |_| {})
    }

    /// Mints a document: the exact COSE_Sign1 bytes, as an NSM returns them.
    pub fn mint(&self, spec: &DocSpec) -> Result<Vec<u8>, TestCaError> {
        Ok(self.mint_parts(spec)?.sign())
    }

    /// Writes the hierarchy to `dir` (created if needed): `<level>.pem`
    /// certificates, `<level>.key.pem` PKCS#8 keys (mode 0600 on Unix; test
    /// material only) and `testca.json`.
    pub fn save(&self, dir: &Path) -> Result<(), TestCaError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TestCaError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for level in Level::ALL {
            let ca = self.level(level);
            let cert_path = dir.join(format!("{}.pem", level.file_stem()));
            std::fs::write(&cert_path, pem_cert(&ca.der)).map_err(io(&cert_path))?;
            let key_path = dir.join(format!("{}.key.pem", level.file_stem()));
            let pem = ca.key.to_pkcs8_pem(LineEnding::LF).map_err(|e| TestCaError::BadFile {
                path: key_path.clone(),
                what: format!("cannot encode key: {e}"),
            })?;
            write_private(&key_path, pem.as_bytes()).map_err(io(&key_path))?;
        }
        let cfg_path = dir.join(CONFIG_FILE);
        let json = serde_json::to_string_pretty(&self.config)
            .map_err(|e| TestCaError::BadFile { path: cfg_path.clone(), what: e.to_string() })?;
        std::fs::write(&cfg_path, json + "\n").map_err(io(&cfg_path))?;
        Ok(())
    }

    /// True when `dir` holds a saved test CA.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CONFIG_FILE).is_file()
    }

    /// Loads a hierarchy written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<Self, TestCaError> {
        let read = |path: PathBuf| {
            std::fs::read(&path).map_err(|source| TestCaError::Io { path: path.clone(), source })
        };
        let cfg_path = dir.join(CONFIG_FILE);
        let config: TestCaConfig = serde_json::from_slice(&read(cfg_path.clone())?)
            .map_err(|e| TestCaError::BadFile { path: cfg_path, what: e.to_string() })?;
        let mut levels = Vec::with_capacity(4);
        for level in Level::ALL {
            let cert_path = dir.join(format!("{}.pem", level.file_stem()));
            let der = decode_cert_pem(&cert_path, &read(cert_path.clone())?)?;
            let key_path = dir.join(format!("{}.key.pem", level.file_stem()));
            let key_pem = zeroize::Zeroizing::new(read(key_path.clone())?);
            let key_str = std::str::from_utf8(&key_pem).map_err(|_| TestCaError::BadFile {
                path: key_path.clone(),
                what: "not UTF-8".into(),
            })?;
            let key = SigningKey::from_pkcs8_pem(key_str).map_err(|e| TestCaError::BadFile {
                path: key_path.clone(),
                what: format!("not a P-384 PKCS#8 key: {e}"),
            })?;
            let subject = subject_of(&cert_path, &der)?;
            levels.push(CaCert { key, der, subject, spec: None });
        }
        let mut it = levels.into_iter();
        let (Some(root), Some(regional), Some(zonal), Some(instance)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(TestCaError::NoSpec(Level::Root));
        };
        Ok(Self { config, root, regional, zonal, instance })
    }

    /// Loads the CA in `dir`, or generates and saves one there.
    pub fn load_or_generate(dir: &Path, config: &TestCaConfig) -> Result<Self, TestCaError> {
        if Self::exists(dir) {
            Self::load(dir)
        } else {
            let ca = Self::generate(config)?;
            ca.save(dir)?;
            Ok(ca)
        }
    }
}

/// PEM text of one DER certificate.
pub fn pem_cert(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).unwrap_or_default()
}

fn decode_cert_pem(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, TestCaError> {
    let (label, der) = der::pem::decode_vec(bytes).map_err(|e| TestCaError::BadFile {
        path: path.to_path_buf(),
        what: format!("not PEM: {e}"),
    })?;
    if label != "CERTIFICATE" {
        return Err(TestCaError::BadFile {
            path: path.to_path_buf(),
            what: format!("PEM label is {label:?}, expected CERTIFICATE"),
        });
    }
    Ok(der)
}

fn subject_of(path: &Path, der: &[u8]) -> Result<String, TestCaError> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| TestCaError::BadFile {
        path: path.to_path_buf(),
        what: format!("not a DER certificate: {e}"),
    })?;
    Ok(cert.tbs_certificate.subject.to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}
