//! Response envelopes: `{"<cmd>response": …}` for objects, lists, async submissions, success and
//! errors; compact JSON with null fields omitted; dates as `yyyy-MM-dd'T'HH:mm:ssZ`. With
//! `response=xml` the same envelopes are written as XML ([`crate::xml`]).

use serde_json::{json, Map, Value};

use crate::ApiError;

/// What a command produced, before wrapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `{"<resp>":{"<object>":{…}}}`
    Object { object: &'static str, value: Value },
    /// `{"<resp>":{"count":N,"<object>":[…]}}`, or `{"<resp>":{}}` when empty.
    List {
        object: &'static str,
        count: i64,
        items: Vec<Value>,
    },
    /// `{"<resp>":{"success":true}}`
    Success { displaytext: Option<String> },
    /// `{"<resp>":{"jobid":…[,"id":…]}}`
    Async { jobid: String, id: Option<String> },
    /// `{"<resp>":{…}}` with no inner object name (login, listCapabilities' object, …).
    Bare(Value),
    /// An already rendered body (cached replies such as `listApis`).
    Rendered(std::sync::Arc<str>),
}

/// Serializes a value without its null members (Gson never writes nulls), as [`strip_nulls`]
/// would leave it, without building the copy: a long listing is written straight from the
/// rows' values.
struct NoNulls<'a>(&'a Value);

impl serde::Serialize for NoNulls<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let present = m.values().filter(|v| !v.is_null()).count();
                let mut map = s.serialize_map(Some(present))?;
                for (k, v) in m.iter().filter(|(_, v)| !v.is_null()) {
                    map.serialize_entry(k, &NoNulls(v))?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&NoNulls(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `{"count":N,"<object>":[…]}` written from the items.
struct ListBody<'a> {
    object: &'a str,
    count: i64,
    items: &'a [Value],
}

impl serde::Serialize for ListBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("count", &self.count)?;
        map.serialize_entry(self.object, &NoNullItems(self.items))?;
        map.end()
    }
}

/// A list of rows, each without its null members.
struct NoNullItems<'a>(&'a [Value]);

impl serde::Serialize for NoNullItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&NoNulls(v))?;
        }
        seq.end()
    }
}

/// `{"<response name>": body}` written into a string.
fn wrap(response_name: &str, body: &impl serde::Serialize) -> String {
    use serde::ser::{SerializeMap, Serializer as _};
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let written = ser.serialize_map(Some(1)).and_then(|mut m| {
        m.serialize_entry(response_name, body)?;
        m.end()
    });
    match written {
        // serde_json writes valid UTF-8 only.
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Remove null members recursively (Gson never writes nulls).
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

impl Reply {
    /// The body inside the response-name key.
    pub fn body(self) -> Value {
        match self {
            Reply::Object { object, value } => json!({ object: strip_nulls(value) }),
            Reply::List {
                object,
                count,
                items,
            } => {
                if items.is_empty() {
                    json!({})
                } else {
                    let items: Vec<Value> = items.into_iter().map(strip_nulls).collect();
                    json!({ "count": count, object: items })
                }
            }
            Reply::Success { displaytext } => {
                let mut m = Map::new();
                m.insert("success".into(), Value::Bool(true));
                if let Some(t) = displaytext {
                    m.insert("displaytext".into(), Value::String(t));
                }
                Value::Object(m)
            }
            Reply::Async { jobid, id } => {
                let mut m = Map::new();
                if let Some(id) = id {
                    m.insert("id".into(), Value::String(id));
                }
                m.insert("jobid".into(), Value::String(jobid));
                Value::Object(m)
            }
            Reply::Bare(v) => strip_nulls(v),
            Reply::Rendered(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
        }
    }

    /// The value stored as an async job's `jobresult` (success responses inside a job use
    /// `details` instead of `displaytext`).
    pub fn job_result(self) -> Value {
        match self {
            Reply::Success { displaytext } => {
                let mut m = Map::new();
                m.insert("success".into(), Value::Bool(true));
                if let Some(t) = displaytext {
                    m.insert("details".into(), Value::String(t));
                }
                Value::Object(m)
            }
            other => other.body(),
        }
    }
}

/// Render a successful response for `response_name` as one compact JSON line.
pub fn render(response_name: &str, reply: Reply) -> String {
    if let Reply::Rendered(body) = &reply {
        let mut out = String::with_capacity(body.len() + response_name.len() + 8);
        out.push_str("{\"");
        out.push_str(response_name);
        out.push_str("\":");
        out.push_str(body);
        out.push('}');
        return out;
    }
    match reply {
        Reply::List {
            object,
            count,
            items,
        } if !items.is_empty() => wrap(
            response_name,
            &ListBody {
                object,
                count,
                items: &items,
            },
        ),
        Reply::Object { object, value } => {
            let mut inner = Map::new();
            inner.insert(object.to_string(), value);
            // One member: the object, nulls left out as it is written.
            let inner = Value::Object(inner);
            wrap(response_name, &NoNulls(&inner))
        }
        other => {
            let mut m = Map::new();
            m.insert(response_name.to_string(), other.body());
            Value::Object(m).to_string()
        }
    }
}

/// The body of the error envelope.
fn error_body(e: &ApiError) -> Value {
    json!({"uuidList": [], "errorcode": e.code, "cserrorcode": e.cs_code, "errortext": e.text})
}

/// Render the error envelope.
pub fn render_error(response_name: &str, e: &ApiError) -> String {
    let mut m = Map::new();
    m.insert(response_name.to_string(), error_body(e));
    Value::Object(m).to_string()
}

/// The answer format a request asked for with `response=`.
///
/// Upstream answers XML when `response` is absent, but every real client sends `response=json`
/// and the web console and `trellis api` rely on JSON, so JSON stays the default here; only
/// `response=xml` (any case) selects XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Xml,
}

impl Format {
    /// The format named by the last `response` parameter among `pairs`.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Format {
        match pairs
            .into_iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("response"))
            .last()
        {
            Some((_, value)) if value.eq_ignore_ascii_case("xml") => Format::Xml,
            _ => Format::Json,
        }
    }

    /// The `Content-Type` of answers in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=UTF-8",
            Format::Xml => crate::xml::CONTENT_TYPE,
        }
    }
}

