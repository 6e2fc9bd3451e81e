//! `sealgate exchange …`: the signing primitive and the endpoint classes.

use std::io::Write;

use anyhow::bail;
use clap::Subcommand;
use sealgate_exchanges::{
    ALL, Clock, Context, FixedClock, FixedNonce, MAX_SIGN_INPUT, MonotonicNonce, NonceSource, SignInput, SystemClock,
};
use serde_json::json;

use crate::read_stdin;

#[derive(Subcommand)]
pub enum ExchangeCommand {
    /// Sign one request (JSON on stdin) exactly as it goes on the wire; applies no policy.
    ///
    /// The raw primitive, kept for every exchange (it judges nothing anyway).
    /// Where the exchange's signature does not bind method, path, query and
    /// body, or carries a passphrase in clear, a warning on stderr says so:
    /// the signed request can be sent as another request than the one
    /// given. The signer and the agent refuse `sign` there (use `forward` /
    /// `request`).
    Sign,
    /// Print the class of a private endpoint: read, trade, withdraw, account or unknown.
    Classify {
        /// Exchange id (see `sealgate exchange list`).
        #[arg(long)]
        exchange: String,
        /// HTTP method (classes go by path alone; the method is checked, not used).
        #[arg(long)]
        method: String,
        /// Request path, e.g. /api/v3/order.
        #[arg(long)]
        path: String,
    },
    /// List the supported exchanges and their key types.
    List,
}

pub fn run(cmd: ExchangeCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match cmd {
        ExchangeCommand::Sign => sign(out),
        ExchangeCommand::Classify { exchange, method, path } => {
            if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "DELETE" | "PATCH") {
                bail!("--method must be GET, POST, PUT, DELETE or PATCH");
            }
            let class = sealgate_exchanges::classify(&exchange, &path)?;
            writeln!(out, "{}", class.name())?;
            Ok(())
        }
        ExchangeCommand::List => {
            for s in ALL {
                writeln!(out, "{:<18} {:<40} {}", s.id, s.name, s.key_types.join(","))?;
            }
            Ok(())
        }
    }
}

fn sign(out: &mut Vec<u8>) -> anyhow::Result<()> {
    let input = SignInput::parse(&read_stdin(MAX_SIGN_INPUT)?)?;
    let nonce = input.nonce;
    let clock: Box<dyn Clock> = match input.clock_ms {
        Some(ms) => Box::new(FixedClock(ms)),
        None => Box::new(SystemClock),
    };
    let nonces: Box<dyn NonceSource> = match nonce {
        Some(n) => Box::new(FixedNonce(n)),
        None => Box::new(MonotonicNonce::default()),
    };
    let ctx = Context { clock: &*clock, nonce: &*nonces };
    let signed = sealgate_exchanges::sign(&input.exchange, &input.credential, &input.request, &ctx)?;
    if let Err(why) = sealgate_exchanges::check_sign(&input.exchange) {
        // The primitive signs anyway; whoever holds the output should know what it binds.
        eprintln!("sealgate: warning: {why}");
    }
    let mut headers = serde_json::Map::new();
    for (k, v) in &signed.headers {
        headers.insert(k.clone(), v.clone().into());
    }
    let wire = json!({
        "method": signed.method,
        "path": signed.path,
        "query": signed.query,
        "headers": headers,
        "body": signed.body,
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&wire)?)?;
    Ok(())
}
