//! Concat KDF (NIST SP 800-56A §5.8.1) as profiled by RFC 7518 §4.6.2.
//! Written inline: it is a few lines over SHA-256, and the `concat-kdf`
//! crate pins an older `sha2`.

use aws_lc_rs::digest;
use zeroize::Zeroizing;

/// Derive `out_len` bytes from the shared secret `z`.
///
/// `alg_id` is the `alg` header value for key agreement with key wrapping
/// (or `enc` for direct agreement, which we refuse); `apu`/`apv` are the
/// decoded PartyUInfo/PartyVInfo (empty when absent).
pub fn concat_kdf(z: &[u8], alg_id: &str, apu: &[u8], apv: &[u8], out_len: usize) -> Zeroizing<Vec<u8>> {
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(out_len.next_multiple_of(32)));
    let mut counter: u32 = 1;
    while out.len() < out_len {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        ctx.update(&len32(alg_id.len()));
        ctx.update(alg_id.as_bytes());
        ctx.update(&len32(apu.len()));
        ctx.update(apu);
        ctx.update(&len32(apv.len()));
        ctx.update(apv);
        ctx.update(&len32(out_len * 8)); // SuppPubInfo: keydatalen in bits
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(out_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7518 Appendix C: ECDH-ES, `enc` A128GCM, apu "Alice", apv "Bob".
    #[test]
    fn rfc7518_appendix_c() {
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128,
            106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let key = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16);
        assert_eq!(crate::b64::encode(&key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn longer_outputs_take_more_rounds() {
        let a = concat_kdf(b"z", "x", b"", b"", 64);
        let b = concat_kdf(b"z", "x", b"", b"", 32);
        assert_eq!(a.len(), 64);
        // keydatalen is bound into every round, so prefixes differ.
        assert_ne!(&a[..32], &b[..]);
    }
}
