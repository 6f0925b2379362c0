//! Guards that keep the store honest: every public store method is exercised by the conformance
//! suite (`tests/conformance*.rs`), and the SQLite and PostgreSQL migrations stay the same schema.
//! These read the sources; they need no database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Public store methods the conformance suite does not call, each with the reason. Keep it short:
/// a method belongs here only when it cannot be exercised through a store on a test database.
const NOT_IN_CONFORMANCE: &[(&str, &str)] = &[];

/// Item-level macros inside `impl Store` that generate public methods, and which of their
/// comma-separated arguments are the generated method names (after an optional `cached` marker).
const GENERATING_MACROS: &[(&str, &[usize])] = &[
    // lookups!([cached] by_uuid, get, table, id_where, row, Type)
    ("lookups", &[0, 1]),
    // list_fn!(name, table, row, Type, zone, pod, cluster)
    ("list_fn", &[0]),
    // soft_delete!(name, table)
    ("soft_delete", &[0]),
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".rs")
        })
        .collect();
    out.sort();
    out
}

/// The source with comments and the contents of string and character literals blanked (each
/// character replaced by a space, newlines kept), so braces and keywords inside them do not count
/// and every character stays at its index in the original.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = b.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in out.iter_mut().take(to.min(b.len())).skip(from) {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let ident_before = i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_');
        if c == '/' && next == Some('/') {
            let start = i;
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            blank(&mut out, start, i);
        } else if c == '/' && next == Some('*') {
            let start = i;
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            blank(&mut out, start, i);
        } else if c == 'r' && !ident_before && matches!(next, Some('#') | Some('"')) && {
            let mut j = i + 1;
            while j < b.len() && b[j] == '#' {
                j += 1;
            }
            b.get(j) == Some(&'"')
        } {
            // A raw string r"…" or r#"…"#: blank its contents.
            let mut j = i + 1;
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            let start = j + 1;
            j += 1;
            while j < b.len()
                && !(b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')))
            {
                j += 1;
            }
            blank(&mut out, start, j);
            i = j + 1 + hashes;
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            blank(&mut out, start, i);
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\\', '\'') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 3;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                blank(&mut out, i + 1, j);
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                blank(&mut out, i + 1, i + 2);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    // Keep the text ASCII so byte and character indices agree (code outside literals is ASCII).
    out.into_iter()
        .map(|c| if c.is_ascii() { c } else { ' ' })
        .collect()
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(Tok::Ident(std::mem::take(&mut cur)));
            }
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
        }
    }
    if !cur.is_empty() {
        out.push(Tok::Ident(cur));
    }
    out
}

/// The `{ … }` of every `impl Store` block: indices of the opening and closing braces.
fn impl_store_blocks(stripped: &str) -> Vec<(usize, usize)> {
    let text = stripped;
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("impl Store") {
        from += pos + "impl Store".len();
        // `impl Store {` only (not `impl StoreError`, not `impl Foo for Store`).
        if !text[from..].trim_start().starts_with('{') {
            continue;
        }
        let open = from + text[from..].find('{').unwrap();
        let mut depth = 0usize;
        for (k, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        blocks.push((open, open + k));
                        from = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    blocks
}

/// The text of every `impl Store { … }` block, keeping only item level (depth 1): signatures and
/// item-level macro invocations, not function bodies.
fn impl_store_items(stripped: &str) -> Vec<String> {
    impl_store_blocks(stripped)
        .into_iter()
        .map(|(open, close)| {
            let mut depth = 0usize;
            let mut items = String::new();
            for c in stripped[open + 1..close].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            items.push_str(" { } ");
                        }
                    }
                    '}' => depth -= 1,
                    _ if depth == 0 => items.push(c),
                    _ => {}
                }
            }
            items
        })
        .collect()
}

/// A function defined in `impl Store`, public or not, with the original text of its body.
struct StoreFn {
    file: String,
    name: String,
    body: String,
}

