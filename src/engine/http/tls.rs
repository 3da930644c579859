//! TLS as a user sets it up and as it fails: the PEM files curl's flags take (`--cacert` for
//! extra trusted CAs, `--cert`/`--key` for mutual TLS), parsed and checked before any request so
//! a bad file is a usage error that names it; and what a `rustls` error behind a failed request
//! means: whether another attempt could fix it, and which flag would.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError};
use thiserror::Error;

/// A PEM file given to a TLS flag that cannot be used.
#[derive(Debug, Error)]
#[error("{}: {problem}", path.display())]
pub struct TlsFileError {
    /// The flag that named the file (`--cacert`, `--cert`, `--key`).
    pub flag: &'static str,
    pub path: PathBuf,
    #[source]
    pub problem: TlsFileProblem,
}

/// What is wrong with a TLS file.
#[derive(Debug, Error)]
pub enum TlsFileProblem {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("not valid PEM: {}", pem_problem(.0))]
    Pem(#[source] pem::Error),
    #[error("no certificate in it (PEM: -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    #[error("certificate {index} in it is not a usable CA certificate: {source}")]
    BadCa {
        /// 1-based, in file order.
        index: usize,
        #[source]
        source: rustls::Error,
    },
    #[error("no private key in it (PEM: -----BEGIN PRIVATE KEY-----)")]
    NoKey,
    #[error("no private key in it: give the key with --key FILE")]
    NoKeyWithCert,
    #[error("the private key is not the certificate's (the first in --cert)")]
    KeyMismatch,
    #[error("unusable private key: {0}")]
    BadKey(#[source] rustls::Error),
    #[error("refused by the HTTP client: {0}")]
    Refused(#[source] reqwest::Error),
}

/// The PEM parser's complaint in words: its own `Display` shows the marker lines as byte lists.
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "no -----END {}----- line",
                String::from_utf8_lossy(end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad section start {:?}", String::from_utf8_lossy(line))
        }
        other => other.to_string(),
    }
}

impl TlsFileError {
    fn new(flag: &'static str, path: &Path, problem: TlsFileProblem) -> Self {
        Self {
            flag,
            path: path.to_owned(),
            problem,
        }
    }
}

/// A file's bytes and the certificates and private keys among its PEM sections (others, such as
/// `EC PARAMETERS`, are skipped).
struct PemFile {
    bytes: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
    keys: Vec<PrivateKeyDer<'static>>,
}

impl PemFile {
    fn read(flag: &'static str, path: &Path) -> Result<Self, TlsFileError> {
        let fail = |problem| TlsFileError::new(flag, path, problem);
        let bytes = std::fs::read(path).map_err(|e| fail(TlsFileProblem::Read(e)))?;
        let mut certs = Vec::new();
        let mut keys = Vec::new();
        let mut reader = std::io::Cursor::new(&bytes);
        while let Some((kind, der)) =
            pem::from_buf(&mut reader).map_err(|e| fail(TlsFileProblem::Pem(e)))?
        {
            match kind {
                SectionKind::Certificate => certs.push(CertificateDer::from(der)),
                _ => keys.extend(PrivateKeyDer::from_pem(kind, der)),
            }
        }
        Ok(Self { bytes, certs, keys })
    }
}

/// The CA certificates of a PEM bundle (`--cacert`), each checked the way the verifier will take
/// it as a trust anchor, so a file that passes here cannot fail the client's setup later.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsFileError> {
    let fail = |problem| TlsFileError::new("--cacert", path, problem);
    let file = PemFile::read("--cacert", path)?;
    if file.certs.is_empty() {
        return Err(fail(TlsFileProblem::NoCertificate));
    }
    let mut store = rustls::RootCertStore::empty();
    let mut roots = Vec::with_capacity(file.certs.len());
    for (i, der) in file.certs.into_iter().enumerate() {
        let root =
            reqwest::Certificate::from_der(&der).map_err(|e| fail(TlsFileProblem::Refused(e)))?;
        store.add(der).map_err(|source| {
            fail(TlsFileProblem::BadCa {
                index: i + 1,
                source,
            })
        })?;
        roots.push(root);
    }
    Ok(roots)
}

