//! `trellis shell`: commands read line by line over one connection, `set` for the shell's
//! settings, and the POSIX-like splitting of a line into words.

use super::{execute, report, CallArgs, Connection, Failure, ShellArgs};
use crate::render::Format;
use std::io::{BufRead, IsTerminal, Write};

/// One line of `trellis shell`: the one-shot syntax without the connection flags.
#[derive(clap::Parser, Debug)]
#[command(
    name = "trellis",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct LineArgs {
    words: Vec<String>,
    #[arg(short = 'h', long)]
    help: bool,
    #[arg(long, value_enum)]
    output: Option<Format>,
    #[arg(long)]
    no_wait: bool,
}

/// `trellis shell`: read commands line by line (one-shot syntax, `api` prefix optional), with
/// one connection. Works without a terminal; the exit status is that of the last command.
pub async fn shell(a: ShellArgs) -> anyhow::Result<u8> {
    let mut conn = Connection::from_args(&a.conn)?;
    let mut call = a.call;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut out = std::io::stdout();
    let mut status = 0;
    if interactive {
        writeln!(
            out,
            "trellis shell: `list zones`, `help list zones`, `set output table`, `exit`"
        )?;
    }
    loop {
        if interactive {
            write!(out, "trellis> ")?;
            out.flush()?;
        }
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let words = match split_line(&line) {
            Ok(w) => w,
            Err(e) => {
                status = report(Err(Failure::usage(e)));
                continue;
            }
        };
        let Some(first) = words.first() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        match first.as_str() {
            "exit" | "quit" => break,
            "set" => {
                status = report(set(&mut call, &words[1..]));
                continue;
            }
            _ => {}
        }
        let words = if first == "api" {
            &words[1..]
        } else {
            &words[..]
        };
        let parsed = match <LineArgs as clap::Parser>::try_parse_from(words) {
            Ok(p) => p,
            Err(e) => {
                let _ = e.print();
                status = 1;
                continue;
            }
        };
        let mut line_call = call.clone();
        if let Some(o) = parsed.output {
            line_call.output = o;
        }
        line_call.no_wait |= parsed.no_wait;
        status = report(execute(&mut conn, &parsed.words, &line_call, parsed.help, &mut out).await);
    }
    Ok(status)
}

/// `set output table`, `set wait on|off` in the shell.
fn set(call: &mut CallArgs, words: &[String]) -> Result<(), Failure> {
    match words {
        [key, value] if key == "output" => {
            call.output = value.parse().map_err(Failure::usage)?;
            Ok(())
        }
        [key, value] if key == "wait" => {
            call.no_wait = !matches!(value.as_str(), "on" | "true" | "yes");
            Ok(())
        }
        _ => Err(Failure::usage(
            "usage: set output json|table|csv|text, or set wait on|off",
        )),
    }
}

/// Split a line into words as a POSIX shell would for quotes and backslashes (no expansions).
pub fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                Some(n) => {
                    word.push('\\');
                    word.push(n);
                }
                None => word.push('\\'),
            },
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}
