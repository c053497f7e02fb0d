//! The KMS operations, independent of HTTP: one authenticated caller, one
//! operation name, one JSON body in; a JSON body or a KMS error out.
//!
//! Order of checks for key-scoped operations (our model; KMS does not
//! document its order): parse → resolve key (`NotFoundException`) → verify
//! the `Recipient` document if any (`ValidationException`) → key policy
//! (`AccessDeniedException`) → key state (`DisabledException`,
//! `KMSInvalidStateException`) → cryptography (`InvalidCiphertextException`).
//! Checking the policy before the state means a caller without permission
//! learns nothing about the key's state.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::blob;
use super::cms;
use super::store::{KeyLifecycle, KeyRecord, Store};
use super::trail::{Call, TrailWriter};
use super::{
    Caller, Clock, PolicyDecision, PolicyEngine, PolicyRequest, RecipientVerifier,
    VerifiedRecipient,
};
use enclave::backend::EncryptionContext;
use std::sync::Mutex;

/// A KMS error: HTTP 400 with `{"__type": code, "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsFault {
    /// AWS error type, e.g. `NotFoundException`.
    pub code: &'static str,
    /// Human-readable message (never contains key material or plaintext).
    pub message: String,
}

impl KmsFault {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }
    /// HTTP status for this error (500 for internal failures, else 400).
    pub fn status(&self) -> u16 {
        if self.code == "KMSInternalException" {
            500
        } else {
            400
        }
    }
}

type R = Result<Value, KmsFault>;

/// Server-wide settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Region in ARNs and the SigV4 scope.
    pub region: String,
    /// Account that owns the keys.
    pub account: String,
    /// How old a Recipient document may be (seconds, by its timestamp).
    pub max_document_age_secs: u64,
}

/// The KMS service state.
pub struct Service {
    cfg: ServiceConfig,
    store: Store,
    policy: Box<dyn PolicyEngine>,
    recipients: Box<dyn RecipientVerifier>,
    clock: Clock,
    /// Where each call's CloudTrail record goes, when enabled.
    trail: Option<TrailWriter>,
    /// The Recipient document verified during the current call (for its record).
    verified: Mutex<Option<VerifiedRecipient>>,
}

fn internal(e: impl std::fmt::Display) -> KmsFault {
    KmsFault::new("KMSInternalException", e.to_string())
}

fn get_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, KmsFault> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KmsFault::validation(format!("{field} must be a string"))),
    }
}

fn req_str<'a>(body: &'a Value, field: &str) -> Result<&'a str, KmsFault> {
    get_str(body, field)?.ok_or_else(|| KmsFault::validation(format!("{field} is required")))
}

fn get_b64(body: &Value, field: &str, max: usize) -> Result<Option<Zeroizing<Vec<u8>>>, KmsFault> {
    match get_str(body, field)? {
        None => Ok(None),
        Some(s) => {
            if s.len() > max.div_ceil(3) * 4 + 4 {
                return Err(KmsFault::validation(format!("{field} is longer than {max} bytes")));
            }
            let v = B64.decode(s).map_err(|_| {
                KmsFault::new("SerializationException", format!("{field} is not base64"))
            })?;
            if v.len() > max {
                return Err(KmsFault::validation(format!("{field} is longer than {max} bytes")));
            }
            Ok(Some(Zeroizing::new(v)))
        }
    }
}

fn get_context(body: &Value) -> Result<EncryptionContext, KmsFault> {
    match body.get("EncryptionContext") {
        None | Some(Value::Null) => Ok(EncryptionContext::new()),
        Some(Value::Object(m)) => {
            if m.len() > 64 {
                return Err(KmsFault::validation("EncryptionContext has more than 64 pairs"));
            }
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(KmsFault::validation("EncryptionContext values must be strings")),
                })
                .collect()
        }
        Some(_) => Err(KmsFault::validation("EncryptionContext must be an object")),
    }
}

