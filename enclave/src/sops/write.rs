//! Writing SOPS JSON files (used for test fixtures, benchmarks and the
//! local development flow). Every non-null leaf is encrypted; the MAC and
//! metadata follow docs/formats/sops.md §5 and §8 rule 6.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

use super::{normalize_lastmodified, EncValue, KmsEntry, PlainNode, SopsError, ValueType};
use crate::secret::SecretKey32;

/// The SOPS version this writer emulates.
pub const WRITER_VERSION: &str = "3.9.0";

/// Encrypts `doc` (a mapping) under `key` and returns SOPS JSON bytes.
/// `kms` are the master-key entries whose `enc` already wraps `key`;
/// `lastmodified` is an RFC 3339 UTC time with seconds precision.
pub fn encrypt_json(
    doc: &PlainNode,
    key: &SecretKey32,
    kms: &[KmsEntry],
    lastmodified: &str,
) -> Result<Vec<u8>, SopsError> {
    if !matches!(doc, PlainNode::Map(_)) {
        return Err(SopsError::RootNotMapping);
    }
    let mut h = Sha512::new();
    let mut path = Vec::new();
    let Value::Object(mut root) = enc_node(doc, key, &mut path, &mut h) else {
        return Err(SopsError::RootNotMapping);
    };
    let mac_plain = hex::encode_upper(h.finalize());
    let aad = normalize_lastmodified(lastmodified)?;
    let mac = EncValue::encrypt(key, mac_plain.as_bytes(), aad.as_bytes(), ValueType::Str).render();

    let kms_list: Vec<Value> = kms
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("arn".into(), Value::String(e.arn.clone()));
            if !e.context.is_empty() {
                let ctx: Map<String, Value> =
                    e.context.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                m.insert("context".into(), Value::Object(ctx));
            }
            m.insert("created_at".into(), Value::String(lastmodified.to_owned()));
            m.insert("enc".into(), Value::String(STANDARD.encode(&e.enc)));
            m.insert("aws_profile".into(), Value::String(String::new()));
            Value::Object(m)
        })
        .collect();
    let mut sops = Map::new();
    sops.insert("kms".into(), Value::Array(kms_list));
    sops.insert("lastmodified".into(), Value::String(lastmodified.to_owned()));
    sops.insert("mac".into(), Value::String(mac));
    sops.insert("unencrypted_suffix".into(), Value::String("_unencrypted".into()));
    sops.insert("version".into(), Value::String(WRITER_VERSION.into()));
    root.insert("sops".into(), Value::Object(sops));
    serde_json::to_vec_pretty(&Value::Object(root)).map_err(|e| SopsError::Json(e.to_string()))
}

fn enc_node(n: &PlainNode, key: &SecretKey32, path: &mut Vec<String>, h: &mut Sha512) -> Value {
    match n {
        PlainNode::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                path.push(k.clone());
                let x = enc_node(v, key, path, h);
                path.pop();
                m.insert(k.clone(), x);
            }
            Value::Object(m)
        }
        PlainNode::List(items) => {
            Value::Array(items.iter().map(|i| enc_node(i, key, path, h)).collect())
        }
        PlainNode::Null => Value::Null,
        PlainNode::Leaf(l) => {
            h.update(l.bytes.expose());
            if l.bytes.is_empty() {
                return Value::String(String::new());
            }
            let aad = super::aad_of(path);
            Value::String(EncValue::encrypt(key, l.bytes.expose(), aad.as_bytes(), l.kind).render())
        }
    }
}
