//! TLS as a user sets it up: the PEM files curl's flags take (`--cacert` for extra trusted CAs,
//! `--cert`/`--key` for mutual TLS), parsed and checked before any request, so a bad file is a
//! usage error that names it rather than a failure of every request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
