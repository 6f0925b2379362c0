//! Custom-action parameter definitions (spec §8.1), run-time value validation (§8.2) and message
//! templating (§8.3). Pure functions, exhaustively tested.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ParamType {
    String,
    Number,
    Boolean,
    Date,
}

impl ParamType {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "STRING" => Some(ParamType::String),
            "NUMBER" => Some(ParamType::Number),
            "BOOLEAN" => Some(ParamType::Boolean),
            "DATE" => Some(ParamType::Date),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "STRING",
            ParamType::Number => "NUMBER",
            ParamType::Boolean => "BOOLEAN",
            ParamType::Date => "DATE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ValidationFormat {
    None,
    Uuid,
    Email,
    Password,
    Url,
    Decimal,
}

impl ValidationFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" => Some(ValidationFormat::None),
            "UUID" => Some(ValidationFormat::Uuid),
            "EMAIL" => Some(ValidationFormat::Email),
            "PASSWORD" => Some(ValidationFormat::Password),
            "URL" => Some(ValidationFormat::Url),
            "DECIMAL" => Some(ValidationFormat::Decimal),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationFormat::None => "NONE",
            ValidationFormat::Uuid => "UUID",
            ValidationFormat::Email => "EMAIL",
            ValidationFormat::Password => "PASSWORD",
            ValidationFormat::Url => "URL",
            ValidationFormat::Decimal => "DECIMAL",
        }
    }
    fn allowed_for(self, ty: ParamType) -> bool {
        match self {
            ValidationFormat::None => true,
            ValidationFormat::Uuid
            | ValidationFormat::Email
            | ValidationFormat::Password
            | ValidationFormat::Url => ty == ParamType::String,
            ValidationFormat::Decimal => ty == ParamType::Number,
        }
    }
}

/// One parameter of a custom action, as stored (JSON) and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub validationformat: ValidationFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valueoptions: Option<Vec<Value>>,
    pub required: bool,
}

/// Build a parameter definition from the fields sent as `parameters[i].<field>` (field names
/// already lowercased). Unlike upstream, `type` defaults to STRING as the API documents.
pub fn parse_param_def(fields: &std::collections::BTreeMap<String, String>) -> Result<ParamDef> {
    let name = fields.get("name").map(|s| s.trim()).unwrap_or("");
    if name.is_empty() {
        return Err(Error::invalid_param(
            "Invalid parameter specified with empty name",
        ));
    }
    let ty = match fields.get("type").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => ParamType::String,
        Some(t) => ParamType::parse(t).ok_or_else(|| {
            Error::invalid_param(format!(
                "Invalid type: {t} specified for parameter: {name}; valid types are STRING, NUMBER, BOOLEAN, DATE"
            ))
        })?,
    };
    let format = match fields
        .get("validationformat")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => ValidationFormat::None,
        Some(f) => ValidationFormat::parse(f).ok_or_else(|| {
            Error::invalid_param(format!(
                "Invalid validation format: {f} specified for parameter: {name}"
            ))
        })?,
    };
    if !format.allowed_for(ty) {
        return Err(Error::invalid_param(format!(
            "Invalid validation format: {} specified for type: {}",
            format.as_str(),
            ty.as_str()
        )));
    }
    let options: Vec<&str> = fields
        .get("valueoptions")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let valueoptions = if options.is_empty() {
        None
    } else {
        if !matches!(ty, ParamType::String | ParamType::Number) {
            return Err(Error::invalid_param(format!(
                "Options not supported for type: {} of parameter: {name}",
                ty.as_str()
            )));
        }
        let bad = || {
            Error::invalid_param(format!(
                "Invalid value options with validation format: {} for parameter: {name}",
                format.as_str()
            ))
        };
        let mut values = Vec::with_capacity(options.len());
        for o in options {
            let v = match ty {
                ParamType::Number => number_value(o, format).ok_or_else(bad)?,
                _ => {
                    if !string_matches(o, format) {
                        return Err(bad());
                    }
                    Value::String(o.to_string())
                }
            };
            values.push(v);
        }
        Some(values)
    };
    let required = fields
        .get("required")
        .map(|s| s.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    Ok(ParamDef {
        name: name.to_string(),
        ty,
        validationformat: format,
        valueoptions,
        required,
    })
}

fn number_value(s: &str, format: ValidationFormat) -> Option<Value> {
    if format == ValidationFormat::Decimal {
        let f: f64 = s.parse().ok()?;
        if !f.is_finite() {
            return None;
        }
        serde_json::Number::from_f64(f).map(Value::Number)
    } else {
        s.parse::<i64>().ok().map(|i| Value::Number(i.into()))
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-'));
    let domain_ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    local_ok && domain_ok
}

fn is_url(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => !u.cannot_be_a_base() || u.scheme() == "mailto",
        Err(_) => false,
    }
}

