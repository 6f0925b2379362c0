//! Layout guards of the server crate: the boundaries ARCHITECTURE.md describes, checked on the
//! source so a change that crosses one fails here rather than in review.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_app_invoke_runs_extensions() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&src()) {
        let code = code(&text);
        let runs = [
            "runner.run(",
            "runner.run_in(",
            "runner.slot(",
            "Runner::run",
        ];
        if runs.iter().any(|r| code.contains(r)) && !path.ends_with("app/invoke.rs") {
            offenders.push(path);
        }
    }
    assert!(
        offenders.is_empty(),
        "only app/invoke.rs may call Runner::run: {offenders:?}"
    );
}

#[test]
fn jobs_and_reconcilers_never_name_the_http_layer() {
    let mut offenders = Vec::new();
    for dir in ["jobs", "reconcile", "app"] {
        let dir = src().join(dir);
        if !dir.exists() {
            continue;
        }
        for (path, text) in sources(&dir) {
            if code(&text).contains("crate::http") || code(&text).contains("super::http") {
                offenders.push(path);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these name the HTTP layer: {offenders:?}"
    );
}

#[test]
fn the_application_never_names_the_worker() {
    // The worker (crate::jobs) and the reconcilers depend on the application, never the
    // reverse: no import circle between app and them.
    let mut offenders = Vec::new();
    for (path, text) in sources(&src().join("app")) {
        if code(&text).contains("crate::jobs") || code(&text).contains("crate::reconcile") {
            offenders.push(path);
        }
    }
    assert!(
        offenders.is_empty(),
        "these name crate::jobs or crate::reconcile: {offenders:?}"
    );
}

#[test]
fn job_commands_are_not_matched_by_name_in_the_worker() {
    for dir in ["jobs", "app/job"] {
        for (path, text) in sources(&src().join(dir)) {
            let code = code(&text);
            assert!(
                !code.contains("catalog::find"),
                "{} looks commands up in the catalog",
                path.display()
            );
        }
    }
}

#[test]
fn no_source_file_is_over_the_size_limit() {
    // Data tables are exempt; everything else stays small enough to read.
    const LIMIT: usize = 800;
    let exempt = ["http/handlers.rs"];
    let mut big = Vec::new();
    for (path, text) in sources(&src()) {
        let lines = code(&text).lines().count();
        if lines > LIMIT && !exempt.iter().any(|e| path.ends_with(e)) {
            big.push((path, lines));
        }
    }
    assert!(big.is_empty(), "files over {LIMIT} lines: {big:?}");
}

#[test]
fn http_never_names_the_store() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&src().join("http")) {
        let code = code(&text);
        let names_io = [
            "trellis_store",
            ".store.",
            ".store\n",
            "sqlx",
            "std::fs",
            "tokio::fs",
            "std::process",
            "tokio::process",
        ]
        .iter()
        .any(|n| code.contains(n));
        if names_io {
            offenders.push(path);
        }
    }
    assert!(
        offenders.is_empty(),
        "the HTTP layer reads through App (app.reads(), view models), never the store, files or processes: {offenders:?}"
    );
}
