//! Signing with a private key this process never holds (DESIGN §1.1: an exchange key born
//! in Sealgate's custody, where only the custody can sign with it).
//!
//! A scheme computes the exchange's string-to-sign and hands it to the credential's
//! [`HeldKey`] in place of a PEM key. The custody is asynchronous (an HSM session, an
//! OpenBao call) and the schemes are not, so [`sign_with_held_key`] runs the scheme twice
//! under one clock reading and one nonce: the first run learns the message, the custody
//! signs it, the second run places the signature. The second run must ask for the very
//! bytes the custody signed, or nothing is returned.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Clock, Context, Credential, Error, FixedClock, FixedNonce, NonceSource, Request, SignedRequest};

/// The signature a held key makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKeyAlg {
    /// Ed25519 (pure EdDSA over the message): 64 bytes.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit modulus: 256 bytes.
    RsaPkcs1Sha256,
}

impl HeldKeyAlg {
    /// The length of its signatures, in bytes.
    pub const fn signature_len(self) -> usize {
        match self {
            Self::Ed25519 => 64,
            Self::RsaPkcs1Sha256 => 256,
        }
    }
}

/// A private key held elsewhere that signs a scheme's string-to-sign.
pub trait HeldKey: Send + Sync {
    /// What it signs with.
    fn alg(&self) -> HeldKeyAlg;
    /// The signature of `message` (the exchange's string-to-sign, not a digest).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error>;
}

/// The held-key algorithms exchange `id` takes for an API key its user generates and
/// registers by public key (its key page), strongest first: Binance takes Ed25519 and RSA,
/// Bybit and Bitget RSA only; every other exchange issues its own secret.
pub fn held_key_algs(id: &str) -> &'static [HeldKeyAlg] {
    match id {
        "binance" => &[HeldKeyAlg::Ed25519, HeldKeyAlg::RsaPkcs1Sha256],
        "bybit" | "bitget" => &[HeldKeyAlg::RsaPkcs1Sha256],
        _ => &[],
    }
}

/// The first run's key: remembers the message, answers with a placeholder.
struct Recorder {
    alg: HeldKeyAlg,
    message: Mutex<Option<Vec<u8>>>,
}

impl HeldKey for Recorder {
    fn alg(&self) -> HeldKeyAlg {
        self.alg
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let mut m = self.message.lock().unwrap_or_else(PoisonError::into_inner);
        if m.is_some() {
            // One signature per request: a scheme that asks twice is not one we can replay.
            return Err(Error::BadRequest("this scheme signs twice per request; a held key cannot sign it"));
        }
        *m = Some(message.to_vec());
        Ok(vec![0; self.alg.signature_len()])
    }
}

/// The second run's key: the custody's signature, for exactly the message it signed.
struct Replay {
    alg: HeldKeyAlg,
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl HeldKey for Replay {
    fn alg(&self) -> HeldKeyAlg {
        self.alg
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        if message == self.message { Ok(self.signature.clone()) } else { Err(Error::Crypto) }
    }
}

/// The first run's nonce source: draws one nonce from the real one, and keeps it.
struct OneNonce<'a> {
    inner: &'a dyn NonceSource,
    drawn: Mutex<Option<u64>>,
}

impl NonceSource for OneNonce<'_> {
    fn next_nonce(&self, floor: u64) -> u64 {
        *self.drawn.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(|| self.inner.next_nonce(floor))
    }
}