fn string_matches(s: &str, format: ValidationFormat) -> bool {
    match format {
        ValidationFormat::None | ValidationFormat::Decimal => true,
        ValidationFormat::Uuid => uuid::Uuid::parse_str(s).is_ok(),
        ValidationFormat::Email => is_email(s),
        ValidationFormat::Password => !s.trim().is_empty(),
        ValidationFormat::Url => is_url(s),
    }
}

/// Parse a DATE value in the forms CloudStack accepts (ISO offset date-time, `+0000` offsets,
/// instants with `Z`, fractional seconds) and render it as `yyyy-MM-dd'T'HH:mm:ssZ` in UTC.
pub fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").ok())
        .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ%z").ok())?;
    Some(
        parsed
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S+0000")
            .to_string(),
    )
}

/// Validate supplied values against the definitions and convert them to typed JSON values.
///
/// When `defs` is empty the supplied values are dropped (no `parameters` key is sent), as upstream
/// does. Undefined names are passed through as strings.
pub fn validate_values(
    defs: &[ParamDef],
    supplied: &[(String, String)],
) -> Result<Option<Map<String, Value>>> {
    if defs.is_empty() {
        return Ok(None);
    }
    for d in defs.iter().filter(|d| d.required) {
        let present = supplied
            .iter()
            .any(|(k, v)| k == &d.name && !v.trim().is_empty());
        if !present {
            return Err(Error::invalid_param(format!(
                "Missing or empty required parameter: {}",
                d.name
            )));
        }
    }
    let mut out = Map::new();
    for (name, value) in supplied {
        let Some(def) = defs.iter().find(|d| &d.name == name) else {
            out.insert(name.clone(), Value::String(value.clone()));
            continue;
        };
        if value.trim().is_empty() {
            return Err(Error::invalid_param(format!(
                "Empty value for parameter '{name}': {value}"
            )));
        }
        let invalid = |why: &str| {
            Error::invalid_param(format!(
                "Invalid value for parameter '{name}': {value}{why}"
            ))
        };
        let converted =
            match def.ty {
                ParamType::Boolean => match value.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(invalid(" (expected true or false)")),
                },
                ParamType::Number => {
                    let v = number_value(value.trim(), def.validationformat).ok_or_else(|| {
                        invalid(if def.validationformat == ValidationFormat::Decimal {
                            " (expected a decimal number)"
                        } else {
                            " (expected a whole number)"
                        })
                    })?;
                    check_options(def, &v)
                        .map_err(|opts| invalid(&format!(" (valid options are: {opts})")))?;
                    v
                }
                ParamType::Date => Value::String(parse_date(value).ok_or_else(|| {
                    invalid(" (expected a date such as 2026-01-31T12:00:00+0000)")
                })?),
                ParamType::String => {
                    if !string_matches(value, def.validationformat) {
                        return Err(invalid(&format!(
                            " (expected {})",
                            def.validationformat.as_str().to_lowercase()
                        )));
                    }
                    let v = Value::String(value.clone());
                    check_options(def, &v)
                        .map_err(|opts| invalid(&format!(" (valid options are: {opts})")))?;
                    v
                }
            };
        out.insert(name.clone(), converted);
    }
    Ok(Some(out))
}