/// Every function body in the `impl Store` blocks of `src/`.
fn store_fn_bodies(src: &Path) -> Vec<StoreFn> {
    let mut out = Vec::new();
    for path in rust_files(src, "") {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let raw: Vec<char> = std::fs::read_to_string(&path).unwrap().chars().collect();
        let stripped = strip(&raw.iter().collect::<String>());
        assert_eq!(stripped.len(), raw.len(), "{file}: strip keeps positions");
        for (open, close) in impl_store_blocks(&stripped) {
            let mut depth = 0usize;
            let mut start = 0;
            let mut header_from = open + 1;
            for (k, c) in stripped[open + 1..close].char_indices() {
                let at = open + 1 + k;
                match c {
                    '{' => {
                        if depth == 0 {
                            start = at;
                        }
                        depth += 1;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            let header = tokens(&stripped[header_from..start]);
                            let name = header.windows(2).rev().find_map(|w| match w {
                                [Tok::Ident(f), Tok::Ident(n)] if f == "fn" => Some(n.clone()),
                                _ => None,
                            });
                            if let Some(name) = name {
                                out.push(StoreFn {
                                    file: file.clone(),
                                    name,
                                    body: raw[start..=at].iter().collect(),
                                });
                            }
                            header_from = at + 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The public methods of `Store`, by source file: `pub [async|const|unsafe] fn NAME` inside
/// `impl Store` and the names generated by item-level macros there.
fn public_store_methods(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for path in rust_files(src, "") {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(&path).unwrap();
        for items in impl_store_items(&strip(&src)) {
            let t = tokens(&items);
            let mut i = 0;
            while i < t.len() {
                match &t[i] {
                    Tok::Ident(kw) if kw == "pub" => {
                        // `pub(crate)` and friends are not public.
                        if t.get(i + 1) == Some(&Tok::Punct('(')) {
                            i += 1;
                            continue;
                        }
                        let mut j = i + 1;
                        while matches!(&t.get(j), Some(Tok::Ident(q)) if q == "async" || q == "const" || q == "unsafe")
                        {
                            j += 1;
                        }
                        if let (Some(Tok::Ident(f)), Some(Tok::Ident(name))) =
                            (t.get(j), t.get(j + 1))
                        {
                            if f == "fn" {
                                found.insert(name.clone(), file.clone());
                            }
                        }
                        i = j + 1;
                    }
                    Tok::Ident(mac) if t.get(i + 1) == Some(&Tok::Punct('!')) => {
                        let Some((_, positions)) = GENERATING_MACROS.iter().find(|(m, _)| m == mac)
                        else {
                            panic!(
                                "{file}: item-level macro `{mac}!` inside `impl Store`: teach \
                                 tests/tidy.rs (GENERATING_MACROS) which methods it generates"
                            );
                        };
                        assert_eq!(t.get(i + 2), Some(&Tok::Punct('(')), "{file}: {mac}!");
                        // Split the arguments at top-level commas.
                        let mut args: Vec<Vec<&Tok>> = vec![vec![]];
                        let mut depth = 0;
                        let mut j = i + 3;
                        while j < t.len() {
                            match &t[j] {
                                Tok::Punct('(') => depth += 1,
                                Tok::Punct(')') if depth == 0 => break,
                                Tok::Punct(')') => depth -= 1,
                                Tok::Punct(',') if depth == 0 => {
                                    args.push(vec![]);
                                    j += 1;
                                    continue;
                                }
                                _ => {}
                            }
                            args.last_mut().unwrap().push(&t[j]);
                            j += 1;
                        }
                        for &p in *positions {
                            let name = args
                                .get(p)
                                .and_then(|a| {
                                    a.iter().rev().find_map(|t| match t {
                                        Tok::Ident(n) => Some(n.clone()),
                                        _ => None,
                                    })
                                })
                                .unwrap_or_else(|| panic!("{file}: {mac}! argument {p}"));
                            found.insert(name, file.clone());
                        }
                        i = j;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    found
}

#[test]
fn the_method_scanner_sees_every_kind_of_definition() {
    let m = public_store_methods(&crate_dir().join("src"));
    for (name, file) in [
        ("open", "lib.rs"),           // pub async fn
        ("backend", "lib.rs"),        // pub fn
        ("cache_stats", "cache.rs"),  // pub fn in another module
        ("zone_by_uuid", "infra.rs"), // lookups!(cached …)
        ("zone_get", "infra.rs"),
        ("instance_get", "instances.rs"), // lookups! over several lines, no cache
        ("host_list", "infra.rs"),        // list_fn!
        ("pod_delete", "infra.rs"),       // soft_delete!
        ("details_visible_of", "details.rs"), // generic
        ("job_release_all", "jobs.rs"),   // a second impl block
    ] {
        assert_eq!(m.get(name).map(String::as_str), Some(file), "{name}: {m:?}");
    }
    for private in [
        "one_row",
        "cached",
        "catalog_changed",
        "query",
        "sql",
        "migrations",
    ] {
        assert!(
            !m.contains_key(private),
            "{private} is not a public Store method"
        );
    }
    assert!(m.len() > 120, "only {} methods found: {m:?}", m.len());
}

/// True when `suite` calls `name` as a method or associated function.
fn is_called(suite: &str, name: &str) -> bool {
    [
        format!(".{name}("),
        format!("Store::{name}("),
        format!(".{name}::<"),
    ]
    .iter()
    .any(|p| suite.contains(p.as_str()))
}

/// The methods (`name (src/file)`) that `suite` does not call and `allowed` does not excuse.
fn uncalled(
    methods: &BTreeMap<String, String>,
    suite: &str,
    allowed: &BTreeMap<&str, &str>,
) -> Vec<String> {
    methods
        .iter()
        .filter(|(name, _)| !allowed.contains_key(name.as_str()) && !is_called(suite, name))
        .map(|(name, file)| format!("{name} (src/{file})"))
        .collect()
}

#[test]
fn every_public_store_method_is_called_by_the_conformance_suite() {
    let methods = public_store_methods(&crate_dir().join("src"));
    // The suite's code, with comments and string contents blanked.
    let suite: String = rust_files(&crate_dir().join("tests"), "conformance")
        .iter()
        .map(|p| strip(&std::fs::read_to_string(p).unwrap()))
        .collect::<Vec<_>>()
        .join("\n");
    let allowed: BTreeMap<&str, &str> = NOT_IN_CONFORMANCE.iter().copied().collect();
    for (name, reason) in &allowed {
        assert!(
            methods.contains_key(*name),
            "NOT_IN_CONFORMANCE names `{name}`, which is not a public store method any more"
        );
        assert!(
            !reason.trim().is_empty(),
            "NOT_IN_CONFORMANCE `{name}` needs a reason"
        );
    }
    let missing = uncalled(&methods, &suite, &allowed);
    assert!(
        missing.is_empty(),
        "public store methods no conformance test calls (add a test in tests/conformance*.rs, \
         on both backends, or list the method in NOT_IN_CONFORMANCE in tests/tidy.rs with a \
         reason):\n  {}",
        missing.join("\n  ")
    );
    let stale: Vec<&str> = allowed
        .keys()
        .copied()
        .filter(|n| is_called(&suite, n))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_IN_CONFORMANCE lists methods the suite does call; remove them: {stale:?}"
    );
}

/// Tables a statement in `body` writes: `INSERT INTO t`, `UPDATE t SET`, `DELETE FROM t`.
fn written_tables(body: &str) -> BTreeSet<String> {
    let t = tokens(body);
    let word = |i: usize| match t.get(i) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut out = BTreeSet::new();
    for i in 0..t.len() {
        match (word(i), word(i + 1), word(i + 2)) {
            (Some("INSERT"), Some("INTO"), Some(table))
            | (Some("DELETE"), Some("FROM"), Some(table)) => {
                out.insert(table.to_string());
            }
            (Some("UPDATE"), Some(table), Some("SET")) => {
                out.insert(table.to_string());
            }
            _ => {}
        }
    }
    out
}

/// A `macro_rules!` definition: name, original text.
type MacroDef = (String, String);
/// An item-level macro invocation in `impl Store`: file, macro name, original argument text.
type MacroCall = (String, String, String);

/// `macro_rules!` definitions of `src/` (name, original text), and the item-level invocations in
/// `impl Store` (macro name, original argument text).
fn store_macros(src: &Path) -> (Vec<MacroDef>, Vec<MacroCall>) {
    let (mut defs, mut calls) = (Vec::new(), Vec::new());
    for path in rust_files(src, "") {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read_to_string(&path).unwrap();
        let stripped = strip(&raw);
        let raw: String = raw
            .chars()
            .map(|c| if c.is_ascii() { c } else { ' ' })
            .collect();
        let balanced = |open: usize| {
            let (o, c) = match stripped.as_bytes()[open] {
                b'{' => ('{', '}'),
                _ => ('(', ')'),
            };
            let mut depth = 0;
            for (k, ch) in stripped[open..].char_indices() {
                if ch == o {
                    depth += 1;
                } else if ch == c {
                    depth -= 1;
                    if depth == 0 {
                        return open + k;
                    }
                }
            }
            panic!("{file}: unbalanced at {open}")
        };
        for (at, _) in stripped.match_indices("macro_rules!") {
            let name: String = stripped[at + 12..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let open = at + stripped[at..].find('{').unwrap();
            defs.push((name, raw[open..=balanced(open)].to_string()));
        }
        for (open, close) in impl_store_blocks(&stripped) {
            for (mac, _) in GENERATING_MACROS {
                let needle = format!("{mac}!(");
                for (at, _) in stripped[open..close].match_indices(needle.as_str()) {
                    let paren = open + at + needle.len() - 1;
                    calls.push((
                        file.clone(),
                        mac.to_string(),
                        raw[paren + 1..balanced(paren)].to_string(),
                    ));
                }
            }
        }
    }
    (defs, calls)
}

/// Tables the catalog cache serves: those read by `lookups!(cached …)` and by store functions that
/// go through `self.cached(…)`.
fn cached_tables(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, mac, args) in store_macros(src).1 {
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        if mac == "lookups" && args[0].starts_with("cached ") {
            out.insert(args[2].trim_matches('"').to_string());
        }
    }
    for f in store_fn_bodies(src) {
        if f.body.contains("self.cached(") {
            let t = tokens(&f.body);
            for w in t.windows(2) {
                if let [Tok::Ident(from), Tok::Ident(table)] = w {
                    if from == "FROM" {
                        out.insert(table.clone());
                    }
                }
            }
        }
    }
    out
}

/// Store functions (and macro invocations) writing a cached table without bumping the catalog
/// epoch, and how many writers of cached tables were checked.
fn catalog_epoch_violations(src: &Path) -> (usize, Vec<String>) {
    let cached = cached_tables(src);
    let mut checked = 0;
    let mut missing = Vec::new();
    for f in store_fn_bodies(src) {
        let hits: Vec<String> = written_tables(&f.body)
            .intersection(&cached)
            .cloned()
            .collect();
        if hits.is_empty() {
            continue;
        }
        checked += 1;
        if !f.body.contains("self.catalog_changed()") {
            missing.push(format!("{} (src/{}) writes {hits:?}", f.name, f.file));
        }
    }
    // Methods generated by a macro: the macro must bump the epoch if it writes a cached table.
    let (defs, calls) = store_macros(src);
    for (file, mac, args) in calls {
        let def = &defs
            .iter()
            .find(|(n, _)| *n == mac)
            .expect("macro definition")
            .1;
        let writes = ["INSERT INTO", "UPDATE ", "DELETE FROM"]
            .iter()
            .any(|w| def.contains(w));
        let table_args: Vec<&str> = args
            .split(',')
            .map(|a| a.trim().trim_matches('"'))
            .filter(|a| cached.contains(*a))
            .collect();
        if writes && !table_args.is_empty() {
            checked += 1;
            if !def.contains("catalog_changed()") {
                missing.push(format!("{mac}!({args}) (src/{file}) writes {table_args:?}"));
            }
        }
    }
    (checked, missing)
}

/// Store functions (and macros) that write but use `self.pool`, and how many writers were seen.
fn writer_violations(src: &Path) -> (usize, Vec<String>) {
    let mut writers = 0;
    let mut wrong = Vec::new();
    for f in store_fn_bodies(src) {
        if written_tables(&f.body).is_empty() {
            continue;
        }
        writers += 1;
        if f.body.contains("self.pool") {
            wrong.push(format!("{} (src/{})", f.name, f.file));
        }
    }
    for (name, def) in store_macros(src).0 {
        let writes = ["INSERT INTO", "UPDATE ", "DELETE FROM"]
            .iter()
            .any(|w| def.contains(w));
        if writes && def.contains("self.pool") {
            wrong.push(format!("macro {name}!"));
        }
    }
    (writers, wrong)
}

#[test]
fn every_write_to_a_cached_table_bumps_the_catalog_epoch() {
    let src = crate_dir().join("src");
    let cached = cached_tables(&src);
    for table in [
        "zones",
        "pods",
        "clusters",
        "hosts",
        "service_offerings",
        "templates",
        "network_offerings",
        "networks",
        "extensions",
        "extension_resource_maps",
        "accounts",
        "domains",
    ] {
        assert!(
            cached.contains(table),
            "{table} not seen as cached: {cached:?}"
        );
    }
    let (checked, missing) = catalog_epoch_violations(&src);
    assert!(
        checked >= 30,
        "only {checked} catalog writers found: is the scanner broken?"
    );
    assert!(
        missing.is_empty(),
        "store methods writing a cached catalog table must call self.catalog_changed() after \
         the write (ARCHITECTURE.md, Catalog cache):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn store_writes_go_through_the_writer() {
    let (writers, wrong) = writer_violations(&crate_dir().join("src"));
    assert!(
        writers >= 60,
        "only {writers} writing methods found: is the scanner broken?"
    );
    assert!(
        wrong.is_empty(),
        "store methods that write use self.writer (or its transaction), never self.pool \
         (ARCHITECTURE.md, SQLite writer): {wrong:?}"
    );
}

/// A store with the mistakes the guards exist for, to show they are caught.
const BROKEN_STORE: &str = r##"//! A fixture.
impl Store {
    lookups!(cached zone_by_uuid, zone_get, "zones", "id = $1", zone_row, Zone);
    soft_delete!(zone_delete, "zones");
    /// Writes a cached table on the reader pool, without bumping the epoch.
    pub async fn zone_rename(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE zones SET name = 'x {' WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }
    pub async fn zone_touch(&self) -> StoreResult<()> {
        sqlx::query("UPDATE zones SET created = 1").execute(&self.writer).await?;
        self.catalog_changed();
        Ok(())
    }
    pub(crate) async fn helper(&self) {}
    pub fn counted(&self) -> u32 { let _c = '}'; 1 }
}
macro_rules! lookups {
    ($($t:tt)*) => {};
}
macro_rules! soft_delete {
    ($f:ident, $t:literal) => {
        pub async fn $f(&self, id: i64, now: i64) -> StoreResult<()> {
            sqlx::query(concat!("UPDATE ", $t, " SET removed = $2 WHERE id = $1")).execute(&self.writer).await?;
            Ok(())
        }
    };
}
"##;

#[test]
fn the_guards_catch_a_broken_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.rs"), BROKEN_STORE).unwrap();
    let methods: Vec<String> = public_store_methods(dir.path()).into_keys().collect();
    assert_eq!(
        methods,
        [
            "counted",
            "zone_by_uuid",
            "zone_delete",
            "zone_get",
            "zone_rename",
            "zone_touch"
        ]
    );
    let (checked, missing) = catalog_epoch_violations(dir.path());
    assert_eq!(checked, 3);
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0].starts_with("zone_rename (src/broken.rs)"),
        "{missing:?}"
    );
    assert!(
        missing[1].starts_with("soft_delete!(zone_delete"),
        "{missing:?}"
    );
    let (writers, wrong) = writer_violations(dir.path());
    assert_eq!(
        (writers, wrong),
        (2, vec!["zone_rename (src/broken.rs)".to_string()])
    );
    let suite = ".zone_get(1) Store::zone_by_uuid(x) .counted() .zone_touch::<T>()";
    assert_eq!(
        uncalled(&public_store_methods(dir.path()), suite, &BTreeMap::new()),
        ["zone_delete (src/broken.rs)", "zone_rename (src/broken.rs)"]
    );
}

/// The one textual difference allowed between the two migration sets: the id column.
const SQLITE_ID: &str = "id INTEGER PRIMARY KEY AUTOINCREMENT";
const POSTGRES_ID: &str = "id BIGSERIAL PRIMARY KEY";

fn migration_files(backend: &str) -> BTreeMap<String, String> {
    let dir = crate_dir().join("migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// Statements as the migration runner splits them, with the id column type made neutral and
/// whitespace collapsed.
/// Statements with whitespace collapsed, the id column and the one other type that differs by
/// name (binary: SQLite's `BLOB`, PostgreSQL's `BYTEA`) written the same.
fn normalised_statements(sql: &str, id_type: &str) -> Vec<String> {
    sql.replace(id_type, "id <ID> PRIMARY KEY")
        .replace(" BYTEA ", " <BINARY> ")
        .replace(" BLOB ", " <BINARY> ")
        .split(";\n")
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_differ_only_in_the_id_column_type() {
    // (and the name of the binary type, which each backend spells its own way)
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "the same migration files on both backends"
    );
    assert!(sqlite.len() >= 2, "{:?}", sqlite.keys());
    let mut ids = 0;
    for (file, lite) in &sqlite {
        let pg = &postgres[file];
        assert!(
            !lite.contains("BIGSERIAL") && !lite.contains("SERIAL"),
            "sqlite/{file}: PostgreSQL id type in the SQLite migration"
        );
        assert!(
            !pg.contains("AUTOINCREMENT"),
            "postgres/{file}: SQLite id type in the PostgreSQL migration"
        );
        assert_eq!(
            lite.matches(SQLITE_ID).count(),
            pg.matches(POSTGRES_ID).count(),
            "{file}: the same number of id columns"
        );
        ids += lite.matches(SQLITE_ID).count();
        let (a, b) = (
            normalised_statements(lite, SQLITE_ID),
            normalised_statements(pg, POSTGRES_ID),
        );
        assert_eq!(a.len(), b.len(), "{file}: the same number of statements");
        for (n, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(
                x,
                y,
                "{file}, statement {}: SQLite and PostgreSQL differ beyond the id column type",
                n + 1
            );
        }
    }
    assert!(
        ids >= 20,
        "only {ids} id columns found: did the id type change?"
    );
}

#[test]
fn every_migration_file_is_embedded_in_order() {
    let runner = std::fs::read_to_string(crate_dir().join("src/migrate.rs")).unwrap();
    for backend in ["sqlite", "postgres"] {
        let files: Vec<String> = migration_files(backend).into_keys().collect();
        let embedded: Vec<String> = runner
            .match_indices(&format!("../migrations/{backend}/"))
            .map(|(i, m)| {
                let rest = &runner[i + m.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect();
        assert_eq!(
            embedded, files,
            "src/migrate.rs must include_str! every {backend} migration, in file order"
        );
        for (n, f) in files.iter().enumerate() {
            assert!(
                f.starts_with(&format!("{:04}_", n + 1)),
                "{backend}/{f}: migrations are numbered 0001, 0002, … without gaps"
            );
        }
    }
}
