//! Request parameters: merged query and form pairs (first value wins), names case-insensitive,
//! map parameters (`name[i].field=value`) parsed generically and read by each command in the
//! flatten, key/value or object-array form. Validation against the catalog happens here.

use std::collections::{BTreeMap, HashMap};

use crate::catalog::{Command, ParamType};
use crate::ApiError;

/// Parsed request parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Original pairs in arrival order, first value of each name only (used for signatures).
    pairs: Vec<(String, String)>,
    scalars: HashMap<String, String>,
    maps: HashMap<String, BTreeMap<u32, BTreeMap<String, String>>>,
}

fn has_control_chars(s: &str) -> bool {
    s.chars()
        .any(|c| (c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == '\u{7f}')
}

impl Params {
    /// Build from raw pairs. The first value of a repeated name wins; map keys must look like
    /// `name[<int>].<field>` (430 otherwise); control characters in values give 431.
    pub fn from_pairs(raw: impl IntoIterator<Item = (String, String)>) -> Result<Params, ApiError> {
        let mut p = Params::default();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in raw {
            if !seen.insert(name.clone()) {
                continue;
            }
            if has_control_chars(&value) {
                return Err(ApiError::param(format!(
                    "Received value for parameter {name} contains control characters"
                )));
            }
            p.pairs.push((name.clone(), value.clone()));
            if let Some(open) = name.find('[') {
                let base = name[..open].to_lowercase();
                let rest = &name[open + 1..];
                let malformed = || {
                    ApiError::new(430, 9999, format!("Unable to decode parameter map entry {name}: expected {base}[<index>].<key>"))
                };
                let close = rest.find(']').ok_or_else(malformed)?;
                let index: u32 = rest[..close].parse().map_err(|_| malformed())?;
                let after = &rest[close + 1..];
                let field = after
                    .strip_prefix('.')
                    .filter(|f| !f.is_empty())
                    .ok_or_else(malformed)?;
                if field.contains('[') {
                    return Err(malformed());
                }
                p.maps
                    .entry(base)
                    .or_default()
                    .entry(index)
                    .or_default()
                    .insert(field.to_string(), value);
            } else {
                p.scalars.entry(name.to_lowercase()).or_insert(value);
            }
        }
        Ok(p)
    }

    /// The pairs as received (names with their original case), for signature checks.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn command(&self) -> Option<&str> {
        self.str("command")
    }

    /// A scalar value; empty strings count as absent, as CloudStack treats them.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.scalars
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A scalar value including empty strings.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.scalars.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.str(name).is_some() || self.maps.contains_key(name)
    }

    /// `Boolean.valueOf`: only case-insensitive `true` is true.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.str(name).map(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        self.bool(name).unwrap_or(default)
    }

    /// An integer (already validated against the catalog).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.str(name).and_then(|v| v.trim().parse().ok())
    }

    /// A comma-separated list.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.str(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// Flatten form: all fields of all indices merged into one map (`details[0].k=v`).
    pub fn map_flat(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.maps.get(name).map(|m| {
            m.values()
                .flat_map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect()
        })
    }

    /// Key/value form: `tags[i].key=k&tags[i].value=v`. Entries with only flatten-style fields
    /// are read in the flatten way, so both shapes clients send are understood.
    pub fn map_kv(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let m = self.maps.get(name)?;
        let mut out = BTreeMap::new();
        for fields in m.values() {
            match (fields.get("key"), fields.get("value")) {
                (Some(k), Some(v)) if fields.len() == 2 => {
                    out.insert(k.clone(), v.clone());
                }
                _ => out.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone()))),
            }
        }
        Some(out)
    }

    /// Object-array form: one map of fields per index, in index order (field names lowercased).
    pub fn map_objects(&self, name: &str) -> Option<Vec<BTreeMap<String, String>>> {
        self.maps.get(name).map(|m| {
            m.values()
                .map(|f| {
                    f.iter()
                        .map(|(k, v)| (k.to_lowercase(), v.clone()))
                        .collect()
                })
                .collect()
        })
    }

    /// Flatten form preserving arrival order (used for custom-action parameter values).
    pub fn map_pairs(&self, name: &str) -> Option<Vec<(String, String)>> {
        self.maps.get(name).map(|m| {
            m.values()
                .flat_map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect()
        })
    }

    /// Names of the parameters `cmd` does not take, sorted: neither one of its own nor one every
    /// request may carry (authentication, signing, response format, paging, cache busters).
    /// Upstream ignores them without a word; the server names them in a warning.
    pub fn unknown(&self, cmd: &Command) -> Vec<String> {
        const EVERY_REQUEST: &[&str] = &[
            "command",
            "response",
            "apikey",
            "signature",
            "signatureversion",
            "expires",
            "sessionkey",
            "_",
            "page",
            "pagesize",
            "keyword",
        ];
        let known = |name: &str| {
            EVERY_REQUEST.contains(&name)
                || cmd.params.iter().any(|p| p.name.eq_ignore_ascii_case(name))
        };
        let mut out: Vec<String> = self
            .scalars
            .keys()
            .chain(self.maps.keys())
            .filter(|n| !known(n))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Validate against the command's parameter specs: required ones present, typed ones well
    /// formed, strings within length, paging consistent.
    pub fn validate(&self, cmd: &Command) -> Result<(), ApiError> {
        for p in cmd.params {
            let key = p.name.to_lowercase();
            let present = match p.ty {
                ParamType::Map => self.maps.contains_key(&key) || self.str(&key).is_some(),
                _ => self.str(&key).is_some(),
            };
            if !present {
                if p.required {
                    return Err(ApiError::missing_param(cmd.name, p.name));
                }
                continue;
            }
            let Some(v) = self.str(&key) else { continue };
            let bad = |what: &str| {
                ApiError::param(format!("Unable to execute API command {} due to invalid value. Invalid parameter {} value={v} due to {what}", cmd.name.to_lowercase(), p.name))
            };
            match p.ty {
                ParamType::Uuid => {
                    if !trellis_model::ids::is_api_uuid(v) && v != "-1" {
                        return Err(ApiError::param(format!(
                            "Invalid parameter {} value={v} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class",
                            p.name
                        )));
                    }
                }
                ParamType::Integer | ParamType::Long | ParamType::Short => {
                    if v.trim().parse::<i64>().is_err() {
                        return Err(bad("incorrect number format"));
                    }
                }
                ParamType::Float | ParamType::Double => {
                    if v.trim().parse::<f64>().is_err() {
                        return Err(bad("incorrect number format"));
                    }
                }
                ParamType::Date => {
                    if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
                        && chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_err()
                    {
                        return Err(bad("incorrect date format, expected yyyy-MM-dd"));
                    }
                }
                ParamType::String => {
                    if p.length > 0 && v.chars().count() > p.length as usize {
                        return Err(ApiError::param(format!(
                            "Value greater than max allowed length {} for param: {}",
                            p.length, p.name
                        )));
                    }
                }
                ParamType::Boolean
                | ParamType::List
                | ParamType::Map
                | ParamType::Tzdate
                | ParamType::Object => {}
            }
        }
        if cmd.is_list() {
            self.paging(500)?;
        }
        Ok(())
    }

    /// Paging from `page`/`pagesize` with CloudStack's rules; `max` is `default.page.size`.
    /// Returns `(offset, limit)`; `limit` `None` means unlimited.
    pub fn paging(&self, max: i64) -> Result<(i64, Option<i64>), ApiError> {
        let page = self.int("page");
        let size = self.int("pagesize");
        match (page, size) {
            (None, None) => Ok((0, Some(max))),
            (None, Some(-1)) => Ok((0, None)),
            (Some(_), Some(-1)) => Err(ApiError::param(
                "\"page\" parameter is not allowed when \"pagesize\" is -1",
            )),
            (None, Some(_)) => Err(ApiError::param(
                "\"page\" parameter is required when \"pagesize\" is specified",
            )),
            (Some(_), None) => Err(ApiError::param(
                "\"pagesize\" parameter is required when \"page\" is specified",
            )),
            (Some(p), Some(s)) => {
                if p < 1 {
                    return Err(ApiError::param("\"page\" must be 1 or greater"));
                }
                if s < 1 {
                    return Err(ApiError::param("\"pagesize\" must be 1 or greater, or -1"));
                }
                if s > max {
                    return Err(ApiError::param(format!(
                        "Page size can't exceed max allowed page size value: {max}"
                    )));
                }
                // A page far beyond any table is refused, not overflowed.
                let offset = s.checked_mul(p - 1).ok_or_else(|| {
                    ApiError::param(format!("\"page\" is too large for a page size of {s}"))
                })?;
                Ok((offset, Some(s)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<Params, ApiError> {
        Params::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn parameters_a_command_does_not_take_are_named() {
        let cmd = crate::catalog::find("listVirtualMachines").unwrap();
        let x = p(&[
            ("command", "listVirtualMachines"),
            ("apiKey", "k"),
            ("signature", "s"),
            ("response", "json"),
            ("ID", "x"),
            ("tags[0].key", "a"),
            ("pagesize", "5"),
            ("projectid", "p"),
            ("Bogus", "1"),
            ("filter[0].x", "y"),
        ])
        .unwrap();
        assert_eq!(x.unknown(cmd), ["bogus", "filter", "projectid"]);
        let clean = p(&[("command", "listVirtualMachines"), ("id", "x")]).unwrap();
        assert!(clean.unknown(cmd).is_empty());
    }

    #[test]
    fn names_are_case_insensitive_first_wins() {
        let x = p(&[("Command", "listZones"), ("command", "other"), ("ID", "x")]).unwrap();
        assert_eq!(x.command(), Some("listZones"));
        assert_eq!(x.str("id"), Some("x"));
    }

    #[test]
    fn maps_in_three_shapes() {
        let x = p(&[
            ("details[0].url", "u"),
            ("details[0].user", "root"),
            ("details[1].endpoint.url", "e"),
            ("tags[0].key", "k"),
            ("tags[0].value", "v"),
            ("parameters[0].name", "Name"),
            ("parameters[0].type", "STRING"),
            ("parameters[1].name", "Count"),
        ])
        .unwrap();
        let d = x.map_flat("details").unwrap();
        assert_eq!(d.get("url").unwrap(), "u");
        assert_eq!(d.get("endpoint.url").unwrap(), "e");
        assert_eq!(x.map_kv("tags").unwrap().get("k").unwrap(), "v");
        let objs = x.map_objects("parameters").unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].get("name").unwrap(), "Count");
    }

    #[test]
    fn malformed_maps_are_430() {
        for bad in [
            "details[x].a",
            "details[0]a",
            "details[0].",
            "details[0][1].a",
            "details0].a",
        ] {
            match p(&[(bad, "v")]) {
                Err(e) if bad == "details0].a" => panic!("{bad} should be a scalar, got {e:?}"),
                Err(e) => assert_eq!(e.code, 430, "{bad}"),
                Ok(_) if bad == "details0].a" => {}
                Ok(_) => panic!("{bad} accepted"),
            }
        }
    }

    #[test]
    fn control_characters_rejected() {
        assert_eq!(p(&[("name", "a\u{1}b")]).unwrap_err().code, 431);
        assert!(p(&[("name", "a\tb\n")]).is_ok());
    }

    #[test]
    fn paging_rules() {
        assert_eq!(p(&[]).unwrap().paging(500).unwrap(), (0, Some(500)));
        assert_eq!(
            p(&[("page", "3"), ("pagesize", "20")])
                .unwrap()
                .paging(500)
                .unwrap(),
            (40, Some(20))
        );
        assert_eq!(
            p(&[("pagesize", "-1")]).unwrap().paging(500).unwrap(),
            (0, None)
        );
        assert!(p(&[("pagesize", "20")]).unwrap().paging(500).is_err());
        assert!(p(&[("page", "2")]).unwrap().paging(500).is_err());
        assert!(p(&[("page", "1"), ("pagesize", "501")])
            .unwrap()
            .paging(500)
            .is_err());
        assert!(p(&[("page", "1"), ("pagesize", "-1")])
            .unwrap()
            .paging(500)
            .is_err());
    }
}