/// The client certificate chain and private key for mutual TLS: `cert` holds the chain (leaf
/// first) and, unless `key` is given, the key too. The key is checked against the leaf's public
/// key, as the TLS stack will, so a mismatch is found now rather than at the first handshake.
pub fn load_identity(cert: &Path, key: Option<&Path>) -> Result<reqwest::Identity, TlsFileError> {
    let mut chain = PemFile::read("--cert", cert)?;
    if chain.certs.is_empty() {
        return Err(TlsFileError::new(
            "--cert",
            cert,
            TlsFileProblem::NoCertificate,
        ));
    }
    let (key_flag, key_path, private_key) = match key {
        Some(path) => {
            let file = PemFile::read("--key", path)?;
            let Some(private_key) = file.keys.into_iter().last() else {
                return Err(TlsFileError::new("--key", path, TlsFileProblem::NoKey));
            };
            // reqwest reads one PEM text and takes its last key: the key file's, after the chain.
            chain.bytes.push(b'\n');
            chain.bytes.extend(file.bytes);
            ("--key", path, private_key)
        }
        None => match chain.keys.pop() {
            Some(private_key) => ("--cert", cert, private_key),
            None => {
                return Err(TlsFileError::new(
                    "--cert",
                    cert,
                    TlsFileProblem::NoKeyWithCert,
                ))
            }
        },
    };
    let fail = |problem| TlsFileError::new(key_flag, key_path, problem);
    match rustls::sign::CertifiedKey::from_der(chain.certs, private_key, &crypto_provider()) {
        Ok(_) => {}
        Err(rustls::Error::InconsistentKeys(_)) => return Err(fail(TlsFileProblem::KeyMismatch)),
        Err(e) => return Err(fail(TlsFileProblem::BadKey(e))),
    }
    reqwest::Identity::from_pem(&chain.bytes)
        .map_err(|e| TlsFileError::new("--cert", cert, TlsFileProblem::Refused(e)))
}

/// The provider the client will use: the installed one, else ring (what `client::build` installs).
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The `rustls` error behind a failed request, if TLS is what failed. On its way up it is wrapped
/// in an `io::Error` by rustls, and that one in another by hyper-rustls; an `io::Error`'s
/// `source()` skips what it wraps (it yields the wrapped error's own source), so walking the
/// chain alone never meets it: each io error is opened, as deep as they nest.
pub(crate) fn rustls_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(cause) = next {
        let mut inner = Some(cause);
        while let Some(link) = inner {
            if let Some(tls) = link.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            inner = link
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .map(|e| e as &(dyn StdError + 'static));
        }
        next = cause.source();
    }
    None
}

/// Whether the same handshake could succeed on another attempt, and what the user can do.
pub(crate) struct TlsAdvice {
    /// False for anything about certificates or the peers' settings: the next handshake meets
    /// the same certificate and the same settings, so retrying only multiplies the failure.
    pub transient: bool,
    /// The flags that fix it, as a clause to end the message with; None when no flag does.
    pub fix: Option<&'static str>,
}

/// How `error` should be handled and what would fix it.
pub(crate) fn advice(error: &rustls::Error) -> TlsAdvice {
    use rustls::Error as E;
    let permanent = |fix| TlsAdvice {
        transient: false,
        fix: Some(fix),
    };
    match error {
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => permanent(
            "use a host name the certificate names (--resolve HOST:PORT:ADDR keeps the address), \
             or --insecure to skip verification",
        ),
        E::InvalidCertificate(
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
        ) => permanent("trust its CA with --cacert FILE, or skip verification with --insecure"),
        E::InvalidCertificate(_) | E::InvalidCertRevocationList(_) | E::NoCertificatesPresented => {
            permanent("--insecure skips verification")
        }
        // The server turned down the client's certificate, or wanted one and got none.
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied,
        ) => permanent("the server wants a client certificate it trusts: --cert FILE --key FILE"),
        E::AlertReceived(
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity
            | AlertDescription::NoApplicationProtocol,
        )
        | E::PeerIncompatible(_)
        | E::NoApplicationProtocol => TlsAdvice {
            transient: false,
            fix: None,
        },
        // A garbled record or an internal error on the other side: the next connection may do.
        _ => TlsAdvice {
            transient: true,
            fix: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rustls_error_is_found_inside_nested_io_errors() {
        // As rustls and then hyper-rustls wrap it.
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let outer = std::io::Error::other(inner);
        assert_eq!(rustls_cause(&outer), Some(&tls));
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(rustls_cause(&plain), None);
    }

    #[test]
    fn certificate_errors_are_permanent_and_name_their_fix() {
        let unknown = advice(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(!unknown.transient);
        assert!(unknown.fix.is_some_and(|f| f.contains("--cacert FILE")));
        let name = advice(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(!name.transient && name.fix.is_some_and(|f| f.contains("--insecure")));
        let wanted = advice(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert!(!wanted.transient && wanted.fix.is_some_and(|f| f.contains("--cert FILE")));
        assert!(advice(&rustls::Error::DecryptError).transient);
    }
}
