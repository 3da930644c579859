//! https against a real TLS server on loopback: a throwaway CA made by rcgen signs the server's
//! certificate (for 127.0.0.1), the tests' one
//! loopback server (`common::server`) serves it with ALPN h2 and http/1.1 in front of an axum
//! app, and counts the requests it saw and the handshakes it lost.
//!
//! fetchbench runs with `SSL_CERT_FILE` set to a CA of its own and `SSL_CERT_DIR` unset, so the
//! platform verifier trusts exactly that (the machine's roots, or their absence, change nothing).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, read_json, records, stderr, BIN};
use crate::common::server::{self, Server};

/// A CA that signs certificates, and the directory the tests' PEM files go to.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A certificate signed by a [`Pki`]'s CA, with its key, as rustls takes them.
struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    /// A new CA, its certificate written to `ca.pem`, and a second, unrelated CA in `other-ca.pem`
    /// (what the client trusts when it is told nothing).
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = new_ca("fetchbench test CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        let other = new_ca("some other CA");
        std::fs::write(dir.path().join("other-ca.pem"), other.pem()).expect("write other-ca.pem");
        Self { ca, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path of file `name` in the PEM directory, as an argument.
    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 path").to_owned()
    }

    /// A certificate for `names` (an IP address becomes an IP SAN), signed by the CA, for
    /// `purpose` (server or client authentication). With `file`, its PEM goes to `file.pem`
    /// and the key's to `file-key.pem`.
    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose, file: Option<&str>) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "fetchbench test");
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca).expect("sign leaf");
        if let Some(file) = file {
            std::fs::write(self.path(&format!("{file}.pem")), cert.pem()).expect("write cert");
            std::fs::write(self.path(&format!("{file}-key.pem")), key.serialize_pem())
                .expect("write key");
        }
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// A command line for `server`'s `/v/{}` that trusts this CA (`--cacert ca.pem`).
    fn trusting(&self, server: &Server) -> Cmd {
        Cmd::url(server.url("/v/{}")).flag("--cacert", self.arg("ca.pem"))
    }

    /// A server certificate for 127.0.0.1.
    fn server_leaf(&self) -> Leaf {
        self.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, None)
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config presenting `leaf`, offering h2 then http/1.1, with no client authentication.
fn server_config(leaf: Leaf) -> rustls::ServerConfig {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth();
    finish(builder.with_single_cert(leaf.chain, leaf.key))
}

/// The same, requiring a client certificate signed by `pki`'s CA (mutual TLS).
fn mutual_tls_config(pki: &Pki, leaf: Leaf) -> rustls::ServerConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).expect("CA as root");
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("client verifier");
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier);
    finish(builder.with_single_cert(leaf.chain, leaf.key))
}

fn finish(config: Result<rustls::ServerConfig, rustls::Error>) -> rustls::ServerConfig {
    let mut config = config.expect("server certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// The app of every https server here: `/v/{id}` answers `{"version": "HTTP/2.0"}` (the version
/// the request came in).
fn versions() -> Router {
    Router::new().route("/v/{id}", get(version))
}

async fn version(request: Request) -> String {
    serde_json::json!({ "version": format!("{:?}", request.version()) }).to_string()
}

/// An https server on 127.0.0.1 serving [`versions`] after a TLS handshake under `config`.
async fn tls_server(config: rustls::ServerConfig) -> Server {
    server::Options::default()
        .tls(config)
        .spawn(versions())
        .await
}

/// Runs fetchbench with `args` (one sequential request for id 1 unless `args` give `-r`),
/// trusting only `other-ca.pem` by default, off the runtime so the server keeps answering.
async fn fetchbench(pki: &Pki, args: &[String]) -> Output {
    let defaults: &[&str] = if args.iter().any(|a| a == "-r") {
        &["--no-progress"]
    } else {
        &["-r", "1", "-m", "sequential", "--no-progress"]
    };
    let mut all: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
    all.extend_from_slice(args);
    let system_roots = pki.path("other-ca.pem");
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::new(BIN)
            .args(&all)
            .env("NO_COLOR", "1")
            .env("SSL_CERT_FILE", system_roots)
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run fetchbench")
    })
    .await
    .expect("join")
}

