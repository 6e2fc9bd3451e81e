//! The custody configuration: one TOML file naming the backend and its
//! settings. Secrets (passphrases, PINs, tokens) are never in it: it names
//! the file or environment variable that holds them.
//!
//! ```toml
//! backend = "local"            # or "pkcs11", "openbao"
//!
//! [local]
//! keyring = "/var/lib/sealgate/keyring"
//! key_file = "/etc/sealgate/master.key"        # 32 random bytes, mode 0600
//! # passphrase_env = "SEALGATE_PASSPHRASE"     # or passphrase_file = "…"
//!
//! [pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "sealgate"
//! pin_file = "/etc/sealgate/hsm.pin"           # or pin_env = "SEALGATE_HSM_PIN"
//! sessions = 4
//!
//! [openbao]
//! address = "https://bao.internal:8200"
//! mount = "transit"
//! token_file = "/etc/sealgate/bao.token"       # or token_env, or:
//! # approle_role_id = "…"
//! # approle_secret_id_file = "/etc/sealgate/bao.secret-id"  # or approle_secret_id_env
//! # ca_cert = "/etc/sealgate/bao-ca.pem"
//! ```

use std::path::{Path, PathBuf};

use crate::CustodyError;
use crate::local::{LocalCustody, MasterKey};
use crate::openbao::{self, Auth, OpenBaoConfig, OpenBaoCustody, SecretSource};
use crate::pkcs11::{Pkcs11Config, Pkcs11Custody};

/// Largest configuration file read.
const MAX_CONFIG: u64 = 64 * 1024;

/// Which backend, and its section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodyConfig {
    /// `local`, `pkcs11` or `openbao`.
    pub backend: Backend,
    /// Settings of the local keyring.
    pub local: Option<LocalSection>,
    /// Settings of the PKCS#11 token.
    pub pkcs11: Option<Pkcs11Section>,
    /// Settings of the OpenBao (Vault Transit) server.
    pub openbao: Option<OpenBaoSection>,
}

/// The backend named in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Keyring file encrypted at rest (the embedded default).
    Local,
    /// A PKCS#11 token (HSM; SoftHSM2 in tests).
    Pkcs11,
    /// OpenBao / Vault Transit.
    Openbao,
}

/// `[local]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSection {
    /// The keyring file.
    pub keyring: PathBuf,
    /// A file holding the master key.
    pub key_file: Option<PathBuf>,
    /// A file holding the passphrase.
    pub passphrase_file: Option<PathBuf>,
    /// An environment variable holding the passphrase.
    pub passphrase_env: Option<String>,
}

/// `[pkcs11]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Section {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// A file holding the user PIN.
    pub pin_file: Option<PathBuf>,
    /// An environment variable holding the user PIN.
    pub pin_env: Option<String>,
    /// Sessions in the pool (default 4).
    pub sessions: Option<usize>,
}

/// `[openbao]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBaoSection {
    /// Server address, e.g. `https://bao.internal:8200`.
    pub address: String,
    /// Transit mount (default `transit`).
    pub mount: Option<String>,
    /// A file holding a token.
    pub token_file: Option<PathBuf>,
    /// An environment variable holding a token.
    pub token_env: Option<String>,
    /// AppRole role id (with a secret id source).
    pub approle_role_id: Option<String>,
    /// A file holding the AppRole secret id.
    pub approle_secret_id_file: Option<PathBuf>,
    /// An environment variable holding the AppRole secret id.
    pub approle_secret_id_env: Option<String>,
    /// CA certificate (PEM) to trust for the server.
    pub ca_cert: Option<PathBuf>,
}

