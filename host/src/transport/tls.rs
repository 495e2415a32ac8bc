//! TLS for registry connections: the bundled Mozilla roots, `--ca-file` and the system's CA
//! store; a client certificate from `--cert-file`/`--key-file`; `--insecure-skip-tls-verify`;
//! and TLS failures said the way a user can act on them.

use anyhow::{Context, Result, anyhow};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, InconsistentKeys, SignatureScheme};
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
        Arc::new(NoVerification(provider.clone()))
    } else {
        Arc::new(Trust::new(provider.clone(), ca_file(flags.ca_file.as_ref())?)?)
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
            let certified = client_certificate(&provider, chain, key)
                .map_err(|why| anyhow!("--cert-file and --key-file do not form a client certificate: {why}"))?;
            Ok(builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified))))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => anyhow::bail!("--cert-file and --key-file go together"),
    }
}

/// The client certificate and its key, once the key is known to be the certificate's, as
/// Go's `tls.X509KeyPair` checks it. A version 1 certificate (what `openssl x509 -req` makes
/// without extensions), which Go and registries take, is read here, as webpki will not.
fn client_certificate(
    provider: &CryptoProvider,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> std::result::Result<CertifiedKey, String> {
    let signing = provider.key_provider.load_private_key(key).map_err(|e| e.to_string())?;
    let public = signing.public_key().map(|key| key.as_ref().to_vec());
    let certified = CertifiedKey::new(chain, signing);
    let matches = match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => true,
        Err(rustls::Error::InconsistentKeys(_)) => false,
        Err(e) if webpki_refused(&e, webpki::Error::UnsupportedCertVersion) => {
            let certificate = certified.end_entity_cert().map_err(|e| e.to_string())?;
            match (public, public_key_info(certificate)) {
                (Some(public), Some(info)) => public == info,
                _ => return Err("--cert-file's certificate cannot be read".into()),
            }
        }
        Err(e) => return Err(e.to_string()),
    };
    if !matches {
        return Err("the private key is not the certificate's".into());
    }
    Ok(certified)
}

/// A certificate's SubjectPublicKeyInfo, read from its DER: the sixth field of its
/// TBSCertificate after the optional version.
fn public_key_info(certificate: &[u8]) -> Option<&[u8]> {
    let tbs = tbs_certificate(certificate)?;
    let first = der(tbs)?;
    let mut fields = if first.tag == 0xa0 { first.rest } else { tbs };
    // Serial number, signature algorithm, issuer, validity, subject.
    for _ in 0..5 {
        fields = der(fields)?.rest;
    }
    sequence(fields).map(|e| e.whole)
}

/// Whether a certificate may serve TLS by its extended key usage, as Go checks it: one with
/// none may; one with the extension must list serverAuth or anyExtendedKeyUsage. None if
/// its DER cannot be read.
fn serves_by_key_usage(certificate: &[u8]) -> Option<bool> {
    /// The extension's OID (2.5.29.37), and the two usages that allow a server, as DER.
    const EXTENDED_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x25];
    const SERVER_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    const ANY: &[u8] = &[0x06, 0x04, 0x55, 0x1d, 0x25, 0x00];
    let tbs = tbs_certificate(certificate)?;
    // The extensions are the TBSCertificate's field tagged [3], after every other.
    let mut fields = tbs;
    let extensions = loop {
        let field = der(fields)?;
        if field.tag == 0xa3 {
            break sequence(field.content)?.content;
        }
        if field.rest.is_empty() {
            return Some(true);
        }
        fields = field.rest;
    };
    let mut rest = extensions;
    while !rest.is_empty() {
        let extension = sequence(rest)?;
        rest = extension.rest;
        let id = der(extension.content)?;
        if id.whole != EXTENDED_KEY_USAGE {
            continue;
        }
        // An optional `critical` BOOLEAN, then the value: an OCTET STRING holding the list.
        let after = der(id.rest)?;
        let value = if after.tag == 0x01 { der(after.rest)? } else { after };
        let mut usages = sequence(value.content)?.content;
        while !usages.is_empty() {
            let usage = der(usages)?;
            if usage.whole == SERVER_AUTH || usage.whole == ANY {
                return Some(true);
            }
            usages = usage.rest;
        }
        return Some(false);
    }
    Some(true)
}

/// A certificate's TBSCertificate: the content of the first SEQUENCE in its own.
fn tbs_certificate(certificate: &[u8]) -> Option<&[u8]> {
    Some(sequence(sequence(certificate)?.content)?.content)
}

/// The DER element at the start of `input`, if it is a SEQUENCE.
fn sequence(input: &[u8]) -> Option<Element<'_>> {
    der(input).filter(|e| e.tag == 0x30)
}

/// One DER element, and what follows it.
struct Element<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

fn der(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_length) = after_tag.split_first()?;
    let (length, body) = match first {
        0..=0x7f => (usize::from(first), after_length),
        0x81..=0x84 => {
            let (bytes, body) = after_length.split_at_checked(usize::from(first & 0x7f))?;
            (bytes.iter().fold(0, |n, &b| n << 8 | usize::from(b)), body)
        }
        _ => return None,
    };
    let (content, rest) = body.split_at_checked(length)?;
    let header = input.len() - body.len();
    Some(Element { tag, whole: &input[..header + length], content, rest })
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
/// fills a pool, a block that is no certificate, or whose base64 does not decode, is passed
/// over; a bundle with none is refused.
fn ca_file(path: Option<&PathBuf>) -> Result<Vec<CertificateDer<'static>>> {
    let Some(path) = path else { return Ok(Vec::new()) };
    let bundle = std::fs::read(path).map_err(|e| unreadable("--ca-file", path, pem::Error::Io(e)))?;
    let mut certs = Vec::new();
    // The slice's reader has moved past a block that did not decode: the next is read on.
    for block in CertificateDer::pem_slice_iter(&bundle) {
        match block {
            Ok(cert) if webpki::anchor_from_trusted_cert(&cert).is_ok() => certs.push(cert),
            Ok(_) | Err(pem::Error::Base64Decode(_)) => {}
            Err(e) => return Err(unreadable("--ca-file", path, e)),
        }
    }
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
    webpki_refused(e, webpki::Error::CaUsedAsEndEntity)
}

