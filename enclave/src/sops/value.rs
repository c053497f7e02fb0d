//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value syntax and its
//! AES-256-GCM with 32-byte IVs (docs/formats/sops.md §1).

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand_core::RngCore;

use super::SopsError;
use crate::secret::{SecretBytes, SecretKey32};

/// AES-256-GCM with SOPS' 32-byte nonce (GHASH-derived J0); the default
/// 12-byte `Aes256Gcm` cannot open SOPS values.
type SopsGcm = AesGcm<aes::Aes256, U32>;

/// Longest encrypted value string accepted (16 MiB of base64).
pub const MAX_ENC_LEN: usize = 16 * 1024 * 1024;

/// The declared plaintext type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `str`
    Str,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `time`
    Time,
    /// `bytes` (legacy)
    Bytes,
    /// `comment` (YAML comments; never a leaf value)
    Comment,
}

impl ValueType {
    /// The SOPS type name.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Bytes => "bytes",
            ValueType::Comment => "comment",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "bytes" => ValueType::Bytes,
            "comment" => ValueType::Comment,
            _ => return None,
        })
    }
}

/// A parsed `ENC[...]` value (all fields public: ciphertext is not secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    /// Ciphertext without the tag.
    pub data: Vec<u8>,
    /// The IV (SOPS writes 32 bytes; any non-empty length is accepted on read).
    pub iv: Vec<u8>,
    /// The 16-byte GCM tag.
    pub tag: [u8; 16],
    /// Declared type.
    pub kind: ValueType,
}

/// True when `s` is meant to be an encrypted value (starts with `ENC[`).
pub fn is_enc(s: &str) -> bool {
    s.starts_with("ENC[")
}

impl EncValue {
    /// Parses the `ENC[...]` syntax. `path` only labels errors.
    pub fn parse(s: &str, path: &str) -> Result<Self, SopsError> {
        let err = |problem| SopsError::EncSyntax { path: path.to_owned(), problem };
        if s.len() > MAX_ENC_LEN {
            return Err(err("value too long"));
        }
        let inner = s
            .strip_prefix("ENC[AES256_GCM,")
            .ok_or_else(|| err("not ENC[AES256_GCM,…]"))?
            .strip_suffix(']')
            .ok_or_else(|| err("missing closing ]"))?;
        // The fields are base64 (no commas) and a type name, so a plain split is exact.
        let parts: Vec<&str> = inner.split(',').collect();
        if parts.len() != 4 {
            return Err(err("expected data, iv, tag and type fields"));
        }
        let field = |i: usize, name: &str| -> Result<&str, SopsError> {
            parts[i]
                .strip_prefix(name)
                .and_then(|x| x.strip_prefix(':'))
                .filter(|x| !x.is_empty())
                .ok_or_else(|| err("fields out of order or empty"))
        };
        let data = STANDARD.decode(field(0, "data")?).map_err(|_| err("data is not base64"))?;
        let iv = STANDARD.decode(field(1, "iv")?).map_err(|_| err("iv is not base64"))?;
        let tag = STANDARD.decode(field(2, "tag")?).map_err(|_| err("tag is not base64"))?;
        let kind = ValueType::from_name(field(3, "type")?).ok_or_else(|| err("unknown type"))?;
        if iv.is_empty() || iv.len() > 64 {
            return Err(err("iv length"));
        }
        let tag: [u8; 16] = tag.try_into().map_err(|_| err("tag is not 16 bytes"))?;
        if data.is_empty() {
            return Err(err("empty data"));
        }
        Ok(Self { data, iv, tag, kind })
    }

    /// Decrypts with AAD = `aad`. Only the 32-byte IV size that SOPS writes is
    /// implemented (the AES-GCM crate fixes the nonce size at compile time);
    /// other sizes are reported as a syntax error, never silently mis-decrypted.
    pub fn decrypt(
        &self,
        key: &SecretKey32,
        aad: &[u8],
        path: &str,
    ) -> Result<SecretBytes, SopsError> {
        if self.iv.len() != 32 {
            return Err(SopsError::EncSyntax {
                path: path.to_owned(),
                problem: "iv is not 32 bytes",
            });
        }
        let iv: [u8; 32] = self.iv.as_slice().try_into().map_err(|_| SopsError::EncSyntax {
            path: path.to_owned(),
            problem: "iv is not 32 bytes",
        })?;
        let cipher = SopsGcm::new(key.expose().into());
        let mut ct = zeroize::Zeroizing::new(Vec::with_capacity(self.data.len() + 16));
        ct.extend_from_slice(&self.data);
        ct.extend_from_slice(&self.tag);
        let pt = cipher
            .decrypt(&iv.into(), Payload { msg: &ct, aad })
            .map_err(|_| SopsError::ValueAuth { path: path.to_owned() })?;
        Ok(SecretBytes::new(pt))
    }

    /// Encrypts `plaintext` with a fresh random 32-byte IV.
    pub fn encrypt(key: &SecretKey32, plaintext: &[u8], aad: &[u8], kind: ValueType) -> Self {
        let mut iv = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut iv);
        let cipher = SopsGcm::new(key.expose().into());
        // Encryption of an in-memory buffer below GCM's length limit cannot fail.
        let mut out =
            cipher.encrypt(&iv.into(), Payload { msg: plaintext, aad }).unwrap_or_default();
        let tag_start = out.len().saturating_sub(16);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&out[tag_start..]);
        out.truncate(tag_start);
        Self { data: out, iv: iv.to_vec(), tag, kind }
    }

    /// Renders the `ENC[...]` string.
    pub fn render(&self) -> String {
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            STANDARD.encode(&self.data),
            STANDARD.encode(&self.iv),
            STANDARD.encode(self.tag),
            self.kind.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_aad_binding() {
        let k = SecretKey32::new([7; 32]);
        let e = EncValue::encrypt(&k, b"hunter2", b"a:b:", ValueType::Str);
        let s = e.render();
        let back = EncValue::parse(&s, "a:b:").unwrap();
        assert_eq!(back.decrypt(&k, b"a:b:", "a:b:").unwrap().expose(), b"hunter2");
        assert!(matches!(back.decrypt(&k, b"a:c:", "a:c:"), Err(SopsError::ValueAuth { .. })));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "ENC[AES256_CBC,data:AA==,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:weird]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str",
            "ENC[AES256_GCM,iv:AA==,data:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
        ] {
            assert!(
                matches!(EncValue::parse(bad, "x:"), Err(SopsError::EncSyntax { .. })),
                "{bad}"
            );
        }
    }
}
