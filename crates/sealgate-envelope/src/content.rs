//! Content encryption (RFC 7518 §5): AES-GCM and AES-CBC-HMAC-SHA2.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::Error;
use crate::alg::ContentAlg;

/// Ciphertext, IV and tag of a sealed message.
pub(crate) struct Sealed {
    pub iv: [u8; 12],
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

fn gcm(enc: ContentAlg) -> Option<&'static aead::Algorithm> {
    match enc {
        ContentAlg::A128Gcm => Some(&aead::AES_128_GCM),
        ContentAlg::A192Gcm => Some(&aead::AES_192_GCM),
        ContentAlg::A256Gcm => Some(&aead::AES_256_GCM),
        _ => None,
    }
}

/// Encrypt with AES-GCM (the only `enc` we seal with).
pub(crate) fn seal_gcm(enc: ContentAlg, cek: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Sealed, Error> {
    let alg = gcm(enc).ok_or(Error::Usage("we seal with AES-GCM only"))?;
    let key = LessSafeKey::new(UnboundKey::new(alg, cek).map_err(|_| Error::Usage("CEK length"))?);
    let mut iv = [0u8; 12];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::Rng)?;
    let mut ciphertext = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut ciphertext)
        .map_err(|_| Error::Rng)?;
    Ok(Sealed { iv, ciphertext, tag: tag.as_ref().to_vec() })
}

/// Decrypt and authenticate. Lengths were checked when parsing; every
/// failure here is the one opaque [`Error::Decryption`].
pub(crate) fn open(
    enc: ContentAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() || tag.len() != enc.tag_len() {
        return Err(Error::Decryption);
    }
    if let Some(alg) = gcm(enc) {
        let key = LessSafeKey::new(UnboundKey::new(alg, cek).map_err(|_| Error::Decryption)?);
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| Error::Decryption)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        key.open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut buf).map_err(|_| Error::Decryption)?;
        return Ok(buf);
    }
    open_cbc_hmac(enc, cek, iv, aad, ciphertext, tag)
}

/// RFC 7518 §5.2.2.2: verify the MAC over AAD || IV || C || AL first,
/// then decrypt; a bad MAC never reaches the padding check.
fn open_cbc_hmac(
    enc: ContentAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (mac_alg, aes) = match enc {
        ContentAlg::A128CbcHs256 => (hmac::HMAC_SHA256, &AES_128),
        ContentAlg::A192CbcHs384 => (hmac::HMAC_SHA384, &AES_192),
        ContentAlg::A256CbcHs512 => (hmac::HMAC_SHA512, &AES_256),
        _ => return Err(Error::Decryption),
    };
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let al = u64::try_from(aad.len()).map_err(|_| Error::Decryption)?.saturating_mul(8).to_be_bytes();
    let mut mac = hmac::Context::with_key(&hmac::Key::new(mac_alg, mac_key));
    for part in [aad, iv, ciphertext, &al[..]] {
        mac.update(part);
    }
    let full = mac.sign();
    if !bool::from(full.as_ref()[..tag.len()].ct_eq(tag)) {
        return Err(Error::Decryption);
    }
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(Error::Decryption);
    }
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(aes, enc_key).map_err(|_| Error::Decryption)?)
        .map_err(|_| Error::Decryption)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| Error::Decryption)?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let n =
        key.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv))).map_err(|_| Error::Decryption)?.len();
    buf.truncate(n);
    Ok(buf)
}
