//! IAM authorization, as written and resolved: the gateway's `iam` section
//! (region, account id, access keys with their secrets, principals and
//! policies) and the routes' `authorization: aws_iam`.
//!
//! ```yaml
//! iam:
//!   region: us-east-1            # the credential scope's region; default us-east-1
//!   account_id: "123456789012"   # 12 digits; default 123456789012
//!   access_keys:
//!     - id: AKIAALICE0EXAMPLE0   # 16..=128 letters and digits; unique
//!       secret: wJalrXUtnFEMI...  # or secret_env: ALICE_SECRET (read when the gateway loads)
//!       principal: arn:aws:iam::123456789012:user/alice  # default …:user/{id}
//!       policy:                  # an IAM policy document (required)
//!         Version: "2012-10-17"
//!         Statement:
//!           - Effect: Allow
//!             Action: execute-api:Invoke
//!             Resource: arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/*
//! apis:
//!   - name: shop
//!     routes:
//!       - route: GET /pets
//!         authorization: aws_iam   # none (default) | aws_iam
//! ```
//!
//! Guarantees: key ids are unique; every key has exactly one of `secret` /
//! `secret_env` and a policy that parses (see [`crate::auth::policy`]); a
//! `secret_env` variable is set when the configuration loads; a route with
//! `aws_iam` only exists when the gateway has an `iam` section. A `secret`
//! written in the file is kept in the model, and so in snapshots; a
//! `secret_env` is read again by each worker when a configuration is
//! activated and never stored. Does not: verify signatures (see
//! `auth::sigv4_verify` and `pipeline::iam`).

use serde::Deserialize;

use super::model::{RawGateway, RawRoute, S};
use super::resolve::Errors;
use crate::auth::policy::PolicyDocument;

/// `iam:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIam {
    pub region: Option<S<String>>,
    pub account_id: Option<S<String>>,
    #[serde(default)]
    pub access_keys: Vec<RawAccessKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccessKey {
    pub id: S<String>,
    pub secret: Option<S<String>>,
    pub secret_env: Option<S<String>>,
    pub principal: Option<S<String>>,
    pub policy: Option<S<serde_json::Value>>,
}

/// A route's `authorization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawAuthorization {
    None,
    AwsIam,
}

/// How a route is authorized (besides API keys).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum Authorization {
    /// Anyone may call it.
    #[default]
    None,
    /// A SigV4 signature by one of the gateway's access keys, whose policy
    /// allows `execute-api:Invoke` on the request's method ARN.
    AwsIam,
}

pub(crate) fn route_authorization(raw: &RawRoute) -> Authorization {
    match raw.authorization.as_ref().map(|a| a.value) {
        Some(RawAuthorization::AwsIam) => Authorization::AwsIam,
        Some(RawAuthorization::None) | None => Authorization::None,
    }
}

/// The gateway's IAM identities.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Iam {
    pub region: String,
    pub account_id: String,
    pub access_keys: Vec<AccessKey>,
}

/// One access key: who signs with it and what it may invoke.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: IamSecret,
    /// The caller's ARN (`$context.identity.userArn`, `caller`).
    pub principal: String,
    pub policy: PolicyDocument,
}

/// Where an access key's secret comes from.
#[derive(Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum IamSecret {
    /// Written in the configuration (and so in its snapshots).
    Static(String),
    /// This environment variable of the gateway's process.
    Env(String),
}

impl std::fmt::Debug for IamSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IamSecret::Static(_) => f.write_str("Static(…)"),
            IamSecret::Env(n) => write!(f, "Env({n:?})"),
        }
    }
}

impl IamSecret {
    /// The secret now (an `Env` variable read from the environment).
    pub fn resolve(&self) -> Option<String> {
        match self {
            IamSecret::Static(s) => Some(s.clone()),
            IamSecret::Env(n) => std::env::var(n).ok().filter(|v| !v.is_empty()),
        }
    }
}

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_ACCOUNT: &str = "123456789012";

