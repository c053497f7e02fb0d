//! The deterministic merge of decrypted SOPS documents for one target.
//!
//! **Layout.** Without a target in the request, every input document is one
//! layer, merged in request order. With a target `{service, environment}`,
//! each input document may have three top-level keys (any other is an error):
//!
//! ```yaml
//! defaults:      { KEY: value, ... }          # layer 1
//! services:      { <service>: { ... } }       # layer 2, only the target service
//! environments:  { <environment>: { ... } }   # layer 3, only the target environment
//! ```
//!
//! **Rules.** Layers apply in the order defaults < service < environment; a
//! later layer overrides a value of an earlier one (maps merge key by key,
//! anything else is replaced) and each override is reported by path. Within
//! one layer, the same leaf path defined by two inputs — or a map in one and a
//! value in the other — is a **conflict**; all conflicts are collected and the
//! merge fails. Keys are emitted sorted (bytewise), so the output depends only
//! on the inputs and the target, never on hash order.
//!
//! Reports contain key paths and input names, never values.

use crate::secret::SecretBytes;
use crate::sops::{PlainLeaf, PlainNode, ValueType};

/// The content type of the merged bundle.
pub const BUNDLE_CONTENT_TYPE: &str = "application/vnd.proofpack.bundle.v1+json";

/// The three layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// `defaults`
    Defaults,
    /// `services.<service>`
    Service,
    /// `environments.<environment>`
    Environment,
}

/// Two inputs define the same path in the same layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Key path, `.`-joined.
    pub path: String,
    /// The layer.
    pub layer: Layer,
    /// The input that defined it first.
    pub first: String,
    /// The input that defined it again.
    pub second: String,
}

/// A later layer replaced a value of an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Key path.
    pub path: String,
    /// Layer of the replaced value.
    pub from: Layer,
    /// Layer of the new value.
    pub to: Layer,
}

/// Why a merge failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeError {
    /// Same-layer conflicts (all of them).
    #[error("{} merge conflict(s), first at {}", .0.len(), .0.first().map_or("", |c| c.path.as_str()))]
    Conflicts(Vec<Conflict>),
    /// With a target, an input has a top-level key other than the three layers.
    #[error("input {input}: top-level key {key:?} is not defaults, services or environments")]
    Layout {
        /// Input name.
        input: String,
        /// The key.
        key: String,
    },
    /// A layer is not a mapping.
    #[error("input {input}: {what} is not a mapping")]
    NotMapping {
        /// Input name.
        input: String,
        /// Which part.
        what: String,
    },
    /// A string value is not UTF-8.
    #[error("value at {0} is not UTF-8 text")]
    NotUtf8(String),
    /// The merge selected nothing.
    #[error("the merge produced no values for this target")]
    Empty,
}

/// One merged node and where it came from.
enum Merged {
    Map(Vec<(String, Merged)>),
    Value { node: PlainNode, layer: Layer, input: String },
}

/// The result: plaintext JSON bytes (zeroized on drop) and the overrides.
#[derive(Debug)]
pub struct Bundle {
    /// The merged document, JSON, keys sorted.
    pub plaintext: SecretBytes,
    /// Overrides between layers.
    pub overrides: Vec<Override>,
}

/// Merges `inputs` (name, decrypted document) for `target` (service, environment).
pub fn merge(
    inputs: Vec<(String, PlainNode)>,
    target: Option<(&str, &str)>,
) -> Result<Bundle, MergeError> {
    let mut layers: Vec<(Layer, String, PlainNode)> = Vec::new();
    for (name, doc) in inputs {
        let PlainNode::Map(top) = doc else {
            return Err(MergeError::NotMapping { input: name, what: "the document".into() });
        };
        let Some((svc, env)) = target else {
            layers.push((Layer::Defaults, name, PlainNode::Map(top)));
            continue;
        };
        for (k, v) in top {
            let (layer, node) = match k.as_str() {
                "defaults" => (Layer::Defaults, Some(v)),
                "services" => (Layer::Service, pick(v, svc, &name, "services")?),
                "environments" => (Layer::Environment, pick(v, env, &name, "environments")?),
                _ => return Err(MergeError::Layout { input: name, key: k }),
            };
            if let Some(n) = node {
                layers.push((layer, name.clone(), n));
            }
        }
    }
    layers.sort_by_key(|(l, _, _)| *l); // stable: request order within a layer
    let mut root: Vec<(String, Merged)> = Vec::new();
    let mut conflicts = Vec::new();
    let mut overrides = Vec::new();
    for (layer, input, node) in layers {
        let PlainNode::Map(pairs) = node else {
            return Err(MergeError::NotMapping { input, what: format!("{layer:?} layer") });
        };
        merge_map(&mut root, pairs, layer, &input, "", &mut conflicts, &mut overrides);
    }
    if !conflicts.is_empty() {
        return Err(MergeError::Conflicts(conflicts));
    }
    if root.is_empty() {
        return Err(MergeError::Empty);
    }
    let mut out = zeroize::Zeroizing::new(Vec::new());
    write_map(&mut root, &mut out, "")?;
    Ok(Bundle { plaintext: SecretBytes::new(std::mem::take(&mut *out)), overrides })
}

