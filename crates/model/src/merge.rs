//! The JSON merge `prepare` patches use: objects merge recursively, primitives and `null`
//! replace, arrays whose elements (on both sides) are all objects with a `uuid` merge element by
//! element on that `uuid` (unmatched patch elements are appended), other arrays are replaced.

use serde_json::Value;

fn all_have_uuid(a: &[Value]) -> bool {
    a.iter()
        .all(|v| v.get("uuid").is_some_and(|u| !u.is_null()))
}

/// Merge `patch` into `target` in place.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, pv) in p {
                match t.get_mut(k) {
                    Some(tv) => merge(tv, pv),
                    None => {
                        t.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if all_have_uuid(t) && all_have_uuid(p) && !p.is_empty() =>
        {
            for pv in p {
                let id = pv.get("uuid").cloned();
                match t.iter_mut().find(|tv| tv.get("uuid") == id.as_ref()) {
                    Some(tv) => merge(tv, pv),
                    None => t.push(pv.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_and_primitives() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": "x"});
        merge(&mut t, &json!({"b": {"c": 9}, "e": null, "f": true}));
        assert_eq!(
            t,
            json!({"a": 1, "b": {"c": 9, "d": 3}, "e": null, "f": true})
        );
    }

    #[test]
    fn nic_arrays_merge_on_uuid() {
        let mut t =
            json!({"nics": [{"uuid": "n1", "mac": "a", "ip": "1"}, {"uuid": "n2", "mac": "b"}]});
        merge(
            &mut t,
            &json!({"nics": [{"uuid": "n2", "mac": "z"}, {"uuid": "n3", "mac": "c"}]}),
        );
        assert_eq!(
            t["nics"],
            json!([{"uuid": "n1", "mac": "a", "ip": "1"}, {"uuid": "n2", "mac": "z"}, {"uuid": "n3", "mac": "c"}])
        );
    }

    #[test]
    fn other_arrays_replace() {
        let mut t = json!({"x": [1, 2, 3], "nics": [{"uuid": "n1"}]});
        merge(&mut t, &json!({"x": [4], "nics": [{"mac": "no-uuid"}]}));
        assert_eq!(t, json!({"x": [4], "nics": [{"mac": "no-uuid"}]}));
    }
}
