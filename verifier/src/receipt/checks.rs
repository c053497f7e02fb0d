//! The checks of docs/formats/receipts.md §6, in order.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use enclave::envelope;
use enclave::receipt::dsse::{self, Envelope};
use enclave::receipt::fields::render_time_ms;
use enclave::receipt::model::{self, KmsCallRecord, Predicate, StatementLayer};
use enclave::receipt::statement::{binding, RECEIPT_PCRS};
use enclave::service::PackRequest;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384};

use super::{root_uses, untrusted, ReceiptOptions, ReceiptReport};
use crate::attestation::{self, AttestationReport, DecodedDoc, Expectations};
use crate::report::{Check, Checks, Verdict};

fn attest(doc: &[u8], opts: &ReceiptOptions) -> AttestationReport {
    let mut o = opts.attestation.clone();
    // The receipt checks compare nonce, user_data and public_key themselves.
    o.expect = Expectations {
        pcrs: o.expect.pcrs.clone(),
        module_id_prefix: o.expect.module_id_prefix.clone(),
        ..Default::default()
    };
    attestation::verify_with_cache(doc, &o, opts.chain_cache.as_deref())
}

fn attest_check(id: &str, which: &str, r: &AttestationReport) -> Check {
    match r.verdict() {
        Verdict::Pass if r.is_emulator() => Check::warn(
            id,
            format!("{which}: {} (sha256 {})", attestation::EMULATOR_DOCUMENT, r.input_sha256),
        ),
        Verdict::Pass => Check::pass(
            id,
            format!("{which} verifies to a trusted root (sha256 {})", r.input_sha256),
        ),
        Verdict::Fail => {
            let reasons: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
            let failed: Vec<&str> = r.checks.failures().map(|c| c.id.as_str()).collect();
            Check::fail(
                id,
                format!("{which} does not verify: {} [{}]", reasons.join("; "), failed.join(", ")),
            )
        }
    }
}

/// Verifies one receipt envelope (docs/formats/receipts.md §6 phases A–I; J is `audit`).
pub fn verify_receipt(envelope_bytes: &[u8], opts: &ReceiptOptions) -> ReceiptReport {
    let mut c = Checks::new();
    let mut rep = ReceiptReport {
        receipt_id: None,
        trust_roots: root_uses(&opts.attestation.roots),
        checks: Checks::new(),
        doc_k: None,
        doc_r: None,
    };
    if rep.uses_non_aws_root() {
        let labels: Vec<&str> =
            rep.trust_roots.iter().filter(|r| !r.aws).map(|r| r.label.as_str()).collect();
        c.push(Check::warn(
            "trust.root",
            format!(
                "NOT the AWS Nitro root: trusting {} (development/test CA given explicitly)",
                labels.join(", ")
            ),
        ));
    }
    run(envelope_bytes, opts, &mut c, &mut rep);
    rep.checks = c;
    rep
}

const LATER: [&str; 17] = [
    "statement.canonical",
    "statement.schema",
    "predicate.schema",
    "binding.kms_doc",
    "binding.user_data",
    "binding.nonce",
    "binding.same_enclave",
    "consistency.digests",
    "consistency.pcrs",
    "time.window",
    "measurement.debug",
    "request.consistency",
    "subject.outputs",
    "inputs.kms_records",
    "outputs.kms_records",
    "request.ours",
    "artifacts",
];