fn check_options(def: &ParamDef, v: &Value) -> std::result::Result<(), String> {
    let Some(opts) = &def.valueoptions else {
        return Ok(());
    };
    let matches = opts.iter().any(|o| match (o, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    });
    if matches {
        Ok(())
    } else {
        Err(opts
            .iter()
            .map(|o| match o {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "))
    }
}

/// Replace `{{actionName}}`, `{{extensionName}}` and `{{resourceName}}`; unknown placeholders stay.
/// A blank template gives the default message.
pub fn render_message(
    template: Option<&str>,
    success: bool,
    action: &str,
    extension: &str,
    resource: &str,
) -> String {
    match template.filter(|t| !t.trim().is_empty()) {
        None if success => format!("Successfully completed {action}"),
        None => format!("Failed to complete {action}"),
        Some(t) => t
            .replace("{{actionName}}", action)
            .replace("{{extensionName}}", extension)
            .replace("{{resourceName}}", resource),
    }
}

/// The name rule for custom actions: `^[a-zA-Z0-9 _-]+$`.
pub fn is_valid_action_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn def(pairs: &[(&str, &str)]) -> Result<ParamDef> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_param_def(&m)
    }

    fn sup(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn definition_defaults() {
        let d = def(&[("name", "Name")]).unwrap();
        assert_eq!(d.ty, ParamType::String);
        assert_eq!(d.validationformat, ValidationFormat::None);
        assert!(!d.required);
        assert!(d.valueoptions.is_none());
        let d = def(&[("name", "n"), ("type", "number"), ("required", "TRUE")]).unwrap();
        assert_eq!(d.ty, ParamType::Number);
        assert!(d.required);
        let d = def(&[("name", "n"), ("required", "yes")]).unwrap();
        assert!(!d.required);
    }

    #[test]
    fn definition_errors() {
        assert_eq!(
            def(&[("type", "STRING")]).unwrap_err().external_message(),
            "Invalid parameter specified with empty name"
        );
        assert!(def(&[("name", "n"), ("type", "FLOAT")]).is_err());
        assert!(def(&[("name", "n"), ("validationformat", "IPV4")]).is_err());
        let e = def(&[
            ("name", "n"),
            ("type", "NUMBER"),
            ("validationformat", "EMAIL"),
        ])
        .unwrap_err();
        assert_eq!(
            e.external_message(),
            "Invalid validation format: EMAIL specified for type: NUMBER"
        );
        assert!(def(&[
            ("name", "n"),
            ("type", "STRING"),
            ("validationformat", "DECIMAL")
        ])
        .is_err());
        assert!(def(&[
            ("name", "n"),
            ("type", "BOOLEAN"),
            ("validationformat", "UUID")
        ])
        .is_err());
        assert!(def(&[
            ("name", "n"),
            ("type", "BOOLEAN"),
            ("valueoptions", "true,false")
        ])
        .is_err());
        assert!(def(&[("name", "n"), ("type", "DATE"), ("valueoptions", "x")]).is_err());
        assert!(def(&[("name", "n"), ("type", "NUMBER"), ("valueoptions", "1,x")]).is_err());
        assert!(def(&[
            ("name", "n"),
            ("type", "STRING"),
            ("validationformat", "EMAIL"),
            ("valueoptions", "a@b,c")
        ])
        .is_err());
        assert!(def(&[
            ("name", "n"),
            ("type", "STRING"),
            ("validationformat", "UUID"),
            ("valueoptions", "nope")
        ])
        .is_err());
    }

    #[test]
    fn value_options_parse_typed() {
        let d = def(&[
            ("name", "c"),
            ("type", "NUMBER"),
            ("valueoptions", " 10, 100,,1000 "),
        ])
        .unwrap();
        assert_eq!(
            d.valueoptions.unwrap(),
            vec![Value::from(10), Value::from(100), Value::from(1000)]
        );
        let d = def(&[
            ("name", "c"),
            ("type", "NUMBER"),
            ("validationformat", "DECIMAL"),
            ("valueoptions", "1.5,2"),
        ])
        .unwrap();
        assert_eq!(
            d.valueoptions.unwrap(),
            vec![Value::from(1.5), Value::from(2.0)]
        );
        let d = def(&[("name", "s"), ("valueoptions", "a,b")]).unwrap();
        assert_eq!(
            d.valueoptions.unwrap(),
            vec![Value::from("a"), Value::from("b")]
        );
    }

    #[test]
    fn required_and_empty_values() {
        let defs = vec![def(&[("name", "Name"), ("required", "true")]).unwrap()];
        let e = validate_values(&defs, &[]).unwrap_err();
        assert_eq!(
            e.external_message(),
            "Missing or empty required parameter: Name"
        );
        let e = validate_values(&defs, &sup(&[("Name", "  ")])).unwrap_err();
        assert_eq!(
            e.external_message(),
            "Missing or empty required parameter: Name"
        );
        let opt = vec![def(&[("name", "x")]).unwrap()];
        let e = validate_values(&opt, &sup(&[("x", "")])).unwrap_err();
        assert!(e
            .external_message()
            .starts_with("Empty value for parameter 'x'"));
    }

    #[test]
    fn no_definitions_drops_values() {
        assert_eq!(validate_values(&[], &sup(&[("a", "b")])).unwrap(), None);
    }

    #[test]
    fn undefined_names_pass_through() {
        let defs = vec![def(&[("name", "x")]).unwrap()];
        let m = validate_values(&defs, &sup(&[("other", "v")]))
            .unwrap()
            .unwrap();
        assert_eq!(m["other"], Value::from("v"));
    }

    #[test]
    fn booleans_are_exact() {
        let defs = vec![def(&[("name", "b"), ("type", "BOOLEAN")]).unwrap()];
        assert_eq!(
            validate_values(&defs, &sup(&[("b", "true")]))
                .unwrap()
                .unwrap()["b"],
            Value::Bool(true)
        );
        assert_eq!(
            validate_values(&defs, &sup(&[("b", "false")]))
                .unwrap()
                .unwrap()["b"],
            Value::Bool(false)
        );
        assert!(validate_values(&defs, &sup(&[("b", "TRUE")])).is_err());
        assert!(validate_values(&defs, &sup(&[("b", "1")])).is_err());
    }

    #[test]
    fn numbers_and_options() {
        let defs = vec![def(&[
            ("name", "n"),
            ("type", "NUMBER"),
            ("valueoptions", "10,100"),
        ])
        .unwrap()];
        assert_eq!(
            validate_values(&defs, &sup(&[("n", "100")]))
                .unwrap()
                .unwrap()["n"],
            Value::from(100)
        );
        let e = validate_values(&defs, &sup(&[("n", "5")])).unwrap_err();
        assert_eq!(
            e.external_message(),
            "Invalid value for parameter 'n': 5 (valid options are: 10, 100)"
        );
        assert!(validate_values(&defs, &sup(&[("n", "1.5")])).is_err());
        assert!(validate_values(&defs, &sup(&[("n", "abc")])).is_err());
        let dec = vec![def(&[
            ("name", "d"),
            ("type", "NUMBER"),
            ("validationformat", "DECIMAL"),
        ])
        .unwrap()];
        assert_eq!(
            validate_values(&dec, &sup(&[("d", "2.25")]))
                .unwrap()
                .unwrap()["d"],
            Value::from(2.25)
        );
        assert!(validate_values(&dec, &sup(&[("d", "NaN")])).is_err());
        let decopt = vec![def(&[
            ("name", "d"),
            ("type", "NUMBER"),
            ("validationformat", "DECIMAL"),
            ("valueoptions", "1.5,2"),
        ])
        .unwrap()];
        assert!(validate_values(&decopt, &sup(&[("d", "2.0")])).is_ok());
        assert!(validate_values(&decopt, &sup(&[("d", "2.5")])).is_err());
    }

    #[test]
    fn string_formats() {
        let mk = |f: &str| vec![def(&[("name", "s"), ("validationformat", f)]).unwrap()];
        let ok = |f: &str, v: &str| validate_values(&mk(f), &sup(&[("s", v)])).is_ok();
        assert!(ok("UUID", "0f3a1c2e-1111-4abc-8def-0123456789ab"));
        assert!(!ok("UUID", "not-a-uuid"));
        assert!(ok("EMAIL", "ops+x@example.org"));
        assert!(!ok("EMAIL", "ops@"));
        assert!(!ok("EMAIL", "a b@example.org"));
        assert!(ok("URL", "https://example.org/x?y=1"));
        assert!(!ok("URL", "example.org"));
        assert!(ok("PASSWORD", "s3cret"));
        assert!(ok("NONE", "anything at all"));
        let opts = vec![def(&[("name", "s"), ("valueoptions", "small,large")]).unwrap()];
        assert!(validate_values(&opts, &sup(&[("s", "large")])).is_ok());
        assert!(validate_values(&opts, &sup(&[("s", "medium")])).is_err());
    }

    #[test]
    fn dates() {
        let defs = vec![def(&[("name", "when"), ("type", "DATE")]).unwrap()];
        let v = |s: &str| {
            validate_values(&defs, &sup(&[("when", s)])).map(|m| m.unwrap()["when"].clone())
        };
        assert_eq!(
            v("2026-01-31T12:00:00+0000").unwrap(),
            Value::from("2026-01-31T12:00:00+0000")
        );
        assert_eq!(
            v("2026-01-31T12:00:00Z").unwrap(),
            Value::from("2026-01-31T12:00:00+0000")
        );
        assert_eq!(
            v("2026-01-31T14:00:00+02:00").unwrap(),
            Value::from("2026-01-31T12:00:00+0000")
        );
        assert_eq!(
            v("2026-01-31T12:00:00.123456Z").unwrap(),
            Value::from("2026-01-31T12:00:00+0000")
        );
        assert!(v("31/01/2026").is_err());
        assert!(v("2026-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn messages() {
        assert_eq!(
            render_message(None, true, "snap", "Proxmox", "i-2-10-VM"),
            "Successfully completed snap"
        );
        assert_eq!(
            render_message(Some("  "), false, "snap", "Proxmox", "vm"),
            "Failed to complete snap"
        );
        assert_eq!(
            render_message(
                Some("{{actionName}} on {{resourceName}} via {{extensionName}} {{other}}"),
                true,
                "a",
                "e",
                "r"
            ),
            "a on r via e {{other}}"
        );
    }

    #[test]
    fn action_names() {
        assert!(is_valid_action_name("Create Snapshot_1-x"));
        assert!(!is_valid_action_name("rm;ls"));
        assert!(!is_valid_action_name(""));
        assert!(!is_valid_action_name("a/b"));
    }
}
