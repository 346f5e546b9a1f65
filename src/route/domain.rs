//! Custom domains on one listener: the request's `Host` picks a domain
//! (exact names first, then `*.` wildcards), and the first path segment picks
//! its base path mapping.
//!
//! Guarantees: matching allocates nothing (the host is lower-cased into a
//! stack buffer); names compare case-insensitively, with the port and one
//! trailing dot ignored; a wildcard matches exactly one more non-empty label.
//! A domain is served on a listener when one of its mappings' APIs is; its
//! mappings to APIs not served there are left out. Does not: route within
//! the stage (see `Table::route`).

use super::{Selected, StageMatch};
use crate::config::{Gateway, Protocol};

/// Longest DNS name.
const MAX_HOST: usize = 253;

#[derive(Debug, Default)]
pub(crate) struct Domains {
    /// Sorted by name.
    exact: Vec<DomainRoutes>,
    /// Sorted by name, which is the part after `*.`.
    wildcard: Vec<DomainRoutes>,
}

#[derive(Debug)]
pub(crate) struct DomainRoutes {
    name: Box<[u8]>,
    /// (base path, api, stage), sorted by base path.
    mappings: Vec<(Box<[u8]>, usize, usize)>,
    /// The `""` mapping: (api, stage).
    root: Option<(usize, usize)>,
    /// The answer's shape for an unmapped base path: the first mapped API's.
    protocol: Protocol,
}

impl Domains {
    pub(crate) fn build(gw: &Gateway, listener: usize) -> Domains {
        let mut out = Domains::default();
        for d in &gw.domains {
            let mut routes = DomainRoutes {
                name: d.name.trim_start_matches("*.").as_bytes().into(),
                mappings: Vec::new(),
                root: None,
                protocol: Protocol::Http,
            };
            let mut served = false;
            for m in &d.mappings {
                let api = &gw.apis[m.api];
                if !api.listeners.contains(&listener) {
                    continue;
                }
                if !served {
                    routes.protocol = api.protocol;
                    served = true;
                }
                if m.base_path.is_empty() {
                    routes.root = Some((m.api, m.stage));
                } else {
                    routes
                        .mappings
                        .push((m.base_path.as_bytes().into(), m.api, m.stage));
                }
            }
            if !served {
                continue;
            }
            routes.mappings.sort_by(|a, b| a.0.cmp(&b.0));
            if d.name.starts_with("*.") {
                out.wildcard.push(routes);
            } else {
                out.exact.push(routes);
            }
        }
        out.exact.sort_by(|a, b| a.name.cmp(&b.name));
        out.wildcard.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// The domain a `Host` field value names, if it is one of ours.
    pub(crate) fn find(&self, host: &[u8]) -> Option<&DomainRoutes> {
        if host.first() == Some(&b'[') {
            return None; // an IPv6 literal is no domain name
        }
        let name = match memchr::memchr(b':', host) {
            Some(i) => &host[..i],
            None => host,
        };
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() || name.len() > MAX_HOST {
            return None;
        }
        let mut buf = [0u8; MAX_HOST];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        let lower = &*lower;
        let by_name =
            |list: &[DomainRoutes], key: &[u8]| list.binary_search_by(|d| (*d.name).cmp(key)).ok();
        if let Some(i) = by_name(&self.exact, lower) {
            return Some(&self.exact[i]);
        }
        let dot = memchr::memchr(b'.', lower)?;
        if dot == 0 {
            return None;
        }
        by_name(&self.wildcard, &lower[dot + 1..]).map(|i| &self.wildcard[i])
    }
}

impl DomainRoutes {
    /// The stage the base path of `path` maps to, and where the rest starts.
    pub(crate) fn select(&self, path: &[u8]) -> Selected {
        if let Some(body) = path.strip_prefix(b"/") {
            let first = match memchr::memchr(b'/', body) {
                Some(cut) => &body[..cut],
                None => body,
            };
            if let Ok(i) = self.mappings.binary_search_by(|m| (*m.0).cmp(first)) {
                let (_, api, stage) = self.mappings[i];
                return Selected::Stage(StageMatch {
                    api,
                    stage,
                    rest_start: 1 + first.len(),
                });
            }
        }
        match self.root {
            Some((api, stage)) => Selected::Stage(StageMatch {
                api,
                stage,
                rest_start: 0,
            }),
            None => Selected::Forbidden(self.protocol),
        }
    }
}
