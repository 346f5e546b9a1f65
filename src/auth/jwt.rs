//! JWT checks for JWT authorizers (HTTP API semantics), sans-IO: a token's
//! bytes, a key set and `now` in, the verified claims or the reason out.
//! JWKS entries are read with jsonwebtoken's JWK types and turned into
//! aws-lc-rs public keys parsed once per algorithm, so a request pays for
//! the signature check alone (no key parsing, no allocation for it).
//!
//! Guarantees: only RS256/384/512, ES256/384 and PS256/384/512 are
//! accepted (`none` and the HMAC algorithms never: a public key is no
//! secret); the key is chosen by `kid` (a token without `kid` is tried
//! against every key of the algorithm's family) and must be of the
//! header's family and, when the JWK names one, algorithm; `exp` is
//! required, `exp` and `nbf` are checked with [`LEEWAY`]; `iss` must equal
//! the issuer; `aud` (or, without one, `client_id`) must be one of the
//! audiences. Does not: fetch keys (see `jwks`) or decide responses (see
//! `pipeline::authorize`).

use aws_lc_rs::signature::{ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;

use crate::config::JwtAuthorizer;

/// Clock skew allowed on `exp` and `nbf`, seconds.
pub const LEEWAY: u64 = 30;

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts, or a part that is not JSON.
    Malformed,
    /// `alg` is not one of the accepted asymmetric algorithms (`none`, HS256, …).
    UnsupportedAlgorithm,
    /// No key of the set has the token's `kid` (the set may be stale).
    UnknownKid,
    /// The key set has not been loaded yet.
    NoKeys,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is past (or missing).
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iss` is not the issuer.
    WrongIssuer,
    /// Neither `aud` nor `client_id` is one of the audiences.
    WrongAudience,
}

impl JwtError {
    /// `error_description` of the `www-authenticate` answer.
    pub fn description(self) -> &'static str {
        match self {
            JwtError::Malformed => "the token is malformed",
            JwtError::UnsupportedAlgorithm => "the token's signing algorithm is not accepted",
            JwtError::UnknownKid | JwtError::NoKeys => "no key found to verify the token",
            JwtError::BadSignature => "the token's signature is invalid",
            JwtError::Expired => "the token has expired",
            JwtError::NotYetValid => "the token is not valid yet",
            JwtError::WrongIssuer => "the token does not have a valid issuer",
            JwtError::WrongAudience => "the token does not have a valid audience",
        }
    }
}

/// One verification key of a JWKS, parsed once for each algorithm it may
/// verify (so a request pays for the signature check only).
struct Key {
    kid: Option<String>,
    family: AlgorithmFamily,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<Algorithm> = self.verifiers.iter().map(|(a, _)| *a).collect();
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &algs)
            .finish()
    }
}

/// A JWKS's usable keys (signature keys of the accepted families).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// aws-lc-rs's verification algorithm for an accepted `alg`.
fn verification(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    use aws_lc_rs::signature as sig;
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        _ => return None,
    })
}

/// DER `INTEGER` of an unsigned big-endian number.
fn der_uint(out: &mut Vec<u8>, n: &[u8]) {
    let n = &n[n
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(n.len().saturating_sub(1))..];
    let pad = n.first().is_some_and(|&b| b & 0x80 != 0);
    out.push(0x02);
    der_len(out, n.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(n);
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// RFC 8017 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_uint(&mut body, n);
    der_uint(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(0x30);
    der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

impl KeySet {
    /// Parse a JWKS document (`{"keys": [...]}`); keys of other families,
    /// encryption keys and keys that do not parse are skipped.
    pub fn parse(json: &[u8]) -> Result<KeySet, String> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let named = jwk
                .common
                .key_algorithm
                .and_then(|a| algorithm(&format!("{a:?}")));
            let (family, bytes, algs): (_, Vec<u8>, &[Algorithm]) = match &jwk.algorithm {
                AlgorithmParameters::RSA(p) => {
                    let (Ok(n), Ok(e)) =
                        (URL_SAFE_NO_PAD.decode(&p.n), URL_SAFE_NO_PAD.decode(&p.e))
                    else {
                        continue;
                    };
                    (
                        AlgorithmFamily::Rsa,
                        rsa_public_key_der(&n, &e),
                        &[
                            Algorithm::RS256,
                            Algorithm::RS384,
                            Algorithm::RS512,
                            Algorithm::PS256,
                            Algorithm::PS384,
                            Algorithm::PS512,
                        ],
                    )
                }
                AlgorithmParameters::EllipticCurve(p) => {
                    let (Ok(x), Ok(y)) =
                        (URL_SAFE_NO_PAD.decode(&p.x), URL_SAFE_NO_PAD.decode(&p.y))
                    else {
                        continue;
                    };
                    let alg: &[Algorithm] = match p.curve {
                        EllipticCurve::P256 => &[Algorithm::ES256],
                        EllipticCurve::P384 => &[Algorithm::ES384],
                        _ => continue,
                    };
                    let mut point = Vec::with_capacity(1 + x.len() + y.len());
                    point.push(0x04);
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    (AlgorithmFamily::Ec, point, alg)
                }
                _ => continue,
            };
            let verifiers: Vec<(Algorithm, ParsedPublicKey)> = algs
                .iter()
                .filter(|a| named.is_none_or(|n| n == **a))
                .filter_map(|&a| {
                    let v = verification(a)?;
                    ParsedPublicKey::new(v, &bytes).ok().map(|k| (a, k))
                })
                .collect();
            if verifiers.is_empty() {
                continue;
            }
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                family,
                verifiers,
            });
        }
        Ok(KeySet { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// An accepted `alg`.
fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
}

/// A verified token's facts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Verified {
    /// Every claim: (name, its JSON text).
    pub claims: Vec<(String, String)>,
    /// From `scope` (space-separated) or `scp` (list or string).
    pub scopes: Option<Vec<String>>,
    /// `exp`, Unix seconds.
    pub exp: u64,
    /// `sub`, when a string.
    pub sub: Option<String>,
}

/// Verify `token` (without `Bearer `) against `keys` and `cfg` at `now`
/// (Unix seconds).
pub fn verify(
    token: &str,
    keys: Option<&KeySet>,
    cfg: &JwtAuthorizer,
    now: u64,
) -> Result<Verified, JwtError> {
    let mut parts = token.split('.');
    let (Some(h64), Some(c64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h64)
        .map_err(|_| JwtError::Malformed)?;
    let header: Header<'_> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Malformed)?;
    let alg = algorithm(&header.alg).ok_or(JwtError::UnsupportedAlgorithm)?;
    let family = alg.family();
    let keys = keys.ok_or(JwtError::NoKeys)?;
    let message = &token.as_bytes()[..h64.len() + 1 + c64.len()];
    let candidates = keys.keys.iter().filter(|k| {
        k.family == family
            && match (&header.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            }
    });
    // RSA up to 8192 bits: 1024 signature bytes.
    let mut sig_buf = [0u8; 1024];
    let sig_len = URL_SAFE_NO_PAD
        .decode_slice(sig, &mut sig_buf)
        .map_err(|_| JwtError::BadSignature)?;
    let signature = &sig_buf[..sig_len];
    let mut found = false;
    let mut good = false;
    for k in candidates {
        let Some((_, v)) = k.verifiers.iter().find(|(a, _)| *a == alg) else {
            continue;
        };
        found = true;
        if v.verify_sig(message, signature).is_ok() {
            good = true;
            break;
        }
    }
    if !found {
        return Err(if header.kid.is_some() {
            JwtError::UnknownKid
        } else {
            JwtError::BadSignature
        });
    }
    if !good {
        return Err(JwtError::BadSignature);
    }
    let claims_bytes = URL_SAFE_NO_PAD
        .decode(c64)
        .map_err(|_| JwtError::Malformed)?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&claims_bytes).map_err(|_| JwtError::Malformed)?;
    check_claims(&claims, cfg, now)
}

fn check_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    cfg: &JwtAuthorizer,
    now: u64,
) -> Result<Verified, JwtError> {
    use serde_json::Value;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(JwtError::Expired)?;
    if exp < 0.0 || (exp as u64).saturating_add(LEEWAY) <= now {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
        && nbf > (now + LEEWAY) as f64
    {
        return Err(JwtError::NotYetValid);
    }
    if claims.get("iss").and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
        return Err(JwtError::WrongIssuer);
    }
    let known = |v: &Value| {
        v.as_str()
            .is_some_and(|s| cfg.audience.iter().any(|a| a == s))
    };
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(known),
        Some(v @ Value::String(_)) => known(v),
        Some(_) => false,
        None => claims.get("client_id").is_some_and(known),
    };
    if !aud_ok {
        return Err(JwtError::WrongAudience);
    }
    let split = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
    let scopes = match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Some(split(s)),
        (_, Some(Value::String(s))) => Some(split(s)),
        (_, Some(Value::Array(list))) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    Ok(Verified {
        claims: claims
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        scopes,
        exp: exp as u64,
        sub: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Whether `scopes` has one of `required` (none required: yes).
pub fn has_scope(scopes: Option<&[String]>, required: &[String]) -> bool {
    required.is_empty() || scopes.is_some_and(|s| s.iter().any(|x| required.contains(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JwksSource;

    fn cfg() -> JwtAuthorizer {
        JwtAuthorizer {
            issuer: "https://issuer.example".into(),
            audience: vec!["api".into()],
            jwks: JwksSource::File(String::new()),
            token_cache: false,
        }
    }

    fn claims(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn claims_checks() {
        let c = cfg();
        let now = 1_000_000;
        let ok = serde_json::json!({"iss": "https://issuer.example", "aud": "api", "exp": now + 60, "scope": "a b"});
        let v = check_claims(&claims(ok), &c, now).unwrap();
        assert_eq!(v.scopes, Some(vec!["a".to_owned(), "b".to_owned()]));
        let expired =
            serde_json::json!({"iss": "https://issuer.example", "aud": "api", "exp": now - 31});
        assert_eq!(
            check_claims(&claims(expired), &c, now),
            Err(JwtError::Expired)
        );
        let skew = serde_json::json!({"iss": "https://issuer.example", "aud": ["x", "api"], "exp": now - 5});
        assert!(check_claims(&claims(skew), &c, now).is_ok());
        let iss = serde_json::json!({"iss": "https://other", "aud": "api", "exp": now + 60});
        assert_eq!(
            check_claims(&claims(iss), &c, now),
            Err(JwtError::WrongIssuer)
        );
        let aud =
            serde_json::json!({"iss": "https://issuer.example", "aud": "other", "exp": now + 60});
        assert_eq!(
            check_claims(&claims(aud), &c, now),
            Err(JwtError::WrongAudience)
        );
        let client = serde_json::json!({"iss": "https://issuer.example", "client_id": "api", "exp": now + 60, "scp": ["r"]});
        let v = check_claims(&claims(client), &c, now).unwrap();
        assert_eq!(v.scopes, Some(vec!["r".to_owned()]));
        let nbf = serde_json::json!({"iss": "https://issuer.example", "aud": "api", "exp": now + 600, "nbf": now + 300});
        assert_eq!(
            check_claims(&claims(nbf), &c, now),
            Err(JwtError::NotYetValid)
        );
        let no_exp = serde_json::json!({"iss": "https://issuer.example", "aud": "api"});
        assert_eq!(
            check_claims(&claims(no_exp), &c, now),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let keys = KeySet::default();
        // {"alg":"none"}.{"exp":1}.
        let t = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"exp":1}"#)
        );
        assert_eq!(
            verify(&t, Some(&keys), &cfg(), 0),
            Err(JwtError::UnsupportedAlgorithm)
        );
        let t = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"exp":1}"#)
        );
        assert_eq!(
            verify(&t, Some(&keys), &cfg(), 0),
            Err(JwtError::UnsupportedAlgorithm)
        );
        assert_eq!(
            verify("a.b", Some(&keys), &cfg(), 0),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn scopes() {
        let s = vec!["a".to_owned()];
        assert!(has_scope(Some(&s), &[]));
        assert!(has_scope(Some(&s), &["a".to_owned(), "b".to_owned()]));
        assert!(!has_scope(Some(&s), &["b".to_owned()]));
        assert!(!has_scope(None, &["b".to_owned()]));
    }
}
