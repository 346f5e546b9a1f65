//! IAM-like policy documents, as Lambda authorizers return them and as the
//! gateway's access keys carry them, evaluated for `execute-api:Invoke`
//! against a method ARN. Sans-IO: a document is parsed once (from JSON
//! bytes, a `serde_json::Value`, or the configuration) and evaluated any
//! number of times without allocating.
//!
//! ```json
//! {"Version": "2012-10-17",
//!  "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
//!                 "Resource": "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets/*"}]}
//! ```
//!
//! Guarantees (IAM's evaluation logic, restricted to what API Gateway uses):
//! * an explicit `Deny` that matches wins; else any matching `Allow`
//!   allows; else the request is implicitly denied;
//! * `Statement` is one object or a list; `Action`/`NotAction` and
//!   `Resource`/`NotResource` are a string or a list of strings;
//! * `*` matches any run of characters (also `/` and `:`), `?` exactly one
//!   byte; actions compare case-insensitively, resources case-sensitively;
//! * a statement with a `Condition` is never satisfied when it allows and
//!   always when it denies: the gateway has no condition keys to test, so it
//!   fails closed rather than ignore a restriction;
//! * `Sid`, `Principal` and other unknown keys are ignored; `Effect` other
//!   than `Allow`/`Deny`, a statement without an action or a resource, or a
//!   non-string entry is a [`PolicyError`].
//!
//! Does not: fetch policies, cache them, or know stages and routes; the
//! caller builds the method ARN ([`method_arn`]) and acts on the
//! [`Decision`].

use std::fmt::Write as _;

/// The action API Gateway checks when a request invokes a method.
pub const INVOKE: &str = "execute-api:Invoke";

/// A parsed policy document.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

/// One statement of a [`PolicyDocument`].
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Statement {
    pub effect: Effect,
    /// Action patterns (`execute-api:Invoke`, `execute-api:*`, `*`).
    pub actions: Vec<String>,
    /// `NotAction`: the statement applies to actions matching none of `actions`.
    pub not_action: bool,
    /// Resource patterns (method ARNs with `*` and `?`).
    pub resources: Vec<String>,
    /// `NotResource`: the statement applies to resources matching none of `resources`.
    pub not_resource: bool,
    /// The statement has a `Condition` block (see the module docs).
    pub conditional: bool,
}

/// A statement's `Effect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// The outcome of evaluating a document for an action on a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A `Deny` statement matches.
    ExplicitDeny,
    /// No statement matches.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// Why a policy document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The bytes are not JSON.
    Json(String),
    /// The document is not a JSON object.
    NotAnObject,
    /// No `Statement` key, or it is neither an object nor a list of objects.
    BadStatement,
    /// `Effect` is missing or other than `Allow` / `Deny`.
    BadEffect,
    /// A statement has neither `Action` nor `NotAction` (or both), or an
    /// action that is not a string.
    BadAction,
    /// A statement has neither `Resource` nor `NotResource` (or both), or a
    /// resource that is not a string.
    BadResource,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::Json(e) => write!(f, "policy document is not JSON: {e}"),
            PolicyError::NotAnObject => f.write_str("policy document is not a JSON object"),
            PolicyError::BadStatement => {
                f.write_str("policy `Statement` must be an object or a list of objects")
            }
            PolicyError::BadEffect => f.write_str("statement `Effect` must be `Allow` or `Deny`"),
            PolicyError::BadAction => f.write_str(
                "statement needs one of `Action` / `NotAction`: a string or a list of strings",
            ),
            PolicyError::BadResource => f.write_str(
                "statement needs one of `Resource` / `NotResource`: a string or a list of strings",
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyDocument {
    /// Parse a document from JSON bytes.
    pub fn parse(json: &[u8]) -> Result<PolicyDocument, PolicyError> {
        let v: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        PolicyDocument::from_json(&v)
    }

    /// Read a document from a parsed JSON value (an authorizer response's
    /// `policyDocument`, or a configuration's `policy`).
    pub fn from_json(v: &serde_json::Value) -> Result<PolicyDocument, PolicyError> {
        let obj = v.as_object().ok_or(PolicyError::NotAnObject)?;
        let statements = match obj.get("Statement") {
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .map(Statement::from_json)
                .collect::<Result<Vec<_>, _>>()?,
            Some(one @ serde_json::Value::Object(_)) => vec![Statement::from_json(one)?],
            _ => return Err(PolicyError::BadStatement),
        };
        Ok(PolicyDocument { statements })
    }

    /// Evaluate for `action` on `resource`. Allocates nothing.
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if !s.applies(action, resource) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// Evaluate for `execute-api:Invoke` on a method ARN.
    pub fn invoke(&self, method_arn: &str) -> Decision {
        self.evaluate(INVOKE, method_arn)
    }
}

impl Statement {
    fn from_json(v: &serde_json::Value) -> Result<Statement, PolicyError> {
        let obj = v.as_object().ok_or(PolicyError::BadStatement)?;
        let effect = match obj.get("Effect").and_then(|e| e.as_str()) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(PolicyError::BadEffect),
        };
        let (actions, not_action) =
            one_of(obj, "Action", "NotAction").ok_or(PolicyError::BadAction)?;
        let (resources, not_resource) =
            one_of(obj, "Resource", "NotResource").ok_or(PolicyError::BadResource)?;
        Ok(Statement {
            effect,
            actions,
            not_action,
            resources,
            not_resource,
            conditional: obj.contains_key("Condition"),
        })
    }

    /// Whether this statement's effect applies to `action` on `resource`.
    fn applies(&self, action: &str, resource: &str) -> bool {
        let action_hit = self
            .actions
            .iter()
            .any(|p| wildcard_match(p.as_bytes(), action.as_bytes(), true));
        let resource_hit = self
            .resources
            .iter()
            .any(|p| wildcard_match(p.as_bytes(), resource.as_bytes(), false));
        let matches = action_hit != self.not_action && resource_hit != self.not_resource;
        match (self.conditional, self.effect) {
            (false, _) => matches,
            // Conditions cannot be tested here: fail closed.
            (true, Effect::Allow) => false,
            (true, Effect::Deny) => matches,
        }
    }
}

