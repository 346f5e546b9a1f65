//! TLS and HTTP/2 settings of listeners (`tls:`, `http2:`, `redirect_https`,
//! `hsts_max_age`) and of upstreams (`tls:`), checked and resolved.
//!
//! Guarantees: every certificate and key file named was read and parsed
//! (PEM: a certificate chain, one private key, and the key matches the
//! chain's first certificate) while loading; an unreadable or malformed file
//! is a configuration error at the field naming it, with the file named. The
//! resolved listener carries a digest of those files' bytes, so a changed
//! certificate changes the configuration's id and a reload picks it up.
//! SNI names are lower-case DNS names or `*.` wildcards, each named once per
//! listener. Does not: keep key material in the resolved model (paths only;
//! `tls::server` reads the files again when a worker builds its state).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::model::S;
use super::resolve::{Errors, place};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListenerTls {
    /// The default certificate chain (PEM), served when no SNI name matches.
    pub cert: S<String>,
    pub key: S<String>,
    /// Certificates chosen by the client's SNI name.
    #[serde(default)]
    pub certificates: Vec<RawSniCert>,
    /// mTLS for names without their own `client_ca`: clients must present
    /// a certificate issued by one of these CAs (PEM bundle).
    pub client_ca: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSniCert {
    /// `api.example.com` (exact) or `*.example.com` (one more label).
    pub names: S<Vec<S<String>>>,
    pub cert: S<String>,
    pub key: S<String>,
    /// mTLS for these names (see `RawListenerTls::client_ca`).
    pub client_ca: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp2 {
    /// Offer `h2` by ALPN on a TLS listener. Default true.
    pub enabled: Option<S<bool>>,
    /// Accept HTTP/2 with prior knowledge (h2c) on a plain listener. Default false.
    pub h2c: Option<S<bool>>,
    pub max_concurrent_streams: Option<S<u32>>,
    pub max_header_list_size: Option<S<u32>>,
    pub max_pending_accept_reset_streams: Option<S<u32>>,
    pub max_local_error_reset_streams: Option<S<u32>>,
}

/// `protocol:` of an upstream.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawUpstreamProtocol {
    Http1,
    H2,
}

/// What an upstream speaks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 over pooled keep-alive connections (default).
    #[default]
    Http1,
    /// HTTP/2 (h2c, or h2 by ALPN with `tls:`): requests from HTTP/2
    /// clients stream through, trailers included (gRPC).
    H2,
}

