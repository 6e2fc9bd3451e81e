//! What every sandbox test needs: a sandbox on loopback in its own runtime,
//! and a plain HTTP/1.1 client (std only) to talk to it.

#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use sealgate_exchanges::{Clock, Context, Credential, FixedNonce, Request, SignedRequest};
use sealgate_sandbox::{Amount, KeySpec, Market, Sandbox};
use serde_json::Value;

pub fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

pub struct Env {
    rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Env {
    pub fn new(keys: Vec<KeySpec>, markets: Vec<Market>) -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let sandbox = rt.block_on(Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), keys, markets)).expect("start");
        Self { rt, sandbox: Some(sandbox) }
    }

    pub fn sb(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// Send one request; the status and the JSON body (`Null` if none). Without a
    /// `Content-Type` among `headers`, a form's is added.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> (u16, Value) {
        self.send_with(method, path, query, headers, body, true)
    }

    /// [`Env::send`] with exactly `headers` (no `Content-Type` added): for an exchange that
    /// refuses one on a request without a body (Bitstamp).
    pub fn send_exact(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> (u16, Value) {
        self.send_with(method, path, query, headers, body, false)
    }

    fn send_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &str,
        default_type: bool,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(self.sb().addr()).expect("connect");
        let target = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if default_type && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Content-Type")) {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
        (status, serde_json::from_str(resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap_or(Value::Null))
    }

    /// Send a request exactly as Sealgate signed it.
    pub fn send_signed(&self, s: &SignedRequest) -> (u16, Value) {
        self.send(&s.method, &s.path, &s.query, &s.headers, &s.body)
    }

    /// [`Env::send_signed`] with exactly its headers.
    pub fn send_signed_exact(&self, s: &SignedRequest) -> (u16, Value) {
        self.send_exact(&s.method, &s.path, &s.query, &s.headers, &s.body)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let sb = self.sandbox.take();
        self.rt.block_on(async move { drop(sb) });
    }
}

/// Sign with Sealgate's scheme for `exchange`.
pub fn sign(exchange: &str, cred: &Credential, req: &Request, clock: &dyn Clock, nonce: u64) -> SignedRequest {
    sealgate_exchanges::sign(exchange, cred, req, &Context { clock, nonce: &FixedNonce(nonce) }).expect("sign")
}

pub fn request(method: &str, path: &str, query: &str, body: &str) -> Request {
    Request { method: method.into(), path: path.into(), query: query.into(), body: body.into() }
}
