//! Times as exchanges and services print them.

/// Unix ms of an RFC 3339 time (`2024-01-02T03:04:05.123456Z`, `…+02:00`): digits where
/// digits go, a fraction of 1 to 9 digits (kept to the millisecond), `Z` or an offset.
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if s.len() < 20 || s.len() > 40 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| n2(s, r);
    let (y, mo, d, h, mi, sec) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut millis = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let len = f.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        millis = format!("{:0<3}", &f[..len.min(3)]).parse().ok()?;
        rest = &f[len..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (n2(rest, 1..3)?, n2(rest, 4..6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    // Days from civil (H. Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t = (((days * 24 + h) * 60 + mi - offset_min) * 60 + sec) * 1000 + millis;
    (t >= 0).then_some(t)
}

/// The ASCII digits of `s[r]` as a number (no sign, no other character).
fn n2(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let t = s.get(r)?;
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) { t.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        // As OpenBao prints a Transit key's creation time (nanoseconds, an offset).
        assert_eq!(rfc3339_ms("2026-12-06T12:34:56.123456789Z"), Some(1_796_560_496_123));
        assert_eq!(rfc3339_ms("2026-12-06T13:34:56.5+01:00"), Some(1_796_560_496_500));
        assert_eq!(rfc3339_ms("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(rfc3339_ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(rfc3339_ms("2020-12-08T09:08:57.715Z"), Some(1_607_418_537_715));
        assert_eq!(rfc3339_ms("2020-12-08T11:08:57.715+02:00"), Some(1_607_418_537_715));
        for bad in [
            "",
            "2020-12-08",
            "2020-12-08T09:08:57",
            "2020-13-08T09:08:57Z",
            "2020-12-08T09:08:57.Z",
            "2020-12-08T09:08:57+2",
            "2020-12-08T09:08:57++1:00",
            "2020-12-08T09:08:57+0é00",
            "2020-12-08T09:08:57é",
            "+020-12-08T09:08:57Z",
        ] {
            assert_eq!(rfc3339_ms(bad), None, "{bad}");
        }
        assert_eq!(rfc3339_ms("２020-12-08T09:08:57Z"), None);
    }
}
