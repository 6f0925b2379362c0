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
    let mut m = Map::new();
    m.insert(response_name.to_string(), reply.body());
    Value::Object(m).to_string()
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
