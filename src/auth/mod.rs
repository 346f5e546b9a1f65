//! Authentication and authorization. `sigv4`: AWS Signature Version 4
//! signing, and `sigv4_verify` its verifying side (IAM authorization);
//! `policy`: IAM-like policy documents evaluated for
//! `execute-api:Invoke` against method ARNs (IAM access keys and Lambda
//! authorizers' policy responses); `jwt` and `jwks`: JWT authorizers;
//! `lambda_authorizer`: REQUEST and TOKEN authorizers' events and answers.
//!
//! Every authorizer, whatever its kind, yields an [`Identity`] (who the
//! caller is, what the integration and the access log may learn of it)
//! or refuses; the pipeline's `authorize` step (`pipeline::authorize`)
//! decides which authorizer runs. [`CoreAuth`] is one worker's part: its
//! caches (verified tokens, Lambda-style results) and the shared JWKS store.

pub mod jwks;
pub mod jwt;
pub mod lambda_authorizer;
pub mod policy;
pub mod sigv4;
pub mod sigv4_verify;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// What authorized a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentityKind {
    #[default]
    Jwt,
    /// A Lambda-style (REQUEST or TOKEN) authorizer.
    Lambda,
    /// IAM (SigV4) authorization.
    Iam,
}

/// Who the caller is, as an authorizer established it. Shared (`Rc`) by a
/// request and the per-core caches; built once per verification or
/// authorizer call, never per cached request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Identity {
    pub kind: IdentityKind,
    /// `$context.authorizer.principalId`: a Lambda authorizer's
    /// `principalId`, a JWT's `sub`, an IAM caller's principal.
    pub principal_id: Option<String>,
    /// JWT claims: (name, JSON text of the value).
    pub claims: Vec<(String, String)>,
    /// JWT scopes (`scope` / `scp`).
    pub scopes: Option<Vec<String>>,
    /// A Lambda authorizer's `context`: (name, JSON text of the value).
    pub context: Vec<(String, String)>,
    /// A Lambda authorizer's `usageIdentifierKey` (an API key value).
    pub usage_identifier_key: Option<String>,
}

impl Identity {
    /// A claim's (JWT) or context property's (Lambda) JSON text.
    pub fn value(&self, name: &str) -> Option<&str> {
        let list = match self.kind {
            IdentityKind::Jwt => &self.claims,
            _ => &self.context,
        };
        list.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Most entries a per-core cache holds; past it, expired entries go, and
/// if none had expired, all.
pub const CACHE_ENTRIES: usize = 16_384;

/// A per-core cache of values that expire: keyed by bytes (a token, the
/// identity sources' values), looked up without allocating.
#[derive(Debug)]
pub struct TtlCache<V> {
    map: HashMap<Box<[u8]>, (Instant, V)>,
}

impl<V> Default for TtlCache<V> {
    fn default() -> Self {
        TtlCache {
            map: HashMap::new(),
        }
    }
}

impl<V: Clone> TtlCache<V> {
    /// The value under `key` unless it expired by `now`.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<V> {
        match self.map.get(key) {
            Some((exp, v)) if *exp > now => Some(v.clone()),
            Some(_) => {
                self.map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&mut self, key: &[u8], value: V, expires: Instant, now: Instant) {
        if self.map.len() >= CACHE_ENTRIES {
            self.map.retain(|_, (e, _)| *e > now);
            if self.map.len() >= CACHE_ENTRIES {
                self.map.clear();
            }
        }
        self.map.insert(key.into(), (expires, value));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// One worker's authorization state for one configuration generation.
#[derive(Debug, Default)]
pub struct CoreAuth {
    /// The process's JWKS (set by the worker from the shared state).
    pub jwks: Arc<jwks::JwksStore>,
    /// Verified JWTs until their `exp`: key = api, authorizer, token.
    pub tokens: RefCell<TtlCache<Rc<Identity>>>,
    /// Lambda-style authorizers' results for their TTL: key = api,
    /// authorizer, identity source values (and the route when configured).
    pub results: RefCell<TtlCache<Rc<lambda_authorizer::Outcome>>>,
    /// Scratch for cache keys (reused: no allocation per lookup).
    pub key: RefCell<Vec<u8>>,
    /// Scratch for method ARNs.
    pub arn: RefCell<String>,
    /// TOKEN authorizers' `identity_validation_expression`, compiled:
    /// `[api][authorizer]`.
    pub validations: Vec<Vec<Option<regex_lite::Regex>>>,
}

impl CoreAuth {
    /// This worker's part for configuration `gw`, sharing `jwks`.
    pub fn build(gw: &crate::config::Gateway, jwks: Arc<jwks::JwksStore>) -> CoreAuth {
        let validations = gw
            .apis
            .iter()
            .map(|api| {
                api.authorizers
                    .iter()
                    .map(|a| match &a.kind {
                        crate::config::AuthorizerKind::Lambda(l) => l
                            .identity_validation_expression
                            .as_deref()
                            .and_then(|e| crate::config::validation_regex(e).ok()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        CoreAuth {
            jwks,
            validations,
            ..CoreAuth::default()
        }
    }
}

/// The region method ARNs name: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
pub fn region() -> &'static str {
    static REGION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REGION.get_or_init(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
            .unwrap_or_else(|| "us-east-1".to_owned())
    })
}
