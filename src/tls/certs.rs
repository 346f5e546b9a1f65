//! Reading certificates and keys from PEM files, with errors that name the
//! file and say what is wrong in it (for configuration errors).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Which of the pair a failure concerns (so the error points at its field).
#[derive(Debug)]
pub enum PairError {
    Cert(String),
    Key(String),
}

/// The process's crypto provider: aws-lc-rs.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static P: std::sync::OnceLock<Arc<rustls::crypto::CryptoProvider>> = std::sync::OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    certs_from(path, &bytes)
}

fn certs_from(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{}`: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "`{}` holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A certificate chain and its private key, checked to match; also the
/// files' bytes (for the configuration's digest).
pub fn load_pair(cert: &Path, key: &Path) -> Result<(Arc<CertifiedKey>, Vec<u8>), PairError> {
    let cbytes = read(cert).map_err(PairError::Cert)?;
    let chain = certs_from(cert, &cbytes).map_err(PairError::Cert)?;
    let kbytes = read(key).map_err(PairError::Key)?;
    let der = PrivateKeyDer::from_pem_slice(&kbytes).map_err(|e| {
        PairError::Key(format!(
            "`{}`: no PEM private key (PKCS#8, PKCS#1 or SEC1) found: {e}",
            key.display()
        ))
    })?;
    let ck = CertifiedKey::from_der(chain, der, &provider()).map_err(|e| {
        PairError::Key(format!(
            "`{}` does not fit the certificate `{}`: {e}",
            key.display(),
            cert.display()
        ))
    })?;
    let mut bytes = cbytes;
    bytes.extend_from_slice(&kbytes);
    Ok((Arc::new(ck), bytes))
}
