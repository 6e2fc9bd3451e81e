//! A throwaway certificate authority for TLS tests, made with the `openssl` command
//! (OpenSSL 1.1.1 or later): a CA, and server certificates it signs for `localhost` and
//! `127.0.0.1`, each with the serial and common name the test picks. Keys are P-256,
//! written 0600.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA in a directory.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    ca_key: PathBuf,
}

/// A server certificate and its key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate (PEM, leaf then the CA).
    pub cert: PathBuf,
    /// Private key (PEM PKCS#8, mode 0600).
    pub key: PathBuf,
    /// The leaf certificate, DER (to compare with what a server presents).
    pub der: Vec<u8>,
}

fn openssl(args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run openssl ({e}); install it (apt-get install -y openssl)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn private(path: &Path) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

impl Pki {
    /// A new CA named `name` in `dir` (which must exist).
    pub fn new(dir: &Path, name: &str) -> Result<Pki, String> {
        let ca = dir.join(format!("{name}-ca.pem"));
        let ca_key = dir.join(format!("{name}-ca.key"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            s(&ca_key),
            "-out",
            s(&ca),
            "-subj",
            &format!("/CN=Sealgate test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])?;
        private(&ca_key)?;
        Ok(Pki { dir: dir.to_owned(), ca, ca_key })
    }

    /// A server certificate for `localhost` and `127.0.0.1` with common name `cn` and
    /// serial `serial`, written as `<file>.pem` and `<file>.key`.
    pub fn issue(&self, file: &str, cn: &str, serial: u64) -> Result<Issued, String> {
        let (cert, key) = (self.dir.join(format!("{file}.pem")), self.dir.join(format!("{file}.key")));
        let (csr, ext, der) = (
            self.dir.join(format!("{file}.csr")),
            self.dir.join(format!("{file}.ext")),
            self.dir.join(format!("{file}.der")),
        );
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            s(&key),
            "-out",
            s(&csr),
            "-subj",
            &format!("/CN={cn}"),
        ])?;
        private(&key)?;
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let leaf = self.dir.join(format!("{file}.leaf.pem"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&self.ca),
            "-CAkey",
            s(&self.ca_key),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-extfile",
            s(&ext),
            "-out",
            s(&leaf),
        ])?;
        openssl(&["x509", "-in", s(&leaf), "-outform", "DER", "-out", s(&der)])?;
        // The chain: leaf first, then the CA.
        let mut chain = std::fs::read(&leaf).map_err(|e| e.to_string())?;
        chain.extend(std::fs::read(&self.ca).map_err(|e| e.to_string())?);
        std::fs::write(&cert, chain).map_err(|e| e.to_string())?;
        let der = std::fs::read(&der).map_err(|e| e.to_string())?;
        Ok(Issued { cert, key, der })
    }
}
