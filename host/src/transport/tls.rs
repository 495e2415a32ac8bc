//! TLS for registry connections: the bundled Mozilla roots, `--ca-file` and the system's CA
//! store; a client certificate from `--cert-file`/`--key-file`; `--insecure-skip-tls-verify`;
//! and TLS failures said the way a user can act on them.

use anyhow::{Context, Result, anyhow};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The TLS flags every registry command takes.
#[derive(Default, Clone, PartialEq)]
pub struct TlsFlags {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure: bool,
}

/// The client configuration the flags describe, offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn config(flags: &TlsFlags) -> Result<rustls::ClientConfig> {
    let mut config = client_auth(flags)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn client_auth(flags: &TlsFlags) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let verifier: Arc<dyn ServerCertVerifier> = if flags.insecure {
        Arc::new(NoVerification(provider))
    } else {
        Arc::new(Trust::new(provider, ca_file(flags.ca_file.as_ref())?)?)
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    match (&flags.cert_file, &flags.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates("--cert-file", cert)?;
            let pem = std::fs::read(key).map_err(|e| unreadable("--key-file", key, pem::Error::Io(e)))?;
            encrypted(key, &pem)?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
                pem::Error::NoItemsFound => anyhow!("--key-file {} holds no PEM private key", key.display()),
                e => unreadable("--key-file", key, e),
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                let why = match e {
                    rustls::Error::InconsistentKeys(_) => "the private key is not the certificate's".to_string(),
                    e => e.to_string(),
                };
                anyhow!("--cert-file and --key-file do not form a client certificate: {why}")
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => anyhow::bail!("--cert-file and --key-file go together"),
    }
}

/// Refuses a passphrase-protected key, which Helm cannot use either, saying what it is:
/// neither form reads as a key without the passphrase.
fn encrypted(key: &Path, pem: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
        anyhow::bail!(
            "--key-file {} is encrypted (protected by a passphrase); give it decrypted (`openssl pkey -in KEY -out PLAIN`)",
            key.display()
        );
    }
    Ok(())
}

/// The certificates of the `--ca-file` bundle. As Go's `AppendCertsFromPEM` (and so Helm)
/// fills a pool, a block that is no certificate is passed over; a bundle with none is refused.
fn ca_file(path: Option<&PathBuf>) -> Result<Vec<CertificateDer<'static>>> {
    let Some(path) = path else { return Ok(Vec::new()) };
    let certs: Vec<_> = certificates("--ca-file", path)?
        .into_iter()
        .filter(|cert| webpki::anchor_from_trusted_cert(cert).is_ok())
        .collect();
    if certs.is_empty() {
        anyhow::bail!("--ca-file {} holds no usable certificate", path.display());
    }
    Ok(certs)
}

/// The certificates in the PEM file given with `flag`: at least one.
fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(flag, path, e))?;
    if certs.is_empty() {
        anyhow::bail!("{flag} {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// Why a PEM file could not be read; a file the system would not open, in the system's
/// words (the `Error:` line words them as Go does).
fn unreadable(flag: &str, path: &Path, e: pem::Error) -> anyhow::Error {
    let context = format!("reading {flag} {}", path.display());
    let why = match e {
        pem::Error::Io(io) => return anyhow::Error::new(io).context(context),
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a PEM section has no -----END {}----- line", String::from_utf8_lossy(&end_marker).trim())
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("a malformed PEM section start {:?}", String::from_utf8_lossy(&line).trim())
        }
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".to_string(),
        e => e.to_string(),
    };
    anyhow!("{context}: {why}")
}

/// Trusts the bundled Mozilla roots, the `--ca-file` bundle and the system's CA store.
/// The system store is read only when the first two do not know a certificate's issuer:
/// reading it costs milliseconds that most commands need not pay.
#[derive(Debug)]
struct Trust {
    provider: Arc<CryptoProvider>,
    extra: Vec<CertificateDer<'static>>,
    bundled: Arc<WebPkiServerVerifier>,
    system: OnceLock<Result<System, rustls::Error>>,
}

/// The system's certificates, and a verifier that trusts them too.
#[derive(Debug)]
struct System {
    certificates: Vec<CertificateDer<'static>>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl Trust {
    fn new(provider: Arc<CryptoProvider>, extra: Vec<CertificateDer<'static>>) -> Result<Trust> {
        let bundled = verifier(&provider, &extra, Vec::new())?;
        Ok(Trust { provider, extra, bundled, system: OnceLock::new() })
    }

    fn system(&self) -> Result<&System, rustls::Error> {
        let made = self.system.get_or_init(|| {
            // Unreadable system certificates are skipped: the other roots still stand.
            let certificates = rustls_native_certs::load_native_certs().certs;
            let verifier = verifier(&self.provider, &self.extra, certificates.clone())
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            Ok(System { certificates, verifier })
        });
        made.as_ref().map_err(Clone::clone)
    }

    /// Whether a certificate is itself one of the roots: the `--ca-file` bundle's, else the
    /// system store's.
    fn is_root(&self, certificate: &CertificateDer<'_>) -> bool {
        let among = |roots: &[CertificateDer<'static>]| roots.iter().any(|c| c.as_ref() == certificate.as_ref());
        among(&self.extra) || self.system().is_ok_and(|system| among(&system.certificates))
    }
}

/// Whether webpki refused a server's certificate for saying it is a CA.
fn is_ca_as_server(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(CertificateError::Other(other))
        if other.0.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity))
}

