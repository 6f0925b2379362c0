//! Runtime values of the PowerShell subset and their conversions (strings, JSON, truthiness).

use super::parse::Block;
use chrono::NaiveDateTime;
use serde_json::{Map, Value as Json};
use std::rc::Rc;

/// An object with ordered properties (what cmdlets emit and `Select-Object` builds).
#[derive(Debug, Clone)]
pub(crate) struct PsObject {
    pub type_name: &'static str,
    pub props: Vec<(String, Value)>,
}

impl PsObject {
    pub fn new(type_name: &'static str) -> PsObject {
        PsObject {
            type_name,
            props: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: Value) -> PsObject {
        self.props.push((name.to_string(), value));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    DateTime(NaiveDateTime),
    Array(Vec<Value>),
    Hash(Vec<(String, Value)>),
    Object(Rc<PsObject>),
    Block(Rc<Block>, Rc<str>),
}

impl Value {
    pub fn str(text: impl Into<String>) -> Value {
        Value::Str(text.into())
    }

    pub fn object(object: PsObject) -> Value {
        Value::Object(Rc::new(object))
    }

    /// PowerShell's conversion to bool.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Double(d) => *d != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Array(items) => match items.as_slice() {
                [] => false,
                [single] => single.truthy(),
                _ => true,
            },
            _ => true,
        }
    }

    /// `ToString()` (and string conversion in general).
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => format_double(*d),
            Value::Str(s) => s.clone(),
            Value::DateTime(t) => t.format("%-m/%-d/%Y %-I:%M:%S %p").to_string(),
            Value::Array(items) => items
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join(" "),
            Value::Hash(_) => "System.Collections.Hashtable".into(),
            Value::Object(object) => match object.get("Name") {
                Some(name) => format!("{} (Name = '{}')", object.type_name, name.to_text()),
                None => object.type_name.to_string(),
            },
            Value::Block(_, text) => text.to_string(),
        }
    }

    /// A number, if the value converts to one.
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Null => Some(0.0),
            _ => None,
        }
    }

    /// An integer, rounding like PowerShell's conversion to `[long]`.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            other => other
                .to_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.round_ties_even() as i64),
        }
    }

    /// Unrolls arrays the way the pipeline does.
    pub fn into_items(self) -> Vec<Value> {
        match self {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        }
    }

    /// A property by name (case-insensitive); arrays enumerate their members.
    pub fn property(&self, name: &str) -> Value {
        match self {
            Value::Object(object) => object.get(name).cloned().unwrap_or(Value::Null),
            Value::Hash(entries) => entries
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.clone())
                .unwrap_or(Value::Null),
            Value::Array(items)
                if name.eq_ignore_ascii_case("count") || name.eq_ignore_ascii_case("length") =>
            {
                Value::Int(items.len() as i64)
            }
            Value::Array(items) => {
                let values: Vec<Value> = items
                    .iter()
                    .map(|item| item.property(name))
                    .filter(|v| !matches!(v, Value::Null))
                    .collect();
                match values.len() {
                    0 => Value::Null,
                    1 => values.into_iter().next().expect("one value"),
                    _ => Value::Array(values),
                }
            }
            Value::Str(s) if name.eq_ignore_ascii_case("length") => {
                Value::Int(s.chars().count() as i64)
            }
            Value::Null => Value::Null,
            _ if name.eq_ignore_ascii_case("count") => Value::Int(1),
            _ => Value::Null,
        }
    }

    /// `-eq` semantics: case-insensitive strings, numeric comparison when the left is a number.
    pub fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            (Value::Int(_) | Value::Double(_), _) => match (self.to_f64(), other.to_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
            (Value::Bool(a), _) => *a == other.truthy(),
            _ => self.to_text().eq_ignore_ascii_case(&other.to_text()),
        }
    }

    /// Ordering for `-gt`/`-lt`: numeric when the left is a number, else case-insensitive text.
    pub fn loose_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        match self {
            Value::Int(_) | Value::Double(_) => self.to_f64()?.partial_cmp(&other.to_f64()?),
            Value::DateTime(a) => match other {
                Value::DateTime(b) => a.partial_cmp(b),
                _ => None,
            },
            _ => Some(
                self.to_text()
                    .to_lowercase()
                    .cmp(&other.to_text().to_lowercase()),
            ),
        }
    }

    /// JSON as `ConvertTo-Json` (Windows PowerShell 5.1) builds it.
    pub fn to_json(&self, depth: usize) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Json::from(*d as i64),
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            Value::Str(s) => Json::String(s.clone()),
            Value::DateTime(t) => {
                Json::String(format!("/Date({})/", t.and_utc().timestamp_millis()))
            }
            Value::Array(items) => {
                Json::Array(items.iter().map(|item| item.to_json(depth)).collect())
            }
            Value::Hash(entries) => {
                object_json(entries.iter().map(|(k, v)| (k.as_str(), v)), depth)
            }
            Value::Object(object) => {
                object_json(object.props.iter().map(|(k, v)| (k.as_str(), v)), depth)
            }
            Value::Block(_, text) => Json::String(text.to_string()),
        }
    }
}