/// `key` or `not_key` (exactly one), as a list of strings, and whether it
/// was the negated one.
fn one_of(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    not_key: &str,
) -> Option<(Vec<String>, bool)> {
    let (v, negated) = match (obj.get(key), obj.get(not_key)) {
        (Some(v), None) => (v, false),
        (None, Some(v)) => (v, true),
        _ => return None,
    };
    let list = match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some((list, negated))
}

/// Whether `text` matches `pattern`, where `*` matches any run of bytes and
/// `?` exactly one. Linear backtracking on the last `*` (no recursion, no
/// allocation): O(pattern × text) at worst.
pub fn wildcard_match(pattern: &[u8], text: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently absorbs to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || eq(pattern[p], text[t])) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` absorb one more byte and retry.
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Write the method ARN of a request into `out` (cleared first):
/// `arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}`,
/// where `path` is the request's path below the stage, with or without its
/// leading `/` (`/pets/1` → `…/prod/GET/pets/1`; the root → `…/prod/GET/`).
/// Reusing `out` across requests allocates nothing once it has grown.
pub fn method_arn(
    out: &mut String,
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
) {
    out.clear();
    let path = path.strip_prefix('/').unwrap_or(path);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{path}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets/1";

    fn doc(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn allow_exact_resource() {
        let d = doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"{ARN}"}}]}}"#
        ));
        assert_eq!(d.invoke(ARN), Decision::Allow);
        assert_eq!(
            d.invoke("arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets/2"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn statement_may_be_one_object_and_lists_may_be_strings() {
        let d = doc(
            r#"{"Statement":{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["x","arn:aws:execute-api:*"]}}"#,
        );
        assert_eq!(d.statements.len(), 1);
        assert_eq!(d.invoke(ARN), Decision::Allow);
    }

    #[test]
    fn explicit_deny_wins_over_allow() {
        let d = doc(r#"{"Statement":[
                {"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"},
                {"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:shop/prod/GET/pets/*"}]}"#);
        assert_eq!(d.invoke(ARN), Decision::ExplicitDeny);
        assert_eq!(
            d.invoke("arn:aws:execute-api:us-east-1:123456789012:shop/prod/POST/pets"),
            Decision::Allow
        );
    }

    #[test]
    fn no_statement_matches_is_implicit_deny() {
        let d = doc(r#"{"Statement":[]}"#);
        assert_eq!(d.invoke(ARN), Decision::ImplicitDeny);
        let d = doc(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#);
        assert_eq!(d.invoke(ARN), Decision::ImplicitDeny);
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards() {
        for a in [
            "execute-api:*",
            "EXECUTE-API:invoke",
            "*",
            "execute-api:Inv?ke",
        ] {
            let d = doc(&format!(
                r#"{{"Statement":[{{"Effect":"Allow","Action":"{a}","Resource":"*"}}]}}"#
            ));
            assert_eq!(d.invoke(ARN), Decision::Allow, "{a}");
        }
    }

    #[test]
    fn resources_match_case_sensitively() {
        let d = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:123456789012:shop/prod/get/*"}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::ImplicitDeny);
    }

    #[test]
    fn question_mark_is_one_byte() {
        let base = "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets/";
        let d = doc(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"{base}?"}}]}}"#
        ));
        assert_eq!(d.invoke(ARN), Decision::Allow);
        assert_eq!(d.invoke(&format!("{base}12")), Decision::ImplicitDeny);
        assert_eq!(d.invoke(base), Decision::ImplicitDeny);
    }

    #[test]
    fn not_action_and_not_resource() {
        let d = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","NotResource":"arn:aws:execute-api:*/admin/*"}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::Allow);
        assert_eq!(
            d.invoke("arn:aws:execute-api:us-east-1:1:shop/admin/GET/x"),
            Decision::ImplicitDeny
        );
        let d = doc(
            r#"{"Statement":[{"Effect":"Deny","NotAction":"execute-api:Invoke","Resource":"*"},
                       {"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::Allow);
        assert_eq!(
            d.evaluate("execute-api:ManageConnections", ARN),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn conditions_fail_closed() {
        let d = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::ImplicitDeny);
        let d = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
               {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::ExplicitDeny);
    }

    #[test]
    fn malformed_documents_are_refused() {
        let cases = [
            ("not json", "Json"),
            ("[]", "NotAnObject"),
            (r#"{"Version":"2012-10-17"}"#, "BadStatement"),
            (r#"{"Statement":"x"}"#, "BadStatement"),
            (r#"{"Statement":[1]}"#, "BadStatement"),
            (
                r#"{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#,
                "BadEffect",
            ),
            (
                r#"{"Statement":[{"Action":"*","Resource":"*"}]}"#,
                "BadEffect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                "BadAction",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]}"#,
                "BadAction",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}"#,
                "BadAction",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                "BadResource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":{}}]}"#,
                "BadResource",
            ),
        ];
        for (json, want) in cases {
            let err = PolicyDocument::parse(json.as_bytes()).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{json}: {err:?}");
        }
    }

    #[test]
    fn wildcards() {
        let m = |p: &str, t: &str| wildcard_match(p.as_bytes(), t.as_bytes(), false);
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("*", "anything/at:all"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*/GET/*", "api/prod/GET/pets/1"));
        assert!(!m("*/GET/*", "api/prod/POST/pets/1"));
        assert!(m("a**", "a"));
        assert!(m("?*?", "ab"));
        assert!(!m("?*?", "a"));
        assert!(m("*aab", "aaaab"));
        assert!(!m("abc", "abcd"));
        assert!(m("arn:*:x", "arn:a:b:x"));
    }

    #[test]
    fn method_arns() {
        let mut s = String::new();
        method_arn(
            &mut s,
            "us-east-1",
            "123456789012",
            "shop",
            "prod",
            "GET",
            "/pets/1",
        );
        assert_eq!(s, ARN);
        method_arn(&mut s, "eu-west-1", "1", "a", "$default", "POST", "/");
        assert_eq!(s, "arn:aws:execute-api:eu-west-1:1:a/$default/POST/");
        method_arn(&mut s, "eu-west-1", "1", "a", "dev", "GET", "");
        assert_eq!(s, "arn:aws:execute-api:eu-west-1:1:a/dev/GET/");
    }

    #[test]
    fn typical_authorizer_policies() {
        // The shapes AWS's authorizer blueprints return.
        let d = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:shop/prod/*/*"}]}"#,
        );
        assert!(d.invoke(ARN).is_allowed());
        assert!(
            !d.invoke("arn:aws:execute-api:us-east-1:123456789012:shop/beta/GET/pets/1")
                .is_allowed()
        );
        let d = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"*"}]}"#,
        );
        assert_eq!(d.invoke(ARN), Decision::ExplicitDeny);
    }
}