/// A verifier for the bundled roots, the extra certificates and the system's.
fn verifier(
    provider: &Arc<CryptoProvider>,
    extra: &[CertificateDer<'static>],
    system: Vec<CertificateDer<'static>>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.add_parsable_certificates(system);
    // `ca_file` kept only the certificates that parse as roots.
    roots.add_parsable_certificates(extra.iter().cloned());
    Ok(WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?)
}

impl ServerCertVerifier for Trust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.bundled.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                self.system()?.verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            // A self-signed certificate made as distribution's and Docker's docs make one
            // says it is a CA, which webpki refuses from a server. Go (and so Helm) trusts a
            // server's certificate that is itself among the roots, given or the system's: so
            // is it here, once it names the host (webpki has checked its dates before its CA
            // flag).
            Err(e) if is_ca_as_server(&e) && self.is_root(end_entity) => {
                webpki::EndEntityCert::try_from(end_entity)
                    .and_then(|cert| cert.verify_is_valid_for_subject_name(server_name))
                    .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
                Ok(ServerCertVerified::assertion())
            }
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.bundled.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.bundled.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.bundled.supported_verify_schemes()
    }
}

/// Where the user of a command sets what a TLS failure asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Advice {
    /// The command's own flags.
    #[default]
    Flags,
    /// `helm repo add`, for a repository Helm reaches through the downloader: Helm passes it
    /// only the repository's URL and its certificate, key and CA files.
    RepoAdd,
}

impl Advice {
    fn trust_ca(self) -> &'static str {
        match self {
            Advice::Flags => "trust its CA with --ca-file, or skip verification with --insecure-skip-tls-verify",
            Advice::RepoAdd => "trust its CA with `helm repo add --ca-file`",
        }
    }

    fn plain_http(self) -> &'static str {
        match self {
            Advice::Flags => "use --plain-http for an HTTP registry",
            Advice::RepoAdd => "add an HTTP registry as ocirepo+http://…",
        }
    }

    fn client_certificate(self) -> &'static str {
        match self {
            Advice::Flags => "use --cert-file and --key-file",
            Advice::RepoAdd => "add the repository with `helm repo add --cert-file --key-file`",
        }
    }
}

/// A failed TLS connection, said the way a user can act on it (`advice`): the `TLS: …`
/// text the component shows.
pub fn explain(host: &str, e: &std::io::Error, advice: Advice) -> String {
    match rustls_error(e) {
        Some(tls) => explain_error(host, tls, advice),
        None => format!("TLS: {e}"),
    }
}

/// rustls's own error, if that is what an I/O error is.
pub fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// `explain`, for rustls's own error.
pub fn explain_error(host: &str, e: &rustls::Error, advice: Advice) -> String {
    use rustls::Error as Tls;
    let why = match e {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("certificate signed by unknown authority ({})", advice.trust_ca())
        }
        Tls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("certificate is not valid for {host}"),
        Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "certificate has expired".to_string()
        }
        Tls::InvalidMessage(_) => {
            format!("handshake failed: the server does not speak TLS ({})", advice.plain_http())
        }
        // The alerts a server sends when it wants a client certificate it did not get, or
        // does not trust the one it got.
        Tls::AlertReceived(
            alert @ (AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure),
        ) => {
            // Said so that it holds whether a certificate was given (one the server does
            // not trust, or one expired) or none was.
            format!(
                "refused by the server ({alert:?}; does it need a client certificate it trusts? {})",
                advice.client_certificate()
            )
        }
        e if is_ca_as_server(e) => {
            "the server's certificate says it is a CA, which is trusted only if it is itself the CA file given or in the system's store".into()
        }
        Tls::AlertReceived(AlertDescription::ProtocolVersion) => {
            "refused by the server (ProtocolVersion): it speaks neither TLS 1.2 nor TLS 1.3".to_string()
        }
        Tls::AlertReceived(alert) => format!("refused by the server ({alert:?})"),
        other => other.to_string(),
    };
    format!("TLS: {why}")
}

/// `--insecure-skip-tls-verify`: any certificate is accepted, but the handshake itself is
/// still checked, so the connection is encrypted if not authenticated.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alerts_about_certificates_suggest_a_client_certificate() {
        let said = |alert| explain_error("reg", &rustls::Error::AlertReceived(alert), Advice::Flags);
        for alert in [AlertDescription::CertificateRequired, AlertDescription::BadCertificate] {
            assert!(
                said(alert).contains("a client certificate it trusts? use --cert-file and --key-file"),
                "{}",
                said(alert)
            );
        }
        assert_eq!(said(AlertDescription::UnrecognisedName), "TLS: refused by the server (UnrecognisedName)");
        assert!(said(AlertDescription::ProtocolVersion).contains("neither TLS 1.2 nor TLS 1.3"));
    }

    #[test]
    fn advice_names_where_the_user_sets_it() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        let said = |e: &rustls::Error, advice| explain_error("reg", e, advice);
        assert!(
            said(&unknown, Advice::Flags)
                .ends_with("(trust its CA with --ca-file, or skip verification with --insecure-skip-tls-verify)")
        );
        assert!(said(&unknown, Advice::RepoAdd).ends_with("(trust its CA with `helm repo add --ca-file`)"));
        assert_eq!(
            said(&not_tls, Advice::RepoAdd),
            "TLS: handshake failed: the server does not speak TLS (add an HTTP registry as ocirepo+http://…)"
        );
        assert!(said(&required, Advice::RepoAdd).ends_with("`helm repo add --cert-file --key-file`)"));
    }
}
