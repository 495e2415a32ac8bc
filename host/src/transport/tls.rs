//! TLS for registry connections: the system's CA store with bundled Mozilla roots as a
//! fallback, plus `--ca-file`; a client certificate from `--cert-file`/`--key-file`;
//! `--insecure-skip-tls-verify`; and TLS failures said the way a user can act on them.

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::PathBuf;
use std::sync::Arc;

/// The TLS flags every registry command takes.
#[derive(Default, Clone)]
pub struct TlsFlags {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure: bool,
}

/// The client configuration the flags describe.
pub fn config(flags: &TlsFlags) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let builder = if flags.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(flags.ca_file.as_ref())?)
    };
    match (&flags.cert_file, &flags.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading --cert-file {}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading --key-file {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("--cert-file and --key-file do not form a client certificate")
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => anyhow::bail!("--cert-file and --key-file go together"),
    }
}

/// The system's CA store, the bundled Mozilla roots, and the `--ca-file` bundle.
fn roots(ca_file: Option<&PathBuf>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // Unreadable system certificates are skipped: the bundled roots still stand.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading --ca-file {}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("--ca-file {} holds no PEM certificate", path.display());
        }
        for cert in certs {
            roots.add(cert).with_context(|| format!("--ca-file {}: unusable certificate", path.display()))?;
        }
    }
    Ok(roots)
}

/// A TLS failure, said the way a user can act on it: the `TLS: …` text the component shows.
pub fn explain(host: &str, e: &std::io::Error) -> String {
    use rustls::{CertificateError, Error as Tls};
    let why = match e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>()) {
        Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "certificate signed by unknown authority (trust its CA with --ca-file, or skip verification with --insecure-skip-tls-verify)".to_string()
        }
        Some(Tls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => format!("certificate is not valid for {host}"),
        Some(Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })) => {
            "certificate has expired".to_string()
        }
        Some(Tls::InvalidMessage(_)) => {
            "handshake failed: the server does not speak TLS (use --plain-http for an HTTP registry)".to_string()
        }
        Some(Tls::AlertReceived(alert)) => {
            format!("refused by the server ({alert:?}; does it need a client certificate? use --cert-file and --key-file)")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    format!("TLS: {why}")
}

/// Whether an I/O error is rustls reporting a TLS failure.
pub fn is_tls(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

/// `--insecure-skip-tls-verify`: any certificate is accepted, but the handshake itself is
/// still checked, so the connection is encrypted if not authenticated.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