fn key_metadata(k: &KeyRecord) -> Value {
    let mut m = json!({
        "AWSAccountId": k.account,
        "KeyId": k.key_id,
        "Arn": k.arn,
        "CreationDate": k.creation_date,
        "Enabled": k.key_state == KeyLifecycle::Enabled,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": k.key_state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let Some(d) = k.deletion_date {
        m["DeletionDate"] = json!(d);
    }
    m
}

/// The AWS default key policy (one definition, in the `kms-policy` crate).
pub use kms_policy::render::default_policy;

/// Largest key policy KMS accepts (32 KiB).
pub const MAX_POLICY: usize = 32 * 1024;

impl Service {
    /// Builds the service over an opened store.
    pub fn new(
        cfg: ServiceConfig,
        store: Store,
        policy: Box<dyn PolicyEngine>,
        recipients: Box<dyn RecipientVerifier>,
        clock: Clock,
    ) -> Self {
        Self { cfg, store, policy, recipients, clock, trail: None, verified: Mutex::new(None) }
    }

    /// Also writes one CloudTrail record per call served (issue 16).
    pub fn with_trail(mut self, trail: TrailWriter) -> Self {
        self.trail = Some(trail);
        self
    }

    /// Handles one operation for an authenticated caller, and records it in
    /// the trail when one is configured. A record that cannot be written
    /// turns the answer into `KMSInternalException`: a call missing from the
    /// trail would let the trail audit pass over it.
    pub fn handle(&mut self, caller: &Caller, operation: &str, body: &Value) -> R {
        if let Ok(mut v) = self.verified.lock() {
            *v = None;
        }
        let out = self.dispatch(caller, operation, body);
        if self.trail.is_none() {
            return out;
        }
        let key_arn = self.trail_key(operation, body, &out);
        let recipient = self.verified.lock().ok().and_then(|mut v| v.take());
        let time = self.clock.now().or_else(|_| Clock::System.now()).unwrap_or(0);
        let call = Call {
            caller,
            operation,
            body,
            outcome: out.as_ref(),
            key_arn,
            recipient: recipient.as_ref(),
            time,
        };
        match self.trail.as_mut().map(|t| t.write(&call)) {
            Some(Err(e)) => {
                Err(internal(format!("the CloudTrail record could not be written: {e}")))
            }
            _ => out,
        }
    }

    /// The key a call was about, for its record: from the answer, the
    /// request's `KeyId`, or (Decrypt) the key the ciphertext names.
    fn trail_key(&self, operation: &str, body: &Value, out: &R) -> Option<String> {
        if let Ok(v) = out {
            let arn = v
                .get("KeyMetadata")
                .and_then(|m| m.get("Arn"))
                .or_else(|| v.get("KeyId"))
                .and_then(Value::as_str)
                .filter(|a| a.starts_with("arn:"));
            if let Some(a) = arn {
                return Some(a.to_string());
            }
        }
        if let Ok(Some(id)) = get_str(body, "KeyId") {
            if let Some(k) = self.store.resolve(id) {
                return Some(k.arn.clone());
            }
        }
        if operation == "Decrypt" {
            let ct = get_b64(body, "CiphertextBlob", blob::MAX_BLOB).ok()??;
            let named = blob::key_id_of(&ct).ok()?;
            return self.store.resolve(named).map(|k| k.arn.clone());
        }
        None
    }

    fn dispatch(&mut self, caller: &Caller, operation: &str, body: &Value) -> R {
        let now = self.clock.now().map_err(internal)?;
        self.store.expire(now).map_err(internal)?;
        if !body.is_object() {
            return Err(KmsFault::new(
                "SerializationException",
                "request body must be a JSON object",
            ));
        }
        match operation {
            "CreateKey" => self.create_key(caller, body, now),
            "ListKeys" => self.list_keys(caller),
            "DescribeKey" => self.describe_key(caller, body),
            "GetKeyPolicy" => self.get_key_policy(caller, body),
            "PutKeyPolicy" => self.put_key_policy(caller, body),
            "Encrypt" => self.encrypt(caller, body),
            "Decrypt" => self.decrypt(caller, body),
            "GenerateDataKey" => self.generate_data_key(caller, body),
            "EnableKey" | "DisableKey" | "ScheduleKeyDeletion" | "CancelKeyDeletion" => {
                self.lifecycle(caller, operation, body, now)
            }
            other => Err(KmsFault::new(
                "UnsupportedOperationException",
                format!("operation {other} is not implemented by proofpack-kms-local"),
            )),
        }
    }

    fn authorize(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: &str,
        recipient: Option<&VerifiedRecipient>,
        ctx: &EncryptionContext,
    ) -> Result<(), KmsFault> {
        let req = PolicyRequest {
            principal_arn: &caller.principal_arn,
            action,
            key_arn: &key.arn,
            recipient_pcrs: recipient.map(|r| &r.pcrs),
            encryption_context: ctx,
            iam_allows: caller.iam_allow_all,
        };
        match self.policy.decide(&key.policy, &req) {
            PolicyDecision::Allow => Ok(()),
            d => Err(KmsFault::new(
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform: {action} on resource: {} because {}",
                    caller.principal_arn,
                    key.arn,
                    match d {
                        PolicyDecision::ExplicitDeny => "of an explicit deny in the key policy",
                        _ => "no statement of the key policy allows it",
                    }
                ),
            )),
        }
    }

    fn key(&self, body: &Value) -> Result<&KeyRecord, KmsFault> {
        let id = req_str(body, "KeyId")?;
        self.store
            .resolve(id)
            .ok_or_else(|| KmsFault::new("NotFoundException", format!("Key '{id}' does not exist")))
    }

    fn usable(key: &KeyRecord) -> Result<(), KmsFault> {
        match key.key_state {
            KeyLifecycle::Enabled => Ok(()),
            KeyLifecycle::Disabled => {
                Err(KmsFault::new("DisabledException", format!("{} is disabled.", key.arn)))
            }
            KeyLifecycle::PendingDeletion => Err(KmsFault::new(
                "KMSInvalidStateException",
                format!(
                    "{} is pending deletion{}.",
                    key.arn,
                    key.deletion_date
                        .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d).ok())
                        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                        .map(|t| format!(" (deletion date {t}; CancelKeyDeletion restores it)"))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    fn iam_only(caller: &Caller, action: &str) -> Result<(), KmsFault> {
        // Not key-scoped: authorised by IAM only (docs/formats/kms-policy.md §3.6 class N).
        if caller.iam_allow_all {
            Ok(())
        } else {
            Err(KmsFault::new(
                "AccessDeniedException",
                format!("User: {} is not authorized to perform: {action}", caller.principal_arn),
            ))
        }
    }

    fn check_policy_text(
        &self,
        policy: &str,
        caller: &Caller,
        bypass: bool,
        key_arn: &str,
    ) -> Result<(), KmsFault> {
        if policy.len() > MAX_POLICY {
            return Err(KmsFault::new(
                "MalformedPolicyDocumentException",
                "policy is larger than 32 KiB",
            ));
        }
        self.policy
            .validate(policy)
            .map_err(|m| KmsFault::new("MalformedPolicyDocumentException", m))?;
        if !bypass {
            // KMS's lockout safety check: the caller must still be able to
            // PutKeyPolicy under the new policy.
            let req = PolicyRequest {
                principal_arn: &caller.principal_arn,
                action: "kms:PutKeyPolicy",
                key_arn,
                recipient_pcrs: None,
                encryption_context: &EncryptionContext::new(),
                iam_allows: caller.iam_allow_all,
            };
            if self.policy.decide(policy, &req) != PolicyDecision::Allow {
                return Err(KmsFault::new(
                    "MalformedPolicyDocumentException",
                    "The new key policy will not allow you to update the key policy in the future.",
                ));
            }
        }
        Ok(())
    }

    fn create_key(&mut self, caller: &Caller, body: &Value, now: i64) -> R {
        Self::iam_only(caller, "kms:CreateKey")?;
        for (field, allowed) in [
            ("KeyUsage", "ENCRYPT_DECRYPT"),
            ("KeySpec", "SYMMETRIC_DEFAULT"),
            ("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"),
        ] {
            if let Some(v) = get_str(body, field)? {
                if v != allowed {
                    return Err(KmsFault::validation(format!(
                        "proofpack-kms-local supports only {field}={allowed}, not {v}"
                    )));
                }
            }
        }
        let description = get_str(body, "Description")?.unwrap_or("").to_string();
        let bypass =
            body.get("BypassPolicyLockoutSafetyCheck").and_then(Value::as_bool).unwrap_or(false);
        let policy = match get_str(body, "Policy")? {
            Some(p) => {
                let probe_arn =
                    format!("arn:aws:kms:{}:{}:key/new", self.cfg.region, self.cfg.account);
                self.check_policy_text(p, caller, bypass, &probe_arn)?;
                p.to_string()
            }
            None => default_policy(&self.cfg.account),
        };
        let (region, account) = (self.cfg.region.clone(), self.cfg.account.clone());
        let rec =
            self.store.create(&region, &account, &description, policy, now).map_err(internal)?;
        Ok(json!({"KeyMetadata": key_metadata(rec)}))
    }

    fn list_keys(&self, caller: &Caller) -> R {
        Self::iam_only(caller, "kms:ListKeys")?;
        let keys: Vec<Value> =
            self.store.list().map(|k| json!({"KeyId": k.key_id, "KeyArn": k.arn})).collect();
        Ok(json!({"Keys": keys, "Truncated": false}))
    }

    fn describe_key(&self, caller: &Caller, body: &Value) -> R {
        let k = self.key(body)?;
        self.authorize(caller, k, "kms:DescribeKey", None, &EncryptionContext::new())?;
        Ok(json!({"KeyMetadata": key_metadata(k)}))
    }

    fn policy_name(body: &Value) -> Result<(), KmsFault> {
        match get_str(body, "PolicyName")? {
            None | Some("default") => Ok(()),
            Some(_) => {
                Err(KmsFault::new("NotFoundException", "the only policy name is \"default\""))
            }
        }
    }

    fn get_key_policy(&self, caller: &Caller, body: &Value) -> R {
        Self::policy_name(body)?;
        let k = self.key(body)?;
        self.authorize(caller, k, "kms:GetKeyPolicy", None, &EncryptionContext::new())?;
        Ok(json!({"Policy": k.policy, "PolicyName": "default"}))
    }

    fn put_key_policy(&mut self, caller: &Caller, body: &Value) -> R {
        Self::policy_name(body)?;
        let k = self.key(body)?;
        self.authorize(caller, k, "kms:PutKeyPolicy", None, &EncryptionContext::new())?;
        if k.key_state == KeyLifecycle::PendingDeletion {
            Self::usable(k)?;
        }
        let policy = req_str(body, "Policy")?.to_string();
        let bypass =
            body.get("BypassPolicyLockoutSafetyCheck").and_then(Value::as_bool).unwrap_or(false);
        self.check_policy_text(&policy, caller, bypass, &k.arn)?;
        let id = k.key_id.clone();
        self.store.update(&id, |r| r.policy = policy).map_err(internal)?;
        Ok(json!({}))
    }

    fn encrypt(&self, caller: &Caller, body: &Value) -> R {
        let k = self.key(body)?;
        let ctx = get_context(body)?;
        let pt = get_b64(body, "Plaintext", blob::MAX_PLAINTEXT)?
            .ok_or_else(|| KmsFault::validation("Plaintext is required"))?;
        if pt.is_empty() {
            return Err(KmsFault::validation("Plaintext must not be empty"));
        }
        Self::algorithm(body)?;
        self.authorize(caller, k, "kms:Encrypt", None, &ctx)?;
        Self::usable(k)?;
        let material = k.material().map_err(internal)?;
        let ct = blob::seal(&k.key_id, &material, &pt, &ctx).map_err(internal)?;
        Ok(
            json!({"CiphertextBlob": B64.encode(ct), "KeyId": k.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        )
    }

    fn algorithm(body: &Value) -> Result<(), KmsFault> {
        match get_str(body, "EncryptionAlgorithm")? {
            None | Some("SYMMETRIC_DEFAULT") => Ok(()),
            Some(a) => Err(KmsFault::new(
                "InvalidKeyUsageException",
                format!("algorithm {a} is not valid for this key"),
            )),
        }
    }

    /// Verifies the Recipient document, if any, at the **wall clock** (like
    /// KMS): the controllable [`Clock`] only drives the key lifecycle.
    fn recipient(&self, body: &Value) -> Result<Option<VerifiedRecipient>, KmsFault> {
        let now = Clock::System.now().map_err(internal)?;
        let r = match body.get("Recipient") {
            None | Some(Value::Null) => return Ok(None),
            Some(r @ Value::Object(_)) => r,
            Some(_) => return Err(KmsFault::validation("Recipient must be an object")),
        };
        match get_str(r, "KeyEncryptionAlgorithm")? {
            Some("RSAES_OAEP_SHA_256") => {}
            _ => {
                return Err(KmsFault::validation(
                    "Recipient.KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256",
                ))
            }
        }
        let doc = get_b64(r, "AttestationDocument", 64 * 1024)?
            .ok_or_else(|| KmsFault::validation("Recipient.AttestationDocument is required"))?;
        let v = self.recipients.verify(&doc, now, self.cfg.max_document_age_secs).map_err(|m| {
            KmsFault::validation(format!("Recipient attestation document rejected: {m}"))
        })?;
        if let Ok(mut seen) = self.verified.lock() {
            *seen = Some(v.clone());
        }
        Ok(Some(v))
    }

    /// Plaintext or CiphertextForRecipient, as the response field and value.
    fn release(
        pt: &[u8],
        recipient: Option<&VerifiedRecipient>,
    ) -> Result<(&'static str, String), KmsFault> {
        match recipient {
            None => Ok(("Plaintext", B64.encode(pt))),
            Some(r) => {
                let env = cms::envelope(pt, &r.public_key, cms::Encoding::BerIndefinite).map_err(
                    |e| {
                        KmsFault::validation(format!(
                            "cannot encrypt to the document's public key: {e}"
                        ))
                    },
                )?;
                Ok(("CiphertextForRecipient", B64.encode(env)))
            }
        }
    }

    fn decrypt(&self, caller: &Caller, body: &Value) -> R {
        let ct = get_b64(body, "CiphertextBlob", blob::MAX_BLOB)?
            .ok_or_else(|| KmsFault::validation("CiphertextBlob is required"))?;
        let ctx = get_context(body)?;
        Self::algorithm(body)?;
        let named = blob::key_id_of(&ct)
            .map_err(|e| KmsFault::new("InvalidCiphertextException", e.to_string()))?;
        // A named KeyId that does not exist (e.g. deleted at the end of its
        // waiting period) is NotFoundException, naming the key, as in KMS.
        if let Some(given) = get_str(body, "KeyId")? {
            if self.store.resolve(given).is_none() {
                return Err(KmsFault::new(
                    "NotFoundException",
                    format!("Key '{given}' does not exist (deleted, or never created)"),
                ));
            }
        }
        let k = self.store.resolve(named).ok_or_else(|| {
            KmsFault::new(
                "InvalidCiphertextException",
                format!("the key that encrypted this blob ({named}) does not exist (deleted?)"),
            )
        })?;
        if let Some(given) = get_str(body, "KeyId")? {
            match self.store.resolve(given) {
                Some(g) if g.key_id == k.key_id => {}
                Some(_) => {
                    return Err(KmsFault::new(
                        "IncorrectKeyException",
                        "the blob was not encrypted under the given KeyId",
                    ))
                }
                None => {
                    return Err(KmsFault::new(
                        "NotFoundException",
                        format!("Key '{given}' does not exist"),
                    ))
                }
            }
        }
        let recipient = self.recipient(body)?;
        self.authorize(caller, k, "kms:Decrypt", recipient.as_ref(), &ctx)?;
        Self::usable(k)?;
        let material = k.material().map_err(internal)?;
        let pt = blob::open(&ct, &material, &ctx)
            .map_err(|e| KmsFault::new("InvalidCiphertextException", e.to_string()))?;
        let (field, value) = Self::release(&pt, recipient.as_ref())?;
        let mut out = Map::new();
        out.insert("KeyId".into(), json!(k.arn));
        out.insert("EncryptionAlgorithm".into(), json!("SYMMETRIC_DEFAULT"));
        out.insert(field.into(), json!(value));
        Ok(Value::Object(out))
    }

    fn generate_data_key(&self, caller: &Caller, body: &Value) -> R {
        let k = self.key(body)?;
        let ctx = get_context(body)?;
        let n = match (get_str(body, "KeySpec")?, body.get("NumberOfBytes")) {
            (Some(_), Some(_)) => {
                return Err(KmsFault::validation("give KeySpec or NumberOfBytes, not both"))
            }
            (Some("AES_256"), None) => 32,
            (Some("AES_128"), None) => 16,
            (Some(s), None) => {
                return Err(KmsFault::validation(format!("KeySpec {s} is not AES_256 or AES_128")))
            }
            (None, Some(v)) => match v.as_u64() {
                Some(n @ 1..=1024) => n as usize,
                _ => return Err(KmsFault::validation("NumberOfBytes must be 1..=1024")),
            },
            (None, None) => {
                return Err(KmsFault::validation("KeySpec or NumberOfBytes is required"))
            }
        };
        let recipient = self.recipient(body)?;
        self.authorize(caller, k, "kms:GenerateDataKey", recipient.as_ref(), &ctx)?;
        Self::usable(k)?;
        let mut dk = Zeroizing::new(vec![0u8; n]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut dk);
        let material = k.material().map_err(internal)?;
        let ct = blob::seal(&k.key_id, &material, &dk, &ctx).map_err(internal)?;
        let (field, value) = Self::release(&dk, recipient.as_ref())?;
        let mut out = Map::new();
        out.insert("KeyId".into(), json!(k.arn));
        out.insert("CiphertextBlob".into(), json!(B64.encode(ct)));
        out.insert(field.into(), json!(value));
        Ok(Value::Object(out))
    }

    fn lifecycle(&mut self, caller: &Caller, op: &str, body: &Value, now: i64) -> R {
        let k = self.key(body)?;
        let action = format!("kms:{op}");
        self.authorize(caller, k, &action, None, &EncryptionContext::new())?;
        let (id, arn, state) = (k.key_id.clone(), k.arn.clone(), k.key_state);
        let invalid = |what: &str| {
            KmsFault::new(
                "KMSInvalidStateException",
                format!("{arn} is {} and cannot be {what}.", state.as_str()),
            )
        };
        match op {
            "EnableKey" | "DisableKey" => {
                if state == KeyLifecycle::PendingDeletion {
                    return Err(invalid(if op == "EnableKey" { "enabled" } else { "disabled" }));
                }
                let to =
                    if op == "EnableKey" { KeyLifecycle::Enabled } else { KeyLifecycle::Disabled };
                self.store.update(&id, |r| r.key_state = to).map_err(internal)?;
                Ok(json!({}))
            }
            "ScheduleKeyDeletion" => {
                if state == KeyLifecycle::PendingDeletion {
                    return Err(invalid("scheduled for deletion again"));
                }
                let days = match body.get("PendingWindowInDays") {
                    None | Some(Value::Null) => 30,
                    Some(v) => match v.as_i64() {
                        Some(d @ 7..=30) => d,
                        _ => {
                            return Err(KmsFault::validation(
                                "PendingWindowInDays must be between 7 and 30",
                            ))
                        }
                    },
                };
                let when = now + days * 86_400;
                self.store
                    .update(&id, |r| {
                        r.key_state = KeyLifecycle::PendingDeletion;
                        r.deletion_date = Some(when);
                    })
                    .map_err(internal)?;
                Ok(
                    json!({"KeyId": arn, "DeletionDate": when, "KeyState": "PendingDeletion", "PendingWindowInDays": days}),
                )
            }
            _ => {
                if state != KeyLifecycle::PendingDeletion {
                    return Err(invalid("have its deletion cancelled"));
                }
                self.store
                    .update(&id, |r| {
                        r.key_state = KeyLifecycle::Disabled;
                        r.deletion_date = None;
                    })
                    .map_err(internal)?;
                Ok(json!({"KeyId": arn}))
            }
        }
    }
}
