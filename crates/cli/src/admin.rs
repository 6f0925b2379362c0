//! `trellis admin …`: offline maintenance on a data directory or database URL, with no server
//! running (`reset-password`).

use anyhow::Context;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Set a new password for a ROOT-domain user (default `admin`), offline: stop the server
    /// first. Prints a generated password unless `--password-stdin` is given.
    ResetPassword(ResetPasswordArgs),
}

#[derive(clap::Args, Debug)]
pub struct ResetPasswordArgs {
    /// The data directory of the server (its SQLite database is `<data-dir>/trellis.db`).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; default SQLite in the data directory.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    database_url: Option<String>,
    /// The user whose password is reset.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Read the new password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

pub async fn run(command: AdminCommand) -> anyhow::Result<u8> {
    match command {
        AdminCommand::ResetPassword(args) => reset_password(args).await,
    }
}

async fn reset_password(args: ResetPasswordArgs) -> anyhow::Result<u8> {
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let database = args.data_dir.join("trellis.db");
            anyhow::ensure!(
                database.is_file(),
                "no database at {}: give the server's --data-dir (or --database-url)",
                database.display()
            );
            format!("sqlite://{}", database.display())
        }
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(
            !password.is_empty(),
            "the password read from standard input is empty"
        );
        Some(password)
    } else {
        None
    };
    let generated = trellis_server::App::admin_password_reset_offline(
        &database_url,
        &args.username,
        password.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!(crate::error_chain(&e)))?;
    let mut out = std::io::stdout();
    match generated {
        Some(p) => writeln!(out, "Password of user '{}' reset to: {p}", args.username)?,
        None => writeln!(out, "Password of user '{}' reset.", args.username)?,
    }
    out.flush()?;
    Ok(0)
}