fn object_json<'a>(entries: impl Iterator<Item = (&'a str, &'a Value)>, depth: usize) -> Json {
    if depth == 0 {
        return Json::String("System.Object".into());
    }
    let mut map = Map::new();
    for (key, value) in entries {
        let json = match value {
            Value::Object(_) | Value::Hash(_) if depth == 1 => Json::String(value.to_text()),
            _ => value.to_json(depth - 1),
        };
        map.insert(key.to_string(), json);
    }
    Json::Object(map)
}

fn format_double(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Serializes like Windows PowerShell 5.1's `ConvertTo-Json` (which escapes `<`, `>`, `&` and
/// `'`); pretty output uses CRLF line ends.
pub(crate) fn render_json(json: &Json, compress: bool) -> String {
    let text = if compress {
        serde_json::to_string(json).unwrap_or_default()
    } else {
        serde_json::to_string_pretty(json)
            .unwrap_or_default()
            .replace('\n', "\r\n")
    };
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027")
}

/// Matches PowerShell wildcards (`*`, `?`, `[abc]`) case-insensitively.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        match pattern.first() {
            None => text.is_empty(),
            Some('*') => (0..=text.len()).any(|skip| matches(&pattern[1..], &text[skip..])),
            Some('?') => !text.is_empty() && matches(&pattern[1..], &text[1..]),
            Some('[') => {
                let Some(close) = pattern.iter().position(|c| *c == ']') else {
                    return text.first() == Some(&'[') && matches(&pattern[1..], &text[1..]);
                };
                let set = &pattern[1..close];
                match text.first() {
                    Some(c) if set_contains(set, *c) => matches(&pattern[close + 1..], &text[1..]),
                    _ => false,
                }
            }
            Some(p) => {
                text.first()
                    .is_some_and(|c| c.to_lowercase().eq(p.to_lowercase()))
                    && matches(&pattern[1..], &text[1..])
            }
        }
    }
    fn set_contains(set: &[char], c: char) -> bool {
        let lower = c.to_ascii_lowercase();
        let mut index = 0;
        while index < set.len() {
            if index + 2 < set.len() && set[index + 1] == '-' {
                if (set[index].to_ascii_lowercase()..=set[index + 2].to_ascii_lowercase())
                    .contains(&lower)
                {
                    return true;
                }
                index += 3;
            } else {
                if set[index].to_ascii_lowercase() == lower {
                    return true;
                }
                index += 1;
            }
        }
        false
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches(&pattern, &text)
}

/// Whether a string contains wildcard characters.
pub(crate) fn has_wildcards(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("i-2-*", "I-2-10-VM"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("[a-c]x", "Bx"));
        assert!(!wildcard_match("a*", "ba"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn json_escapes_like_windows_powershell() {
        let value = Value::Hash(vec![
            ("Name".into(), Value::str("a'b<c>")),
            ("N".into(), Value::Double(2048.0)),
        ]);
        assert_eq!(
            render_json(&value.to_json(2), true),
            r#"{"Name":"a\u0027b\u003cc\u003e","N":2048}"#
        );
    }

    #[test]
    fn truthiness_and_comparison() {
        assert!(!Value::Array(vec![]).truthy());
        assert!(!Value::Array(vec![Value::Bool(false)]).truthy());
        assert!(Value::str("Running").loose_eq(&Value::str("running")));
        assert!(Value::Int(2).loose_eq(&Value::str("2")));
        assert_eq!(Value::Double(2147483648.0).to_text(), "2147483648");
    }
}
