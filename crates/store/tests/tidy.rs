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

/// The source with comments removed and the contents of string and character literals blanked,
/// so braces and keywords inside them do not count.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            while j < b.len() && b[j] == '#' {
                j += 1;
            }
            b.get(j) == Some(&'"') && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        } {
            let mut j = i + 1;
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\\', '\'') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                j += 1;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
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

/// The text of every `impl Store { … }` block, keeping only item level (depth 1): signatures and
/// item-level macro invocations, not function bodies.
fn impl_store_items(stripped: &str) -> Vec<String> {
    let chars: Vec<char> = stripped.chars().collect();
    let text: String = chars.iter().collect();
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("impl Store") {
        let start = from + pos;
        from = start + "impl Store".len();
        // `impl Store {` only (not `impl StoreError`, not `impl Foo for Store`).
        let rest = text[from..].trim_start();
        if !rest.starts_with('{') {
            continue;
        }
        let open = from + text[from..].find('{').unwrap();
        let mut depth = 0usize;
        let mut items = String::new();
        for (k, c) in text[open..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    if depth == 2 {
                        items.push_str(" { } ");
                    }
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        from = open + k + 1;
                        break;
                    }
                }
                _ if depth == 1 => items.push(c),
                _ => {}
            }
        }
        blocks.push(items);
    }
    blocks
}

/// The public methods of `Store`, by source file: `pub [async|const|unsafe] fn NAME` inside
/// `impl Store` and the names generated by item-level macros there.
fn public_store_methods() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for path in rust_files(&crate_dir().join("src"), "") {
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
    let m = public_store_methods();
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

#[test]
fn every_public_store_method_is_called_by_the_conformance_suite() {
    let methods = public_store_methods();
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
    let called = |name: &str| {
        [
            format!(".{name}("),
            format!("Store::{name}("),
            format!(".{name}::<"),
        ]
        .iter()
        .any(|p| suite.contains(p.as_str()))
    };
    let missing: BTreeSet<String> = methods
        .iter()
        .filter(|(name, _)| !allowed.contains_key(name.as_str()) && !called(name))
        .map(|(name, file)| format!("{name} (src/{file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "public store methods no conformance test calls (add a test in tests/conformance*.rs, \
         on both backends, or list the method in NOT_IN_CONFORMANCE in tests/tidy.rs with a \
         reason):\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
    let stale: Vec<&str> = allowed.keys().copied().filter(|n| called(n)).collect();
    assert!(
        stale.is_empty(),
        "NOT_IN_CONFORMANCE lists methods the suite does call; remove them: {stale:?}"
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
fn normalised_statements(sql: &str, id_type: &str) -> Vec<String> {
    sql.replace(id_type, "id <ID> PRIMARY KEY")
        .split(";\n")
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_differ_only_in_the_id_column_type() {
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
