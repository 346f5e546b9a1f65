//! The configuration file as written: serde structs that mirror the schema in
//! the [module docs](super), every value the loader checks wrapped in
//! [`Spanned`] so errors can point at it.
//!
//! Guarantees: unknown fields are refused (with their location) by serde;
//! nothing here checks meaning. Does not: resolve names or defaults (see
//! `resolve` and `routes`).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

pub(crate) use super::limits::{
    RawAccountThrottle, RawApiKey, RawRouteSettings, RawThrottle, RawUsagePlan,
};

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    pub listeners: S<Vec<RawListener>>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub upstreams: OrderedMap<RawUpstream>,
    #[serde(default)]
    pub apis: Vec<RawApi>,
    #[serde(default)]
    pub domains: Vec<RawDomain>,
    // Throttling, API keys, usage plans and quota state (see `limits`).
    pub throttling: Option<S<RawAccountThrottle>>,
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    pub api_keys_csv: Option<S<String>>,
    #[serde(default)]
    pub usage_plans: Vec<RawUsagePlan>,
    pub state_dir: Option<S<String>>,
    pub quota_store: Option<S<String>>,
    pub reconcile_ms: Option<S<u64>>,
    /// IAM authorization's access keys (see `iam`).
    pub iam: Option<S<super::iam::RawIam>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub name: S<String>,
    pub address: S<String>,
    /// TLS termination (see `tls`).
    pub tls: Option<S<super::tls::RawListenerTls>>,
    pub http2: Option<S<super::tls::RawHttp2>>,
    /// Answer every request with a redirect to https on this port.
    pub redirect_https: Option<S<u16>>,
    /// `Strict-Transport-Security: max-age=N` on a TLS listener's responses.
    pub hsts_max_age: Option<S<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_header_bytes: Option<S<u64>>,
    pub max_headers: Option<S<u64>>,
    pub max_body_bytes: Option<S<u64>>,
    pub header_read_timeout_ms: Option<S<u64>>,
    pub keepalive_timeout_ms: Option<S<u64>>,
    pub drain_timeout_ms: Option<S<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub targets: S<Vec<S<String>>>,
    pub balance: Option<S<RawBalance>>,
    pub pool_size: Option<S<u64>>,
    pub connect_timeout_ms: Option<S<u64>>,
    pub idle_timeout_ms: Option<S<u64>>,
    /// TLS to the targets (`https://` integration URIs).
    pub tls: Option<S<super::tls::RawUpstreamTls>>,
    /// `http1` (default) or `h2`.
    pub protocol: Option<S<super::tls::RawUpstreamProtocol>>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawBalance {
    RoundRobin,
    LeastRequest,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawProtocol {
    Http,
    Rest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub name: S<String>,
    pub protocol: Option<S<RawProtocol>>,
    pub listeners: Option<S<Vec<S<String>>>>,
    pub stages: S<Vec<S<RawStage>>>,
    /// The working routes: the deployment named `current`.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// Named, frozen route sets.
    #[serde(default)]
    pub deployments: OrderedMap<RawDeployment>,
    /// Media types whose bodies Lambda events carry base64-encoded.
    pub binary_media_types: Option<S<Vec<S<String>>>>,
    /// Gateway response type name → override.
    pub gateway_responses: Option<S<OrderedMap<S<RawGatewayResponse>>>>,
    /// Authorizer name → authorizer (see `authorizers`).
    pub authorizers: Option<S<OrderedMap<S<super::authorizers::RawAuthorizer>>>>,
    /// HTTP APIs' CORS settings (see `authorizers`).
    pub cors: Option<S<super::authorizers::RawCors>>,
}

/// `gateway_responses: {TYPE: {status, headers, template}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGatewayResponse {
    pub status: Option<S<u64>>,
    pub headers: Option<S<OrderedMap<S<String>>>>,
    pub template: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// A stage: its name alone (`- prod`: deployment `current`, no variables),
/// or the whole mapping.
#[derive(Debug)]
pub(crate) enum RawStage {
    Short(String),
    Full(Box<RawStageFull>),
}

impl RawStage {
    /// The stage's name and where it is written (`at` is the stage's own place).
    pub(crate) fn name<'a>(&'a self, at: &'a Location) -> (&'a str, &'a Location) {
        match self {
            RawStage::Short(n) => (n, at),
            RawStage::Full(f) => (&f.name.value, &f.name.referenced),
        }
    }

    pub(crate) fn full(&self) -> Option<&RawStageFull> {
        match self {
            RawStage::Short(_) => None,
            RawStage::Full(f) => Some(f),
        }
    }
}