/// The one record of a one-request run, checked to be a TLS failure after a single attempt
/// (the report counts it under `tls`); returns its message.
fn tls_failure(out: &Output, report: &Path) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let recs = records(out);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["attempts"], 1, "not retried: {}", recs[0]);
    assert!(recs[0]["status"].is_null(), "{}", recs[0]);
    let report = read_json(report);
    assert_eq!(
        report["runs"][0]["error_kinds"],
        serde_json::json!({ "tls": 1 }),
        "{report}"
    );
    assert_eq!(report["runs"][0]["retries"], 0);
    let message = recs[0]["error"].as_str().expect("an error message");
    assert!(message.starts_with("TLS: "), "{message}");
    message.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_fails_at_once_as_a_tls_error_that_names_the_fix() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let report = pki.path("report.json");
    let out = fetchbench(
        &pki,
        &Cmd::url(server.url("/v/{}")).report(&pki.path("report.json")),
    )
    .await;
    let message = tls_failure(&out, &report);
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(
        message.contains("--cacert FILE") && message.contains("--insecure"),
        "{message}"
    );
    // One handshake, refused by the client; no request reached the application.
    assert_eq!(server.failed_handshakes(1).await, 1);
    assert_eq!(server.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_accepts_the_certificate_warns_and_speaks_h2_by_alpn() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let out = fetchbench(
        &pki,
        &Cmd::url(server.url("/v/{}"))
            .words("--insecure -f version -q")
            .report(&pki.path("report.json"))
            .flag("--html", pki.arg("report.html")),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: --insecure: TLS certificates are not verified"),
        "even with -q: {}",
        stderr(&out)
    );
    let recs = records(&out);
    assert_eq!(recs[0]["status"], 200);
    // Both ends say h2: the record (from the client) and the server's own view of the request.
    assert_eq!(recs[0]["http_version"], "HTTP/2.0");
    assert_eq!(recs[0]["fields"]["version"], "HTTP/2.0");
    assert_eq!(server.requests(), 1);
    // The report is stamped, so figures from an unverified server are not taken for others.
    assert_eq!(read_json(&pki.path("report.json"))["insecure"], true);
    let html = std::fs::read_to_string(pki.path("report.html")).expect("html report");
    assert!(html.contains("TLS certificates not verified (--insecure)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_https_connection_is_still_retried() {
    let addr = server::dead_addr();
    let pki = Pki::new();
    let url = format!("https://{addr}/v/{{}}");
    let out = fetchbench(&pki, &Cmd::url(&url).words("--retries 1 -q")).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs[0]["attempts"], 2, "{}", recs[0]);
    assert!(
        !recs[0]["error"].as_str().expect("error").starts_with("TLS"),
        "{}",
        recs[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cacert_trusts_a_private_ca_and_h2_is_negotiated_by_alpn() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let out = fetchbench(
        &pki,
        &pki.trusting(&server)
            .words("-f version -q")
            .report(&pki.path("report.json")),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs[0]["status"], 200, "{}", recs[0]);
    assert_eq!(recs[0]["attempts"], 1);
    assert_eq!(recs[0]["http_version"], "HTTP/2.0");
    assert_eq!(recs[0]["fields"]["version"], "HTTP/2.0");
    assert_eq!(server.requests(), 1);
    assert_eq!(read_json(&pki.path("report.json"))["insecure"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_several_cas_is_read_whole() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    // The server's CA second, after an unrelated one.
    let bundle = pki.path("bundle.pem");
    let text = std::fs::read_to_string(pki.path("other-ca.pem")).expect("other CA")
        + &std::fs::read_to_string(pki.path("ca.pem")).expect("CA");
    std::fs::write(&bundle, text).expect("write bundle");
    let out = fetchbench(
        &pki,
        &Cmd::url(server.url("/v/{}"))
            .flag("--cacert", pki.arg("bundle.pem"))
            .words("-q"),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out)[0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_is_read_by_the_platform_verifier() {
    // docs/tls.md says so: SSL_CERT_FILE names the trusted roots on Linux.
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let url = server.url("/v/{}");
    let ca = pki.path("ca.pem");
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::new(BIN)
            .args(["--url", &url, "-r", "1", "-m", "sequential", "-q"])
            .env("SSL_CERT_FILE", ca)
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("run fetchbench")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out)[0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate_and_key() {
    let pki = Pki::new();
    let server = tls_server(mutual_tls_config(&pki, pki.server_leaf())).await;
    pki.leaf(
        &["fetchbench-client"],
        ExtendedKeyUsagePurpose::ClientAuth,
        Some("client"),
    );
    let url = server.url("/v/{}");
    let cacert = pki.arg("ca.pem");
    let base = Cmd::url(&url).flag("--cacert", &cacert).quiet();

    // Under TLS 1.3 the client ends its side of the handshake before the server checks the
    // certificate, and the refusal comes on the first read: as the server's alert (which h2 hands
    // up as text only, so it cannot be told from other errors) or as a reset. How it shows
    // varies; that it fails does not. (Under TLS 1.2 it is a TLS error; see the test below.)
    let without = fetchbench(&pki, &base).await;
    assert_eq!(without.status.code(), Some(1), "{}", stderr(&without));
    assert!(records(&without)[0]["error"].is_string());
    assert!(
        server.failed_handshakes(1).await >= 1,
        "the server refused it"
    );
    assert_eq!(
        server.requests(),
        0,
        "no request without a client certificate"
    );

    let cert = pki.arg("client.pem");
    let key = pki.arg("client-key.pem");
    let with = fetchbench(
        &pki,
        &base.clone().flag("--cert", &cert).flag("--key", &key),
    )
    .await;
    assert_eq!(with.status.code(), Some(0), "{}", stderr(&with));
    assert_eq!(records(&with)[0]["status"], 200);
    assert_eq!(server.requests(), 1);

    // The key may sit in the certificate's file instead (curl's --cert takes both).
    let both = pki.path("client-and-key.pem");
    let text = std::fs::read_to_string(pki.path("client.pem")).expect("cert")
        + &std::fs::read_to_string(pki.path("client-key.pem")).expect("key");
    std::fs::write(&both, text).expect("write combined");
    let combined = fetchbench(
        &pki,
        &base.clone().flag("--cert", pki.arg("client-and-key.pem")),
    )
    .await;
    assert_eq!(combined.status.code(), Some(0), "{}", stderr(&combined));
    assert_eq!(server.requests(), 2);
}

/// Runs fetchbench with `args` against an https URL nobody listens on (a bad file must stop it
/// before any request) and checks it is a usage error naming `flag` and `file`.
async fn assert_usage_error(pki: &Pki, args: &[&str], flag: &str, file: &str, problem: &str) {
    let all = Cmd::url("https://127.0.0.1:9/{}").args(args);
    let out = fetchbench(pki, &all).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        out.stdout.is_empty(),
        "no record: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(text.contains(&format!("{flag}: ")), "no {flag:?} in {text}");
    assert!(text.contains(file), "no {file:?} in {text}");
    assert!(text.contains(problem), "no {problem:?} in {text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_unparsable_tls_files_are_usage_errors_before_any_request() {
    let pki = Pki::new();
    pki.leaf(
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
        Some("client"),
    );
    pki.leaf(
        &["other"],
        ExtendedKeyUsagePurpose::ClientAuth,
        Some("stranger"),
    );
    std::fs::write(pki.path("junk.pem"), "not a certificate\n").expect("write junk");
    std::fs::write(
        pki.path("broken.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .expect("write broken");
    let missing = pki.arg("missing.pem");
    let junk = pki.arg("junk.pem");
    let broken = pki.arg("broken.pem");
    let cert = pki.arg("client.pem");
    let key = pki.arg("client-key.pem");
    let other_key = pki.arg("stranger-key.pem");
    // Each: the arguments, whose last two are the flag and the file named, and the problem.
    for (args, problem) in [
        (&["--cacert", &missing][..], "cannot read"),
        (&["--cacert", &junk][..], "no certificate"),
        (&["--cacert", &broken][..], "not valid PEM"),
        // A private key is no CA certificate.
        (&["--cacert", &key][..], "no certificate"),
        (&["--cert", &missing][..], "cannot read"),
        (&["--cert", &cert][..], "--key FILE"),
        (&["--cert", &cert, "--key", &missing][..], "cannot read"),
        (&["--cert", &cert, "--key", &junk][..], "no private key"),
        (
            &["--cert", &cert, "--key", &other_key][..],
            "not the certificate's",
        ),
    ] {
        let (flag, file) = (args[args.len() - 2], args[args.len() - 1]);
        assert_usage_error(&pki, args, flag, file, problem).await;
    }

    // --key alone means nothing: clap refuses it.
    let out = fetchbench(
        &pki,
        &Cmd::url("https://127.0.0.1:9/{}").flag("--key", &key),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_said(&out, "--cert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_a_tls_error_even_from_a_trusted_ca() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["other.test"], ExtendedKeyUsagePurpose::ServerAuth, None);
    let server = tls_server(server_config(leaf)).await;
    let out = fetchbench(
        &pki,
        &pki.trusting(&server).report(&pki.path("report.json")),
    )
    .await;
    let message = tls_failure(&out, &pki.path("report.json"));
    assert!(
        message.contains("not valid for name") && message.contains("other.test"),
        "{message}"
    );
    assert!(message.contains("--insecure"), "{message}");
    assert_eq!(server.failed_handshakes(1).await, 1);
    assert_eq!(server.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_1_2_a_missing_client_certificate_is_a_tls_error_not_retried() {
    // TLS 1.2 refuses the client inside the handshake, so the alert always reaches it (under
    // 1.3 it may be lost to a reset; see mutual_tls_needs_the_client_certificate_and_key).
    let pki = Pki::new();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).expect("CA as root");
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("client verifier");
    let leaf = pki.server_leaf();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2")
        .with_client_cert_verifier(verifier)
        .with_single_cert(leaf.chain, leaf.key);
    let server = tls_server(finish(config)).await;
    let out = fetchbench(
        &pki,
        &pki.trusting(&server).report(&pki.path("report.json")),
    )
    .await;
    let message = tls_failure(&out, &pki.path("report.json"));
    assert!(message.contains("--cert FILE --key FILE"), "{message}");
    assert_eq!(server.failed_handshakes(1).await, 1);
    assert_eq!(server.requests(), 0);
}

/// A server config as [`server_config`]'s, offering only `alpn`.
fn server_config_offering(leaf: Leaf, alpn: &[&[u8]]) -> rustls::ServerConfig {
    let mut config = server_config(leaf);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_offers_no_h2_is_spoken_to_in_http_1_1_and_tls_is_timed_apart() {
    let pki = Pki::new();
    let config = server_config_offering(pki.server_leaf(), &[b"http/1.1"]);
    let server = tls_server(config).await;
    let recs = records_of(
        &pki,
        &pki.trusting(&server)
            .words("-r 1..=3 -m sequential -f version -q")
            .report(&pki.path("report.json")),
        3,
    )
    .await;
    for rec in &recs {
        assert_eq!(rec["http_version"], "HTTP/1.1", "{rec}");
        assert_eq!(rec["fields"]["version"], "HTTP/1.1", "{rec}");
    }
    // The first request opened the connection and its TLS session; the others reused it.
    let first = &recs[0]["timing"];
    assert!(first["tls_ms"].as_f64().is_some(), "{first}");
    assert!(first["connect_ms"].as_f64().is_some(), "{first}");
    for rec in &recs[1..] {
        assert!(rec["timing"]["tls_ms"].is_null(), "{rec}");
        assert!(rec["timing"]["connect_ms"].is_null(), "{rec}");
    }
    let report = read_json(&pki.path("report.json"));
    assert!(
        report["runs"][0]["phases_ms"]["tls"]["p50"].is_number(),
        "{report}"
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_h2_one_connection_carries_the_streams_and_times_its_handshake_once() {
    let pki = Pki::new();
    let server = h2_server(
        server_config_offering(pki.server_leaf(), &[b"h2"]),
        None,
        None,
    )
    .await;
    let recs = records_of(
        &pki,
        &pki.trusting(&server)
            .words("-r 1..=40 -m concurrent -c 8 -q"),
        40,
    )
    .await;
    assert!(recs.iter().all(|r| r["http_version"] == "HTTP/2.0"));
    let timed = recs
        .iter()
        .filter(|r| r["timing"]["tls_ms"].as_f64().is_some())
        .count();
    // The server allows 100 streams: one connection, whose handshake one record carries.
    assert_eq!(server.connections(), 1);
    assert_eq!(timed, 1, "{recs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_streams_beyond_the_servers_limit_go_on_more_connections() {
    let pki = Pki::new();
    let config = server_config_offering(pki.server_leaf(), &[b"h2"]);
    let server = h2_server(config, Some(4), None).await;
    let recs = records_of(
        &pki,
        &pki.trusting(&server)
            .words("-r 1..=500 -m concurrent -c 64 --retries 0 -q"),
        500,
    )
    .await;
    assert!(recs.iter().all(|r| r["status"] == 200), "{recs:?}");
    assert_eq!(server.answered(), 500);
    assert!(server.peak_streams() <= 4, "{}", server.peak_streams());
    assert!(server.connections() >= 2, "{}", server.connections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_mid_run_loses_no_record_and_counts_no_retry() {
    let pki = Pki::new();
    let config = server_config_offering(pki.server_leaf(), &[b"h2"]);
    let server = h2_server(config, None, Some(100)).await;
    every_one_at_first_attempt(
        &pki,
        &server,
        "-r 1..=500 -m concurrent -c 64 --retries 0 -q",
        500,
    )
    .await;
    // The first connection went away: the rest came on others.
    assert!(server.connections() >= 2, "{}", server.connections());
    assert_eq!(read_json(&pki.path("report.json"))["runs"][0]["retries"], 0);
}

/// Runs `cmd`, checks it exits 0 with `n` records, and returns them.
async fn records_of(pki: &Pki, cmd: &Cmd, n: usize) -> Vec<serde_json::Value> {
    let out = fetchbench(pki, cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), n);
    recs
}

/// Runs `words` against `server` under the test CA with a report, and checks the run gave `n`
/// records, each a 200 at its first attempt (the report's retries are checked by the caller).
async fn every_one_at_first_attempt(pki: &Pki, server: &Server, words: &str, n: usize) {
    let cmd = pki.trusting(server).words(words);
    let recs = records_of(pki, &cmd.report(&pki.path("report.json")), n).await;
    assert!(
        recs.iter()
            .all(|r| r["status"] == 200 && r["attempts"] == 1),
        "{recs:?}"
    );
}

/// An https server speaking HTTP/2 only, serving [`versions`] after a millisecond, so streams
/// overlap. With `max_streams`, each connection allows that many streams at once; with
/// `goaway_after`, the first connection is shut down gracefully (a GOAWAY) once the server has
/// answered that many requests.
async fn h2_server(
    config: rustls::ServerConfig,
    max_streams: Option<u32>,
    goaway_after: Option<u32>,
) -> Server {
    let mut options = server::Options::default()
        .tls(config)
        .h2(max_streams)
        .delay(Duration::from_millis(1));
    if let Some(n) = goaway_after {
        options = options.goaway_after(n);
    }
    options.spawn(versions()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_streams_the_server_refused_are_sent_again_not_retried() {
    let pki = Pki::new();
    let config = server_config_offering(pki.server_leaf(), &[b"h2"]);
    let (server, refused) = refusing_server(config, 5).await;
    every_one_at_first_attempt(
        &pki,
        &server,
        "-r 1..=100 -m concurrent -c 16 --retries 0 -q",
        100,
    )
    .await;
    let refused = refused.load(Ordering::SeqCst);
    assert!(refused >= 20, "{refused}");
    assert_eq!(read_json(&pki.path("report.json"))["runs"][0]["retries"], 0);
}

/// An https server on the h2 crate itself, which can refuse a stream (`RST_STREAM` with
/// `REFUSED_STREAM`: "not processed, send it again"); hyper's server cannot. Every `every`-th
/// stream is refused, the others answered at once; the count of refusals comes with it.
async fn refusing_server(config: rustls::ServerConfig, every: u32) -> (Server, Arc<AtomicU32>) {
    let refused = Arc::new(AtomicU32::new(0));
    let seen = Arc::new(AtomicU32::new(0));
    let counts = (Arc::clone(&refused), seen);
    let server = server::Options::default()
        .tls(config)
        .spawn_raw(move |conn: server::Conn| {
            let (refused, seen) = (Arc::clone(&counts.0), Arc::clone(&counts.1));
            async move {
                let Ok(mut connection) = h2::server::handshake(conn.stream).await else {
                    return;
                };
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    if (seen.fetch_add(1, Ordering::SeqCst) + 1) % every == 0 {
                        refused.fetch_add(1, Ordering::SeqCst);
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    let Ok(mut body) = respond.send_response(http::Response::new(()), false) else {
                        continue;
                    };
                    let _ = body.send_data(r#"{"version": "HTTP/2.0"}"#.into(), true);
                }
            }
        })
        .await;
    (server, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_1_is_the_only_protocol_offered_with_the_flag_even_to_an_h2_server() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let cmd = pki
        .trusting(&server)
        .words("-r 1..=3 -m concurrent -f version -q");
    for rec in records_of(&pki, &cmd.clone().arg("--http1.1"), 3).await {
        assert_eq!(rec["http_version"], "HTTP/1.1", "{rec}");
        assert_eq!(rec["fields"]["version"], "HTTP/1.1", "{rec}");
    }
    // The same server, told nothing: h2 by ALPN.
    for rec in records_of(&pki, &cmd, 3).await {
        assert_eq!(rec["fields"]["version"], "HTTP/2.0", "{rec}");
    }
    let both = fetchbench(&pki, &pki.trusting(&server).words("--http1.1 --http2")).await;
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert_eq!(server.requests(), 6);
}

/// `fetchbench serve --tls-cert --tls-key`: the fixture as an https API, its links https too,
/// h2 by ALPN and HTTP/1.1 when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_serves_https_with_a_given_certificate() {
    use fetchbench::fixture::{FixtureOptions, FixtureServer, FixtureTls};
    let pki = Pki::new();
    pki.leaf(
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
        Some("fixture"),
    );
    let tls = FixtureTls::from_pem_files(&pki.path("fixture.pem"), &pki.path("fixture-key.pem"))
        .expect("the certificate and key");
    let options = FixtureOptions {
        latency: Duration::ZERO,
        tls: Some(tls),
        ..FixtureOptions::default()
    };
    let fixture = FixtureServer::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("fixture");
    let template = fixture.url_template();
    assert!(template.starts_with("https://127.0.0.1:"), "{template}");
    let cmd = Cmd::url(&template)
        .flag("--cacert", pki.arg("ca.pem"))
        .words("-r 1..=2 -m concurrent -f name -f species.url -q");
    for (version, extra) in [("HTTP/2.0", None), ("HTTP/1.1", Some("--http1.1"))] {
        let cmd = extra.map_or(cmd.clone(), |flag| cmd.clone().arg(flag));
        let recs = records_of(&pki, &cmd, 2).await;
        assert_eq!(recs[0]["fields"]["name"], "bulbasaur");
        assert_eq!(recs[1]["fields"]["name"], "ivysaur");
        for rec in &recs {
            assert_eq!(rec["http_version"], version, "{rec}");
            let link = rec["fields"]["species.url"].as_str().expect("a link");
            assert!(link.starts_with(fixture.base_url()), "{link}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_certificate_file_without_a_certificate() {
    let pki = Pki::new();
    pki.leaf(
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
        Some("fixture"),
    );
    let (cert, key) = (pki.arg("fixture.pem"), pki.arg("fixture-key.pem"));
    for (flag, swapped, problem) in [
        ("--tls-cert", [&key, &key], "no certificate in the file"),
        ("--tls-key", [&cert, &cert], "no private key"),
    ] {
        let serve = Cmd::new()
            .words("serve --port 0")
            .flag("--tls-cert", swapped[0])
            .flag("--tls-key", swapped[1]);
        let out = serve.exits(2).await;
        assert_said(&out, flag);
        assert_said(&out, problem);
    }
}

/// https through `--proxy` takes reqwest's road: a CONNECT tunnel per connection, the
/// certificate still checked against `--cacert` (an untrusted one fails as a TLS error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_through_a_proxy_goes_through_a_connect_tunnel_and_is_still_verified() {
    let pki = Pki::new();
    let server = tls_server(server_config(pki.server_leaf())).await;
    let proxy = crate::servers::counting_proxy().await;
    let report = pki.path("report.json");
    let cmd = pki
        .trusting(&server)
        .flag("--proxy", proxy.base())
        .words("-r 1..=3 -m sequential -f version -q")
        .report(&report);
    let recs = records_of(&pki, &cmd, 3).await;
    for rec in &recs {
        assert_eq!(rec["status"], 200, "{rec}");
        assert!(rec["fields"]["version"].is_string(), "{rec}");
    }
    assert_eq!(read_json(&report)["runs"][0]["proxied_requests"], 3);
    assert_eq!(server.requests(), 3);
    let tunnels = proxy.requests();
    assert!((1..=3).contains(&tunnels), "{tunnels} tunnels");

    // Trusting another CA: the handshake inside the tunnel fails, not retried.
    let untrusted = Cmd::url(server.url("/v/{}"))
        .flag("--proxy", proxy.base())
        .report(&report);
    let out = fetchbench(&pki, &untrusted).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failure = tls_failure(&out, &report);
    assert!(failure.contains("certificate"), "{failure}");
    assert_eq!(server.requests(), 3);
}

/// `--h2-connections N`: N connections open first and share the streams (the least busy takes
/// the next); without it, one carries them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_connections_opens_that_many_and_spreads_the_streams() {
    let pki = Pki::new();
    // Each request held 20 ms, so the run's 16 are all in flight at once.
    let server = server::Options::default()
        .tls(server_config_offering(pki.server_leaf(), &[b"h2"]))
        .h2(None)
        .delay(Duration::from_millis(20))
        .spawn(versions())
        .await;
    let run = pki
        .trusting(&server)
        .words("-r 1..=160 -m concurrent -c 16 --retries 0 -q");
    records_of(&pki, &run.clone().words("--h2-connections 4"), 160).await;
    assert_eq!(server.connections(), 4);
    let spread = server.peak_streams();
    assert!(
        spread <= 8,
        "{spread} streams on one of 4 connections at -c 16"
    );
    records_of(&pki, &run, 160).await;
    assert_eq!(server.connections(), 5, "one more: the default run's one");
    assert!(server.peak_streams() > 8, "{}", server.peak_streams());
    let zero = fetchbench(&pki, &pki.trusting(&server).words("--h2-connections 0")).await;
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
}
