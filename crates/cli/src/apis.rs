//! The server's API list (`listApis`) as the CLI sees it: finding an API from a name typed in any
//! case or from a verb and a noun (`list virtualmachines` → `listVirtualMachines`), suggestions
//! for misspelt names, and per-API help.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One API of `listApis`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub isasync: bool,
    #[serde(default)]
    pub params: Vec<ParamInfo>,
}

/// One parameter of an API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    #[serde(default, rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

impl ApiInfo {
    /// The verb: the leading lowercase letters (`list` of `listVirtualMachines`).
    pub fn verb(&self) -> &str {
        let end = self
            .name
            .find(|c: char| !c.is_ascii_lowercase())
            .unwrap_or(self.name.len());
        &self.name[..end]
    }

    /// The noun, lowercased (`virtualmachines` of `listVirtualMachines`).
    pub fn noun(&self) -> String {
        self.name[self.verb().len()..].to_ascii_lowercase()
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.params
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// The APIs of a `listApis` answer, sorted by name.
pub fn parse(list_apis: &Value) -> Vec<ApiInfo> {
    let mut apis: Vec<ApiInfo> = list_apis
        .get("api")
        .and_then(Value::as_array)
        .map(|arr| {
            arr.iter()
                .filter_map(|a| serde_json::from_value(a.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    apis.sort_by(|a, b| a.name.cmp(&b.name));
    apis
}

/// Find the API named `wanted`, exactly or ignoring case.
pub fn find<'a>(apis: &'a [ApiInfo], wanted: &str) -> Option<&'a ApiInfo> {
    apis.iter()
        .find(|a| a.name == wanted)
        .or_else(|| apis.iter().find(|a| a.name.eq_ignore_ascii_case(wanted)))
}

/// Up to three API names close to `wanted` (edit distance, ignoring case), closest first.
pub fn suggest(apis: &[ApiInfo], wanted: &str) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let limit = (wanted.len() / 5).max(2);
    let mut scored: Vec<(usize, &str)> = apis
        .iter()
        .map(|a| {
            (
                distance(&wanted, &a.name.to_ascii_lowercase()),
                a.name.as_str(),
            )
        })
        .filter(|(d, _)| *d <= limit)
        .collect();
    if scored.is_empty() {
        // A noun typed without its verb, or a fragment: names that contain it.
        scored = apis
            .iter()
            .filter(|a| wanted.len() >= 4 && a.name.to_ascii_lowercase().contains(&wanted))
            .map(|a| (a.name.len(), a.name.as_str()))
            .collect();
    }
    scored.sort();
    // Only the closest names (the best distance, or one more).
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored
        .into_iter()
        .take_while(|(d, _)| *d <= best + 1)
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// "did you mean a, b or c?" for a non-empty list.
pub fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("did you mean {one}?"),
        [init @ .., last] => format!("did you mean {} or {last}?", init.join(", ")),
    }
}

/// The distinct verbs, sorted.
pub fn verbs(apis: &[ApiInfo]) -> Vec<String> {
    let mut verbs: Vec<String> = apis.iter().map(|a| a.verb().to_string()).collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

/// The nouns used with `verb`, sorted.
pub fn nouns(apis: &[ApiInfo], verb: &str) -> Vec<String> {
    let mut nouns: Vec<String> = apis
        .iter()
        .filter(|a| a.verb().eq_ignore_ascii_case(verb))
        .map(ApiInfo::noun)
        .collect();
    nouns.sort();
    nouns
}

/// Levenshtein distance over bytes.
pub fn distance(a: &str, b: &str) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Help for one API: description and a table of its parameters, required ones first.
pub fn help(api: &ApiInfo) -> String {
    let mut out = format!(
        "{}{}\n  {}\n",
        api.name,
        if api.isasync { " (async)" } else { "" },
        api.description
    );
    let verb = api.verb();
    let noun = api.noun();
    if !noun.is_empty() {
        out.push_str(&format!(
            "usage: trellis {verb} {noun} [name=value ...] [filter=field,...]\n"
        ));
    }
    if api.params.is_empty() {
        out.push_str("no parameters\n");
        return out;
    }
    let mut params: Vec<&ParamInfo> = api.params.iter().collect();
    params.sort_by(|a, b| b.required.cmp(&a.required).then(a.name.cmp(&b.name)));
    let name_width = params
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let type_width = params.iter().map(|p| p.ty.len()).max().unwrap_or(0).max(4);
    out.push_str(&format!(
        "{:<name_width$}  {:<type_width$}  {:<8}  DESCRIPTION\n",
        "NAME", "TYPE", "REQUIRED"
    ));
    for p in params {
        out.push_str(
            format!(
                "{:<name_width$}  {:<type_width$}  {:<8}  {}",
                p.name,
                p.ty,
                if p.required { "yes" } else { "no" },
                p.description
            )
            .trim_end(),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str) -> ApiInfo {
        ApiInfo {
            name: name.into(),
            description: String::new(),
            isasync: false,
            params: vec![],
        }
    }

    #[test]
    fn verbs_nouns_and_suggestions() {
        let apis = vec![
            api("listVirtualMachines"),
            api("runCustomAction"),
            api("listZones"),
        ];
        assert_eq!(apis[0].verb(), "list");
        assert_eq!(apis[1].noun(), "customaction");
        assert_eq!(
            find(&apis, "listvirtualmachines").unwrap().name,
            "listVirtualMachines"
        );
        assert_eq!(
            suggest(&apis, "listVirtualMachine"),
            vec!["listVirtualMachines".to_string()]
        );
        assert_eq!(suggest(&apis, "zones"), vec!["listZones".to_string()]);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
