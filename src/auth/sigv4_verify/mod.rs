//! AWS Signature Version 4, the verifying side, sans-IO: IAM authorization
//! of incoming requests (service `execute-api`), signed in the
//! `Authorization` header or presigned in the query string.
//!
//! Two steps, because the body is read between them:
//! 1. [`check`] reads the request's signature parts and refuses what can be
//!    refused without the body or the key: missing or malformed parts, a
//!    date out of the 5-minute window (or past `X-Amz-Expires`), `host` not
//!    signed, another algorithm, a credential scope other than this
//!    gateway's region and `execute-api` on the signature's day.
//! 2. The caller looks up [`Signed::access_key_id`] (unknown:
//!    [`VerifyError::UnknownKey`]), hashes the body, and calls
//!    [`Signed::verify`] with the secret.
//!
//! Canonicalisation is the signer's ([`super::sigv4`]), as every service but
//! S3 does it: the path as received, normalised and URI-encoded once more
//! (`%3A` on the wire is `%253A` in the canonical URI: what botocore and the
//! SDKs sign for `execute-api`); query parameters decoded, re-encoded and
//! sorted (`X-Amz-Signature` left out of a presigned request); the signed
//! headers in the order `SignedHeaders` names them, values trimmed and
//! repeated fields joined with `,`.
//!
//! The payload line is always the SHA-256 of the body as received, computed
//! by the caller: like API Gateway (and every AWS service but S3), the
//! gateway does not take `UNSIGNED-PAYLOAD` or the client's
//! `x-amz-content-sha256` in its place. That header is an ordinary header
//! here: signed when listed, and a request whose header disagrees with its
//! body fails as a signature mismatch.
//!
//! `X-Amz-Security-Token` (temporary credentials from STS) is refused with
//! `UnrecognizedClientException` once the signature is checked, as AWS
//! refuses a token it did not issue: the gateway issues none, and accepting
//! one would let a session's signature pass as the long-term key's.
//!
//! Limits (tollgate's, refused with `IncompleteSignatureException`): a
//! `Credential` up to [`MAX_CREDENTIAL_LEN`] bytes, a `SignedHeaders` list
//! up to [`MAX_SIGNED_HEADERS_LEN`], [`sigv4::MAX_QUERY_PARAMS`] query
//! parameters: the parts are copied onto the stack, not allocated.
//!
//! Errors carry API Gateway's (Coral's) wording and order of checks; see
//! [`VerifyError`]. Nothing is allocated on the way to `Ok`; an error
//! allocates its message.
//!
//! Does not: look up keys, read the clock or the body, evaluate policies
//! (see [`super::policy`]).

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::sigv4::{self, AmzDate, HexDigest};

mod check;
use check::Small;
pub use check::check;
#[cfg(test)]
use check::{check_scoped, parse_http_date};

/// The only algorithm SigV4 verification takes.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name API Gateway's credential scope carries.
pub const SERVICE: &str = "execute-api";
/// How far a signature's date may be from the gateway's clock.
pub const MAX_SKEW_SECS: u64 = 300;
/// The longest `X-Amz-Expires` a presigned request may carry (7 days).
pub const MAX_EXPIRES_SECS: u64 = 604_800;
/// The longest `Credential` (`keyid/date/region/service/aws4_request`)
/// taken; longer ones are refused (`IncompleteSignatureException`).
pub const MAX_CREDENTIAL_LEN: usize = 256;
/// The longest `SignedHeaders` list taken (about 60 typical header names);
/// longer ones are refused (`IncompleteSignatureException`).
pub const MAX_SIGNED_HEADERS_LEN: usize = 2048;

const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A request's header fields, as the caller holds them.
pub trait Headers {
    /// Call `f` with each field (name, value) in the order received.
    fn each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8]));
}

impl Headers for [(&str, &str)] {
    fn each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (n, v) in self {
            f(n.as_bytes(), v.as_bytes());
        }
    }
}

impl Headers for [(&[u8], &[u8])] {
    fn each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (n, v) in self {
            f(n, v);
        }
    }
}

