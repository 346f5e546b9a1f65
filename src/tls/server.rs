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

/// Values by SNI name: exact first, then a `*.` wildcard for one more label.
#[derive(Debug)]
pub struct ByName<T> {
    exact: HashMap<String, T>,
    wildcard: HashMap<String, T>,
}

impl<T> ByName<T> {
    fn new() -> ByName<T> {
        ByName {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        }
    }

    fn insert(&mut self, name: &str, v: T) {
        match name.strip_prefix("*.") {
            Some(parent) => self.wildcard.insert(parent.to_owned(), v),
            None => self.exact.insert(name.to_owned(), v),
        };
    }

    pub fn find(&self, sni: Option<&str>) -> Option<&T> {
        let name = sni?.trim_end_matches('.').to_ascii_lowercase();
        self.exact.get(&name).or_else(|| {
            let (_, parent) = name.split_once('.')?;
            self.wildcard.get(parent)
        })
    }
}

/// A TLS listener's configurations: the default one, and one per domain
/// with its own client CA (mTLS), chosen from the ClientHello's SNI name
/// before the handshake goes on.
#[derive(Debug)]
pub struct ListenerConfigs {
    pub default: Arc<rustls::ServerConfig>,
    /// `None` when no domain has its own client CA (the fast path: no
    /// ClientHello peek).
    pub per_domain: Option<ByName<Arc<rustls::ServerConfig>>>,
}

impl ListenerConfigs {
    pub fn pick(&self, sni: Option<&str>) -> Arc<rustls::ServerConfig> {
        self.per_domain
            .as_ref()
            .and_then(|m| m.find(sni))
            .unwrap_or(&self.default)
            .clone()
    }
}

fn client_verifier(
    ca: &str,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::certs::load_certs(Path::new(ca))? {
        roots
            .add(c)
            .map_err(|e| format!("`{ca}`: unusable CA certificate: {e}"))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("`{ca}`: {e}"))
}

/// Build a listener's configurations (reads the certificate files).
pub fn listener_configs(tls: &ListenerTls, http2: &Http2) -> Result<Arc<ListenerConfigs>, String> {
    let resolver = Arc::new(resolver(tls)?);
    let build = |ca: Option<&String>| -> Result<Arc<rustls::ServerConfig>, String> {
        let b = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?;
        let b = match ca {
            Some(ca) => b.with_client_cert_verifier(client_verifier(ca)?),
            None => b.with_no_client_auth(),
        };
        let mut cfg = b.with_cert_resolver(resolver.clone());
        finish(&mut cfg, http2);
        Ok(Arc::new(cfg))
    };
    let default = build(tls.client_ca.as_ref())?;
    let mut per_domain: Option<ByName<Arc<rustls::ServerConfig>>> = None;
    for s in tls.sni.iter().filter(|s| s.client_ca.is_some()) {
        let cfg = build(s.client_ca.as_ref())?;
        for n in &s.names {
            per_domain
                .get_or_insert_with(ByName::new)
                .insert(n, cfg.clone());
        }
    }
    Ok(Arc::new(ListenerConfigs {
        default,
        per_domain,
    }))
}

fn resolver(tls: &ListenerTls) -> Result<SniResolver, String> {
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
    Ok(SniResolver {
        exact,
        wildcard,
        default: pair(&tls.cert, &tls.key)?,
    })
}

fn finish(cfg: &mut rustls::ServerConfig, http2: &Http2) {
    cfg.alpn_protocols = if http2.enabled {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    if let Some(t) = ticketer() {
        cfg.ticketer = t;
        cfg.send_tls13_tickets = 2;
    }
    cfg.session_storage = session_cache();
}
