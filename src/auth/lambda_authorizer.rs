//! Lambda-style authorizers (REQUEST and TOKEN), sans-IO: the event API
//! Gateway sends them and the answer they give, read into an [`Outcome`]
//! the pipeline caches and applies.
//!
//! Events (API Gateway's developer guide, apigateway-lambda-authorizer-input
//! and http-api-lambda-authorizer):
//! * TOKEN: `{"type":"TOKEN","authorizationToken":…,"methodArn":…}`;
//! * REQUEST 1.0: the Lambda proxy event of payload format 1.0 with
//!   `"type":"REQUEST"` and `"methodArn"` first (HTTP APIs add
//!   `identitySource` and `authorizationToken`: the values joined by `,`);
//! * REQUEST 2.0: the 2.0 proxy event with `"type":"REQUEST"`,
//!   `"routeArn"` and `"identitySource"` (the identity values, in order).
//!
//! The proxy events carry no body (`body` null or absent), as API Gateway's
//! authorizer events do not.
//!
//! Answers: with simple responses, `{"isAuthorized": bool, "context": {…}}`;
//! otherwise an IAM policy `{"principalId", "policyDocument", "context",
//! "usageIdentifierKey"}`, evaluated per request against the method ARN
//! (`auth::policy`), so a cached policy serves every route it covers.
//! Context values keep their JSON text (strings, numbers, booleans; 2.0
//! simple responses may nest).

use std::rc::Rc;

use super::policy::{Decision, PolicyDocument};
use super::{Identity, IdentityKind};
use crate::integration::lambda::json::{self, Object};

/// An authorizer's answer, as cached.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub identity: Rc<Identity>,
}

#[derive(Debug)]
pub enum Verdict {
    /// A 2.0 simple response.
    Simple(bool),
    /// An IAM policy, evaluated per request.
    Policy(PolicyDocument),
}

impl Outcome {
    /// Whether the request for `method_arn` may go on.
    pub fn decide(&self, method_arn: &str) -> Decision {
        match &self.verdict {
            Verdict::Simple(true) => Decision::Allow,
            Verdict::Simple(false) => Decision::ImplicitDeny,
            Verdict::Policy(p) => p.invoke(method_arn),
        }
    }
}

/// Why an answer was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Read an authorizer's answer (the body of its 200 response).
pub fn parse_answer(body: &[u8], simple: bool) -> Result<Outcome, Malformed> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(body).map_err(|_| Malformed("not JSON"))?;
    let obj = v.as_object().ok_or(Malformed("not a JSON object"))?;
    let context = match obj.get("context") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        Some(_) => return Err(Malformed("`context` is not an object")),
    };
    if simple {
        let ok = obj
            .get("isAuthorized")
            .and_then(Value::as_bool)
            .ok_or(Malformed(
                "a simple response needs a boolean `isAuthorized`",
            ))?;
        return Ok(Outcome {
            verdict: Verdict::Simple(ok),
            identity: Rc::new(Identity {
                kind: IdentityKind::Lambda,
                context,
                ..Identity::default()
            }),
        });
    }
    let principal_id = match obj.get("principalId") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => None,
        Some(other) => Some(other.to_string()),
    };
    let policy = obj
        .get("policyDocument")
        .ok_or(Malformed("no `policyDocument`"))?;
    let policy =
        PolicyDocument::from_json(policy).map_err(|_| Malformed("invalid `policyDocument`"))?;
    let usage_identifier_key = obj
        .get("usageIdentifierKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Outcome {
        verdict: Verdict::Policy(policy),
        identity: Rc::new(Identity {
            kind: IdentityKind::Lambda,
            principal_id,
            context,
            usage_identifier_key,
            ..Identity::default()
        }),
    })
}

/// A TOKEN authorizer's event.
pub fn write_token_event(out: &mut Vec<u8>, token: &[u8], method_arn: &str) {
    let mut o = Object::open(out);
    o.str(out, "type", b"TOKEN");
    o.str(out, "authorizationToken", token);
    o.str(out, "methodArn", method_arn.as_bytes());
    o.close(out);
}