/// The request as received.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a, H: Headers + ?Sized> {
    pub method: &'a [u8],
    /// The path as sent (percent-encoded), without the query.
    pub path: &'a [u8],
    /// The query as sent, without `?`; empty when none.
    pub query: &'a [u8],
    pub headers: &'a H,
}

/// Why a request's signature was refused: API Gateway's answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Neither an `Authorization` header nor presigned query parameters:
    /// `Missing Authentication Token`.
    Missing,
    /// Signature parts missing or malformed (`IncompleteSignatureException`).
    Incomplete(String),
    /// The signature's date is outside the window, `host` is not signed,
    /// the credential scope is wrong, or both the header and the query
    /// carry a signature (`InvalidSignatureException`).
    Invalid(String),
    /// The access key id is not one of the gateway's (`UnrecognizedClientException`).
    UnknownKey,
    /// The signature does not match the one computed here: the canonical
    /// request and string to sign the gateway computed, as API Gateway
    /// tells them (`InvalidSignatureException`).
    Mismatch {
        canonical_request: String,
        string_to_sign: String,
    },
    /// A security token came with the request (`UnrecognizedClientException`).
    SecurityToken,
}

impl VerifyError {
    /// API Gateway's `x-amzn-ErrorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            VerifyError::Missing => "MissingAuthenticationTokenException",
            VerifyError::Incomplete(_) => "IncompleteSignatureException",
            VerifyError::Invalid(_) | VerifyError::Mismatch { .. } => "InvalidSignatureException",
            VerifyError::UnknownKey | VerifyError::SecurityToken => "UnrecognizedClientException",
        }
    }

    /// The message without the request's particulars (for logs).
    pub fn summary(&self) -> &'static str {
        match self {
            VerifyError::Missing => "Missing Authentication Token",
            VerifyError::Incomplete(_) => "The request signature is incomplete or malformed",
            VerifyError::Invalid(_) => {
                "The request signature is invalid (date out of the window, credential scope or signed headers)"
            }
            VerifyError::UnknownKey => "The security token included in the request is invalid.",
            VerifyError::Mismatch { .. } => BAD_SIGNATURE,
            VerifyError::SecurityToken => "The security token included in the request is invalid",
        }
    }

    /// The `message` API Gateway answers with.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            VerifyError::Missing => Cow::Borrowed("Missing Authentication Token"),
            VerifyError::Incomplete(m) | VerifyError::Invalid(m) => Cow::Borrowed(m),
            VerifyError::UnknownKey => {
                Cow::Borrowed("The security token included in the request is invalid.")
            }
            VerifyError::SecurityToken => {
                Cow::Borrowed("The security token included in the request is invalid")
            }
            VerifyError::Mismatch {
                canonical_request,
                string_to_sign,
            } => Cow::Owned(format!(
                "{BAD_SIGNATURE}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            )),
        }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message())
    }
}

impl std::error::Error for VerifyError {}

/// A request's signature, checked as far as it can be without the key and
/// the body (see [`check`]).
#[derive(Clone, Debug)]
pub struct Signed {
    presigned: bool,
    /// `keyid/date/region/service/aws4_request`, decoded.
    credential: Small<MAX_CREDENTIAL_LEN>,
    key_id_len: usize,
    region_range: (usize, usize),
    service_range: (usize, usize),
    signed_headers: Small<MAX_SIGNED_HEADERS_LEN>,
    signature: Small<128>,
    date: AmzDate,
    security_token: bool,
}

/// Lower-case ASCII of a header name into a sink.
fn put_lower(out: &mut impl sigv4::Sink, name: &[u8]) {
    for &b in name {
        out.put(&[b.to_ascii_lowercase()]);
    }
}