fn run(bytes: &[u8], opts: &ReceiptOptions, c: &mut Checks, rep: &mut ReceiptReport) {
    // Phase A.
    let env = match Envelope::parse(bytes) {
        Ok(e) => {
            c.push(Check::pass(
                "envelope.parse",
                format!("DSSE envelope with {} signature(s)", e.signatures.len()),
            ));
            e
        }
        Err(e) => {
            c.push(Check::fail("envelope.parse", e.to_string()));
            return;
        }
    };
    rep.receipt_id = Some(hex::encode(Sha256::digest(&env.payload)));
    c.push(if env.payload_type == dsse::PAYLOAD_TYPE {
        Check::pass("envelope.payload_type", dsse::PAYLOAD_TYPE)
    } else {
        Check::mismatch(
            "envelope.payload_type",
            "wrong payloadType",
            dsse::PAYLOAD_TYPE,
            env.payload_type.clone(),
        )
    });

    // Phase B: only the two self-authenticating documents are read.
    let statement = match enclave::json::parse_strict(&env.payload) {
        Ok(v) => v,
        Err(e) => {
            c.push(Check::fail("statement.parse", format!("payload is not strict JSON: {e}")));
            return;
        }
    };
    let (doc_k, doc_r) = match model::extract_documents(&statement) {
        Ok(d) => {
            c.push(Check::pass(
                "statement.parse",
                "payload parses; both attestation documents present",
            ));
            d
        }
        Err(p) => {
            c.push(Check::fail("statement.parse", p));
            return;
        }
    };
    let r_rep = attest(&doc_r, opts);
    let k_rep = attest(&doc_k, opts);
    c.push(attest_check("attestation.receipt_doc", "doc_R (receipt document)", &r_rep));
    c.push(attest_check("attestation.kms_doc", "doc_K (KMS document)", &k_rep));
    let docs_ok = r_rep.verdict() == Verdict::Pass && k_rep.verdict() == Verdict::Pass;
    let r_doc = r_rep.doc.clone();
    let k_doc = k_rep.doc.clone();
    rep.doc_r = Some(r_rep);
    rep.doc_k = Some(k_rep);
    let key =
        match r_doc.as_ref().and_then(|d| d.public_key.as_deref()).map(dsse::parse_ed25519_spki) {
            Some(Ok(k)) => {
                c.push(Check::pass(
                    "binding.key",
                    "doc_R public_key is a 44-byte Ed25519 SPKI, not small-order",
                ));
                Some(k)
            }
            Some(Err(e)) => {
                c.push(Check::fail("binding.key", format!("doc_R public_key: {e}")));
                None
            }
            None => {
                c.push(Check::fail("binding.key", "doc_R has no public_key (or did not parse)"));
                None
            }
        };

    // Phase C.
    let sig_ok = key.as_ref().is_some_and(|k| env.verify(k));
    match &key {
        Some(_) => c.push(Check::from_bool(
            "signature",
            sig_ok,
            "a DSSE signature verifies (Ed25519, strict) under doc_R's public_key (bound only if attestation.receipt_doc passed)",
            "no DSSE signature verifies under doc_R's key",
        )),
        None => c.push(Check::skipped("signature", "no usable key in doc_R")),
    }
    let keyid = key.as_ref().map(|k| hex::encode(Sha256::digest(dsse::ed25519_spki(k))));
    if let Some(kid) = &keyid {
        if env.signatures.iter().any(|s| s.keyid.as_deref().is_some_and(|x| x != kid)) {
            c.push(Check::warn(
                "signature.keyid",
                format!("a keyid differs from the attested key id {kid} (keyid is only a hint)"),
            ));
        }
    }

    let (Some(r), Some(k), true, true) = (r_doc, k_doc, sig_ok, docs_ok) else {
        for id in LATER {
            c.push(untrusted(id));
        }
        return;
    };
    authenticated(&env, &statement, &doc_k, &doc_r, &k, &r, keyid.unwrap_or_default(), opts, c);
}

