//! Shell completion: `trellis completion bash|zsh|fish` prints a script that asks
//! `trellis __complete` for candidates, which come from the cached `listApis` (fetched once when
//! there is no cache yet and credentials are set): subcommands and verbs, nouns after a verb,
//! API names after `api` or `help`, and `name=` parameters after an API.

use crate::api::{ConnArgs, Connection};
use crate::apis::{self, ApiInfo};
use std::io::Write;

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// The shell to print the script for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(clap::Args, Debug)]
pub struct CompleteArgs {
    /// The command line up to the cursor, as one string (bash).
    #[arg(long)]
    line: Option<String>,
    /// The words after `trellis`, the last one being the word under the cursor.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
    #[command(flatten)]
    conn: ConnArgs,
}

/// The subcommands that are not API verbs.
const SUBCOMMANDS: &[&str] = &[
    "serve",
    "api",
    "shell",
    "logout",
    "completion",
    "help",
    "extension",
    "sim",
    "quickstart",
];

const BASH: &str = r#"# trellis completion for bash: source <(trellis completion bash)
_trellis() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local IFS=$'\n'
    COMPREPLY=( $(trellis __complete --line "$line" 2>/dev/null) )
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _trellis trellis
"#;

const ZSH: &str = r#"#compdef trellis
# trellis completion for zsh: source <(trellis completion zsh)
_trellis() {
    local -a candidates params
    candidates=(${(f)"$(trellis __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    params=(${(M)candidates:#*=})
    candidates=(${candidates:#*=})
    (( ${#params} )) && compadd -S '' -- $params
    (( ${#candidates} )) && compadd -- $candidates
}
if (( $+functions[compdef] )); then
    compdef _trellis trellis
fi
"#;

const FISH: &str = r#"# trellis completion for fish: trellis completion fish | source
function __trellis_complete
    set -l words (commandline -opc)
    trellis __complete -- $words[2..-1] (commandline -ct) 2>/dev/null
end
complete -c trellis -f -a '(__trellis_complete)'
"#;

pub fn script(a: &CompletionArgs) -> anyhow::Result<u8> {
    let text = match a.shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

/// Print the candidates for the word under the cursor, one a line.
pub async fn complete(a: CompleteArgs) -> anyhow::Result<u8> {
    let mut words = match &a.line {
        Some(line) => {
            let mut w = crate::api::split_line(line).unwrap_or_default();
            if line.ends_with(char::is_whitespace) || w.is_empty() {
                w.push(String::new());
            }
            // Drop the program name.
            w.remove(0);
            if w.is_empty() {
                w.push(String::new());
            }
            w
        }
        None => a.words.clone(),
    };
    let current = words.pop().unwrap_or_default();
    // Options and their values are not part of the command words.
    let mut typed = Vec::new();
    let mut skip_value = false;
    for w in words {
        if skip_value {
            skip_value = false;
        } else if w.starts_with("--") {
            skip_value =
                !w.contains('=') && !matches!(w.as_str(), "--no-wait" | "--help" | "--json-logs");
        } else {
            typed.push(w);
        }
    }
    let mut conn = Connection::from_args(&a.conn)?;
    let listed: Vec<ApiInfo> = match conn.cached_apis() {
        Some(list) => list,
        None => conn
            .apis(false)
            .await
            .map(<[ApiInfo]>::to_vec)
            .unwrap_or_default(),
    };
    let mut out = std::io::stdout();
    for candidate in candidates(&listed, &typed, &current) {
        writeln!(out, "{candidate}")?;
    }
    Ok(0)
}

/// The completions of `current` after the command words `typed`.
fn candidates(listed: &[ApiInfo], typed: &[String], current: &str) -> Vec<String> {
    let names: Vec<&str> = typed
        .iter()
        .map(String::as_str)
        .take_while(|w| !w.contains('='))
        .collect();
    let given: Vec<&str> = typed
        .iter()
        .filter_map(|w| w.split_once('=').map(|(k, _)| k))
        .collect();
    let params_of = |api: Option<&ApiInfo>| -> Vec<String> {
        let Some(api) = api else {
            return Vec::new();
        };
        let mut out: Vec<String> = api
            .params
            .iter()
            .filter(|p| !given.contains(&p.name.as_str()))
            .map(|p| format!("{}=", p.name))
            .collect();
        if !given.contains(&"filter") && !api.has_param("filter") {
            out.push("filter=".into());
        }
        out
    };
    let all: Vec<String> = match names.as_slice() {
        [] => {
            let mut v: Vec<String> = SUBCOMMANDS.iter().map(|s| s.to_string()).collect();
            v.extend(apis::verbs(listed));
            v.extend(listed.iter().map(|a| a.name.clone()));
            v
        }
        ["completion"] => vec!["bash".into(), "zsh".into(), "fish".into()],
        ["api" | "help"] => {
            let mut v: Vec<String> = listed.iter().map(|a| a.name.clone()).collect();
            if names[0] == "help" {
                v.extend(apis::verbs(listed));
            }
            v
        }
        ["api" | "help", name] => match apis::find(listed, name) {
            Some(api) if names[0] == "api" => params_of(Some(api)),
            Some(_) => Vec::new(),
            None => apis::nouns(listed, name),
        },
        ["api", verb, noun] => params_of(apis::find(listed, &format!("{verb}{noun}"))),
        [name] => match apis::find(listed, name) {
            Some(api) => params_of(Some(api)),
            None => apis::nouns(listed, name),
        },
        [verb, noun] => params_of(apis::find(listed, &format!("{verb}{noun}"))),
        _ => Vec::new(),
    };
    let mut matching: Vec<String> = all
        .into_iter()
        .filter(|c| {
            c.to_ascii_lowercase()
                .starts_with(&current.to_ascii_lowercase())
        })
        .collect();
    matching.sort();
    matching.dedup();
    matching
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::ParamInfo;

    #[test]
    fn verbs_nouns_and_parameters() {
        let listed = vec![ApiInfo {
            name: "listVirtualMachines".into(),
            description: String::new(),
            isasync: false,
            params: vec![ParamInfo {
                name: "state".into(),
                ty: "string".into(),
                required: false,
                description: String::new(),
            }],
        }];
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            candidates(&listed, &[], "li"),
            vec!["list", "listVirtualMachines"]
        );
        assert_eq!(
            candidates(&listed, &words(&["list"]), "v"),
            vec!["virtualmachines"]
        );
        assert_eq!(
            candidates(&listed, &words(&["list", "virtualmachines"]), ""),
            vec!["filter=", "state="]
        );
        assert_eq!(
            candidates(
                &listed,
                &words(&["api", "listVirtualMachines", "state=x"]),
                ""
            ),
            vec!["filter="]
        );
    }
}
