//! The IAM authorization step of a route with `authorization: aws_iam`:
//! check the request's SigV4 signature (header or presigned query) against
//! the gateway's access keys, then the key's policy for
//! `execute-api:Invoke` on the request's method ARN.
//!
//! The body is part of the signature, so this step reads it before the
//! integration: the whole body (up to `limits.max_body_bytes`) is read into
//! the read buffer, as received (chunked framing included), hashed there,
//! and left in place for the integration, which reads it as if it had just
//! arrived. `100 Continue` is sent when the client asked for it and the
//! body is not all there (the integration then does not send it again).
//! The client's `x-amz-content-sha256` is not trusted: the payload line of
//! the canonical request is always the hash computed here (see
//! `auth::sigv4_verify`).
//!
//! Refusals answer as API Gateway does: REST APIs with AWS's words
//! ([`Detail`]), HTTP APIs `403 {"message":"Forbidden"}`. The account id in
//! a denial's resource ARN is masked to its last four digits, as API
//! Gateway masks it.
//!
//! Per worker, [`IamKeys`] holds the access keys by id with their secrets
//! (`secret_env` read when the configuration is activated) and each key's
//! signing key for the day, so a request derives no key.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use sha2::{Digest, Sha256};

use crate::auth::policy::{self, Decision};
use crate::auth::sigv4::{self, HexDigest};
use crate::auth::sigv4_verify::{self, Headers, Incoming, VerifyError};
use crate::auth::{Identity, IdentityKind};
use crate::config::{Gateway, Protocol};
use crate::pipeline::gateway_response::{Detail, GatewayResponse};
use crate::proto::http1::{Chunk, ChunkedDecoder, Framing, RequestHead};
use crate::route::Matched;
use crate::server::body::BodyError;
use crate::server::io;

/// A signing key and the day (`YYYYMMDD`) it is for.
type DayKey = Option<([u8; 8], [u8; 32])>;

/// The gateway's access keys on one worker.
#[derive(Debug, Default)]
pub struct IamKeys {
    /// Key id → index into `Gateway::iam.access_keys`.
    by_id: HashMap<String, usize>,
    /// Each key's secret (`None`: its `secret_env` is not set now).
    secrets: Vec<Option<String>>,
    /// Each key's signing key and the day (`YYYYMMDD`) it is for.
    signing: Vec<Cell<DayKey>>,
    /// The method ARN being checked (reused).
    arn: RefCell<String>,
    /// Each key's caller as authorizers name one (`$context.authorizer.principalId`),
    /// built once so a request shares it without allocating.
    identities: Vec<Rc<Identity>>,
}

impl IamKeys {
    pub fn build(gw: &Gateway) -> IamKeys {
        let Some(iam) = &gw.iam else {
            return IamKeys::default();
        };
        IamKeys {
            by_id: iam
                .access_keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.id.clone(), i))
                .collect(),
            secrets: iam.access_keys.iter().map(|k| k.secret.resolve()).collect(),
            signing: iam.access_keys.iter().map(|_| Cell::new(None)).collect(),
            arn: RefCell::new(String::with_capacity(128)),
            identities: iam
                .access_keys
                .iter()
                .map(|k| {
                    Rc::new(Identity {
                        kind: IdentityKind::Iam,
                        principal_id: Some(k.principal.clone()),
                        ..Identity::default()
                    })
                })
                .collect(),
        }
    }

    /// Key `i`'s caller, for `Request::identity`.
    pub fn identity(&self, i: usize) -> Option<Rc<Identity>> {
        self.identities.get(i).cloned()
    }

    /// The signing key of key `i` for `date` (`YYYYMMDD`), derived once a day.
    fn signing_key(&self, i: usize, secret: &str, date: &str, region: &str) -> [u8; 32] {
        let mut day = [0u8; 8];
        day.copy_from_slice(&date.as_bytes()[..8]);
        if let Some((d, k)) = self.signing[i].get()
            && d == day
        {
            return k;
        }
        let k = sigv4::signing_key(secret, date, region, sigv4_verify::SERVICE);
        self.signing[i].set(Some((day, k)));
        k
    }
}

