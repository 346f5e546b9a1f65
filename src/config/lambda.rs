//! A `lambda` integration resolved: the Invoke API endpoint (an upstream,
//! like `http_proxy`'s), the function and its invoke path, the payload
//! format version, the timeout and how requests are signed.
//!
//! Guarantees: the endpoint uri has no path; the function name is non-empty
//! and made of the characters Lambda names, aliases and ARNs use; the invoke
//! path is percent-encoded (an ARN's `:` as `%3A`, as the AWS SDKs send it).
//! The payload format version is `V2` here when not set: the API's protocol
//! decides the default (`resolve` sets REST APIs' to `V1` and refuses an
//! explicit `2.0` there).

use std::time::Duration;

use super::model::{RawCredentials, RawIntegration, S};
use super::resolve::{Errors, UpstreamSet};
use super::routes::resolve_uri;
use super::vars::Vars;
use super::{Lambda, LambdaCredentials, LambdaSigning, PayloadFormat, RouteKey};

/// Characters of function names, versions, aliases and ARNs.
fn is_function_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.' | b'$')
}

/// `/2015-03-31/functions/{function}/invocations`, the function percent-encoded.
pub(crate) fn invoke_path(function: &str) -> String {
    let mut out = String::from("/2015-03-31/functions/");
    for b in function.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("/invocations");
    out
}

pub(crate) fn resolve_lambda(
    raw: &S<RawIntegration>,
    key: Option<&RouteKey>,
    vars: &Vars<'_>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Option<Lambda> {
    let i = &raw.value;
    let Some(uri) = &i.uri else {
        errors.at(
            &raw.referenced,
            "a lambda integration needs a `uri`: the Invoke API's endpoint, like http://127.0.0.1:9001",
        );
        return None;
    };
    let Some(function) = &i.function else {
        errors.at(
            &raw.referenced,
            "a lambda integration needs a `function`: a name, name:alias or ARN",
        );
        return None;
    };
    let timeout = match &i.timeout_ms {
        None => 29_000,
        Some(t) if (50..=300_000).contains(&t.value) => t.value,
        Some(t) => {
            errors.at(&t.referenced, "`timeout_ms` must be between 50 and 300000");
            29_000
        }
    };
    let payload = match &i.payload_format_version {
        None => PayloadFormat::V2,
        Some(v) => match v.value.0.as_str() {
            "1.0" => PayloadFormat::V1,
            "2.0" => PayloadFormat::V2,
            other => {
                errors.at(
                    &v.referenced,
                    format!("`payload_format_version` is \"1.0\" or \"2.0\", not `{other}`"),
                );
                PayloadFormat::V2
            }
        },
    };
    let signing = resolve_signing(i.credentials.as_ref(), i.region.as_ref(), errors);

    let function_name = match vars.apply(&function.value) {
        Ok(Some(t)) => t.into_owned(),
        // A deployment no stage runs: nothing more to check.
        Ok(None) => return None,
        Err(e) => {
            errors.at(&function.referenced, e);
            return None;
        }
    };
    if function_name.is_empty() || !function_name.bytes().all(is_function_char) {
        errors.at(
            &function.referenced,
            format!(
                "`{function_name}` is not a function name, name:alias or ARN (letters, digits, - _ : . $)"
            ),
        );
        return None;
    }
    let (upstream, path, host_header) = resolve_uri(uri, None, vars, upstreams, errors)?;
    if path.is_some() {
        errors.at(
            &uri.referenced,
            "a lambda `uri` is the endpoint only (scheme, host and port): the invoke path is built from `function`",
        );
        return None;
    }
    let (route_key, resource) = match key {
        Some(k @ RouteKey::Path { path, .. }) => (k.to_string(), path.clone()),
        Some(RouteKey::Default) | None => ("$default".to_owned(), "$default".to_owned()),
    };
    Some(Lambda {
        upstream,
        host_header,
        invoke_path: invoke_path(&function_name),
        function: function_name,
        payload,
        timeout: Duration::from_millis(timeout),
        signing,
        route_key,
        resource,
    })
}

/// `credentials` and `region` (a lambda integration's or a function
/// authorizer's) into how Invoke requests are signed.
pub(crate) fn resolve_signing(
    credentials: Option<&S<RawCredentials>>,
    region: Option<&S<String>>,
    errors: &mut Errors,
) -> Option<LambdaSigning> {
    let signing = credentials.and_then(|c| {
        let credentials = match &c.value {
            RawCredentials::Named(n) if n == "env" => LambdaCredentials::Env,
            RawCredentials::Named(n) => {
                errors.at(
                    &c.referenced,
                    format!(
                        "`credentials: {n}`: write `env` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or a mapping with access_key_id and secret_access_key"
                    ),
                );
                return None;
            }
            RawCredentials::Static(s) => {
                for (field, v) in [
                    ("access_key_id", Some(&s.access_key_id)),
                    ("secret_access_key", Some(&s.secret_access_key)),
                    ("session_token", s.session_token.as_ref()),
                ] {
                    if let Some(v) = v
                        && (v.value.is_empty()
                            || v.value.bytes().any(|b| b <= b' ' || b == 0x7f))
                    {
                        errors.at(
                            &v.referenced,
                            format!("`{field}` must be non-empty, without spaces or control characters"),
                        );
                    }
                }
                LambdaCredentials::Static {
                    access_key_id: s.access_key_id.value.clone(),
                    secret_access_key: s.secret_access_key.value.clone(),
                    session_token: s.session_token.as_ref().map(|t| t.value.clone()),
                }
            }
        };
        let region = match region {
            Some(r) => {
                let ok = !r.value.is_empty()
                    && r
                        .value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ok {
                    errors.at(
                        &r.referenced,
                        format!("`{}` is not a region name like us-east-1", r.value),
                    );
                }
                r.value.clone()
            }
            None => ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
                .unwrap_or_else(|| "us-east-1".to_owned()),
        };
        Some(LambdaSigning {
            region,
            credentials,
        })
    });
    if credentials.is_none()
        && let Some(r) = region
    {
        errors.at(
            &r.referenced,
            "`region` is used for signing: add `credentials` (or leave `region` out)",
        );
    }
    signing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_paths_encode_arns() {
        assert_eq!(
            invoke_path("orders"),
            "/2015-03-31/functions/orders/invocations"
        );
        assert_eq!(
            invoke_path("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af%3A%24LATEST/invocations"
        );
    }
}