/// Constant-time equality of two byte strings (length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Signed {
    /// The access key id the request was signed with.
    pub fn access_key_id(&self) -> &str {
        // Checked to be UTF-8 in `check`.
        std::str::from_utf8(&self.credential.bytes()[..self.key_id_len]).unwrap_or("")
    }

    /// Whether the signature came in the query string.
    pub fn is_presigned(&self) -> bool {
        self.presigned
    }

    /// The signature's time, `YYYYMMDDTHHMMSSZ`.
    pub fn date(&self) -> &AmzDate {
        &self.date
    }

    fn scope_part(&self, (a, b): (usize, usize)) -> &str {
        std::str::from_utf8(&self.credential.bytes()[a..b]).unwrap_or("")
    }

    fn region(&self) -> &str {
        self.scope_part(self.region_range)
    }

    fn service(&self) -> &str {
        self.scope_part(self.service_range)
    }

    /// Verify the signature with `secret` (the key's secret access key),
    /// `payload_sha256` being the hex SHA-256 of the body as received
    /// ([`sigv4::payload_hash`]).
    pub fn verify<H: Headers + ?Sized>(
        &self,
        req: &Incoming<'_, H>,
        payload_sha256: &str,
        secret: &str,
    ) -> Result<(), VerifyError> {
        let key = sigv4::signing_key(secret, self.date.date(), self.region(), self.service());
        self.verify_with_key(req, payload_sha256, &key)
    }

    /// [`verify`](Self::verify) with the day's signing key
    /// ([`sigv4::signing_key`] for the signature's date, region and
    /// `execute-api`), for callers that cache it.
    pub fn verify_with_key<H: Headers + ?Sized>(
        &self,
        req: &Incoming<'_, H>,
        payload_sha256: &str,
        key: &[u8; 32],
    ) -> Result<(), VerifyError> {
        let mut h = Sha256::new();
        self.write_canonical(&mut h, req, payload_sha256)?;
        let creq_hash = HexDigest::of(&h.finalize().into());
        let expected = sigv4::sign(key, &creq_hash, &self.date, self.region(), self.service());
        if !ct_eq(expected.as_str().as_bytes(), self.signature.bytes()) {
            let mut creq = Vec::new();
            self.write_canonical(&mut creq, req, payload_sha256)?;
            let mut sts = Vec::new();
            sigv4::write_string_to_sign(
                &mut sts,
                &creq_hash,
                &self.date,
                self.region(),
                self.service(),
            );
            return Err(VerifyError::Mismatch {
                canonical_request: String::from_utf8_lossy(&creq).into_owned(),
                string_to_sign: String::from_utf8_lossy(&sts).into_owned(),
            });
        }
        if self.security_token {
            return Err(VerifyError::SecurityToken);
        }
        Ok(())
    }

    /// The canonical request's text (for tests and debugging).
    pub fn canonical_request<H: Headers + ?Sized>(
        &self,
        req: &Incoming<'_, H>,
        payload_sha256: &str,
    ) -> Result<String, VerifyError> {
        let mut out = Vec::new();
        self.write_canonical(&mut out, req, payload_sha256)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn write_canonical<H: Headers + ?Sized>(
        &self,
        out: &mut impl sigv4::Sink,
        req: &Incoming<'_, H>,
        payload_sha256: &str,
    ) -> Result<(), VerifyError> {
        out.put(req.method);
        out.put(b"\n");
        sigv4::canonical_uri(out, req.path);
        out.put(b"\n");
        let presigned = self.presigned;
        sigv4::write_query(out, req.query, |k| presigned && k == b"X-Amz-Signature")
            .map_err(|_| VerifyError::Incomplete("Too many query parameters to sign.".into()))?;
        out.put(b"\n");
        for name in self.signed_headers.bytes().split(|&b| b == b';') {
            put_lower(out, name);
            out.put(b":");
            let mut first = true;
            req.headers.each(&mut |n, v| {
                if n.eq_ignore_ascii_case(name) {
                    if !first {
                        out.put(b",");
                    }
                    sigv4::put_trimmed_bytes(out, v);
                    first = false;
                }
            });
            out.put(b"\n");
        }
        out.put(b"\n");
        put_lower(out, self.signed_headers.bytes());
        out.put(b"\n");
        out.put(payload_sha256.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
