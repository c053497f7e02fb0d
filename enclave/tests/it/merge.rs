//! The documented merge rules (enclave/src/merge.rs).

use crate::common::plain;
use enclave::merge::{merge, Layer, MergeError};
use serde_json::{json, Value};

fn run(docs: &[Value], target: Option<(&str, &str)>) -> Result<(Value, Vec<String>), MergeError> {
    let inputs = docs.iter().enumerate().map(|(i, d)| (format!("in{i}"), plain(d))).collect();
    merge(inputs, target).map(|b| {
        (
            serde_json::from_slice(b.plaintext.expose()).unwrap(),
            b.overrides.iter().map(|o| o.path.clone()).collect(),
        )
    })
}

#[test]
fn precedence_defaults_service_environment_regardless_of_input_order() {
    let a = json!({"environments": {"prod": {"X": "env"}}, "defaults": {"X": "def", "Y": "def"}});
    let b = json!({"services": {"api": {"X": "svc", "Z": "svc"}}});
    let (v, ov) = run(&[a.clone(), b.clone()], Some(("api", "prod"))).unwrap();
    assert_eq!(v, json!({"X": "env", "Y": "def", "Z": "svc"}));
    assert_eq!(ov, ["X", "X"]);
    // Same result with the inputs swapped: layers, not file order, decide.
    assert_eq!(run(&[b, a], Some(("api", "prod"))).unwrap().0, v);
}

#[test]
fn other_services_and_environments_are_not_selected() {
    let a = json!({"defaults": {"A": "1"}, "services": {"worker": {"B": "w"}}, "environments": {"dev": {"C": "d"}}});
    assert_eq!(run(&[a], Some(("api", "prod"))).unwrap().0, json!({"A": "1"}));
}

#[test]
fn without_target_documents_merge_flat_and_keys_are_sorted() {
    let (v, _) =
        run(&[json!({"b": "1", "a": {"y": "2"}}), json!({"a": {"x": "3"}})], None).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":{"x":"3","y":"2"},"b":"1"}"#);
}

#[test]
fn errors() {
    match run(&[json!({"a": "1"}), json!({"a": "2"})], None) {
        Err(MergeError::Conflicts(c)) => {
            assert_eq!(
                (c[0].path.as_str(), c[0].layer, c[0].first.as_str(), c[0].second.as_str()),
                ("a", Layer::Defaults, "in0", "in1")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        run(&[json!({"other": {}})], Some(("api", "prod"))),
        Err(MergeError::Layout { .. })
    ));
    assert!(matches!(
        run(&[json!({"services": {"worker": {"a": "1"}}})], Some(("api", "prod"))),
        Err(MergeError::Empty)
    ));
    assert!(matches!(
        run(&[json!({"defaults": "flat"})], Some(("api", "prod"))),
        Err(MergeError::NotMapping { .. })
    ));
}

#[test]
fn typed_values_are_emitted_as_json_types() {
    let (v, _) = run(&[json!({"n": 5, "b": true, "l": ["x", 2], "z": null})], None).unwrap();
    assert_eq!(v, json!({"n": 5, "b": true, "l": ["x", 2], "z": null}));
}