/// Turn the proxy event written at `out[start..]` into a REQUEST
/// authorizer's event: its leading fields inserted after the `{`.
pub fn make_request_event(
    out: &mut Vec<u8>,
    start: usize,
    v2: bool,
    http_api: bool,
    arn: &str,
    identity: &[&[u8]],
) {
    let mut prefix = Vec::with_capacity(64 + arn.len());
    prefix.extend_from_slice(b"\"type\":\"REQUEST\",");
    if v2 {
        prefix.extend_from_slice(b"\"routeArn\":");
        json::string(&mut prefix, arn.as_bytes());
        prefix.extend_from_slice(b",\"identitySource\":[");
        for (i, v) in identity.iter().enumerate() {
            if i > 0 {
                prefix.push(b',');
            }
            json::string(&mut prefix, v);
        }
        prefix.extend_from_slice(b"],");
    } else {
        prefix.extend_from_slice(b"\"methodArn\":");
        json::string(&mut prefix, arn.as_bytes());
        prefix.push(b',');
        if http_api {
            // HTTP APIs' 1.0 events: the values joined with commas, twice.
            let joined = identity.join(&b","[..]);
            prefix.extend_from_slice(b"\"identitySource\":");
            json::string(&mut prefix, &joined);
            prefix.extend_from_slice(b",\"authorizationToken\":");
            json::string(&mut prefix, &joined);
            prefix.push(b',');
        }
    }
    let at = start + 1;
    out.splice(at..at, prefix);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/pets/1";

    #[test]
    fn simple_answers() {
        let o = parse_answer(
            br#"{"isAuthorized":true,"context":{"user":"u1","n":7}}"#,
            true,
        )
        .unwrap();
        assert_eq!(o.decide(ARN), Decision::Allow);
        assert_eq!(o.identity.value("user"), Some("\"u1\""));
        assert_eq!(o.identity.value("n"), Some("7"));
        let o = parse_answer(br#"{"isAuthorized":false}"#, true).unwrap();
        assert_eq!(o.decide(ARN), Decision::ImplicitDeny);
        assert!(parse_answer(br#"{"context":{}}"#, true).is_err());
        assert!(parse_answer(b"nope", true).is_err());
    }

    #[test]
    fn policy_answers() {
        let body = r#"{"principalId":"me","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/*"},{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"arn:aws:execute-api:*:*:shop/prod/GET/secret"}]},"context":{"k":"v"},"usageIdentifierKey":"key"}"#;
        let o = parse_answer(body.as_bytes(), false).unwrap();
        assert_eq!(o.decide(ARN), Decision::Allow);
        assert_eq!(
            o.decide("arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/secret"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            o.decide("arn:aws:execute-api:us-east-1:000000000000:shop/prod/POST/pets"),
            Decision::ImplicitDeny
        );
        assert_eq!(o.identity.principal_id.as_deref(), Some("me"));
        assert_eq!(o.identity.usage_identifier_key.as_deref(), Some("key"));
        assert!(parse_answer(br#"{"principalId":"me"}"#, false).is_err());
    }

    #[test]
    fn events() {
        let mut out = Vec::new();
        write_token_event(&mut out, b"Bearer x", ARN);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "TOKEN");
        assert_eq!(v["authorizationToken"], "Bearer x");
        assert_eq!(v["methodArn"], ARN);

        let mut out = b"xx{\"version\":\"2.0\"}".to_vec();
        make_request_event(&mut out, 2, true, true, ARN, &[b"a", b"b\"c"]);
        let v: serde_json::Value = serde_json::from_slice(&out[2..]).unwrap();
        assert_eq!(v["type"], "REQUEST");
        assert_eq!(v["routeArn"], ARN);
        assert_eq!(v["identitySource"], serde_json::json!(["a", "b\"c"]));
        assert_eq!(v["version"], "2.0");

        let mut out = b"{\"version\":\"1.0\"}".to_vec();
        make_request_event(&mut out, 0, false, true, ARN, &[b"a", b"b"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["methodArn"], ARN);
        assert_eq!(v["identitySource"], "a,b");
        assert_eq!(v["authorizationToken"], "a,b");
        let mut out = b"{\"resource\":\"/\"}".to_vec();
        make_request_event(&mut out, 0, false, false, ARN, &[b"a"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("identitySource").is_none());
    }
}