impl<'de> Deserialize<'de> for RawStage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = RawStage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stage name, or a mapping with `name`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStage, E> {
                Ok(RawStage::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawStage, A::Error> {
                RawStageFull::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|f| RawStage::Full(Box::new(f)))
            }
        }
        d.deserialize_any(V_)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStageFull {
    pub name: S<String>,
    pub deployment: Option<S<String>>,
    pub variables: Option<S<OrderedMap<S<String>>>>,
    pub deployment_header: Option<S<bool>>,
    pub canary: Option<S<RawCanary>>,
    pub access_log: Option<S<RawAccessLog>>,
    pub throttling: Option<S<RawThrottle>>,
    /// Route key → that route's settings in this stage.
    pub route_settings: Option<S<OrderedMap<S<RawRouteSettings>>>>,
    /// The stage's response cache (see `caching`).
    pub cache: Option<S<super::caching::RawStageCache>>,
}

/// `access_log: {destination: PATH | stdout, format: clf | json | xml | csv | TEMPLATE}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccessLog {
    pub destination: S<String>,
    pub format: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanary {
    pub percent: S<f64>,
    pub deployment: Option<S<String>>,
    pub stage_variables: Option<S<OrderedMap<S<String>>>>,
    pub sticky: Option<S<RawSticky>>,
}

/// `{header: NAME}` or `{cookie: NAME}`; `resolve` wants exactly one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSticky {
    pub header: Option<S<String>>,
    pub cookie: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomain {
    pub name: S<String>,
    /// Base path → `api/stage`.
    pub mappings: S<OrderedMap<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub route: S<String>,
    pub integration: S<RawIntegration>,
    pub api_key_required: Option<S<bool>>,
    /// The route's response cache settings (see `caching`).
    pub cache: Option<S<super::caching::RawRouteCache>>,
    /// `none` | `aws_iam` (see `iam`).
    pub authorization: Option<S<super::iam::RawAuthorization>>,
    /// The name of one of the API's `authorizers` (see `authorizers`).
    pub authorizer: Option<S<String>>,
    /// Scopes a JWT must carry (any one of them).
    pub authorization_scopes: Option<S<Vec<S<String>>>>,
}

/// One struct for every integration type (an internally tagged enum would
/// lose the locations); `routes` refuses the fields a type does not take.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntegration {
    #[serde(rename = "type")]
    pub kind: S<IntegrationType>,
    // mock
    pub status: Option<S<u64>>,
    pub headers: Option<S<OrderedMap<S<String>>>>,
    pub body: Option<S<String>>,
    // http_proxy
    pub uri: Option<S<String>>,
    pub timeout_ms: Option<S<u64>>,
    pub pass_host: Option<S<bool>>,
    // lambda (with `uri` and `timeout_ms`)
    pub function: Option<S<String>>,
    pub payload_format_version: Option<S<RawPayloadVersion>>,
    pub credentials: Option<S<RawCredentials>>,
    pub region: Option<S<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IntegrationType {
    Mock,
    HttpProxy,
    Lambda,
}

/// `payload_format_version`: `"1.0"` / `"2.0"`, also written unquoted
/// (YAML then reads a number).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RawPayloadVersion(pub String);

impl<'de> Deserialize<'de> for RawPayloadVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl Visitor<'_> for V_ {
            type Value = RawPayloadVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"1.0\" or \"2.0\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPayloadVersion(v.to_owned()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawPayloadVersion(format!("{v:.1}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawPayloadVersion(format!("{v}.0")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawPayloadVersion(format!("{v}.0")))
            }
        }
        d.deserialize_any(V_)
    }
}

/// `credentials: env`, or `{access_key_id, secret_access_key, session_token}`.
#[derive(Debug)]
pub(crate) enum RawCredentials {
    Named(String),
    Static(Box<RawStaticCredentials>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStaticCredentials {
    pub access_key_id: S<String>,
    pub secret_access_key: S<String>,
    pub session_token: Option<S<String>>,
}

impl<'de> Deserialize<'de> for RawCredentials {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = RawCredentials;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`env`, or a mapping with `access_key_id` and `secret_access_key`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCredentials, E> {
                Ok(RawCredentials::Named(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawCredentials, A::Error> {
                RawStaticCredentials::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|c| RawCredentials::Static(Box::new(c)))
            }
        }
        d.deserialize_any(V_)
    }
}

/// A mapping kept in document order, keys with their locations. Duplicate
/// keys are refused by the parser.
#[derive(Debug)]
pub(crate) struct OrderedMap<V>(pub Vec<(S<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}
