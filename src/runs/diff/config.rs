//! The settings of two runs: their `config.json` flattened to dotted keys
//! (`plan.optimizer.lr`), and the keys whose values differ.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Top-level keys that differ between any two runs and say nothing about
/// what was run: the start time, as a stamp and in seconds.
const LEFT_OUT: [&str; 2] = ["started", "started_unix"];

/// Fields that name the items of a list of objects: parameters by `path`,
/// data files by `file`. Keying items by them rather than by position means
/// that a layer added to a model shows as that layer, not as every later
/// parameter changed.
const ITEM_NAMES: [&str; 2] = ["file", "path"];

/// Prints the settings section; returns whether the settings are the same.
pub fn print(config_a: &Value, config_b: &Value) -> bool {
    let (a, b) = (flatten(config_a), flatten(config_b));
    let keys: BTreeSet<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|key| a.get(*key) != b.get(*key))
        .collect();
    if keys.is_empty() {
        say!("settings: the same");
        return true;
    }
    say!(
        "settings: {} {}",
        keys.len(),
        if keys.len() == 1 { "differs" } else { "differ" }
    );
    let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
    for key in keys {
        say!(
            "  {key:<width$}  {} → {}",
            shown(a.get(key)),
            shown(b.get(key))
        );
    }
    false
}

/// Every leaf of the config by its dotted key, leaving out `LEFT_OUT`.
fn flatten(config: &Value) -> BTreeMap<String, Value> {
    let mut leaves = BTreeMap::new();
    match config {
        Value::Object(fields) => {
            for (key, value) in fields {
                if !LEFT_OUT.contains(&key.as_str()) {
                    add(key, value, &mut leaves);
                }
            }
        }
        other => add("config", other, &mut leaves),
    }
    leaves
}

fn add(key: &str, value: &Value, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (field, inner) in fields {
                add(&format!("{key}.{field}"), inner, leaves);
            }
        }
        // A list of plain values (a shape, the metric names) reads best whole.
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            match item_names(items) {
                Some(names) => {
                    for (name, item) in names.iter().zip(items) {
                        add(&format!("{key}[{name}]"), item, leaves);
                    }
                }
                None => {
                    for (index, item) in items.iter().enumerate() {
                        add(&format!("{key}.{index}"), item, leaves);
                    }
                }
            }
        }
        _ => {
            leaves.insert(key.to_string(), value.clone());
        }
    }
}

/// The items' names, when every item has a distinct one in the same field.
fn item_names(items: &[Value]) -> Option<Vec<String>> {
    ITEM_NAMES.iter().find_map(|field| {
        let names: Option<Vec<String>> = items
            .iter()
            .map(|item| item.get(field).and_then(Value::as_str).map(str::to_string))
            .collect();
        let names = names?;
        let mut distinct = names.clone();
        distinct.sort();
        distinct.dedup();
        (distinct.len() == names.len()).then_some(names)
    })
}

/// A value as the diff shows it: strings without quotes (but for the empty
/// one), other values as JSON.
fn shown(value: Option<&Value>) -> String {
    match value {
        None => "(none)".to_string(),
        // An empty string would show as nothing at all.
        Some(Value::String(s)) if s.is_empty() => "\"\"".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_settings_become_dotted_keys_without_the_start_time() {
        let leaves = flatten(&json!({
            "started": "20261125-083451",
            "seed": 1,
            "plan": {"optimizer": {"lr": 0.01}, "metrics": ["accuracy"]},
        }));
        let keys: Vec<&str> = leaves.keys().map(String::as_str).collect();
        assert_eq!(keys, ["plan.metrics", "plan.optimizer.lr", "seed"]);
    }

    #[test]
    fn parameters_are_keyed_by_path_and_unnamed_items_by_position() {
        let leaves = flatten(&json!({
            "params": [{"path": "h.w", "shape": [4, 16]}],
            "sets": [{"split": "test"}],
        }));
        assert_eq!(leaves["params[h.w].shape"], json!([4, 16]));
        assert_eq!(leaves["sets.0.split"], json!("test"));
    }
}
