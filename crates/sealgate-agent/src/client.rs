//! A minimal client of the agent's protocol, for `sealgate agent lock` and
//! `sealgate agent unlock` (bots use the Python client).
//!
//! Before anything is sent (the keystore passphrase above all), the process
//! at the other end of the socket must run as the user or as root
//! (SO_PEERCRED, like ssh-add's check of ssh-agent): a socket planted by
//! another user gets nothing.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UnixStream;
use zeroize::Zeroizing;

use crate::{read_frame, write_frame};

async fn connect(socket: &Path) -> Result<UnixStream, String> {
    let s = UnixStream::connect(socket)
        .await
        .map_err(|e| format!("no agent at {} ({e}); is `sealgate agent start` running?", socket.display()))?;
    check_server(&s, socket)?;
    Ok(s)
}

/// The listening process must run as this user or as root.
fn check_server(s: &UnixStream, socket: &Path) -> Result<(), String> {
    let me = rustix::process::getuid().as_raw();
    let peer = s
        .peer_cred()
        .map_err(|e| format!("cannot tell who listens on {} ({e}); nothing was sent", socket.display()))?
        .uid();
    if peer == me || peer == 0 {
        return Ok(());
    }
    Err(format!(
        "the process listening on {} runs as uid {peer}, neither you (uid {me}) nor root: it is not your agent, \
         and nothing was sent to it; remove the socket (and its directory, if another user made it) and start \
         your agent again",
        socket.display()
    ))
}

async fn reply(s: &mut UnixStream) -> Result<Value, String> {
    let frame = read_frame(s).await.map_err(|e| format!("agent: {e}"))?.ok_or("the agent closed the connection")?;
    let v: Value = serde_json::from_slice(&frame).map_err(|_| "the agent's reply is not JSON".to_owned())?;
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(v);
    }
    let kind = v.get("error").and_then(Value::as_str).unwrap_or("error");
    let msg = v.get("message").and_then(Value::as_str).unwrap_or("");
    Err(format!("{kind}: {msg}"))
}

/// Ask the agent at `socket` to lock.
pub async fn lock(socket: &Path) -> Result<Value, String> {
    let mut s = connect(socket).await?;
    write_frame(&mut s, &json!({"v": 1, "op": "lock"})).await.map_err(|e| format!("agent: {e}"))?;
    reply(&mut s).await
}

#[derive(serde::Serialize)]
struct Unlock<'a> {
    v: u8,
    op: &'static str,
    passphrase: &'a str,
}

/// Send the keystore passphrase to the agent at `socket` so it unlocks.
/// The frame is built in one zeroizing buffer sized for the worst-case
/// JSON escaping, so it never reallocates and leaves no copy behind.
pub async fn unlock(socket: &Path, passphrase: &SecretString) -> Result<Value, String> {
    let p = passphrase.expose_secret();
    let mut frame = Zeroizing::new(Vec::with_capacity(64 + 6 * p.len()));
    frame.extend_from_slice(&[0u8; 4]);
    serde_json::to_writer(&mut *frame, &Unlock { v: 1, op: "unlock", passphrase: p })
        .map_err(|e| format!("unlock message: {e}"))?;
    let n =
        u32::try_from(frame.len() - 4).ok().filter(|n| *n as usize <= crate::MAX_FRAME).ok_or("passphrase too long")?;
    frame[..4].copy_from_slice(&n.to_be_bytes());
    let mut s = connect(socket).await?;
    s.write_all(&frame).await.map_err(|e| format!("agent: {e}"))?;
    reply(&mut s).await
}
