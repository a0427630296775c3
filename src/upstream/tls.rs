//! Private CAs: an upstream's `ca_file` (PEM), trusted on top of the system roots by its HTTPS
//! client (every kind) and its `amqps://` connection (RabbitMQ).

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// CA certificates trusted on top of the system roots, from an upstream's `ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCa {
    path: PathBuf,
    /// The certificates re-encoded as PEM (other PEM sections of the file are left out).
    pem: String,
}

impl TrustedCa {
    /// Reads `path` and checks that it holds at least one valid X.509 certificate in PEM form;
    /// the error names the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<TrustedCa, String> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read ca_file {shown}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        let mut pem = String::new();
        for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
            let number = index + 1;
            let cert = cert.map_err(|e| {
                format!("ca_file {shown}: certificate {number} is not valid PEM: {e}")
            })?;
            pem.push_str(&to_pem(&cert));
            roots.add(cert).map_err(|e| {
                // rustls words every certificate problem as "invalid peer certificate".
                let why = match e {
                    rustls::Error::InvalidCertificate(problem) => format!("{problem:?}"),
                    other => other.to_string(),
                };
                format!("ca_file {shown}: certificate {number} is not a usable X.509 certificate ({why})")
            })?;
        }
        if roots.is_empty() {
            return Err(format!(
                "ca_file {shown} holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)"
            ));
        }
        Ok(TrustedCa {
            path: path.to_path_buf(),
            pem,
        })
    }

    /// The file the certificates came from (named in TLS errors).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates as PEM blocks.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

/// One certificate as a PEM block (base64 in lines of 64).
fn to_pem(cert: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