impl From<RawUpstreamProtocol> for UpstreamProtocol {
    fn from(r: RawUpstreamProtocol) -> UpstreamProtocol {
        match r {
            RawUpstreamProtocol::Http1 => UpstreamProtocol::Http1,
            RawUpstreamProtocol::H2 => UpstreamProtocol::H2,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstreamTls {
    /// PEM bundle of CA certificates to trust instead of the web's roots.
    pub ca_file: Option<S<String>>,
    /// The name sent by SNI and verified (default: the target's host).
    pub server_name: Option<S<String>>,
    /// Do not verify the upstream's certificate at all (tests, labs).
    pub skip_verify: Option<S<bool>>,
}

/// A listener's TLS: certificate files, by path.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ListenerTls {
    pub cert: String,
    pub key: String,
    pub sni: Vec<SniCert>,
    /// mTLS CA bundle for the default certificate's names.
    pub client_ca: Option<String>,
    /// SHA-256 (hex) over every file's bytes: the id changes with them.
    pub digest: String,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SniCert {
    /// Lower-case; `*.example.com` for a wildcard.
    pub names: Vec<String>,
    pub cert: String,
    pub key: String,
    /// mTLS CA bundle for these names.
    pub client_ca: Option<String>,
}

/// HTTP/2 on a listener.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Http2 {
    /// Offered by ALPN on TLS (default true).
    pub enabled: bool,
    /// Prior-knowledge h2c on a plain listener (default false).
    pub h2c: bool,
    /// Default 128.
    pub max_concurrent_streams: u32,
    /// Default 16 KiB (as `limits.max_header_bytes`).
    pub max_header_list_size: u32,
    /// Rapid Reset (CVE-2023-44487): streams reset by the client before the
    /// gateway accepted them, at most; beyond → GOAWAY. Default 20.
    pub max_pending_accept_reset_streams: u32,
    /// Streams the gateway had to reset for the client's errors; beyond →
    /// GOAWAY. Default 256.
    pub max_local_error_reset_streams: u32,
}

impl Default for Http2 {
    fn default() -> Http2 {
        Http2 {
            enabled: true,
            h2c: false,
            max_concurrent_streams: 128,
            max_header_list_size: 16384,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 256,
        }
    }
}

/// An upstream's TLS settings.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct UpstreamTls {
    /// Trust these CAs (PEM) instead of the bundled web roots.
    pub ca_file: Option<String>,
    /// SNI and the name verified; `None`: the target's host as written.
    pub server_name: Option<String>,
    pub skip_verify: bool,
}

/// A path as written, relative to the configuration file's directory.
fn relative(config: &str, p: &str) -> String {
    let path = Path::new(p);
    if path.is_absolute() {
        return p.to_owned();
    }
    let dir = Path::new(config).parent().unwrap_or(Path::new(""));
    let joined: PathBuf = dir.join(path);
    joined.display().to_string()
}

pub(crate) fn resolve_listener_tls(
    raw: &RawListenerTls,
    errors: &mut Errors,
) -> Option<ListenerTls> {
    let file = errors.file().to_owned();
    let digest = std::cell::RefCell::new(Sha256::new());
    let ok = std::cell::Cell::new(true);
    let pair = |cert: &S<String>, key: &S<String>, errors: &mut Errors| {
        let c = relative(&file, &cert.value);
        let k = relative(&file, &key.value);
        match crate::tls::certs::load_pair(Path::new(&c), Path::new(&k)) {
            Ok((_, bytes)) => digest.borrow_mut().update(&bytes),
            Err(crate::tls::certs::PairError::Cert(e)) => {
                errors.at(&cert.referenced, e);
                ok.set(false);
            }
            Err(crate::tls::certs::PairError::Key(e)) => {
                errors.at(&key.referenced, e);
                ok.set(false);
            }
        }
        (c, k)
    };
    let (cert, key) = pair(&raw.cert, &raw.key, errors);
    let ca = |c: &Option<S<String>>, errors: &mut Errors| {
        c.as_ref().map(|c| {
            let p = relative(&file, &c.value);
            match std::fs::read(&p) {
                Ok(bytes) => {
                    if let Err(e) = crate::tls::certs::load_certs(Path::new(&p)) {
                        errors.at(&c.referenced, e);
                        ok.set(false);
                    }
                    digest.borrow_mut().update(&bytes);
                }
                Err(e) => {
                    errors.at(&c.referenced, format!("cannot read `{p}`: {e}"));
                    ok.set(false);
                }
            }
            p
        })
    };
    let client_ca = ca(&raw.client_ca, errors);
    let mut sni: Vec<SniCert> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for s in &raw.certificates {
        if s.names.value.is_empty() {
            errors.at(&s.names.referenced, "`names` needs at least one name");
        }
        let mut names = Vec::new();
        for n in &s.names.value {
            let name = n.value.to_ascii_lowercase();
            if let Err(e) = super::domains::check_domain_name(&name) {
                errors.at(&n.referenced, e);
            }
            if let Some((_, at)) = seen.iter().find(|(o, _)| *o == name) {
                errors.at(
                    &n.referenced,
                    format!("certificate name `{name}` is already listed at {at}"),
                );
            }
            seen.push((name.clone(), place(&n.referenced)));
            names.push(name);
        }
        let (cert, key) = pair(&s.cert, &s.key, errors);
        let client_ca = ca(&s.client_ca, errors);
        sni.push(SniCert {
            names,
            cert,
            key,
            client_ca,
        });
    }
    let hex = digest
        .into_inner()
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    ok.get().then_some(ListenerTls {
        cert,
        key,
        sni,
        client_ca,
        digest: hex,
    })
}

pub(crate) fn resolve_http2(raw: Option<&RawHttp2>, errors: &mut Errors) -> Http2 {
    let d = Http2::default();
    let Some(raw) = raw else { return d };
    let positive = |v: &Option<S<u32>>, field: &str, default: u32, errors: &mut Errors| match v {
        Some(s) if s.value == 0 => {
            errors.at(&s.referenced, format!("`{field}` must be greater than 0"));
            default
        }
        Some(s) => s.value,
        None => default,
    };
    Http2 {
        enabled: raw.enabled.as_ref().is_none_or(|b| b.value),
        h2c: raw.h2c.as_ref().is_some_and(|b| b.value),
        max_concurrent_streams: positive(
            &raw.max_concurrent_streams,
            "max_concurrent_streams",
            d.max_concurrent_streams,
            errors,
        ),
        max_header_list_size: positive(
            &raw.max_header_list_size,
            "max_header_list_size",
            d.max_header_list_size,
            errors,
        ),
        max_pending_accept_reset_streams: positive(
            &raw.max_pending_accept_reset_streams,
            "max_pending_accept_reset_streams",
            d.max_pending_accept_reset_streams,
            errors,
        ),
        max_local_error_reset_streams: positive(
            &raw.max_local_error_reset_streams,
            "max_local_error_reset_streams",
            d.max_local_error_reset_streams,
            errors,
        ),
    }
}

pub(crate) fn resolve_upstream_tls(raw: &RawUpstreamTls, errors: &mut Errors) -> UpstreamTls {
    let file = errors.file().to_owned();
    let ca_file = raw.ca_file.as_ref().map(|c| {
        let p = relative(&file, &c.value);
        if let Err(e) = crate::tls::certs::load_certs(Path::new(&p)) {
            errors.at(&c.referenced, e);
        }
        p
    });
    let server_name = raw.server_name.as_ref().map(|n| {
        if rustls::pki_types::ServerName::try_from(n.value.as_str()).is_err() {
            errors.at(
                &n.referenced,
                format!("`{}` is not a DNS name or IP address", n.value),
            );
        }
        n.value.clone()
    });
    UpstreamTls {
        ca_file,
        server_name,
        skip_verify: raw.skip_verify.as_ref().is_some_and(|b| b.value),
    }
}

/// What only a TLS listener, or only a plain one, may set.
pub(crate) fn check_listener(l: &super::model::RawListener, errors: &mut Errors) {
    let tls = l.tls.is_some();
    if let Some(r) = l.redirect_https.as_ref().filter(|_| tls) {
        errors.at(
            &r.referenced,
            "`redirect_https` belongs on a plain listener (this one has `tls:`, it would redirect to itself)",
        );
    }
    if let Some(h) = l.hsts_max_age.as_ref().filter(|_| !tls) {
        errors.at(
            &h.referenced,
            "`hsts_max_age` applies only to a listener with `tls:` (browsers ignore it over plain HTTP)",
        );
    }
    if let Some(h) = l.http2.as_ref()
        && let Some(c) = h.value.h2c.as_ref().filter(|c| c.value && tls)
    {
        errors.at(
            &c.referenced,
            "`h2c` is HTTP/2 without TLS; on a `tls:` listener HTTP/2 is chosen by ALPN (`enabled`)",
        );
    }
}
