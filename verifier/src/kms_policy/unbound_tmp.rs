//! TEMPORARY stand-in for `pin::unbound_decrypt`, which the lead engineer is
//! adding to `pin.rs` (same name and signature). Delete this file and import
//! `pin::unbound_decrypt` once that lands on main. It only asks the concrete
//! evaluator (per principal class, with and without a Recipient carrying
//! the expected PCRs, no encryption context), so it finds fewer bypasses
//! than the analyser will; it never reports a bypass that does not exist.

use std::collections::BTreeMap;

use super::eval::{evaluate, DecisionKind, Request};
use super::parse::Policy;
use super::pin::{classes, Config, Witness};

/// A `kms:Decrypt` request the policy allows without
/// `kms:EncryptionContext:<context_name>`, or `None`.
pub fn unbound_decrypt(policy: &Policy, cfg: &Config, context_name: &str) -> Option<Witness> {
    let _ = context_name; // the request carries no context at all
    let pcrs: BTreeMap<u8, String> =
        cfg.expected.pcrs.iter().filter_map(|(i, v)| Some((*i, v.first()?.clone()))).collect();
    for class in classes(policy, cfg) {
        for has_recipient in [true, false] {
            let w = Witness {
                principal: class.arn.clone(),
                principal_class: class.label.clone(),
                action: "kms:Decrypt".into(),
                has_recipient,
                pcrs: if has_recipient { pcrs.clone() } else { BTreeMap::new() },
                pcr_match: if has_recipient { "equal to E".into() } else { "no Recipient".into() },
                context: BTreeMap::new(),
                allowed_by: Vec::new(),
                documented: true,
                confirmed: true,
            };
            let req: Request = w.to_request(cfg.key_arn.as_deref());
            let d = evaluate(policy, &req);
            if d.kind == DecisionKind::Allow {
                return Some(Witness { allowed_by: d.deciding, ..w });
            }
        }
    }
    None
}