/// Whether webpki refused a certificate for this reason.
fn webpki_refused(e: &rustls::Error, why: webpki::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(CertificateError::Other(other))
        if other.0.downcast_ref::<webpki::Error>() == Some(&why))
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
            // is it here, once it names the host and its key usage allows a server, as Go
            // checks both (webpki has checked its dates before its CA flag).
            Err(e) if is_ca_as_server(&e) && self.is_root(end_entity) => {
                webpki::EndEntityCert::try_from(end_entity)
                    .and_then(|cert| cert.verify_is_valid_for_subject_name(server_name))
                    .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
                if serves_by_key_usage(end_entity) != Some(true) {
                    return Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose));
                }
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
        // A signature that does not verify: the certificate's, by a trusted CA of its
        // issuer's name (another CA made under the same name, say), or the handshake's, by
        // the certificate's key; rustls says both alike.
        Tls::InvalidCertificate(CertificateError::BadSignature) => format!(
            "a signature does not verify: the certificate's (is it signed by another CA of the same name? {}) or the handshake's",
            advice.trust_ca()
        ),
        Tls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!("certificate is not valid for {host}"),
        Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "certificate has expired".to_string()
        }
        Tls::InvalidCertificate(CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }) => {
            "certificate specifies an incompatible key usage: its extended key usage does not allow a server".to_string()
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
    fn a_certificates_der_is_read_without_trusting_its_lengths() {
        // TBSCertificate (no version): serial, algorithm, issuer, validity, subject, then the key.
        let fields: Vec<u8> = [[0x02, 1, 7], [0x30, 1, 0], [0x30, 1, 0], [0x30, 1, 0], [0x30, 1, 0]].concat();
        let spki = [0x30, 2, 0x03, 0];
        let tbs = [&[0x30, (fields.len() + spki.len()) as u8][..], &fields, &spki].concat();
        let certificate = [&[0x30, tbs.len() as u8][..], &tbs].concat();
        assert_eq!(public_key_info(&certificate), Some(&spki[..]));
        // With the version field first ([0] EXPLICIT INTEGER 2), as version 3 has it.
        let versioned = [&[0xa0, 3, 0x02, 1, 2][..], &fields, &spki].concat();
        let versioned = [&[0x30, versioned.len() as u8][..], &versioned].concat();
        let versioned = [&[0x30, versioned.len() as u8][..], &versioned].concat();
        assert_eq!(public_key_info(&versioned), Some(&spki[..]));
        for cut in 0..certificate.len() {
            assert_eq!(public_key_info(&certificate[..cut]), None, "cut at {cut}");
        }
        assert_eq!(public_key_info(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(public_key_info(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
    }

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
    fn a_certificate_serves_unless_its_extended_key_usage_leaves_servers_out() {
        // TBSCertificate fields reduced to what the reader passes over, then [3] extensions.
        let certificate = |extensions: &[u8]| {
            let mut tbs = vec![0x02, 0x01, 0x01];
            if !extensions.is_empty() {
                let list = [&[0x30, extensions.len() as u8][..], extensions].concat();
                tbs.extend([0xa3, list.len() as u8]);
                tbs.extend(list);
            }
            let tbs = [&[0x30, tbs.len() as u8][..], &tbs].concat();
            [&[0x30, tbs.len() as u8][..], &tbs].concat()
        };
        let eku = |critical: bool, usages: &[&[u8]]| {
            let list: Vec<u8> = usages.concat();
            let list = [&[0x30, list.len() as u8][..], &list].concat();
            let value = [&[0x04, list.len() as u8][..], &list].concat();
            let flag: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
            let body = [&[0x06, 0x03, 0x55, 0x1d, 0x25][..], flag, &value].concat();
            [&[0x30, body.len() as u8][..], &body].concat()
        };
        let basic_constraints: &[u8] = &[0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x03, 0x30, 0x01, 0xff];
        let server: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
        let client: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
        let any: &[u8] = &[0x06, 0x04, 0x55, 0x1d, 0x25, 0x00];
        assert_eq!(serves_by_key_usage(&certificate(&[])), Some(true));
        assert_eq!(serves_by_key_usage(&certificate(basic_constraints)), Some(true));
        assert_eq!(serves_by_key_usage(&certificate(&eku(false, &[client, server]))), Some(true));
        assert_eq!(serves_by_key_usage(&certificate(&eku(true, &[any]))), Some(true));
        let client_only = [basic_constraints, &eku(true, &[client])].concat();
        assert_eq!(serves_by_key_usage(&certificate(&client_only)), Some(false));
        assert_eq!(serves_by_key_usage(&[0x30, 0x05, 0x30]), None);
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
        let namesake = rustls::Error::InvalidCertificate(CertificateError::BadSignature);
        assert_eq!(
            said(&namesake, Advice::RepoAdd),
            "TLS: a signature does not verify: the certificate's (is it signed by another CA of the same name? trust its CA with `helm repo add --ca-file`) or the handshake's"
        );
        assert_eq!(
            said(&not_tls, Advice::RepoAdd),
            "TLS: handshake failed: the server does not speak TLS (add an HTTP registry as ocirepo+http://…)"
        );
        assert!(said(&required, Advice::RepoAdd).ends_with("`helm repo add --cert-file --key-file`)"));
    }
}