impl CustodyConfig {
    /// Read and check a configuration file.
    pub fn load(path: &Path) -> Result<Self, CustodyError> {
        use std::io::Read as _;
        let file = std::fs::File::open(path)
            .map_err(|e| CustodyError::Config(format!("cannot read custody config {}: {e}", path.display())))?;
        let mut text = String::new();
        file.take(MAX_CONFIG + 1)
            .read_to_string(&mut text)
            .map_err(|e| CustodyError::Config(format!("cannot read custody config {}: {e}", path.display())))?;
        if text.len() as u64 > MAX_CONFIG {
            return Err(CustodyError::Config(format!("custody config {} is larger than 64 KiB", path.display())));
        }
        Self::parse(&text).map_err(|e| match e {
            CustodyError::Config(m) => CustodyError::Config(format!("custody config {}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse configuration text.
    pub fn parse(text: &str) -> Result<Self, CustodyError> {
        let c: Self = toml::from_str(text).map_err(|e| CustodyError::Config(e.message().to_owned()))?;
        let missing = |s: &str| CustodyError::Config(format!("backend = \"{s}\" needs a [{s}] section"));
        match c.backend {
            Backend::Local => {
                let l = c.local.as_ref().ok_or_else(|| missing("local"))?;
                let sources = [l.key_file.is_some(), l.passphrase_file.is_some(), l.passphrase_env.is_some()];
                if sources.iter().filter(|s| **s).count() != 1 {
                    return Err(CustodyError::Config(
                        "[local] needs exactly one of key_file, passphrase_file, passphrase_env".into(),
                    ));
                }
            }
            Backend::Pkcs11 => {
                let p = c.pkcs11.as_ref().ok_or_else(|| missing("pkcs11"))?;
                if p.pin_file.is_some() == p.pin_env.is_some() {
                    return Err(CustodyError::Config("[pkcs11] needs exactly one of pin_file, pin_env".into()));
                }
                if p.sessions == Some(0) {
                    return Err(CustodyError::Config("[pkcs11] sessions must be at least 1".into()));
                }
            }
            Backend::Openbao => {
                let o = c.openbao.as_ref().ok_or_else(|| missing("openbao"))?;
                let count = |v: &[bool]| v.iter().filter(|b| **b).count();
                let tokens = count(&[o.token_file.is_some(), o.token_env.is_some()]);
                let secret_ids = count(&[o.approle_secret_id_file.is_some(), o.approle_secret_id_env.is_some()]);
                let approle = o.approle_role_id.is_some();
                let ok = matches!((tokens, approle, secret_ids), (1, false, 0) | (0, true, 1));
                if !ok {
                    return Err(CustodyError::Config(
                        "[openbao] needs one of token_file, token_env, or approle_role_id with one of approle_secret_id_file, approle_secret_id_env".into(),
                    ));
                }
            }
        }
        Ok(c)
    }
}

impl CustodyConfig {
    /// Open the configured custody.
    pub async fn open(&self) -> Result<Box<dyn crate::Custody>, CustodyError> {
        match self.backend {
            Backend::Local => {
                let l = self.local_section()?;
                Ok(Box::new(LocalCustody::open(&l.keyring, l.master_key(false)?)?))
            }
            Backend::Openbao => {
                let o = self
                    .openbao
                    .as_ref()
                    .ok_or_else(|| CustodyError::Config("backend = \"openbao\" needs an [openbao] section".into()))?;
                Ok(Box::new(OpenBaoCustody::connect(o.client_config()?).await?))
            }
            Backend::Pkcs11 => {
                let p = self
                    .pkcs11
                    .as_ref()
                    .ok_or_else(|| CustodyError::Config("backend = \"pkcs11\" needs a [pkcs11] section".into()))?;
                Ok(Box::new(Pkcs11Custody::open(Pkcs11Config::from_section(p)?)?))
            }
        }
    }

    /// Initialise the configured custody and open it: for `local`, create
    /// the keyring (and the master key file if it does not exist yet); for
    /// the others, make sure the root signing key exists.
    pub async fn init(&self) -> Result<Box<dyn crate::Custody>, CustodyError> {
        match self.backend {
            Backend::Local => {
                let l = self.local_section()?;
                Ok(Box::new(LocalCustody::init(&l.keyring, l.master_key(true)?)?))
            }
            _ => {
                let c = self.open().await?;
                c.root_public().await?;
                Ok(c)
            }
        }
    }

    fn local_section(&self) -> Result<&LocalSection, CustodyError> {
        self.local.as_ref().ok_or_else(|| CustodyError::Config("backend = \"local\" needs a [local] section".into()))
    }
}

impl OpenBaoSection {
    fn client_config(&self) -> Result<OpenBaoConfig, CustodyError> {
        let address = openbao::Url::parse(&self.address)
            .map_err(|e| CustodyError::Config(format!("[openbao] address {:?} is not a URL: {e}", self.address)))?;
        let source = |file: &Option<PathBuf>, env: &Option<String>, what: &str| match (file, env) {
            (Some(f), None) => Ok(SecretSource::File(f.clone())),
            (None, Some(e)) => Ok(SecretSource::Env(e.clone())),
            _ => Err(CustodyError::Config(format!("[openbao] needs exactly one source for the {what}"))),
        };
        let auth = match &self.approle_role_id {
            Some(role_id) => Auth::AppRole {
                role_id: role_id.clone(),
                secret_id: source(&self.approle_secret_id_file, &self.approle_secret_id_env, "AppRole secret id")?,
            },
            None => Auth::Token(source(&self.token_file, &self.token_env, "token")?),
        };
        let mut config = OpenBaoConfig::new(address, auth);
        if let Some(mount) = &self.mount {
            config.mount = mount.clone();
        }
        config.ca_cert = self.ca_cert.clone();
        Ok(config)
    }
}

impl LocalSection {
    /// The master key from the one source configured; at init a missing key
    /// file is created (0600).
    fn master_key(&self, init: bool) -> Result<MasterKey, CustodyError> {
        if let Some(path) = &self.key_file {
            return if init && !path.exists() {
                MasterKey::generate_key_file(path)
            } else {
                MasterKey::from_key_file(path)
            };
        }
        if let Some(path) = &self.passphrase_file {
            return MasterKey::from_passphrase_file(path);
        }
        if let Some(var) = &self.passphrase_env {
            let value = std::env::var(var).map_err(|_| {
                CustodyError::Config(format!("the environment variable {var} (passphrase_env) is not set"))
            })?;
            return Ok(MasterKey::from_passphrase(value.into()));
        }
        Err(CustodyError::Config("[local] needs exactly one of key_file, passphrase_file, passphrase_env".into()))
    }
}

impl Backend {
    /// Its name in the configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Pkcs11 => "pkcs11",
            Self::Openbao => "openbao",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Option<PathBuf> {
        Some(PathBuf::from(p))
    }

    fn text(t: &str) -> Option<String> {
        Some(t.to_owned())
    }

    fn local(
        key_file: Option<PathBuf>,
        passphrase_file: Option<PathBuf>,
        passphrase_env: Option<String>,
    ) -> CustodyConfig {
        CustodyConfig {
            backend: Backend::Local,
            local: Some(LocalSection { keyring: PathBuf::from("/k"), key_file, passphrase_file, passphrase_env }),
            pkcs11: None,
            openbao: None,
        }
    }

    const NO_OPENBAO: OpenBaoSection = OpenBaoSection {
        address: String::new(),
        mount: None,
        token_file: None,
        token_env: None,
        approle_role_id: None,
        approle_secret_id_file: None,
        approle_secret_id_env: None,
        ca_cert: None,
    };

    fn openbao(section: OpenBaoSection) -> CustodyConfig {
        CustodyConfig { backend: Backend::Openbao, local: None, pkcs11: None, openbao: Some(section) }
    }

    #[test]
    fn examples_parse_into_every_field() {
        let parsed = |text: &str| CustodyConfig::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        // [local], each master key source.
        assert_eq!(
            parsed("backend = \"local\"\n[local]\nkeyring = \"/k\"\nkey_file = \"/m\"\n"),
            local(path("/m"), None, None)
        );
        assert_eq!(
            parsed("backend = \"local\"\n[local]\nkeyring = \"/k\"\npassphrase_file = \"/p\"\n"),
            local(None, path("/p"), None)
        );
        assert_eq!(
            parsed("backend = \"local\"\n[local]\nkeyring = \"/k\"\npassphrase_env = \"SG_PASS\"\n"),
            local(None, None, text("SG_PASS"))
        );
        // [pkcs11], with and without the optional fields; other sections kept as written.
        let pkcs11 = |pin_file, pin_env, sessions| Pkcs11Section {
            module: PathBuf::from("/m.so"),
            token_label: "t".into(),
            pin_file,
            pin_env,
            sessions,
        };
        assert_eq!(
            parsed("backend = \"pkcs11\"\n[pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\n"),
            CustodyConfig {
                backend: Backend::Pkcs11,
                local: None,
                pkcs11: Some(pkcs11(None, text("P"), None)),
                openbao: None
            }
        );
        assert_eq!(
            parsed(
                "backend = \"pkcs11\"\n[local]\nkeyring = \"/k\"\n\
                 [pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_file = \"/pin\"\nsessions = 7\n"
            ),
            CustodyConfig {
                backend: Backend::Pkcs11,
                local: Some(LocalSection {
                    keyring: PathBuf::from("/k"),
                    key_file: None,
                    passphrase_file: None,
                    passphrase_env: None
                }),
                pkcs11: Some(pkcs11(path("/pin"), None, Some(7))),
                openbao: None,
            }
        );
        // [openbao]: a token from the environment; every optional field; AppRole.
        assert_eq!(
            parsed("backend = \"openbao\"\n[openbao]\naddress = \"http://127.0.0.1:8200\"\ntoken_env = \"T\"\n"),
            openbao(OpenBaoSection { address: "http://127.0.0.1:8200".into(), token_env: text("T"), ..NO_OPENBAO })
        );
        assert_eq!(
            parsed(
                "backend = \"openbao\"\n[openbao]\naddress = \"https://bao.internal:8200\"\nmount = \"sg-transit\"\n\
                 token_file = \"/etc/sealgate/bao.token\"\nca_cert = \"/etc/sealgate/bao-ca.pem\"\n"
            ),
            openbao(OpenBaoSection {
                address: "https://bao.internal:8200".into(),
                mount: text("sg-transit"),
                token_file: path("/etc/sealgate/bao.token"),
                ca_cert: path("/etc/sealgate/bao-ca.pem"),
                ..NO_OPENBAO
            })
        );
        assert_eq!(
            parsed(
                "backend = \"openbao\"\n[openbao]\naddress = \"a\"\napprole_role_id = \"r\"\napprole_secret_id_env = \"S\"\n"
            ),
            openbao(OpenBaoSection {
                address: "a".into(),
                approle_role_id: text("r"),
                approle_secret_id_env: text("S"),
                ..NO_OPENBAO
            })
        );
        assert_eq!(
            parsed(
                "backend = \"openbao\"\n[openbao]\naddress = \"a\"\napprole_role_id = \"r\"\n\
                 approle_secret_id_file = \"/sid\"\n"
            ),
            openbao(OpenBaoSection {
                address: "a".into(),
                approle_role_id: text("r"),
                approle_secret_id_file: path("/sid"),
                ..NO_OPENBAO
            })
        );
    }

    /// What the backends are given: every field of the section, and the
    /// documented defaults where the section is silent.
    #[test]
    fn sections_become_the_backends_configurations() {
        use crate::pkcs11::{DEFAULT_SESSIONS, PinSource};
        let parsed = |text: &str| CustodyConfig::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let c = parsed(
            "backend = \"openbao\"\n[openbao]\naddress = \"https://bao.internal:8200\"\nmount = \"sg-transit\"\n\
             token_file = \"/etc/sealgate/bao.token\"\nca_cert = \"/etc/sealgate/bao-ca.pem\"\n",
        );
        let o = c.openbao.as_ref().expect("[openbao]").client_config().expect("client config");
        assert_eq!(o.address.as_str(), "https://bao.internal:8200/");
        assert_eq!(o.mount, "sg-transit");
        assert_eq!(o.auth, Auth::Token(SecretSource::File(PathBuf::from("/etc/sealgate/bao.token"))));
        assert_eq!(o.ca_cert, path("/etc/sealgate/bao-ca.pem"));
        assert_eq!(
            (o.kv_mount.as_str(), o.kv_prefix.as_str(), o.root_key.as_str()),
            ("secret", "sealgate-custody", "sealgate-root")
        );
        let c = parsed(
            "backend = \"openbao\"\n[openbao]\naddress = \"http://127.0.0.1:8200\"\napprole_role_id = \"r\"\napprole_secret_id_env = \"S\"\n",
        );
        let o = c.openbao.as_ref().expect("[openbao]").client_config().expect("client config");
        assert_eq!(
            (o.address.as_str(), o.mount.as_str(), o.ca_cert.as_ref()),
            ("http://127.0.0.1:8200/", "transit", None)
        );
        assert_eq!(o.auth, Auth::AppRole { role_id: "r".into(), secret_id: SecretSource::Env("S".into()) });

        let c = parsed(
            "backend = \"pkcs11\"\n[pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_file = \"/pin\"\nsessions = 7\n",
        );
        let p = Pkcs11Config::from_section(c.pkcs11.as_ref().expect("[pkcs11]")).expect("pkcs11 config");
        assert_eq!(
            (p.module, p.token_label, p.pin, p.sessions),
            (PathBuf::from("/m.so"), "t".into(), PinSource::File(PathBuf::from("/pin")), 7)
        );
        let c = parsed("backend = \"pkcs11\"\n[pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\n");
        let p = Pkcs11Config::from_section(c.pkcs11.as_ref().expect("[pkcs11]")).expect("pkcs11 config");
        assert_eq!((p.pin, p.sessions), (PinSource::Env("P".into()), DEFAULT_SESSIONS));
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, want) in [
            ("backend = \"cloud\"\n", "unknown variant"),
            ("backend = \"local\"\n", "needs a [local] section"),
            ("backend = \"local\"\n[local]\nkeyring = \"/k\"\n", "exactly one"),
            (
                "backend = \"local\"\n[local]\nkeyring = \"/k\"\nkey_file = \"/m\"\npassphrase_env = \"P\"\n",
                "exactly one",
            ),
            ("backend = \"local\"\n[local]\nkeyring = \"/k\"\nkey_file = \"/m\"\npin = \"1234\"\n", "unknown field"),
            ("backend = \"pkcs11\"\n[pkcs11]\nmodule = \"/m\"\ntoken_label = \"t\"\n", "pin_file"),
            (
                "backend = \"pkcs11\"\n[pkcs11]\nmodule = \"/m\"\ntoken_label = \"t\"\npin_env = \"P\"\nsessions = 0\n",
                "at least 1",
            ),
            ("backend = \"openbao\"\n", "needs a [openbao] section"),
            (
                "backend = \"openbao\"\n[openbao]\naddress = \"a\"\ntoken_env = \"T\"\napprole_role_id = \"r\"\n",
                "one of",
            ),
        ] {
            match CustodyConfig::parse(bad) {
                Err(CustodyError::Config(m)) => assert!(m.contains(want), "{bad:?}: {m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
