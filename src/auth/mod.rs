//! Authentication and request signing. `sigv4`: AWS Signature Version 4
//! signing; `sigv4_verify`: its verifying side for IAM-authorized routes;
//! `policy`: IAM-like policy documents evaluated for `execute-api:Invoke`
//! against method ARNs (IAM access keys and Lambda authorizers' policy
//! responses).

pub mod policy;
pub mod sigv4;
pub mod sigv4_verify;