/// A request head's fields, for the verifier.
struct HeadFields<'a> {
    head: &'a RequestHead,
    rd: &'a [u8],
}

impl Headers for HeadFields<'_> {
    fn each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (n, v) in &self.head.headers {
            f(n.get(self.rd), v.get(self.rd));
        }
    }
}

/// Why the step did not let a request through.
#[derive(Debug)]
pub enum Refused {
    /// Answer with this gateway response (and, on REST APIs, its detail).
    Answer(GatewayResponse, Option<Box<Detail>>),
    /// The body could not be read.
    Body(BodyError),
}

/// A request the step let through.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// Index into `Gateway::iam.access_keys`.
    pub key: usize,
    /// `100 Continue` was sent while the body was read.
    pub continued: bool,
    /// The key's policy also allows `execute-api:InvalidateCache` on the
    /// method (`Cache-Control: max-age=0` may refresh a cached entry).
    pub may_invalidate_cache: bool,
}

fn refuse(protocol: Protocol, gr: GatewayResponse, detail: Detail) -> Refused {
    match protocol {
        Protocol::Http => Refused::Answer(GatewayResponse::AccessDenied, None),
        Protocol::Rest => Refused::Answer(gr, Some(Box::new(detail))),
    }
}

/// The gateway response of a verification error.
fn refusal(protocol: Protocol, e: &VerifyError) -> Refused {
    if *e == VerifyError::Missing {
        return match protocol {
            Protocol::Http => Refused::Answer(GatewayResponse::AccessDenied, None),
            Protocol::Rest => Refused::Answer(GatewayResponse::MissingAuthenticationToken, None),
        };
    }
    let detail = Detail {
        message: e.message().into_owned(),
        error_type: e.error_type(),
        capital: false,
        summary: e.summary(),
    };
    refuse(protocol, GatewayResponse::InvalidSignature, detail)
}

/// `arn:aws:execute-api:us-east-1:********9012:…`: the account id masked to
/// its last four digits, as API Gateway's denials show it.
fn masked_arn(arn: &str, account: &str) -> String {
    let keep = account.len().saturating_sub(4);
    let masked = format!("{}{}", "*".repeat(keep), &account[keep..]);
    arn.replacen(&format!(":{account}:"), &format!(":{masked}:"), 1)
}

