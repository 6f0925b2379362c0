//! Output of API answers: `json` keeps everything; `table`, `csv` and `text` show the rows of the
//! answer (the list in a list answer, else the object) with nested objects and arrays written as
//! compact JSON in their cell, never dropped. `filter=a,b` keeps only those fields of each row.

use serde_json::{Map, Value};

/// How answers are printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The answer as pretty JSON (everything kept).
    Json,
    /// Aligned columns, one row per item.
    Table,
    /// Comma-separated values with a header line (RFC 4180 quoting).
    Csv,
    /// `field = value` lines, items separated by a line of `=`.
    Text,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        <Format as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown output format {s}: use json, table, csv or text"))
    }
}

/// Where the rows of an answer are: a list answer's array (`{"count": 2, "zone": [..]}`), the
/// object inside a one-key wrapper (`{"zone": {..}}`), or the answer itself.
enum Rows<'a> {
    List(&'a str),
    Wrapped(&'a str),
    Itself,
}

fn locate(answer: &Map<String, Value>) -> Rows<'_> {
    let is_list = answer.keys().filter(|k| *k != "count").count() == 1;
    if let Some((key, _)) = answer
        .iter()
        .find(|(_, v)| v.as_array().is_some_and(|a| a.iter().all(Value::is_object)))
        .filter(|_| is_list)
    {
        return Rows::List(key);
    }
    if answer.len() == 1 {
        if let Some((key, Value::Object(_))) = answer.iter().next() {
            return Rows::Wrapped(key);
        }
    }
    Rows::Itself
}

fn rows_of(answer: &Value) -> Vec<&Map<String, Value>> {
    let Some(map) = answer.as_object() else {
        return Vec::new();
    };
    match locate(map) {
        Rows::List(key) => map[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default(),
        Rows::Wrapped(key) => map[key].as_object().into_iter().collect(),
        Rows::Itself if map.is_empty() => Vec::new(),
        Rows::Itself => vec![map],
    }
}

/// Keep only `fields` (in that order, names matched ignoring case) in each row of the answer;
/// the rest of the answer (e.g. `count`) is kept.
pub fn filter(answer: &Value, fields: &[String]) -> Value {
    let pick = |row: &Map<String, Value>| -> Value {
        let mut out = Map::new();
        for field in fields {
            if let Some((k, v)) = row.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    };
    let Some(map) = answer.as_object() else {
        return answer.clone();
    };
    match locate(map) {
        Rows::List(key) => {
            let mut out = map.clone();
            let rows = map[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_object).map(pick).collect())
                .unwrap_or_default();
            out.insert(key.to_string(), Value::Array(rows));
            Value::Object(out)
        }
        Rows::Wrapped(key) => {
            let mut out = Map::new();
            if let Some(row) = map[key].as_object() {
                out.insert(key.to_string(), pick(row));
            }
            Value::Object(out)
        }
        Rows::Itself => pick(map),
    }
}

/// The answer in `format`, ending with a newline unless empty.
pub fn render(answer: &Value, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(answer).unwrap_or_default() + "\n";
    }
    if !answer.is_object() {
        return format!("{}\n", cell(Some(answer)));
    }
    let rows = rows_of(answer);
    let mut columns: Vec<&str> = Vec::new();
    for row in &rows {
        for key in row.keys() {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    match format {
        Format::Json => unreachable!("handled above"),
        Format::Table => table(&rows, &columns),
        Format::Csv => csv(&rows, &columns),
        Format::Text => text(&rows, &columns),
    }
}

/// A value as one cell: strings as they are, nested values as compact JSON, null as empty.
fn cell(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn table(rows: &[&Map<String, Value>], columns: &[&str]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| one_line(&cell(r.get(*c)))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(c.chars().count())
        })
        .collect();
    let line = |values: &[String]| {
        let joined = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        joined.trim_end().to_string() + "\n"
    };
    let mut out = line(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// Table cells stay on one line.
fn one_line(s: &str) -> String {
    s.replace('\n', "\\n").replace('\r', "\\r")
}

fn csv(rows: &[&Map<String, Value>], columns: &[&str]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = columns
        .iter()
        .map(|c| field(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in rows {
        out.push_str(
            &columns
                .iter()
                .map(|c| field(&cell(row.get(*c))))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn text(rows: &[&Map<String, Value>], columns: &[&str]) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(&"=".repeat(40));
            out.push('\n');
        }
        for c in columns {
            if let Some(v) = row.get(*c) {
                out.push_str(&format!("{c} = {}\n", cell(Some(v))));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_values_are_kept_inline() {
        let answer = json!({"count": 1, "virtualmachine": [
            {"name": "a,b", "nic": [{"ip": "10.0.0.1"}], "state": "Running"}]});
        let csv_out = render(&answer, Format::Csv);
        assert_eq!(
            csv_out,
            "name,nic,state\n\"a,b\",\"[{\"\"ip\"\":\"\"10.0.0.1\"\"}]\",Running\n"
        );
        let table_out = render(&answer, Format::Table);
        assert!(table_out.contains(r#"[{"ip":"10.0.0.1"}]"#), "{table_out}");
        let filtered = filter(&answer, &["state".into(), "NAME".into()]);
        assert_eq!(
            filtered,
            json!({"count": 1, "virtualmachine": [{"state": "Running", "name": "a,b"}]})
        );
        let wrapped = json!({"customactionresult": {"success": false, "result": {"details": "x"}}});
        assert_eq!(
            render(&wrapped, Format::Text),
            "success = false\nresult = {\"details\":\"x\"}\n"
        );
    }
}
