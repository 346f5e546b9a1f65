//! A TLS listener's rustls configuration: the certificate chosen by the
//! client's SNI name (exact name first, then a `*.` wildcard for one more
//! label, else the default), TLS 1.2 and 1.3 with the provider's modern
//! AEAD suites only (ECDHE key exchange; no CBC, no RSA key exchange),
//! ALPN `h2` (when HTTP/2 is enabled) and `http/1.1`, and session
//! resumption: stateless tickets and a session cache, both shared by every
//! worker and configuration of the process, so a resumed handshake may land
//! on any core and survive a reload.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;

use crate::config::{Http2, ListenerTls};
use crate::tls::certs::{PairError, load_pair, provider};

/// Certificates by SNI name.
#[derive(Debug)]
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl SniResolver {
    /// The certificate for `sni` (already lower-case per RFC 6066, but
    /// compared case-insensitively anyway).
    pub fn pick(&self, sni: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = sni else {
            return &self.default;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(c) = self.exact.get(&name) {
            return c;
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(c) = self.wildcard.get(parent)
        {
            return c;
        }
        &self.default
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()).clone())
    }
}

fn ticketer() -> Option<Arc<dyn ProducesTickets>> {
    static T: OnceLock<Option<Arc<dyn ProducesTickets>>> = OnceLock::new();
    T.get_or_init(|| rustls::crypto::aws_lc_rs::Ticketer::new().ok())
        .clone()
}

fn session_cache() -> Arc<dyn StoresServerSessions + Send + Sync> {
    static C: OnceLock<Arc<dyn StoresServerSessions + Send + Sync>> = OnceLock::new();
    C.get_or_init(|| rustls::server::ServerSessionMemoryCache::new(16384))
        .clone()
}

fn pair(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    load_pair(Path::new(cert), Path::new(key))
        .map(|(ck, _)| ck)
        .map_err(|e| match e {
            PairError::Cert(m) | PairError::Key(m) => m,
        })
}

/// Build a listener's server configuration (reads the certificate files).
pub fn server_config(
    tls: &ListenerTls,
    http2: &Http2,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    for s in &tls.sni {
        let ck = pair(&s.cert, &s.key)?;
        for n in &s.names {
            match n.strip_prefix("*.") {
                Some(parent) => wildcard.insert(parent.to_owned(), ck.clone()),
                None => exact.insert(n.clone(), ck.clone()),
            };
        }
    }
    let resolver = SniResolver {
        exact,
        wildcard,
        default: pair(&tls.cert, &tls.key)?,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = if http2.enabled && crate::tls::H2_SERVER {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    if let Some(t) = ticketer() {
        cfg.ticketer = t;
        cfg.send_tls13_tickets = 2;
    }
    cfg.session_storage = session_cache();
    Ok(Arc::new(cfg))
}