#[allow(clippy::too_many_arguments)]
fn authenticated(
    env: &Envelope,
    st: &Value,
    doc_k: &[u8],
    doc_r: &[u8],
    k: &DecodedDoc,
    r: &DecodedDoc,
    keyid: String,
    opts: &ReceiptOptions,
    c: &mut Checks,
) {
    // Phase D.
    c.push(Check::from_bool(
        "statement.canonical",
        enclave::json::is_canonical(&env.payload),
        "payload is canonical JSON (JCS)",
        "payload is not in canonical JCS form",
    ));
    let layer = StatementLayer::from_value(st);
    c.push(match &layer {
        Ok(_) => Check::pass("statement.schema", "in-toto Statement v1, pack-receipt/v1"),
        Err(e) => Check::fail("statement.schema", e.to_string()),
    });
    let predicate = Predicate::from_value(st.get("predicate").unwrap_or(&Value::Null));
    c.push(match &predicate {
        Ok(_) => Check::pass("predicate.schema", "predicate matches the v1 schema exactly"),
        Err(e) => Check::fail("predicate.schema", e.to_string()),
    });
    let (Ok(layer), Ok(p)) = (layer, predicate) else {
        for id in &LATER[3..] {
            c.push(Check::skipped(*id, "not checked: the statement does not match the schema"));
        }
        return;
    };
    let p = &p;

    // Phase E.
    let kpk_ok = k
        .public_key
        .as_deref()
        .is_some_and(|der| enclave::service::request::check_recipient_key(der).is_ok());
    c.push(Check::from_bool(
        "binding.kms_doc",
        kpk_ok && k.user_data.is_none() && k.nonce.is_none(),
        "doc_K carries an RSA SPKI (2048–4096 bits, e = 65537) and no user_data or nonce",
        "doc_K must carry an RSA SPKI public key and no user_data or nonce",
    ));
    let request = STANDARD.decode(&p.job.request).unwrap_or_default();
    let req_sha: [u8; 32] = Sha256::digest(&request).into();
    let b = binding(&req_sha, doc_k);
    c.push(if r.user_data.as_deref() == Some(&b[..]) {
        Check::pass(
            "binding.user_data",
            "doc_R user_data = binding(SHA-256(request), SHA-384(doc_K))",
        )
    } else {
        Check::mismatch(
            "binding.user_data",
            "doc_R user_data is not the binding string for this request and doc_K",
            hex::encode(b),
            r.user_data.as_ref().map_or("(none)".into(), hex::encode),
        )
    });
    let nonce_hex = p.job.nonce.clone();
    c.push(if r.nonce.as_ref().map(hex::encode).as_deref() == Some(nonce_hex.as_str()) {
        Check::pass("binding.nonce", "doc_R nonce = job.nonce")
    } else {
        Check::mismatch(
            "binding.nonce",
            "doc_R nonce differs from job.nonce",
            nonce_hex.clone(),
            r.nonce.as_ref().map_or("(none)".into(), hex::encode),
        )
    });
    let same = k.module_id == r.module_id && k.pcrs == r.pcrs && p.enclave.module_id == r.module_id;
    c.push(Check::from_bool(
        "binding.same_enclave",
        same,
        format!("doc_K and doc_R come from one enclave ({}) with equal PCRs", r.module_id),
        "doc_K and doc_R differ in module_id or PCRs, or enclave.moduleId differs",
    ));
    let att = &p.attestation;
    let digests_ok = att.kms.sha384 == hex::encode(Sha384::digest(doc_k))
        && att.receipt.sha384 == hex::encode(Sha384::digest(doc_r))
        && Some(&att.kms.public_key_sha256)
            == k.public_key.as_ref().map(|x| hex::encode(Sha256::digest(x))).as_ref()
        && att.receipt.public_key_sha256 == keyid
        && p.job.request_sha256 == hex::encode(req_sha);
    c.push(Check::from_bool(
        "consistency.digests",
        digests_ok,
        "document, key and request digests in the predicate match the bytes",
        "a digest in the predicate does not match (attestation sha384, publicKeySha256 or requestSha256)",
    ));
    let pcr_ok =
        RECEIPT_PCRS.iter().all(|i| p.enclave.pcrs.get(*i).map(str::to_owned) == r.pcrs.hex(*i));
    c.push(Check::from_bool(
        "consistency.pcrs",
        pcr_ok,
        "enclave.pcrs equal doc_R's PCR0-4 and PCR8",
        "enclave.pcrs differ from doc_R",
    ));

    // Phase F.
    let started = render_time_ms(k.timestamp).unwrap_or_default();
    let finished = render_time_ms(r.timestamp).unwrap_or_default();
    let max = u64::try_from(opts.max_job_duration.as_millis()).unwrap_or(u64::MAX);
    let time_ok = att.kms.timestamp == started
        && p.time.started_on == started
        && att.receipt.timestamp == finished
        && p.time.finished_on == finished
        && k.timestamp <= r.timestamp
        && r.timestamp - k.timestamp <= max;
    c.push(Check::from_bool(
        "time.window",
        time_ok,
        format!("job ran {started} .. {finished} (NSM clock)"),
        format!(
            "times differ from the documents ({started} .. {finished}) or the job exceeds {}s",
            max / 1000
        ),
    ));

    // Phase G (PCR pinning itself is the attestation verifier's, with --expect-pcrs).
    // Step 20: any of PCR0-2 zero is a debug-mode measurement.
    let zero = r.zero_image_pcrs();
    let zero_list = zero.iter().map(|i| format!("PCR{i}")).collect::<Vec<_>>().join(", ");
    c.push(match (zero.len(), opts.attestation.allow_debug) {
        (0, _) => Check::pass("measurement.debug", "not a debug-mode enclave (PCR0-2 non-zero)"),
        (3, true) => Check::warn(
            "measurement.debug",
            "DEBUG-MODE enclave (PCR0-2 zero) accepted because --allow-debug was given",
        ),
        (3, false) => {
            Check::fail("measurement.debug", "debug-mode enclave: PCR0, PCR1 and PCR2 are zero")
        }
        (_, true) => Check::warn(
            "measurement.debug",
            format!("{zero_list} zero (a debug-mode measurement), accepted because --allow-debug was given"),
        ),
        (_, false) => Check::fail(
            "measurement.debug",
            format!("{zero_list} zero: only a debug-mode enclave measures to zero"),
        ),
    });
    if opts.attestation.expect.pcrs.is_none() && !opts.pcrs_compared_by_caller {
        c.push(Check::warn(
            "measurement.pcrs",
            "no expected PCRs given (--expect-pcrs / --eif): this shows WHICH image ran, not that it is the one you reviewed",
        ));
    }

    // Phase H.
    c.push(request_check(&request, p));
    let subj: Vec<(&str, &str)> =
        layer.subject.iter().map(|x| (x.name.as_str(), x.digest.sha256.as_str())).collect();
    let outs: Vec<(&str, &str)> =
        p.outputs.iter().map(|o| (o.name.as_str(), o.digest.sha256.as_str())).collect();
    c.push(Check::from_bool(
        "subject.outputs",
        subj == outs,
        "subjects equal outputs (names, digests, order)",
        "subjects and outputs differ",
    ));
    c.push(inputs_check(p));
    // Only receipts of jobs with sealed inputs (issue 10) have this check, so
    // reports of every other receipt are unchanged.
    if p.sealed_inputs.is_some() || p.org_key.is_some() {
        c.push(sealed_check(&request, p));
    }
    c.push(outputs_kms_check(&request, p));
    if !opts.recipients_checked_by_caller {
        let e = super::recipients::Expectation {
            policy: opts.recipients_policy.as_ref().map(|(l, b)| (l.as_str(), b.as_slice())),
            allow_unbound: opts.allow_unbound_inputs,
            require_member: opts.recipients_policy.is_some(),
        };
        for check in super::recipients::checks(&super::recipients::facts_of(p), &e) {
            c.push(check);
        }
    }

    // Step 22: the caller's own request/nonce.
    if opts.expected_request.is_none() && opts.expected_nonce.is_none() {
        c.push(Check::skipped(
            "request.ours",
            "no --request or --nonce given: freshness relative to your own request is not checked",
        ));
    }
    if let Some(q) = &opts.expected_request {
        c.push(Check::from_bool(
            "request.ours",
            *q == request,
            "job.request is byte-identical to the given request",
            "job.request differs from the given request",
        ));
    }
    if let Some(n) = &opts.expected_nonce {
        c.push(Check::from_bool(
            "request.nonce",
            hex::encode(n) == nonce_hex,
            "job.nonce is the given nonce",
            "job.nonce differs from the given nonce",
        ));
    }

    // Phase I.
    for (label, bytes) in &opts.inputs {
        c.push(input_file_check(label, bytes, p));
    }
    if opts.artifacts.is_empty() {
        c.push(Check::skipped("artifacts", "no --artifact given"));
    }
    for (label, bytes) in &opts.artifacts {
        c.push(artifact_check(label, bytes, p, &keyid));
    }
}

