//! `response=xml`: the envelopes written as CloudStack's `ApiResponseSerializer` writes XML.
//!
//! The document is `<?xml version="1.0" encoding="UTF-8"?>` followed by one element named after
//! the response (`listzonesresponse`, `errorresponse`, …) with a `cloud-stack-version`
//! attribute. Every member of the JSON body becomes an element of the same name: an object
//! becomes an element holding its members, a list repeats the element once per item (`<zone>…
//! </zone><zone>…</zone>`, as upstream writes lists), a scalar becomes text (`true`, `42`). Null
//! members and empty lists write nothing. Keys that are not XML names (free-form detail keys) have
//! every other character replaced by `_`.

use serde_json::Value;

/// The version in the root element's `cloud-stack-version` attribute (the one `listCapabilities`
/// reports).
pub const CLOUDSTACK_VERSION: &str = "4.22.0-trellis";

/// The content type of XML answers (upstream's `HttpUtils.XML_CONTENT_TYPE`).
pub const CONTENT_TYPE: &str = "text/xml; charset=UTF-8";

/// The XML document for `body`, the value inside the response-name key of the JSON envelope.
pub fn render(response_name: &str, body: &Value) -> String {
    let name = element_name(response_name);
    let mut out = String::with_capacity(256);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push('<');
    out.push_str(&name);
    out.push_str(" cloud-stack-version=\"");
    out.push_str(CLOUDSTACK_VERSION);
    out.push_str("\">");
    write_content(&mut out, body);
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
    out
}

/// The children (object) or text (scalar) of one element.
fn write_content(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(members) => {
            for (key, member) in members {
                write_member(out, key, member);
            }
        }
        Value::Array(items) => {
            for item in items {
                write_content(out, item);
            }
        }
        Value::String(text) => escape_text(out, text),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
    }
}

/// `<key>…</key>`, once per item when `value` is a list.
fn write_member(out: &mut String, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                write_member(out, key, item);
            }
        }
        _ => {
            let name = element_name(key);
            out.push('<');
            out.push_str(&name);
            out.push('>');
            write_content(out, value);
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
    }
}

/// `key` as an XML element name: ASCII letters, digits, `_`, `-` and `.` are kept, anything else
/// (`:` included, which would read as a namespace prefix) becomes `_`; a name that does not start
/// with a letter or `_` gets a leading `_`.
fn element_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    {
        name.insert(0, '_');
    }
    name
}

/// Text content with `&`, `<` and `>` escaped and the control characters XML 1.0 cannot carry
/// dropped.
fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_repeat_the_element_and_nulls_vanish() {
        let body = json!({"count": 2, "zone": [{"id": "a", "name": "z<1>", "tags": [], "x": null}, {"id": "b", "ok": true}]});
        assert_eq!(
            render("listzonesresponse", &body),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<listzonesresponse cloud-stack-version="4.22.0-trellis">"#,
                "<count>2</count>",
                "<zone><id>a</id><name>z&lt;1&gt;</name></zone>",
                "<zone><id>b</id><ok>true</ok></zone>",
                "</listzonesresponse>"
            )
        );
    }

    #[test]
    fn odd_keys_become_names() {
        assert_eq!(element_name("External:cpu"), "External_cpu");
        assert_eq!(element_name("1st key"), "_1st_key");
        assert_eq!(element_name(""), "_");
        let mut out = String::new();
        escape_text(&mut out, "a\u{1}b&c");
        assert_eq!(out, "ab&amp;c");
    }
}