/// Sign `req` for exchange `id` with a held key: `credential` builds the credential around
/// the key it is given (the api key, a passphrase: no secret), `sign` asks the holder for
/// the signature of a message. The holder is asked once; its signature is placed only if
/// the scheme, run again at the same time and nonce, signs the same bytes.
pub async fn sign_with_held_key<C, S, F>(
    id: &str,
    alg: HeldKeyAlg,
    credential: C,
    req: &Request,
    ctx: &Context<'_>,
    sign: S,
) -> Result<SignedRequest, Error>
where
    C: Fn(Arc<dyn HeldKey>) -> Credential,
    S: FnOnce(Vec<u8>) -> F,
    F: Future<Output = Result<Vec<u8>, Error>>,
{
    let clock = FixedClock(ctx.clock.now_ms());
    let nonce = OneNonce { inner: ctx.nonce, drawn: Mutex::new(None) };
    let recorder = Arc::new(Recorder { alg, message: Mutex::new(None) });
    crate::sign(id, &credential(recorder.clone()), req, &Context { clock: &clock, nonce: &nonce })?;
    let message =
        recorder.message.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or(Error::BadRequest(
            "this exchange's scheme signs with no private key: a held key has nothing to sign",
        ))?;
    let signature = sign(message.clone()).await?;
    if signature.len() != alg.signature_len() {
        return Err(Error::Crypto);
    }
    let drawn = *nonce.drawn.lock().unwrap_or_else(PoisonError::into_inner);
    let fixed = FixedNonce(drawn.unwrap_or(0));
    let replay = Arc::new(Replay { alg, message, signature });
    crate::sign(id, &credential(replay), req, &Context { clock: &clock as &dyn Clock, nonce: &fixed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature;

    /// Polls a future that is ready at once (the test holders answer without waiting).
    fn now<T>(f: impl Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a test holder must answer at once"),
        }
    }

    fn pem(label: &str, der: &[u8]) -> String {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem")
    }

    struct Keys {
        ed: signature::Ed25519KeyPair,
        ed_pem: String,
        rsa: signature::RsaKeyPair,
        rsa_pem: String,
    }

    fn keys() -> Keys {
        let ed_doc = signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("ed");
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let rsa_der = rsa.as_der().expect("der");
        Keys {
            ed: signature::Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).expect("ed"),
            ed_pem: pem("PRIVATE KEY", ed_doc.as_ref()),
            rsa: signature::RsaKeyPair::from_pkcs8(rsa_der.as_ref()).expect("rsa"),
            rsa_pem: pem("PRIVATE KEY", rsa_der.as_ref()),
        }
    }

    /// `sign_with_held_key` for a credential holding nothing but the held key.
    fn held<F: Future<Output = Result<Vec<u8>, Error>>>(
        id: &str,
        alg: HeldKeyAlg,
        req: &Request,
        ctx: &Context<'_>,
        sign: impl FnOnce(Vec<u8>) -> F,
    ) -> Result<SignedRequest, Error> {
        now(sign_with_held_key(id, alg, |h| cred(None, Some(h)), req, ctx, sign))
    }

    fn cred(private_key: Option<&str>, held: Option<Arc<dyn HeldKey>>) -> Credential {
        Credential {
            api_key: Some("HELD-API-KEY-ID".into()),
            passphrase: Some("pass".into()),
            private_key: private_key.map(Into::into),
            held_key: held,
            ..Credential::default()
        }
    }

    fn rsa_sign(k: &signature::RsaKeyPair, m: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; k.public_modulus_len()];
        k.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), m, &mut sig).expect("sign");
        sig
    }

    /// A held key's request is byte for byte the one the same key signs as a PEM, on every
    /// exchange that takes one (Ed25519 and PKCS#1 v1.5 are deterministic).
    #[test]
    fn a_held_key_signs_what_the_pem_key_signs() {
        let k = keys();
        let cases = [
            (
                "binance",
                HeldKeyAlg::Ed25519,
                &k.ed_pem,
                Request::new("POST", "/api/v3/order", "", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1"),
            ),
            (
                "binance",
                HeldKeyAlg::RsaPkcs1Sha256,
                &k.rsa_pem,
                Request::new("GET", "/api/v3/account", "omitZeroBalances=true", ""),
            ),
            (
                "bybit",
                HeldKeyAlg::RsaPkcs1Sha256,
                &k.rsa_pem,
                Request::new("POST", "/v5/order/create", "", r#"{"category":"spot","symbol":"BTCUSDT"}"#),
            ),
            (
                "bitget",
                HeldKeyAlg::RsaPkcs1Sha256,
                &k.rsa_pem,
                Request::new("GET", "/api/v2/spot/account/assets", "coin=USDT", ""),
            ),
        ];
        // The table of what each exchange takes is exactly what is shown to sign here.
        let covered: Vec<(&str, HeldKeyAlg)> = cases.iter().map(|(id, alg, ..)| (*id, *alg)).collect();
        for s in crate::ALL {
            for alg in held_key_algs(s.id) {
                assert!(covered.contains(&(s.id, *alg)), "{} {alg:?} is listed but not shown to sign", s.id);
            }
        }
        assert!(covered.iter().all(|(id, alg)| held_key_algs(id).contains(alg)), "a case the table does not list");
        for (id, alg, pem, req) in cases {
            let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(7) };
            let want = crate::sign(id, &cred(Some(pem), None), &req, &ctx).expect("pem sign");
            let asked = Mutex::new(0);
            let got = held(id, alg, &req, &ctx, |m| {
                *asked.lock().expect("lock") += 1;
                let sig = match alg {
                    HeldKeyAlg::Ed25519 => k.ed.sign(&m).as_ref().to_vec(),
                    HeldKeyAlg::RsaPkcs1Sha256 => rsa_sign(&k.rsa, &m),
                };
                std::future::ready(Ok(sig))
            })
            .expect("held sign");
            assert_eq!(got, want, "{id} {alg:?}");
            assert_eq!(*asked.lock().expect("lock"), 1, "{id}: the holder is asked once");
        }
    }

    #[test]
    fn refusals() {
        let k = keys();
        let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(7) };
        let req = Request::new("GET", "/api/v3/account", "", "");
        let sign = |m: Vec<u8>| std::future::ready(Ok(k.ed.sign(&m).as_ref().to_vec()));
        // A held key beside a PEM key or a secret: which one signs would be a guess.
        let both = crate::sign(
            "binance",
            &cred(Some(&k.ed_pem), Some(Arc::new(Recorder { alg: HeldKeyAlg::Ed25519, message: Mutex::new(None) }))),
            &req,
            &ctx,
        );
        assert!(matches!(both, Err(Error::BadRequest(_))), "{both:?}");
        // Bybit and Bitget take RSA keys only.
        let r = held(
            "bybit",
            HeldKeyAlg::Ed25519,
            &Request::new("GET", "/v5/account/wallet-balance", "accountType=UNIFIED", ""),
            &ctx,
            sign,
        );
        assert_eq!(r, Err(Error::BadKey("Bybit takes RSA keys only")));
        // An exchange whose scheme takes no private key has nothing for the holder to sign.
        let r = held("okx", HeldKeyAlg::Ed25519, &Request::new("GET", "/api/v5/account/balance", "", ""), &ctx, sign);
        assert!(r.is_err(), "{r:?}");
        // A signature of the wrong length, or a holder's refusal, places nothing.
        let short = held("binance", HeldKeyAlg::Ed25519, &req, &ctx, |_| std::future::ready(Ok(vec![0; 63])));
        assert_eq!(short, Err(Error::Crypto));
        let refused = held("binance", HeldKeyAlg::Ed25519, &req, &ctx, |_| {
            std::future::ready(Err(Error::BadKey("the custody refused")))
        });
        assert_eq!(refused, Err(Error::BadKey("the custody refused")));
    }

    /// The second run must sign the bytes the holder signed: a clock that moves between
    /// the runs (or anything else that changes the message) places no signature.
    #[test]
    fn the_second_run_signs_the_same_bytes_or_nothing() {
        struct Ticking(std::sync::atomic::AtomicU64);
        impl Clock for Ticking {
            fn now_ms(&self) -> u64 {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            }
        }
        let k = keys();
        let req = Request::new("GET", "/api/v3/account", "", "");
        let clock = Ticking(std::sync::atomic::AtomicU64::new(1_700_000_000_000));
        let ctx = Context { clock: &clock, nonce: &FixedNonce(1) };
        // sign_with_held_key reads the clock once: both runs see the same time.
        let ok = held("binance", HeldKeyAlg::Ed25519, &req, &ctx, |m| {
            std::future::ready(Ok(k.ed.sign(&m).as_ref().to_vec()))
        });
        assert!(ok.is_ok(), "{ok:?}");
        // The replay key itself refuses any other message.
        let replay = Replay { alg: HeldKeyAlg::Ed25519, message: b"a".to_vec(), signature: vec![1; 64] };
        assert_eq!(replay.sign(b"b"), Err(Error::Crypto));
        assert_eq!(replay.sign(b"a"), Ok(vec![1; 64]));
        // A scheme that asks a held key twice cannot be replayed.
        let rec = Recorder { alg: HeldKeyAlg::Ed25519, message: Mutex::new(None) };
        assert!(rec.sign(b"x").is_ok());
        assert!(rec.sign(b"x").is_err());
    }
}