fn request_check(request: &[u8], p: &Predicate) -> Check {
    let id = "request.consistency";
    let req = match PackRequest::parse(request) {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(id, format!("job.request does not parse as a pack request: {e}"))
        }
    };
    let mut problems = Vec::new();
    if p.job.id != req.job_id {
        problems.push("job.id differs from the request's jobId".to_owned());
    }
    if p.job.nonce != hex::encode(&req.nonce) {
        problems.push("job.nonce differs from the request's nonce".to_owned());
    }
    let pin: Vec<(&str, &str)> =
        p.inputs.iter().map(|x| (x.name.as_str(), x.digest.sha256.as_str())).collect();
    let rin: Vec<(String, String)> =
        req.inputs.iter().map(|i| (i.name.clone(), hex::encode(i.sha256))).collect();
    if !pin.iter().copied().eq(rin.iter().map(|(a, b)| (a.as_str(), b.as_str()))) {
        problems.push("inputs (name, sha256) differ from the request".to_owned());
    }
    secrets_source_problems(&req, p, &mut problems);
    if p.outputs.len() != req.outputs.len() {
        problems.push("number of outputs differs from the request".to_owned());
    }
    for (o, ro) in p.outputs.iter().zip(&req.outputs) {
        if o.name != ro.name {
            // The name as a JSON string, as this message has always shown it.
            let shown = Value::String(o.name.clone());
            problems.push(format!("output {shown} differs from the request's {}", ro.name));
        }
        if o.recipients.len() != ro.recipients.len() {
            problems.push(format!("output {}: recipient count differs from the request", ro.name));
        }
        for (pr, rr) in o.recipients.iter().zip(&ro.recipients) {
            if pr.key_id != hex::encode(rr.key_id) {
                problems.push(format!(
                    "output {}: recipient keyId differs from the request's key",
                    ro.name
                ));
            }
            match (&rr.kms, &pr.kms) {
                (None, None) => {}
                (Some(k), Some(pk)) if pk.arn == k.arn => {}
                _ => problems.push(format!(
                    "output {}: recipient KMS layer differs from the request",
                    ro.name
                )),
            }
        }
    }
    if problems.is_empty() {
        Check::pass(id, "job, inputs, outputs and recipients match the embedded request")
    } else {
        Check::fail(id, problems.join("; "))
    }
}

