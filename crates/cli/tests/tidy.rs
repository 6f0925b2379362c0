//! Guardrails kept as tests: every Rust file documents itself with a `//!` header, no server
//! crate starts processes (only `trellis-ext-runner` does), and no source file of the workspace
//! grows past 800 lines before its test module (data tables excepted).

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:#?}"
    );
}

#[test]
fn only_the_runner_starts_processes() {
    for krate in ["server", "api", "store", "model", "client", "protocol"] {
        let mut files = Vec::new();
        rust_files(
            &workspace().join("crates").join(krate).join("src"),
            &mut files,
        );
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for banned in ["process::Command", "Command::new(", "std::process::Child"] {
                assert!(
                    !text.contains(banned),
                    "{} uses {banned}: start processes through trellis-ext-runner",
                    f.display()
                );
            }
        }
    }
}

/// Most lines a source file may have before its first `#[cfg(test)]`.
const SIZE_LIMIT: usize = 800;

/// Data tables, exempt from the size limit (paths from the workspace root).
const SIZE_EXEMPT: [&str; 2] = [
    "crates/api/src/catalog.rs",
    "crates/sim-hyperv/src/ps/cmdlets.rs",
];

/// The lines of a source file before its first `#[cfg(test)]` (its test module does not count).
fn code_lines(text: &str) -> usize {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines().count()
}

/// The non-test sources of a workspace, `crates/*/src` and `examples/*/src`, over the size limit
/// and not exempt, with their line counts, by path from `root`.
fn oversized_sources(root: &Path) -> Vec<(String, usize)> {
    let mut files = Vec::new();
    for group in ["crates", "examples"] {
        let Ok(members) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for member in members.flatten() {
            rust_files(&member.path().join("src"), &mut files);
        }
    }
    let mut big = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let lines = code_lines(&std::fs::read_to_string(&file).unwrap_or_default());
        if lines > SIZE_LIMIT && !SIZE_EXEMPT.contains(&relative.as_str()) {
            big.push((relative, lines));
        }
    }
    big.sort();
    big
}

#[test]
fn no_source_file_is_over_the_size_limit() {
    let big = oversized_sources(&workspace());
    assert!(
        big.is_empty(),
        "files over {SIZE_LIMIT} lines before their #[cfg(test)]: {big:?}; split them along a \
         natural seam (data tables go in SIZE_EXEMPT in crates/cli/tests/tidy.rs)"
    );
}

#[test]
fn the_size_guard_catches_a_long_file() {
    let root = tempfile::tempdir().unwrap();
    let write = |path: &str, text: String| {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let lines = |n: usize| "let x = 1;\n".repeat(n);
    write("crates/big/src/lib.rs", lines(SIZE_LIMIT + 1));
    write("crates/big/src/fits.rs", lines(SIZE_LIMIT));
    write(
        "crates/big/src/tested.rs",
        lines(10) + "#[cfg(test)]\n" + &lines(SIZE_LIMIT),
    );
    write("crates/big/tests/long.rs", lines(SIZE_LIMIT + 1));
    write("crates/api/src/catalog.rs", lines(SIZE_LIMIT + 1));
    write("examples/demo/src/main.rs", lines(SIZE_LIMIT + 1));
    assert_eq!(
        oversized_sources(root.path()),
        [
            ("crates/big/src/lib.rs".to_string(), SIZE_LIMIT + 1),
            ("examples/demo/src/main.rs".to_string(), SIZE_LIMIT + 1),
        ]
    );
}
