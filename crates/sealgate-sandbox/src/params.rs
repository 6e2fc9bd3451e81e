//! `application/x-www-form-urlencoded` parameters, decoded as servers do.

/// Decode `a=1&b=x%20y` into ordered pairs; `None` if malformed.
pub(crate) fn parse(s: &str) -> Option<Vec<(String, String)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

pub(crate) fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The first value of `name`.
pub(crate) fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes() {
        assert_eq!(
            super::parse("a=1&b=x%2By+z&c"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "x+y z".into()), ("c".into(), String::new())])
        );
        assert_eq!(super::parse("a=%zz"), None);
    }
}
