//! Authentication and request signing. `sigv4`: AWS Signature Version 4
//! (signing; verification comes with IAM-authorized routes).

pub mod sigv4;
