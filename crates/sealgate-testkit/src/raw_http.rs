//! One HTTP/1.1 exchange over a raw TCP connection, for the tests that must send what a
//! client library will not: a `Content-Length` with no body, a chunked body past a limit,
//! a head the server answers before the body arrives.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The answer read off the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code (0 if the server closed without a status line).
    pub status: u16,
    /// The header lines, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy), as far as it was read.
    pub body: String,
}

impl RawResponse {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Connects to `addr`, writes `head` (the request line and headers, ending in an empty
/// line), then each of `body` in turn — stopping at the first write that fails, since the
/// server may answer and close before all is sent — and reads the answer: until its
/// `Content-Length` is there, or the server closes.
pub async fn exchange<B: AsRef<[u8]>>(addr: &str, head: &str, body: impl IntoIterator<Item = B>) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write the head");
    for part in body {
        if s.write_all(part.as_ref()).await.is_err() {
            break;
        }
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            let (_, headers) = parse_head(&String::from_utf8_lossy(&buf[..at]));
            let len = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
            if len.is_some_and(|l| buf.len() - (at + 4) >= l) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = parse_head(head);
    RawResponse { status, headers, body: body.to_owned() }
}

/// A request head: `method path`, `Host`, `Content-Type: application/json`, then `extra`
/// header lines (each ending in `\r\n`), then the empty line.
pub fn head(method: &str, path: &str, addr: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\r\n")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_to_a_status_and_lowercased_headers() {
        let (status, headers) =
            parse_head("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nX-A:  b ");
        assert_eq!(status, 413);
        assert_eq!(headers, [("content-type".into(), "application/json".into()), ("x-a".into(), "b".into())]);
        assert_eq!(parse_head("").0, 0);
        let r = RawResponse { status, headers, body: String::new() };
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("content-length"), None);
    }
}