fn pick(
    v: PlainNode,
    name: &str,
    input: &str,
    what: &str,
) -> Result<Option<PlainNode>, MergeError> {
    let PlainNode::Map(pairs) = v else {
        return Err(MergeError::NotMapping { input: input.to_owned(), what: what.to_owned() });
    };
    Ok(pairs.into_iter().find(|(k, _)| k == name).map(|(_, n)| n))
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_owned()
    } else {
        format!("{prefix}.{k}")
    }
}

fn merge_map(
    into: &mut Vec<(String, Merged)>,
    pairs: Vec<(String, PlainNode)>,
    layer: Layer,
    input: &str,
    prefix: &str,
    conflicts: &mut Vec<Conflict>,
    overrides: &mut Vec<Override>,
) {
    for (k, v) in pairs {
        let path = join(prefix, &k);
        let slot = into.iter_mut().position(|(x, _)| *x == k);
        match (slot, v) {
            (None, PlainNode::Map(sub)) => {
                let mut m = Vec::new();
                merge_map(&mut m, sub, layer, input, &path, conflicts, overrides);
                into.push((k, Merged::Map(m)));
            }
            (None, v) => into.push((k, Merged::Value { node: v, layer, input: input.to_owned() })),
            (Some(i), v) => {
                let existing = &mut into[i].1;
                match (existing, v) {
                    (Merged::Map(m), PlainNode::Map(sub)) => {
                        merge_map(m, sub, layer, input, &path, conflicts, overrides)
                    }
                    (existing, v) => {
                        let (prev_layer, prev_input) = first_source(existing);
                        if prev_layer == layer {
                            conflicts.push(Conflict {
                                path,
                                layer,
                                first: prev_input,
                                second: input.to_owned(),
                            });
                        } else {
                            overrides.push(Override { path, from: prev_layer, to: layer });
                            *existing = match v {
                                PlainNode::Map(sub) => {
                                    let mut m = Vec::new();
                                    merge_map(
                                        &mut m,
                                        sub,
                                        layer,
                                        input,
                                        "",
                                        &mut Vec::new(),
                                        &mut Vec::new(),
                                    );
                                    Merged::Map(m)
                                }
                                v => Merged::Value { node: v, layer, input: input.to_owned() },
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Layer and input of the first value found in a merged subtree.
fn first_source(m: &Merged) -> (Layer, String) {
    match m {
        Merged::Value { layer, input, .. } => (*layer, input.clone()),
        Merged::Map(entries) => {
            entries.first().map_or((Layer::Defaults, String::new()), |(_, v)| first_source(v))
        }
    }
}

fn write_map(
    entries: &mut [(String, Merged)],
    out: &mut Vec<u8>,
    prefix: &str,
) -> Result<(), MergeError> {
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (k, v)) in entries.iter_mut().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::json::escape_into(k, out);
        out.push(b':');
        let path = join(prefix, k);
        match v {
            Merged::Map(m) => write_map(m, out, &path)?,
            Merged::Value { node, .. } => write_node(node, out, &path)?,
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_node(n: &mut PlainNode, out: &mut Vec<u8>, path: &str) -> Result<(), MergeError> {
    match n {
        PlainNode::Null => out.extend_from_slice(b"null"),
        PlainNode::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_node(item, out, path)?;
            }
            out.push(b']');
        }
        PlainNode::Map(pairs) => {
            let mut m: Vec<(String, Merged)> = std::mem::take(pairs)
                .into_iter()
                .map(|(k, v)| {
                    (k, Merged::Value { node: v, layer: Layer::Defaults, input: String::new() })
                })
                .collect();
            write_map(&mut m, out, path)?;
        }
        PlainNode::Leaf(l) => write_leaf(l, out, path)?,
    }
    Ok(())
}

fn write_leaf(l: &PlainLeaf, out: &mut Vec<u8>, path: &str) -> Result<(), MergeError> {
    let b = l.bytes.expose();
    match l.kind {
        ValueType::Int => out.extend_from_slice(b),
        ValueType::Float
            if b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-'))
                && !b.is_empty() =>
        {
            out.extend_from_slice(b)
        }
        ValueType::Bool => out.extend_from_slice(if b == b"True" { b"true" } else { b"false" }),
        _ => {
            let s = std::str::from_utf8(b).map_err(|_| MergeError::NotUtf8(path.to_owned()))?;
            crate::json::escape_into(s, out);
        }
    }
    Ok(())
}