/// Authorize a request to route `m` (whose route has `aws_iam`) at `now`
/// (seconds since the Unix epoch): verify its signature, reading and
/// hashing its body, then its key's policy.
#[allow(clippy::too_many_arguments)]
pub async fn authorize<S: AsyncReadRent + AsyncWriteRent>(
    keys: &IamKeys,
    gw: &Gateway,
    m: Matched,
    stream: &mut S,
    head: &RequestHead,
    rd: &mut Vec<u8>,
    max_body: u64,
    timeout: std::time::Duration,
    now: u64,
) -> Result<Caller, Refused> {
    let api = &gw.apis[m.api];
    let protocol = api.protocol;
    let Some(iam) = &gw.iam else {
        // The configuration refuses aws_iam routes without `iam`.
        return Err(Refused::Answer(
            GatewayResponse::ApiConfigurationError,
            None,
        ));
    };
    let (signed, key) = {
        let fields = HeadFields { head, rd };
        let req = Incoming {
            method: head.method_span.get(rd),
            path: head.path.get(rd),
            query: head.query.get(rd),
            headers: &fields,
        };
        let signed =
            sigv4_verify::check(&req, now, &iam.region).map_err(|e| refusal(protocol, &e))?;
        let key = keys.by_id.get(signed.access_key_id()).copied();
        (signed, key)
    };
    let Some((key, Some(secret))) = key.map(|k| (k, keys.secrets[k].as_deref())) else {
        return Err(refusal(protocol, &VerifyError::UnknownKey));
    };

    let continue_wanted =
        head.expect_continue && head.version == crate::proto::http1::Version::Http11;
    let (hash, continued) = buffer_body(
        stream,
        rd,
        head.head_len,
        head.framing,
        max_body,
        continue_wanted,
        timeout,
    )
    .await
    .map_err(Refused::Body)?;

    let fields = HeadFields { head, rd };
    let req = Incoming {
        method: head.method_span.get(rd),
        path: head.path.get(rd),
        query: head.query.get(rd),
        headers: &fields,
    };
    let signing = keys.signing_key(key, secret, signed.date().date(), &iam.region);
    signed
        .verify_with_key(&req, hash.as_str(), &signing)
        .map_err(|e| refusal(protocol, &e))?;

    // The key's policy, for the method ARN of this request.
    let access_key = &iam.access_keys[key];
    let path = head.path.get(rd);
    let rest = path.get(m.rest_start..).unwrap_or(b"");
    let mut arn = keys.arn.borrow_mut();
    policy::method_arn(
        &mut arn,
        &iam.region,
        &iam.account_id,
        &api.name,
        &api.stages[m.stage].name,
        std::str::from_utf8(head.method_span.get(rd)).unwrap_or(""),
        std::str::from_utf8(rest).unwrap_or(""),
    );
    let why = match access_key.policy.invoke(&arn) {
        Decision::Allow => {
            let may_invalidate_cache = access_key
                .policy
                .evaluate("execute-api:InvalidateCache", &arn)
                == Decision::Allow;
            return Ok(Caller {
                key,
                continued,
                may_invalidate_cache,
            });
        }
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy",
        Decision::ImplicitDeny => {
            "because no identity-based policy allows the execute-api:Invoke action"
        }
    };
    let detail = Detail {
        message: format!(
            "User: {} is not authorized to perform: execute-api:Invoke on resource: {} {why}",
            access_key.principal,
            masked_arn(&arn, &iam.account_id)
        ),
        error_type: "AccessDeniedException",
        capital: true,
        summary: "User is not authorized to perform: execute-api:Invoke on the resource",
    };
    Err(refuse(protocol, GatewayResponse::AccessDenied, detail))
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Read the whole body into `rd` (after the head's `head_len` bytes, as
/// received) and hash its content. Returns the hex SHA-256 and whether
/// `100 Continue` was sent.
async fn buffer_body<S: AsyncReadRent + AsyncWriteRent>(
    stream: &mut S,
    rd: &mut Vec<u8>,
    head_len: usize,
    framing: Framing,
    max: u64,
    continue_wanted: bool,
    timeout: std::time::Duration,
) -> Result<(HexDigest, bool), BodyError> {
    let mut continued = false;
    let mut h = Sha256::new();
    match framing {
        Framing::None | Framing::Close | Framing::Length(0) => {}
        Framing::Length(n) => {
            if n > max {
                return Err(BodyError::TooLarge);
            }
            let end = head_len + n as usize;
            while rd.len() < end {
                if continue_wanted && !continued {
                    continued = true;
                    io::write_all(stream, &mut CONTINUE.to_vec(), timeout).await?;
                }
                io::read_more(stream, rd, 16 * 1024, timeout).await?;
            }
            h.update(&rd[head_len..end]);
        }
        Framing::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut pos = head_len;
            let mut total = 0u64;
            loop {
                if pos < rd.len() {
                    match dec.decode(&rd[pos..]) {
                        Ok((k, Chunk::Data(r))) => {
                            total += r.len() as u64;
                            if total > max {
                                return Err(BodyError::TooLarge);
                            }
                            h.update(&rd[pos + r.start..pos + r.end]);
                            pos += k;
                            continue;
                        }
                        Ok((_, Chunk::Done)) => break,
                        Ok((k, Chunk::NeedMore)) => {
                            pos += k;
                            if k > 0 && pos < rd.len() {
                                continue;
                            }
                        }
                        Err(_) => return Err(BodyError::Malformed),
                    }
                }
                if continue_wanted && !continued {
                    continued = true;
                    io::write_all(stream, &mut CONTINUE.to_vec(), timeout).await?;
                }
                io::read_more(stream, rd, 16 * 1024, timeout).await?;
            }
        }
    }
    Ok((HexDigest::of(&h.finalize().into()), continued))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_masked_in_denials() {
        assert_eq!(
            masked_arn(
                "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets",
                "123456789012"
            ),
            "arn:aws:execute-api:us-east-1:********9012:shop/prod/GET/pets"
        );
    }
}