/// `secretsSource` (issue 21) against the request's `inputs[].git`: the
/// enclave records exactly the commit, path, repository and object format
/// the request named, and a proof for every input that named one.
fn secrets_source_problems(req: &PackRequest, p: &Predicate, problems: &mut Vec<String>) {
    use enclave::receipt::model::SecretsOrigin;
    let Some(list) = &p.secrets_source else {
        if req.inputs.iter().any(|i| i.git.is_some()) {
            problems.push(
                "the request names git sources but the receipt has no secretsSource".to_owned(),
            );
        }
        return;
    };
    for (s, ri) in list.iter().zip(&req.inputs) {
        let same = match (&ri.git, s.origin) {
            (None, SecretsOrigin::Local) => true,
            (Some(g), SecretsOrigin::Git) => {
                s.repository.as_deref() == Some(g.repository.as_str())
                    && s.object_format.as_deref() == Some(g.object_format.name())
                    && s.commit.as_ref().map(|c| c.git_commit.as_str()) == Some(g.commit.as_str())
                    && s.path.as_deref() == Some(g.path.as_str())
            }
            _ => false,
        };
        if !same {
            problems.push(format!("secretsSource of input {} differs from the request", ri.name));
        }
    }
}

fn inputs_check(p: &Predicate) -> Check {
    let mut problems = Vec::new();
    for inp in &p.inputs {
        let name = &inp.name;
        for (i, call) in inp.kms.iter().enumerate() {
            let last = i + 1 == inp.kms.len();
            if call.operation != "Decrypt" || !call.recipient {
                problems.push(format!("{name}: KMS call {i} is not a Decrypt with Recipient"));
            }
            if last && (call.outcome != "ok" || call.key_arn.is_none()) {
                problems.push(format!("{name}: the last KMS call did not succeed"));
            }
            if !last && !call.outcome.starts_with("error:") {
                problems.push(format!("{name}: KMS call {i} succeeded but was not the last"));
            }
        }
    }
    if problems.is_empty() {
        Check::pass("inputs.kms_records", "every input's data key came from KMS Decrypt with Recipient = doc_K; the enclave reports each SOPS MAC verified")
    } else {
        Check::fail("inputs.kms_records", problems.join("; "))
    }
}