/// Render a successful response in `format`.
pub fn render_as(format: Format, response_name: &str, reply: Reply) -> String {
    match format {
        Format::Json => render(response_name, reply),
        Format::Xml => crate::xml::render(response_name, &reply.body()),
    }
}

/// Render the error envelope in `format`.
pub fn render_error_as(format: Format, response_name: &str, e: &ApiError) -> String {
    match format {
        Format::Json => render_error(response_name, e),
        Format::Xml => crate::xml::render(response_name, &error_body(e)),
    }
}

/// Milliseconds since the epoch as CloudStack renders dates (`2026-11-22T22:27:33+0000`).
pub fn format_date(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_is_empty_object() {
        assert_eq!(
            render(
                "listextensionsresponse",
                Reply::List {
                    object: "extension",
                    count: 0,
                    items: vec![]
                }
            ),
            r#"{"listextensionsresponse":{}}"#
        );
    }

    #[test]
    fn list_with_count_and_nulls_dropped() {
        let s = render(
            "listxresponse",
            Reply::List {
                object: "x",
                count: 7,
                items: vec![json!({"a": 1, "b": null})],
            },
        );
        assert_eq!(s, r#"{"listxresponse":{"count":7,"x":[{"a":1}]}}"#);
    }

    /// The listing and object replies are written without building a null-free copy; what is
    /// written is exactly what formatting the copy gives, nested nulls, arrays and order kept.
    #[test]
    fn written_replies_equal_the_stripped_copy() {
        let rows = vec![
            json!({"id": "1", "gone": null, "nics": [{"ip": null, "mac": "m"}, null], "tags": [], "n": 2.5}),
            json!({"id": "2", "details": {"a": null, "b": {"c": null, "d": true}}, "s": "é\"\n"}),
        ];
        let stripped = |v: Value| strip_nulls(v).to_string();
        assert_eq!(
            render(
                "listrresponse",
                Reply::List {
                    object: "r",
                    count: 9,
                    items: rows.clone()
                }
            ),
            format!(
                r#"{{"listrresponse":{{"count":9,"r":{}}}}}"#,
                stripped(Value::Array(rows.clone()))
            )
        );
        assert_eq!(
            render(
                "getrresponse",
                Reply::Object {
                    object: "r",
                    value: rows[1].clone()
                }
            ),
            format!(
                r#"{{"getrresponse":{{"r":{}}}}}"#,
                stripped(rows[1].clone())
            )
        );
    }

    #[test]
    fn xml_is_chosen_only_by_response_xml() {
        assert_eq!(Format::from_pairs([]), Format::Json);
        assert_eq!(Format::from_pairs([("response", "json")]), Format::Json);
        assert_eq!(Format::from_pairs([("response", "XML")]), Format::Xml);
        let e = ApiError::unauthorized();
        let xml = render_error_as(Format::Xml, "errorresponse", &e);
        assert!(xml.contains("<errorcode>401</errorcode><cserrorcode>9999</cserrorcode>"));
        let xml = render_as(
            Format::Xml,
            "deployvirtualmachineresponse",
            Reply::Async {
                jobid: "j".into(),
                id: Some("i".into()),
            },
        );
        assert!(xml.ends_with("<id>i</id><jobid>j</jobid></deployvirtualmachineresponse>"));
    }

    #[test]
    fn errors_and_dates() {
        let s = render_error("errorresponse", &ApiError::unauthorized());
        assert!(
            s.starts_with(r#"{"errorresponse":{"uuidList":[],"errorcode":401,"cserrorcode":9999,"#)
        );
        assert_eq!(format_date(0), "1970-01-01T00:00:00+0000");
        assert_eq!(
            render("x", Reply::Success { displaytext: None }),
            r#"{"x":{"success":true}}"#
        );
        assert_eq!(
            Reply::Success {
                displaytext: Some("d".into())
            }
            .job_result(),
            json!({"success": true, "details": "d"})
        );
    }
}
