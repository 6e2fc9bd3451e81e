//! The little CBOR (RFC 8949) we read: a COSE_Key (a map of integer labels to
//! integers or byte strings) and the well-formedness of an assertion's
//! extensions map. Definite lengths only, shortest-form heads only (CTAP2
//! canonical encoding, rule K1), nesting at most [`MAX_DEPTH`]; every length is
//! checked against the bytes left before anything is allocated.

use crate::Error;

/// Deepest nesting we follow.
const MAX_DEPTH: usize = 8;

/// A value of a COSE_Key map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// An integer (major types 0 and 1), as i128 so every CBOR integer fits.
    Int(i128),
    /// A byte string.
    Bytes(&'a [u8]),
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(Error::Cbor("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One head: (major type, argument). Refuses indefinite lengths, reserved
    /// additional information and a longer head than the value needs.
    fn head(&mut self) -> Result<(u8, u64), Error> {
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        let (arg, min) = match info {
            0..=23 => return Ok((major, u64::from(info))),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (u64::from(u16::from_be_bytes(self.array()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.array()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.array()?), 0x1_0000_0000),
            31 => return Err(Error::Cbor("indefinite lengths are not allowed")),
            _ => return Err(Error::Cbor("reserved additional information")),
        };
        // Major type 7 with info 25-27 is a float: its bits are not a length.
        if major != 7 && arg < min {
            return Err(Error::Cbor("not in shortest form"));
        }
        Ok((major, arg))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length that must fit in what is left (each item takes a byte at least).
    fn len(&self, arg: u64) -> Result<usize, Error> {
        usize::try_from(arg).ok().filter(|n| *n <= self.left()).ok_or(Error::Cbor("truncated"))
    }

    /// Skip one well-formed data item.
    pub(crate) fn skip(&mut self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Cbor("nested too deeply"));
        }
        let (major, arg) = self.head()?;
        match major {
            0 | 1 => Ok(()),
            2 | 3 => {
                let n = self.len(arg)?;
                let s = self.take(n)?;
                if major == 3 && std::str::from_utf8(s).is_err() {
                    return Err(Error::Cbor("text string is not UTF-8"));
                }
                Ok(())
            }
            4 => {
                for _ in 0..self.len(arg)? {
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            5 => {
                // Two items per entry: at most half of what is left.
                let n = self.len(arg.saturating_mul(2))? / 2;
                for _ in 0..n {
                    self.skip(depth + 1)?;
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            6 => self.skip(depth + 1),
            // Simple values and floats: the head carried them.
            _ => match arg {
                20..=23 => Ok(()),
                a if a < 24 => Err(Error::Cbor("unassigned simple value")),
                _ => Ok(()),
            },
        }
    }

    fn int(&mut self, major: u8, arg: u64) -> Result<i128, Error> {
        match major {
            0 => Ok(i128::from(arg)),
            1 => Ok(-1 - i128::from(arg)),
            _ => Err(Error::Cbor("expected an integer")),
        }
    }

    /// A map of distinct integer labels to integers or byte strings (a COSE_Key),
    /// the whole input.
    pub(crate) fn int_map(mut self, max_entries: usize) -> Result<Vec<(i128, Value<'a>)>, Error> {
        let (major, arg) = self.head()?;
        if major != 5 {
            return Err(Error::Cbor("expected a map"));
        }
        let n = usize::try_from(arg).ok().filter(|n| *n <= max_entries).ok_or(Error::Cbor("too many map entries"))?;
        let mut out: Vec<(i128, Value<'a>)> = Vec::with_capacity(n);
        for _ in 0..n {
            let (m, a) = self.head()?;
            let label = self.int(m, a).map_err(|_| Error::Cbor("map labels must be integers"))?;
            if out.iter().any(|(l, _)| *l == label) {
                return Err(Error::Cbor("a map label is repeated"));
            }
            let (m, a) = self.head()?;
            let value = match m {
                0 | 1 => Value::Int(self.int(m, a)?),
                2 => {
                    let n = self.len(a)?;
                    Value::Bytes(self.take(n)?)
                }
                _ => return Err(Error::Cbor("map values must be integers or byte strings")),
            };
            out.push((label, value));
        }
        if !self.is_empty() {
            return Err(Error::Cbor("trailing bytes after the map"));
        }
        Ok(out)
    }

    /// The rest is exactly one map (an assertion's extensions, rule W5).
    pub(crate) fn one_map(mut self) -> Result<(), Error> {
        if self.buf.get(self.pos).is_none_or(|b| b >> 5 != 5) {
            return Err(Error::Cbor("extensions must be a map"));
        }
        self.skip(0)?;
        if !self.is_empty() {
            return Err(Error::Cbor("trailing bytes after the extensions"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_heads_and_shapes() {
        // {1: 2, -1: h'0102'}
        let ok = [0xa2, 0x01, 0x02, 0x20, 0x42, 0x01, 0x02];
        let m = Reader::new(&ok).int_map(8).expect("map");
        assert_eq!(m, vec![(1, Value::Int(2)), (-1, Value::Bytes(&[1, 2]))]);
        for (bad, why) in [
            (&[0xa1, 0x18, 0x01, 0x02][..], "not in shortest form"),
            (&[0xa1, 0x01, 0x02, 0x00], "trailing bytes after the map"),
            (&[0xa2, 0x01, 0x02, 0x01, 0x03], "a map label is repeated"),
            (&[0xbf, 0x01, 0x02, 0xff], "indefinite lengths are not allowed"),
            (&[0xa1, 0x61, 0x61, 0x01], "map labels must be integers"),
            (&[0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff], "truncated"),
            (&[0xa1, 0x01, 0x1c], "reserved additional information"),
            (&[0x80], "expected a map"),
            (&[0xa1, 0x01, 0x80], "map values must be integers or byte strings"),
            (&[], "truncated"),
        ] {
            assert_eq!(Reader::new(bad).int_map(8), Err(Error::Cbor(why)), "{bad:02x?}");
        }
        assert_eq!(Reader::new(&[0xa9]).int_map(8), Err(Error::Cbor("too many map entries")));
        // Extensions: one well-formed map, nothing after it.
        assert_eq!(Reader::new(&[0xa1, 0x63, b'c', b'r', b'e', 0xf5]).one_map(), Ok(()));
        assert_eq!(Reader::new(&[0xa0, 0x00]).one_map(), Err(Error::Cbor("trailing bytes after the extensions")));
        assert_eq!(Reader::new(&[0x80]).one_map(), Err(Error::Cbor("extensions must be a map")));
        assert_eq!(Reader::new(&[0xa1, 0x61, 0xff, 0x00]).one_map(), Err(Error::Cbor("text string is not UTF-8")));
        let deep: Vec<u8> = std::iter::repeat_n(0x81, 20).chain([0x00]).collect();
        let mut m = vec![0xa1, 0x00];
        m.extend(deep);
        assert_eq!(Reader::new(&m).one_map(), Err(Error::Cbor("nested too deeply")));
        // A huge claimed array is refused by length, not by allocation or time.
        assert_eq!(
            Reader::new(&[0xa1, 0x00, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).one_map(),
            Err(Error::Cbor("truncated"))
        );
    }
}