/// A successful `Decrypt` with `Recipient` that names the key it used.
fn ok_call(c: &KmsCallRecord) -> bool {
    c.is_ok_recipient_decrypt() && c.key_arn.is_some()
}

/// Sealed inputs: the request names the same inputs (name, digest, user) and
/// the same org-key bundle; the org key and every sealed input came from a
/// successful KMS Decrypt with Recipient = doc_K, whose encryption context
/// names that user and that org key.
fn sealed_check(request: &[u8], p: &Predicate) -> Check {
    let id = "sealed_inputs.kms_records";
    let Ok(req) = PackRequest::parse(request) else {
        return Check::fail(id, "request does not parse");
    };
    let mut problems = Vec::new();
    let org = p.org_key.as_ref();
    let fp = org.map_or("", |o| o.fingerprint.as_str());
    let sealed = p.sealed_inputs.as_deref().unwrap_or_default();
    if !org.is_some_and(|o| ok_call(&o.kms)) {
        problems.push("the org key did not come from a successful Decrypt with Recipient".into());
    }
    if org.and_then(|o| o.kms.encryption_context.get("proofpack:org-key")).map(String::as_str)
        != Some(fp)
    {
        problems.push("the org key's KMS context does not name its fingerprint".into());
    }
    let got: Vec<(&str, &str, &str)> = sealed
        .iter()
        .map(|x| (x.name.as_str(), x.digest.sha256.as_str(), x.user.as_str()))
        .collect();
    let want: Vec<(String, String, String)> = req
        .sealed_inputs
        .iter()
        .map(|s| (s.name.clone(), hex::encode(s.sha256), s.user.clone()))
        .collect();
    if !got.iter().copied().eq(want.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))) {
        problems.push("sealed inputs (name, sha256, user) differ from the request".into());
    }
    for x in sealed {
        let name = &x.name;
        match x.kms.last() {
            Some(c) if ok_call(c) => {
                let ctx = &c.encryption_context;
                if ctx.get("proofpack:user") != Some(&x.user)
                    || ctx.get("proofpack:org-key").map(String::as_str) != Some(fp)
                {
                    problems.push(format!(
                        "{name}: KMS context does not name its user and the org key"
                    ));
                }
                if x.job.is_some() && ctx.get("proofpack:job") != Some(&p.job.id) {
                    problems.push(format!("{name}: sealed for another job"));
                }
            }
            _ => problems.push(format!("{name}: no successful Decrypt with Recipient")),
        }
    }
    if problems.is_empty() {
        Check::pass(
            id,
            format!(
                "{} sealed input(s) opened for their users through KMS with Recipient = doc_K; org key {fp}",
                got.len()
            ),
        )
    } else {
        Check::fail(id, problems.join("; "))
    }
}

fn outputs_kms_check(request: &[u8], p: &Predicate) -> Check {
    let id = "outputs.kms_records";
    let Ok(req) = PackRequest::parse(request) else {
        return Check::fail(id, "request does not parse");
    };
    let mut problems = Vec::new();
    let mut checked = 0usize;
    for (o, ro) in p.outputs.iter().zip(&req.outputs) {
        for (pr, rr) in o.recipients.iter().zip(&ro.recipients) {
            let (Some(k), Some(call)) = (&rr.kms, &pr.kms) else { continue };
            checked += 1;
            let mut want: BTreeMap<String, String> = k.encryption_context.clone();
            want.insert("proofpack:job".into(), req.job_id.clone());
            want.insert("proofpack:artifact".into(), ro.name.clone());
            want.insert("proofpack:recipient".into(), hex::encode(rr.key_id));
            if call.operation != "Encrypt"
                || call.recipient
                || call.outcome != "ok"
                || call.encryption_context != want
            {
                problems.push(format!("output {}: KMS Encrypt record differs from the request (operation, outcome or context)", ro.name));
            }
        }
    }
    if problems.is_empty() && checked == 0 {
        Check::skipped(id, "no output recipient has a KMS layer")
    } else if problems.is_empty() {
        Check::pass(
            id,
            format!("{checked} output KMS layer(s): Encrypt ok with the request's context plus the proofpack: entries"),
        )
    } else {
        Check::fail(id, problems.join("; "))
    }
}

