//! Unpadded base64url (RFC 7515 §2), strict: no padding, no whitespace,
//! no non-zero trailing bits. The error names the member, never its value.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::Error;

pub(crate) fn decode(field: &'static str, s: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| Error::Base64(field))
}

/// Decode secret material straight into a zeroizing buffer.
pub(crate) fn decode_secret(field: &'static str, s: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(vec![0u8; s.len().div_ceil(4) * 3]);
    let n = URL_SAFE_NO_PAD.decode_slice(s, &mut out[..]).map_err(|_| Error::Base64(field))?;
    out.truncate(n);
    Ok(out)
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Encode secret material into a zeroizing string.
pub(crate) fn encode_secret(bytes: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    URL_SAFE_NO_PAD.encode_string(bytes, &mut s);
    s
}
