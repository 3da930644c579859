//! TLS as a user sets it up and as it fails: the PEM files curl's flags take (`--cacert` for
//! extra trusted CAs, `--cert`/`--key` for mutual TLS), parsed and checked before any request so
//! a bad file is a usage error that names it; and what a `rustls` error behind a failed request
//! means: whether another attempt could fix it, and which flag would. The one rustls client
//! configuration a run's TLS connections share, direct and through reqwest alike, is built here
//! on the first https request, so a run without TLS loads no certificates.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError};
use thiserror::Error;

use crate::engine::options::ClientIdentity;

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

/// The certificates and private keys among a file's PEM sections (others, such as
/// `EC PARAMETERS`, are skipped).
struct PemFile {
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
        Ok(Self { certs, keys })
    }
}

/// The CA certificates of a PEM bundle (`--cacert`), each checked the way the verifier will take
/// it as a trust anchor, so a file that passes here cannot fail the client's setup later.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let fail = |problem| TlsFileError::new("--cacert", path, problem);
    let file = PemFile::read("--cacert", path)?;
    if file.certs.is_empty() {
        return Err(fail(TlsFileProblem::NoCertificate));
    }
    let mut store = rustls::RootCertStore::empty();
    let mut roots = Vec::with_capacity(file.certs.len());
    for (i, der) in file.certs.into_iter().enumerate() {
        store.add(der.clone()).map_err(|source| {
            fail(TlsFileProblem::BadCa {
                index: i + 1,
                source,
            })
        })?;
        roots.push(der);
    }
    Ok(roots)
}

/// The client certificate chain and private key for mutual TLS: `cert` holds the chain (leaf
/// first) and, unless `key` is given, the key too. The key is checked against the leaf's public
/// key, as the TLS stack will, so a mismatch is found now rather than at the first handshake.
pub fn load_identity(cert: &Path, key: Option<&Path>) -> Result<ClientIdentity, TlsFileError> {
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
    let checked = rustls::sign::CertifiedKey::from_der(
        chain.certs.clone(),
        private_key.clone_key(),
        &crypto_provider(),
    );
    match checked {
        Ok(_) => Ok(ClientIdentity {
            chain: chain.certs,
            key: private_key,
        }),
        Err(rustls::Error::InconsistentKeys(_)) => Err(fail(TlsFileProblem::KeyMismatch)),
        Err(e) => Err(fail(TlsFileProblem::BadKey(e))),
    }
}

/// What ALPN offers a TLS server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// h2, then http/1.1: the server chooses.
    Both,
    /// h2 alone (`--http2`).
    H2,
    /// http/1.1 alone (`--http1.1`).
    Http11,
}

impl Alpn {
    pub(crate) fn new(http2: bool, http1: bool) -> Self {
        match (http2, http1) {
            (true, _) => Alpn::H2,
            (false, true) => Alpn::Http11,
            (false, false) => Alpn::Both,
        }
    }
}

/// The run's rustls client configuration, built on first use (the platform's verifier reads
/// the system's roots then): ALPN offers h2 then http/1.1 (h2 alone with `--http2`, http/1.1
/// alone with `--http1.1`), sessions
/// are resumed, `--cacert` adds roots, `--cert`/`--key` answer a server that asks, and
/// `--insecure` accepts any certificate. Shared by the direct path and reqwest's proxied client.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    insecure: bool,
    ca_certs: Vec<CertificateDer<'static>>,
    identity: Option<ClientIdentity>,
    alpn: Alpn,
    config: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>>,
}

impl TlsSetup {
    /// The set-up of `--insecure`, `--cacert`, `--cert`/`--key` and the protocols ALPN offers;
    /// built on first use.
    pub(crate) fn new(
        insecure: bool,
        ca_certs: Vec<CertificateDer<'static>>,
        identity: Option<ClientIdentity>,
        alpn: Alpn,
    ) -> Self {
        Self {
            insecure,
            ca_certs,
            identity,
            alpn,
            config: OnceLock::new(),
        }
    }

    /// The configuration, built the first time it is asked for.
    pub(crate) fn config(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        self.config.get_or_init(|| self.build()).clone()
    }

    fn build(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        let provider = crypto_provider();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .dangerous();
        let builder = if self.insecure {
            builder.with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        } else {
            let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.ca_certs.iter().cloned(),
                provider,
            )?;
            builder.with_custom_certificate_verifier(Arc::new(verifier))
        };
        let mut config = match &self.identity {
            Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = match self.alpn {
            Alpn::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::H2 => vec![b"h2".to_vec()],
            Alpn::Http11 => vec![b"http/1.1".to_vec()],
        };
        Ok(Arc::new(config))
    }
}

/// `--insecure`'s verifier: any certificate, any name. The handshake's signatures are still
/// checked, so the peer at least holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The installed provider, else ring, installed as the process's default (reqwest is built
/// without a provider of its own, so that the first build does not compile aws-lc-sys).
pub(crate) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return Arc::clone(installed);
    }
    // Another thread may win the race; its provider is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
