//! `sealgate`: the command-line front of the Sealgate libraries.
//!
//! Exit codes: 0 success; 2 refused or bad input (one `error: …` line on
//! stderr, nothing on stdout); clap's usage errors also exit 2.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;

mod admin_cmd;
mod agent_cmd;
mod audit_cmd;
mod cmd;
mod custody_key_cmd;
mod exchange_cmd;
mod incident_cmd;
mod keys_cmd;
mod login_cmd;
mod passkeys_cmd;
mod sandbox_cmd;
mod serve_cmd;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    let mut out = Vec::new();
    match cmd::run(cli, &mut out) {
        Ok(()) => {
            // Output is produced in full before any of it is written, so a
            // refusal never leaves partial output on stdout.
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(&out).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::from(1);
            }
            zeroize::Zeroize::zeroize(&mut out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut out);
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ").replace('\n', " ")
}

/// Read all of stdin, refusing more than `limit` bytes.
pub(crate) fn read_stdin(limit: usize) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(4096));
    let n = std::io::stdin().lock().take(limit as u64 + 1).read_to_end(&mut buf)?;
    if n > limit {
        anyhow::bail!("input on stdin is larger than {limit} bytes");
    }
    Ok(buf)
}
