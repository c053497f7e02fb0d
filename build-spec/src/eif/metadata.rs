//! The metadata section (type 5): compact JSON in AWS's struct key order,
//! free-form objects with keys sorted recursively (docs/formats/eif-and-pcrs.md §3.1).
//!
//! The workspace enables serde_json's `preserve_order`, so the sorting AWS
//! gets for free from `BTreeMap` is done explicitly by [`canonical`].

use serde_json::Value;

/// Decoded metadata. All five top-level and five `BuildMetadata` keys are
/// required, as AWS's reader requires them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EifMetadata {
    /// `ImageName`.
    #[serde(rename = "ImageName")]
    pub image_name: String,
    /// `ImageVersion`.
    #[serde(rename = "ImageVersion")]
    pub image_version: String,
    /// `BuildMetadata`.
    #[serde(rename = "BuildMetadata")]
    pub build: BuildMetadata,
    /// `DockerInfo` (often `null`).
    #[serde(rename = "DockerInfo")]
    pub docker_info: Value,
    /// `CustomMetadata` (often `null`).
    #[serde(rename = "CustomMetadata")]
    pub custom: Value,
}

/// The `BuildMetadata` object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildMetadata {
    /// `BuildTime`, RFC 3339.
    #[serde(rename = "BuildTime")]
    pub build_time: String,
    /// `BuildTool`.
    #[serde(rename = "BuildTool")]
    pub build_tool: String,
    /// `BuildToolVersion`.
    #[serde(rename = "BuildToolVersion")]
    pub build_tool_version: String,
    /// `OperatingSystem` (of the enclave kernel).
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    /// `KernelVersion` (of the enclave kernel).
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
}

impl EifMetadata {
    /// The exact section bytes AWS's builder writes for this metadata.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = serde_json::json!({
            "ImageName": self.image_name,
            "ImageVersion": self.image_version,
            "BuildMetadata": {
                "BuildTime": self.build.build_time,
                "BuildTool": self.build.build_tool,
                "BuildToolVersion": self.build.build_tool_version,
                "OperatingSystem": self.build.operating_system,
                "KernelVersion": self.build.kernel_version,
            },
            "DockerInfo": canonical(&self.docker_info),
            "CustomMetadata": canonical(&self.custom),
        });
        // Serialising a Value to a Vec cannot fail (no non-string keys).
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// Parses section bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(b).map_err(|e| e.to_string())
    }
}

/// `value` with object keys sorted bytewise at every depth.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// RFC 3339 text of a Unix time, as AWS tools print a UTC build time
/// (`1970-01-01T00:00:00+00:00`). Seconds outside the supported calendar
/// range are an error.
pub fn build_time_from_epoch(secs: i64) -> Result<String, String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| e.to_string())?;
    let fmt =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    t.format(&fmt).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_format() {
        assert_eq!(build_time_from_epoch(0).as_deref(), Ok("1970-01-01T00:00:00+00:00"));
        assert_eq!(
            build_time_from_epoch(1_700_000_000).as_deref(),
            Ok("2023-11-14T22:13:20+00:00")
        );
    }

    #[test]
    fn nested_keys_sorted() {
        let v: Value =
            serde_json::from_str(r#"{"b":{"z":1,"a":[{"y":1,"x":2}]},"a":null}"#).expect("json");
        assert_eq!(
            serde_json::to_string(&canonical(&v)).expect("ser"),
            r#"{"a":null,"b":{"a":[{"x":2,"y":1}],"z":1}}"#
        );
    }
}
