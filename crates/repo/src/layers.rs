//! How a deployment's layers of values merge: root (the site's
//! `defaults`) → `config/common.yaml` → `config/<environment>.yaml`, each
//! over the one before. Maps merge key by key, deeply; anything else — a
//! list, a string, a number — replaces what was there; `null` removes the
//! key.

use serde_json::{Map, Value};

/// `upper` merged over `lower`.
pub fn merge(lower: &mut Value, upper: &Value) {
    match (lower, upper) {
        (Value::Object(below), Value::Object(above)) => merge_maps(below, above),
        (lower, upper) => *lower = upper.clone(),
    }
}

fn merge_maps(below: &mut Map<String, Value>, above: &Map<String, Value>) {
    for (key, value) in above {
        match value {
            Value::Null => {
                below.remove(key);
            }
            Value::Object(_) => match below.get_mut(key) {
                Some(existing @ Value::Object(_)) => merge(existing, value),
                _ => {
                    // A map where there was none (or something else): its
                    // own nulls mean nothing to remove.
                    let mut fresh = Value::Object(Map::new());
                    merge(&mut fresh, value);
                    below.insert(key.clone(), fresh);
                }
            },
            other => {
                below.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_deeply_lists_replace_and_null_removes() {
        let mut merged = json!({
            "nodes": 2,
            "variables": {"size": "small", "users": ["a", "b"], "hub": {"image": "x", "port": 80}},
        });
        merge(
            &mut merged,
            &json!({
                "nodes": 3,
                "variables": {"users": ["c"], "hub": {"port": null, "cpu": 2}, "size": null},
            }),
        );
        assert_eq!(
            merged,
            json!({"nodes": 3, "variables": {"users": ["c"], "hub": {"image": "x", "cpu": 2}}})
        );
    }

    #[test]
    fn a_map_over_something_else_replaces_it_and_drops_its_own_nulls() {
        let mut merged = json!({"variables": "none"});
        merge(&mut merged, &json!({"variables": {"a": 1, "b": null}}));
        assert_eq!(merged, json!({"variables": {"a": 1}}));
    }
}
