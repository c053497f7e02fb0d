//! What of a receipt the trail is matched against: the enclave's module id,
//! the job's time window, the keys it used and the KMS request ids.

use cloudtrail::record::parse_time;
use enclave::receipt::model::Statement;

/// One receipt's footprint in CloudTrail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptWindow {
    /// The receipt file.
    pub path: String,
    /// `predicate.enclave.moduleId`.
    pub module_id: String,
    /// `predicate.time.startedOn` (the KMS attestation document), seconds.
    pub start: i64,
    /// `predicate.time.finishedOn` rounded up, seconds.
    pub end: i64,
    /// Keys of the KMS calls the receipt records.
    pub keys: Vec<String>,
    /// KMS request ids the receipt records.
    pub request_ids: Vec<String>,
    /// (key, request id) of each KMS call the receipt records with an id:
    /// every one of them must be in a trail that covers the receipt
    /// (`trail.receipts.seen`).
    pub key_requests: Vec<(String, String)>,
    /// The receipt's PCR0/1/2 (lowercase hex).
    pub pcrs: [String; 3],
}

impl ReceiptWindow {
    /// Whether the receipt's whole job lies inside `[from, to]`, so every
    /// call it records must be in a trail that covers the window.
    pub fn inside(&self, from: i64, to: i64) -> bool {
        from <= self.start && self.end <= to
    }
}

/// Whether two key references name the same key (ARN or bare key id).
pub fn same_key(a: &str, b: &str) -> bool {
    let id = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    a == b || (!a.is_empty() && id(a) == id(b) && (a.contains(":key/") || b.contains(":key/")))
}

/// The window of a receipt statement.
pub fn window_of(path: &str, st: &Statement) -> Result<ReceiptWindow, String> {
    let p = &st.predicate;
    let start = parse_time(&p.time.started_on).map_err(|e| format!("startedOn: {e}"))?;
    let end_text = &p.time.finished_on;
    let end = parse_time(end_text).map_err(|e| format!("finishedOn: {e}"))?;
    // A fractional second rounds the end up, so the last call's second is inside.
    let end = if end_text.contains('.') { end + 1 } else { end };
    let calls = p
        .inputs
        .iter()
        .flat_map(|i| &i.kms)
        .chain(p.org_key.iter().map(|o| &o.kms))
        .chain(p.sealed_inputs.iter().flatten().flat_map(|i| &i.kms))
        .chain(p.outputs.iter().flat_map(|o| &o.recipients).filter_map(|r| r.kms.as_ref()));
    let mut keys = Vec::new();
    let mut request_ids = Vec::new();
    let mut key_requests = Vec::new();
    for c in calls {
        let k = c.key_arn.clone().unwrap_or_else(|| c.arn.clone());
        if !c.request_id.is_empty() {
            request_ids.push(c.request_id.clone());
            key_requests.push((k.clone(), c.request_id.clone()));
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let e = &p.enclave.pcrs;
    Ok(ReceiptWindow {
        path: path.to_string(),
        module_id: p.enclave.module_id.clone(),
        start,
        end,
        keys,
        request_ids,
        key_requests,
        pcrs: [
            e.pcr0.to_ascii_lowercase(),
            e.pcr1.to_ascii_lowercase(),
            e.pcr2.to_ascii_lowercase(),
        ],
    })
}

/// Reads the statement of a DSSE receipt (shape only; the caller decides
/// whether the receipt verified).
pub fn statement_of(bytes: &[u8]) -> Result<Statement, String> {
    let env = enclave::receipt::dsse::Envelope::parse(bytes).map_err(|e| e.to_string())?;
    serde_json::from_slice(&env.payload).map_err(|e| e.to_string())
}