fn artifact_check(label: &str, bytes: &[u8], p: &Predicate, keyid: &str) -> Check {
    let id = format!("artifact.{label}");
    let sha = hex::encode(Sha256::digest(bytes));
    let Some(out) = p.outputs.iter().find(|o| o.digest.sha256 == sha) else {
        return Check::mismatch(
            id,
            "the file's SHA-256 is not the digest of any output of this receipt",
            "an output digest",
            sha,
        );
    };
    let name = &out.name;
    if out.size != bytes.len() as u64 {
        return Check::fail(id, format!("size differs from output {name}"));
    }
    let parsed = match envelope::parse(bytes) {
        Ok(x) => x,
        Err(e) => return Check::fail(id, format!("artifact header: {e}")),
    };
    let h = &parsed.header;
    let mut problems = Vec::new();
    if p.job.id != h.job_id {
        problems.push("header job.id differs");
    }
    if hex::encode(h.receipt_key_id) != keyid {
        problems.push("header job.receiptKeyId is not this receipt's key");
    }
    if out.recipients.len() != h.recipients.len() {
        problems.push("recipient count differs");
    }
    for (pr, hr) in out.recipients.iter().zip(&h.recipients) {
        if pr.key_id != hex::encode(hr.key_id) {
            problems.push("recipient keyId differs");
        }
        match (&pr.kms, &hr.kms) {
            (None, None) => {}
            (Some(pk), Some(hk)) => {
                if pk.key_arn.as_deref() != Some(hk.key_arn.as_str())
                    || pk.encryption_context != hk.encryption_context
                {
                    problems.push("recipient KMS key or context differs");
                }
            }
            _ => problems.push("recipient KMS layer presence differs"),
        }
    }
    if problems.is_empty() {
        Check::pass(
            id,
            format!("{label} is output {name} (sha256 {sha}); header matches the receipt"),
        )
    } else {
        Check::fail(id, format!("{label} (output {name}): {}", problems.join("; ")))
    }
}

fn input_file_check(label: &str, bytes: &[u8], p: &Predicate) -> Check {
    let id = format!("input.{label}");
    let sha = hex::encode(Sha256::digest(bytes));
    let Some(inp) = p.inputs.iter().find(|i| i.digest.sha256 == sha) else {
        return Check::mismatch(
            id,
            "the file's SHA-256 is not the digest of any input of this receipt",
            "an input digest",
            sha,
        );
    };
    let name = &inp.name;
    let file = match enclave::sops::SopsFile::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            return Check::fail(
                id,
                format!("{label} (input {name}) is not a readable SOPS file: {e}"),
            )
        }
    };
    let mut problems = Vec::new();
    let m = &file.metadata;
    if inp.sops.mac != m.mac
        || inp.sops.last_modified != m.lastmodified
        || inp.sops.version != m.version
    {
        problems.push("sops mac, lastModified or version differ from the file".to_owned());
    }
    for call in &inp.kms {
        let arn = &call.arn;
        if !m.kms.iter().any(|k| k.arn == *arn && k.context == call.encryption_context) {
            problems.push(format!(
                "recorded Decrypt with {arn} is not a kms entry of the file (with that context)"
            ));
        }
    }
    if problems.is_empty() {
        Check::pass(
            id,
            format!(
                "{label} is input {name}: digest, MAC, lastmodified, version and KMS entries match"
            ),
        )
    } else {
        Check::fail(id, format!("{label} (input {name}): {}", problems.join("; ")))
    }
}