/// Resolve `iam:` and check the routes that use it.
pub(crate) fn resolve(raw: &RawGateway, errors: &mut Errors) -> Option<Iam> {
    let iam = raw.iam.as_ref().map(|i| resolve_iam(&i.value, errors));
    for api in &raw.apis {
        let deployed = api.deployments.0.iter().flat_map(|(_, d)| &d.routes);
        for route in api.routes.iter().chain(deployed) {
            if let (Some(a), Some(_)) = (&route.authorization, &route.authorizer)
                && a.value == RawAuthorization::AwsIam
            {
                errors.at(
                    &a.referenced,
                    "a route is authorized by `aws_iam` or by an `authorizer`, not both",
                );
            }
        }
    }
    if iam.is_none() {
        for api in &raw.apis {
            let deployed = api.deployments.0.iter().flat_map(|(_, d)| &d.routes);
            for route in api.routes.iter().chain(deployed) {
                if let Some(a) = &route.authorization
                    && a.value == RawAuthorization::AwsIam
                {
                    errors.at(
                        &a.referenced,
                        "`authorization: aws_iam` needs the gateway's `iam` section (access keys and their policies)",
                    );
                }
            }
        }
    }
    iam
}

fn resolve_iam(raw: &RawIam, errors: &mut Errors) -> Iam {
    let region = match &raw.region {
        Some(r) if is_region(&r.value) => r.value.clone(),
        Some(r) => {
            errors.at(
                &r.referenced,
                format!(
                    "`region` `{}` is not a region name (like us-east-1)",
                    r.value
                ),
            );
            DEFAULT_REGION.to_owned()
        }
        None => DEFAULT_REGION.to_owned(),
    };
    let account_id = match &raw.account_id {
        Some(a) if a.value.len() == 12 && a.value.bytes().all(|b| b.is_ascii_digit()) => {
            a.value.clone()
        }
        Some(a) => {
            errors.at(
                &a.referenced,
                "`account_id` must be 12 digits (quote it in YAML)",
            );
            DEFAULT_ACCOUNT.to_owned()
        }
        None => DEFAULT_ACCOUNT.to_owned(),
    };
    let mut access_keys: Vec<AccessKey> = Vec::new();
    for (i, k) in raw.access_keys.iter().enumerate() {
        let id = &k.id.value;
        if !(16..=128).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            errors.at(
                &k.id.referenced,
                "an access key `id` is 16 to 128 letters and digits",
            );
        }
        if raw.access_keys[..i].iter().any(|o| o.id.value == *id) {
            errors.at(
                &k.id.referenced,
                format!("access key `{id}` is already defined"),
            );
        }
        let secret = match (&k.secret, &k.secret_env) {
            (Some(s), None) if !s.value.is_empty() => IamSecret::Static(s.value.clone()),
            (None, Some(e)) => {
                if std::env::var(&e.value).map_or(true, |v| v.is_empty()) {
                    errors.at(
                        &e.referenced,
                        format!(
                            "environment variable `{}` (the secret of access key `{id}`) is not set",
                            e.value
                        ),
                    );
                }
                IamSecret::Env(e.value.clone())
            }
            _ => {
                errors.at(
                    &k.id.referenced,
                    format!("access key `{id}` needs one of `secret` / `secret_env`"),
                );
                IamSecret::Static(String::new())
            }
        };
        let principal = match &k.principal {
            Some(p) if p.value.starts_with("arn:") => p.value.clone(),
            Some(p) => {
                errors.at(
                    &p.referenced,
                    "`principal` is an ARN, like arn:aws:iam::123456789012:user/alice",
                );
                p.value.clone()
            }
            None => format!("arn:aws:iam::{account_id}:user/{id}"),
        };
        let policy = match &k.policy {
            Some(p) => match PolicyDocument::from_json(&p.value) {
                Ok(d) => d,
                Err(e) => {
                    errors.at(&p.referenced, format!("`policy`: {e}"));
                    PolicyDocument::default()
                }
            },
            None => {
                errors.at(
                    &k.id.referenced,
                    format!(
                        "access key `{id}` needs a `policy` allowing execute-api:Invoke (IAM denies what no policy allows)"
                    ),
                );
                PolicyDocument::default()
            }
        };
        access_keys.push(AccessKey {
            id: id.clone(),
            secret,
            principal,
            policy,
        });
    }
    Iam {
        region,
        account_id,
        access_keys,
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: lower-case letters,
/// digits and `-`, starting with a letter.
fn is_region(s: &str) -> bool {
    s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use crate::auth::policy::Decision;
    use crate::config::{Authorization, IamSecret, load_str};

    const POLICY: &str = "{Statement: [{Effect: Allow, Action: execute-api:Invoke, Resource: \"arn:aws:execute-api:*:*:shop/*\"}]}";

    fn yaml(iam: &str, route_extra: &str) -> String {
        format!(
            "listeners: [{{name: m, address: 127.0.0.1:0}}]\n{iam}\napis:\n  - name: shop\n    stages: [prod]\n    routes:\n      - {{route: GET /a, integration: {{type: mock}}{route_extra}}}\n      - {{route: GET /b, integration: {{type: mock}}}}\n"
        )
    }

    #[test]
    fn iam_section_and_route_authorization() {
        let text = yaml(
            &format!(
                "iam:\n  region: eu-west-1\n  account_id: \"111122223333\"\n  access_keys:\n    - {{id: AKIAALICE0EXAMPLE0, secret: s3cr3t, policy: {POLICY}}}\n    - {{id: AKIABOB00EXAMPLE00, secret: x, principal: \"arn:aws:iam::111122223333:role/bob\", policy: {POLICY}}}"
            ),
            ", authorization: aws_iam",
        );
        let gw = load_str("t.yaml", &text).unwrap();
        let iam = gw.iam.as_ref().unwrap();
        assert_eq!(iam.region, "eu-west-1");
        assert_eq!(iam.account_id, "111122223333");
        assert_eq!(
            iam.access_keys[0].principal,
            "arn:aws:iam::111122223333:user/AKIAALICE0EXAMPLE0"
        );
        assert_eq!(
            iam.access_keys[0].secret,
            IamSecret::Static("s3cr3t".into())
        );
        assert_eq!(
            iam.access_keys[1].principal,
            "arn:aws:iam::111122223333:role/bob"
        );
        assert_eq!(
            iam.access_keys[0]
                .policy
                .invoke("arn:aws:execute-api:eu-west-1:111122223333:shop/prod/GET/a"),
            Decision::Allow
        );
        let routes = &gw.apis[0].deployments[0].routes;
        assert_eq!(routes[0].authorization, Authorization::AwsIam);
        assert_eq!(routes[1].authorization, Authorization::None);
        assert!(!format!("{:?}", iam.access_keys[0]).contains("s3cr3t"));
    }

    #[test]
    fn aws_iam_route_needs_the_iam_section() {
        let errs = load_str("t.yaml", &yaml("", ", authorization: aws_iam")).unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .contains("needs the gateway's `iam` section"),
            "{errs:?}"
        );
    }

    #[test]
    fn aws_iam_and_an_authorizer_exclude_each_other() {
        let text = yaml(
            &format!(
                "iam:\n  access_keys:\n    - {{id: AKIAALICE0EXAMPLE0, secret: s, policy: {POLICY}}}"
            ),
            ", authorization: aws_iam, authorizer: nope",
        );
        let errs = load_str("t.yaml", &text).unwrap_err();
        assert!(
            errs.iter().any(|e| e
                .to_string()
                .contains("by `aws_iam` or by an `authorizer`, not both")),
            "{errs:?}"
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        let text = yaml(
            "iam:\n  account_id: \"12\"\n  region: US\n  access_keys:\n    - {id: short, secret: x, policy: {Statement: 1}}\n    - {id: AKIAALICE0EXAMPLE0, policy: {Statement: []}}\n    - {id: AKIAALICE0EXAMPLE0, secret: x, secret_env: Y}\n    - {id: AKIAENV0000EXAMPLE, secret_env: TOLLGATE_SURELY_UNSET_VAR, policy: {Statement: []}}",
            "",
        );
        let errs: Vec<String> = load_str("t.yaml", &text)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        let all = errs.join("\n");
        for want in [
            "`account_id` must be 12 digits",
            "is not a region name",
            "16 to 128 letters and digits",
            "`policy`: policy `Statement` must be",
            "needs one of `secret` / `secret_env`",
            "is already defined",
            "needs a `policy`",
            "`TOLLGATE_SURELY_UNSET_VAR` (the secret of access key `AKIAENV0000EXAMPLE`) is not set",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }
}
