//! `sealgate sandbox`: one exchange sandbox for a whole fleet. `serve --sandbox` starts a
//! private one per process, which a fleet cannot share (an order placed through one signer
//! would be unknown to the sandbox behind another).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use sealgate_server::serve::{SANDBOX_VENUES, start_sandbox};

#[derive(Args)]
pub struct SandboxArgs {
    /// Where to listen; the signers' --sandbox-url is http:// and this address.
    #[arg(long, default_value = "127.0.0.1:9900")]
    listen: SocketAddr,
    /// The sandbox's API keys (JSON, 0600); demo keys are written there when it does not exist.
    #[arg(long, default_value = "./sealgate-sandbox-keys.json")]
    keys: PathBuf,
}

pub fn run(a: SandboxArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let sandbox = start_sandbox(a.listen, &a.keys).await?;
        let base = format!("http://{}", sandbox.addr());
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "sealgate: exchange sandbox on {base} ({}); its API keys: {}",
            SANDBOX_VENUES.join(", "),
            a.keys.display()
        )?;
        writeln!(out, "sealgate: give each signer: --sandbox-url {base}")?;
        out.flush()?;
        drop(out);
        crate::serve_cmd::shutdown_signal().await;
        drop(sandbox);
        Ok(())
    })
}
