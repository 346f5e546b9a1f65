//! AWS Signature Version 4, the signing side, sans-IO: canonical request,
//! string to sign, signing key and the `Authorization` value, from a
//! request's parts, credentials and a time. Used to sign Lambda Invoke
//! requests (service `lambda`); the verifying side (IAM-authorized routes)
//! will build on the same canonicalisation.
//!
//! Guarantees: the output matches AWS's published signature test suite for
//! the cases this module covers (see the tests: each names its vector).
//! Canonicalisation follows the rules for every service but S3: the path is
//! normalised (`.`/`..` segments and repeated `/` removed) and URI-encoded
//! once more as a whole (so `%3A` on the wire is `%253A` in the canonical
//! URI, as the AWS SDKs sign Lambda ARNs); query parameters are decoded,
//! re-encoded and sorted; header names are lower-cased, values trimmed with
//! inner runs of spaces collapsed, repeated headers joined with `,`.
//! Nothing is allocated: the canonical request streams into SHA-256 (or
//! into a caller's buffer, for tests and logs), and sorting uses index
//! arrays on the stack, which is why a request may sign at most
//! [`MAX_SIGNED_HEADERS`] header fields and [`MAX_QUERY_PARAMS`] query
//! parameters.
//!
//! Does not: choose which headers to sign, read credentials or the clock, or
//! send anything.

use sha2::{Digest, Sha256};

/// Most header fields one request may sign.
pub const MAX_SIGNED_HEADERS: usize = 32;
/// Most query parameters one request may carry to be signed.
pub const MAX_QUERY_PARAMS: usize = 64;

/// The SHA-256 of an empty payload, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Why a request could not be signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// More than [`MAX_SIGNED_HEADERS`] header fields to sign.
    TooManyHeaders,
    /// More than [`MAX_QUERY_PARAMS`] query parameters.
    TooManyParams,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignError::TooManyHeaders => "too many header fields to sign",
            SignError::TooManyParams => "too many query parameters to sign",
        })
    }
}

impl std::error::Error for SignError {}

/// Long-term or temporary AWS credentials.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// For temporary credentials: sent as `X-Amz-Security-Token` and signed.
    pub session_token: Option<&'a str>,
}

/// A time as SigV4 writes it: `20150830T123600Z` (and its date, `20150830`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmzDate {
    text: [u8; 16],
}

impl AmzDate {
    /// From seconds since the Unix epoch (UTC).
    pub fn from_unix(secs: u64) -> AmzDate {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        let mut text = *b"00000000T000000Z";
        let y = y as u64;
        put_digits(&mut text[0..4], y);
        put_digits(&mut text[4..6], u64::from(m));
        put_digits(&mut text[6..8], u64::from(d));
        put_digits(&mut text[9..11], rem / 3600);
        put_digits(&mut text[11..13], rem / 60 % 60);
        put_digits(&mut text[13..15], rem % 60);
        AmzDate { text }
    }

    /// Read an `X-Amz-Date` value (`YYYYMMDDTHHMMSSZ`, ISO 8601 basic
    /// format, UTC): the date and its seconds since the Unix epoch.
    pub fn parse(text: &[u8]) -> Option<(AmzDate, u64)> {
        let t: &[u8; 16] = text.try_into().ok()?;
        if t[8] != b'T' || t[15] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u64> {
            t[r].iter().try_fold(0u64, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
            })
        };
        let secs = unix_from_civil(
            num(0..4)?,
            num(4..6)?,
            num(6..8)?,
            num(9..11)?,
            num(11..13)?,
            num(13..15)?,
        )?;
        Some((AmzDate { text: *t }, secs))
    }

    /// `YYYYMMDDTHHMMSSZ`, the `X-Amz-Date` value.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, `T` and `Z` are ever written.
        std::str::from_utf8(&self.text).unwrap_or("")
    }

    /// `YYYYMMDD`, the credential scope's date.
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }
}

fn put_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Seconds since the Unix epoch of a UTC civil time, or `None` when a field
/// is out of range (a day past its month's end included) or before 1970.
pub(crate) fn unix_from_civil(y: u64, m: u64, d: u64, hh: u64, mm: u64, ss: u64) -> Option<u64> {
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d == 0
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return None;
    }
    let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_days[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let (y, m) = (y as i64, m as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as u64 * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What to sign: the request as it goes on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded as on the wire), without the query.
    pub path: &'a [u8],
    /// The query as sent, without `?`; empty when none.
    pub query: &'a [u8],
    /// The header fields to sign (any case; repeated names allowed), each
    /// as sent. Must include `host` and `x-amz-date` (and
    /// `x-amz-security-token` with temporary credentials).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the payload (see [`payload_hash`]).
    pub payload_sha256: &'a str,
}

/// Where canonical text goes: a hash, or a buffer.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes` into `out` (`out.len() == 2 * bytes.len()`).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
}

/// A SHA-256 digest as 64 lower-case hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexDigest([u8; 64]);

impl HexDigest {
    pub fn of(digest: &[u8; 32]) -> HexDigest {
        let mut out = [0u8; 64];
        hex_into(digest, &mut out);
        HexDigest(out)
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Hex SHA-256 of a payload, for [`Request::payload_sha256`].
pub fn payload_hash(payload: &[u8]) -> HexDigest {
    HexDigest::of(&Sha256::digest(payload).into())
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for i in 0..BLOCK {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The signing key for a day, region and service (cacheable for that day).
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k = [0u8; 68];
    let n = 4 + secret.len();
    let k_date = if n <= k.len() {
        k[..4].copy_from_slice(b"AWS4");
        k[4..n].copy_from_slice(secret.as_bytes());
        hmac_sha256(&k[..n], &[date.as_bytes()])
    } else {
        // Keys longer than a block are hashed first (RFC 2104 §2).
        let mut h = Sha256::new();
        h.update(b"AWS4");
        h.update(secret.as_bytes());
        hmac_sha256(&h.finalize(), &[date.as_bytes()])
    };
    let k_region = hmac_sha256(&k_date, &[region.as_bytes()]);
    let k_service = hmac_sha256(&k_region, &[service.as_bytes()]);
    hmac_sha256(&k_service, &[b"aws4_request"])
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (upper-case hex).
fn uri_encode(out: &mut impl Sink, bytes: &[u8], keep_slash: bool) {
    const UP: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if !plain {
            out.put(&bytes[start..i]);
            out.put(&[b'%', UP[(b >> 4) as usize], UP[(b & 15) as usize]]);
            start = i + 1;
        }
    }
    out.put(&bytes[start..]);
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoded bytes of `s` (an invalid `%` sequence stays as written).
/// `plus_is_space` for query components (`application/x-www-form-urlencoded`).
pub(crate) fn decoded(s: &[u8], plus_is_space: bool) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *s.get(i)?;
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(unhex),
                s.get(i + 2).copied().and_then(unhex),
            )
        {
            i += 3;
            return Some(h << 4 | l);
        }
        i += 1;
        Some(if plus_is_space && b == b'+' { b' ' } else { b })
    })
}

/// Encode the decoded form of a query component.
fn encode_component(out: &mut impl Sink, raw: &[u8]) {
    const UP: &[u8; 16] = b"0123456789ABCDEF";
    for b in decoded(raw, true) {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.put(&[b]);
        } else {
            out.put(&[b'%', UP[(b >> 4) as usize], UP[(b & 15) as usize]]);
        }
    }
}

/// The canonical form of a query component, byte by byte (for sorting).
fn encoded_bytes(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
    const UP: &[u8; 16] = b"0123456789ABCDEF";
    decoded(raw, true).flat_map(|b| {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        let (arr, n) = if plain {
            ([b, 0, 0], 1)
        } else {
            ([b'%', UP[(b >> 4) as usize], UP[(b & 15) as usize]], 3)
        };
        arr.into_iter().take(n)
    })
}

/// The path with `.`/`..` segments and empty segments removed, then encoded.
pub(crate) fn canonical_uri(out: &mut impl Sink, path: &[u8]) {
    if path.is_empty() {
        out.put(b"/");
        return;
    }
    // Keep a stack of segment ranges on the stack; paths with more segments
    // than fit are encoded without normalisation (they cannot be AWS's own).
    const MAX: usize = 64;
    let mut segs = [(0usize, 0usize); MAX];
    let mut n: usize = 0;
    let mut overflow = false;
    for (start, seg) in split_ranges(path) {
        match seg {
            b"" | b"." => {}
            b".." => n = n.saturating_sub(1),
            _ if n == MAX => overflow = true,
            _ => {
                segs[n] = (start, start + seg.len());
                n += 1;
            }
        }
    }
    if overflow {
        uri_encode(out, path, true);
        return;
    }
    for &(a, b) in &segs[..n] {
        out.put(b"/");
        uri_encode(out, &path[a..b], false);
    }
    let trailing = path.ends_with(b"/") && n > 0;
    if n == 0 || trailing {
        out.put(b"/");
    }
}

/// (start offset, segment) for each `/`-separated segment of `path`.
fn split_ranges(path: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    path.split(|&b| b == b'/').map(move |seg| {
        let start = pos;
        pos += seg.len() + 1;
        (start, seg)
    })
}

/// Header value with leading/trailing whitespace removed and inner runs of
/// spaces collapsed to one.
fn put_trimmed(out: &mut impl Sink, value: &str) {
    put_trimmed_bytes(out, value.as_bytes());
}

/// [`put_trimmed`] for a value as raw bytes (as a request carries it).
pub(crate) fn put_trimmed_bytes(out: &mut impl Sink, value: &[u8]) {
    let mut first = true;
    for word in value
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.put(b" ");
        }
        out.put(word);
        first = false;
    }
}

fn lower_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn cmp_lower(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Indexes of the distinct header names (first occurrence), sorted by
/// lower-case name.
fn sorted_names(headers: &[(&str, &str)]) -> Result<([u8; MAX_SIGNED_HEADERS], usize), SignError> {
    if headers.len() > MAX_SIGNED_HEADERS {
        return Err(SignError::TooManyHeaders);
    }
    let mut idx = [0u8; MAX_SIGNED_HEADERS];
    let mut n = 0;
    for (i, (name, _)) in headers.iter().enumerate() {
        if !headers[..i].iter().any(|(o, _)| lower_eq(o, name)) {
            idx[n] = i as u8;
            n += 1;
        }
    }
    idx[..n].sort_unstable_by(|&a, &b| cmp_lower(headers[a as usize].0, headers[b as usize].0));
    Ok((idx, n))
}

fn put_lower(out: &mut impl Sink, s: &str) {
    for b in s.bytes() {
        out.put(&[b.to_ascii_lowercase()]);
    }
}

/// `content-type;host;x-amz-date`: the signed headers list.
fn put_signed_headers(out: &mut impl Sink, headers: &[(&str, &str)], idx: &[u8]) {
    for (k, &i) in idx.iter().enumerate() {
        if k > 0 {
            out.put(b";");
        }
        put_lower(out, headers[i as usize].0);
    }
}

/// The canonical query string of `query` (as sent, without `?`): each
/// parameter decoded and re-encoded, sorted by name then value, joined by
/// `&`. Parameters whose raw name `skip` accepts are left out (a presigned
/// request's `X-Amz-Signature`).
pub(crate) fn write_query(
    out: &mut impl Sink,
    query: &[u8],
    skip: impl Fn(&[u8]) -> bool,
) -> Result<(), SignError> {
    // Query parameters, sorted by encoded name, then encoded value.
    let mut params = [(0u16, 0u16, 0u16); MAX_QUERY_PARAMS];
    let mut np = 0;
    let mut pos = 0usize;
    for part in query.split(|&b| b == b'&') {
        let start = pos;
        pos += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        let eq = part.iter().position(|&b| b == b'=').unwrap_or(part.len());
        if skip(&part[..eq]) {
            continue;
        }
        if np == MAX_QUERY_PARAMS || pos > u16::MAX as usize {
            return Err(SignError::TooManyParams);
        }
        params[np] = (
            start as u16,
            (start + eq) as u16,
            (start + part.len()) as u16,
        );
        np += 1;
    }
    let q = query;
    let key = |p: &(u16, u16, u16)| &q[p.0 as usize..p.1 as usize];
    let value = |p: &(u16, u16, u16)| &q[(p.1 as usize + 1).min(p.2 as usize)..p.2 as usize];
    params[..np].sort_unstable_by(|a, b| {
        encoded_bytes(key(a))
            .cmp(encoded_bytes(key(b)))
            .then_with(|| encoded_bytes(value(a)).cmp(encoded_bytes(value(b))))
    });
    for (i, p) in params[..np].iter().enumerate() {
        if i > 0 {
            out.put(b"&");
        }
        encode_component(out, key(p));
        out.put(b"=");
        encode_component(out, value(p));
    }
    Ok(())
}

fn write_canonical(out: &mut impl Sink, req: &Request<'_>) -> Result<(), SignError> {
    let (idx, n) = sorted_names(req.headers)?;
    let idx = &idx[..n];
    out.put(req.method.as_bytes());
    out.put(b"\n");
    canonical_uri(out, req.path);
    out.put(b"\n");
    write_query(out, req.query, |_| false)?;
    out.put(b"\n");
    for &i in idx {
        let name = req.headers[i as usize].0;
        put_lower(out, name);
        out.put(b":");
        let mut first = true;
        for (_, v) in req.headers.iter().filter(|(o, _)| lower_eq(o, name)) {
            if !first {
                out.put(b",");
            }
            put_trimmed(out, v);
            first = false;
        }
        out.put(b"\n");
    }
    out.put(b"\n");
    put_signed_headers(out, req.headers, idx);
    out.put(b"\n");
    out.put(req.payload_sha256.as_bytes());
    Ok(())
}

/// The canonical request's text (for tests and debugging; signing hashes
/// it without building it).
pub fn canonical_request(req: &Request<'_>, out: &mut Vec<u8>) -> Result<(), SignError> {
    write_canonical(out, req)
}

fn put_scope(out: &mut impl Sink, date: &AmzDate, region: &str, service: &str) {
    out.put(date.date().as_bytes());
    out.put(b"/");
    out.put(region.as_bytes());
    out.put(b"/");
    out.put(service.as_bytes());
    out.put(b"/aws4_request");
}

pub(crate) fn write_string_to_sign(
    out: &mut impl Sink,
    creq_hash: &HexDigest,
    date: &AmzDate,
    region: &str,
    service: &str,
) {
    out.put(b"AWS4-HMAC-SHA256\n");
    out.put(date.as_str().as_bytes());
    out.put(b"\n");
    put_scope(out, date, region, service);
    out.put(b"\n");
    out.put(creq_hash.as_str().as_bytes());
}

/// The string to sign (for tests and debugging).
pub fn string_to_sign(
    req: &Request<'_>,
    date: &AmzDate,
    region: &str,
    service: &str,
    out: &mut Vec<u8>,
) -> Result<(), SignError> {
    let mut h = Sha256::new();
    write_canonical(&mut h, req)?;
    write_string_to_sign(
        out,
        &HexDigest::of(&h.finalize().into()),
        date,
        region,
        service,
    );
    Ok(())
}

/// The signature (hex HMAC-SHA256 with `key`) of the string to sign for a
/// canonical request's hash; the string to sign streams into the HMAC.
pub(crate) fn sign(
    key: &[u8; 32],
    creq_hash: &HexDigest,
    date: &AmzDate,
    region: &str,
    service: &str,
) -> HexDigest {
    let mut sts = Sha256::new();
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(key);
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    sts.update(ipad);
    write_string_to_sign(&mut sts, creq_hash, date, region, service);
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(sts.finalize());
    HexDigest::of(&outer.finalize().into())
}

/// Sign `req` and append the `Authorization` header's value to `out`:
/// `AWS4-HMAC-SHA256 Credential=…/…/aws4_request, SignedHeaders=…, Signature=…`.
/// `key` is [`signing_key`] for `date.date()`, `region` and `service`.
pub fn authorization(
    req: &Request<'_>,
    access_key_id: &str,
    key: &[u8; 32],
    date: &AmzDate,
    region: &str,
    service: &str,
    out: &mut Vec<u8>,
) -> Result<(), SignError> {
    let mut h = Sha256::new();
    write_canonical(&mut h, req)?;
    let creq_hash = HexDigest::of(&h.finalize().into());
    let signature = sign(key, &creq_hash, date, region, service);

    let (idx, n) = sorted_names(req.headers)?;
    out.extend_from_slice(b"AWS4-HMAC-SHA256 Credential=");
    out.extend_from_slice(access_key_id.as_bytes());
    out.push(b'/');
    put_scope(out, date, region, service);
    out.extend_from_slice(b", SignedHeaders=");
    put_signed_headers(out, req.headers, &idx[..n]);
    out.extend_from_slice(b", Signature=");
    out.extend_from_slice(signature.as_str().as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Vectors from AWS's Signature Version 4 test suite
    //! (`aws-sig-v4-test-suite`, credentials `AKIDEXAMPLE` /
    //! `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, region `us-east-1`,
    //! service `service`, time `20150830T123600Z`), named after each case.

    use super::*;

    const KEY_ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TIME: &str = "20150830T123600Z";
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn date() -> AmzDate {
        // 2015-08-30T12:36:00Z
        AmzDate::from_unix(1_440_938_160)
    }

    struct Case<'a> {
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(&'a str, &'a str)],
        body: &'a str,
        creq: &'a str,
        signature: &'a str,
    }

    fn check(c: Case<'_>) {
        let hash = payload_hash(c.body.as_bytes());
        let req = Request {
            method: c.method,
            path: c.path.as_bytes(),
            query: c.query.as_bytes(),
            headers: c.headers,
            payload_sha256: hash.as_str(),
        };
        let mut creq = Vec::new();
        canonical_request(&req, &mut creq).unwrap();
        assert_eq!(String::from_utf8(creq).unwrap(), c.creq);
        let key = signing_key(SECRET, "20150830", "us-east-1", "service");
        let mut authz = Vec::new();
        authorization(
            &req,
            KEY_ID,
            &key,
            &date(),
            "us-east-1",
            "service",
            &mut authz,
        )
        .unwrap();
        let authz = String::from_utf8(authz).unwrap();
        assert!(
            authz.ends_with(&format!("Signature={}", c.signature)),
            "{authz}"
        );
        assert!(authz.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="
        ));
    }

    const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
    const DATE: (&str, &str) = ("X-Amz-Date", TIME);

    #[test]
    fn amz_date_formats() {
        assert_eq!(date().as_str(), TIME);
        assert_eq!(date().date(), "20150830");
        assert_eq!(AmzDate::from_unix(0).as_str(), "19700101T000000Z");
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        // RFC 4231 §4.3
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            HexDigest::of(&mac).as_str(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_long_key_rfc4231_case_6() {
        // RFC 4231 §4.7: a 131-byte key is hashed first.
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            HexDigest::of(&mac).as_str(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn get_vanilla() {
        check(Case {
            method: "GET",
            path: "/",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        });
    }

    #[test]
    fn string_to_sign_get_vanilla() {
        let req = Request {
            method: "GET",
            path: b"/",
            query: b"",
            headers: &[HOST, DATE],
            payload_sha256: EMPTY_SHA256,
        };
        let mut sts = Vec::new();
        string_to_sign(&req, &date(), "us-east-1", "service", &mut sts).unwrap();
        assert_eq!(
            String::from_utf8(sts).unwrap(),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn get_header_key_duplicate() {
        check(Case {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        });
    }

    #[test]
    fn get_header_value_order() {
        check(Case {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        });
    }

    #[test]
    fn get_header_value_trim() {
        check(Case {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                HOST,
                ("My-Header1", " value1"),
                ("My-Header2", " \"a   b   c\""),
                DATE,
            ],
            body: "",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        });
    }

    #[test]
    fn get_unreserved() {
        check(Case {
            method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        });
    }

    #[test]
    fn get_utf8() {
        check(Case {
            method: "GET",
            path: "/\u{1234}",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        });
    }

    #[test]
    fn get_vanilla_empty_query_key() {
        check(Case {
            method: "GET",
            path: "/",
            query: "Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        });
    }

    #[test]
    fn get_vanilla_query_order_key() {
        check(Case {
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=Value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
        });
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        check(Case {
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        });
    }

    #[test]
    fn get_vanilla_query_order_value() {
        check(Case {
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
        });
    }

    #[test]
    fn get_vanilla_query_unreserved() {
        let u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let q = format!("{u}={u}");
        check(Case {
            method: "GET",
            path: "/",
            query: &q,
            headers: &[HOST, DATE],
            body: "",
            creq: &format!(
                "GET\n/\n{q}\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        });
    }

    #[test]
    fn get_vanilla_utf8_query() {
        check(Case {
            method: "GET",
            path: "/",
            query: "\u{1234}=bar",
            headers: &[HOST, DATE],
            body: "",
            creq: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        });
    }

    #[test]
    fn post_header_key_sort() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, ("My-Header1", "value1"), DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        });
    }

    #[test]
    fn post_header_value_case() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, ("My-Header1", "VALUE1"), DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        });
    }

    #[test]
    fn post_vanilla() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        });
    }

    #[test]
    fn post_vanilla_query() {
        check(Case {
            method: "POST",
            path: "/",
            query: "Param1=value1",
            headers: &[HOST, DATE],
            body: "",
            creq: "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        });
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                HOST,
                DATE,
            ],
            body: "Param1=value1",
            creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        });
    }

    #[test]
    fn post_x_www_form_urlencoded_parameters() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf8",
                ),
                HOST,
                DATE,
            ],
            body: "Param1=value1",
            creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        });
    }

    #[test]
    fn post_sts_header_before() {
        check(Case {
            method: "POST",
            path: "/",
            query: "",
            headers: &[HOST, DATE, ("X-Amz-Security-Token", TOKEN)],
            body: "",
            creq: &format!(
                "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:{TOKEN}\n\nhost;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        });
    }

    // Path normalisation vectors (every service but S3).

    fn normalised(path: &str, creq_path: &str, signature: &str) {
        check(Case {
            method: "GET",
            path,
            query: "",
            headers: &[HOST, DATE],
            body: "",
            creq: &format!(
                "GET\n{creq_path}\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            signature,
        });
    }

    #[test]
    fn get_relative() {
        normalised(
            "/example/..",
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn get_relative_relative() {
        normalised(
            "/example1/example2/../..",
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn get_slash() {
        normalised(
            "//",
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn get_slash_dot_slash() {
        normalised(
            "/./",
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    #[test]
    fn get_slash_pointless_dot() {
        normalised(
            "/./example",
            "/example",
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
        );
    }

    #[test]
    fn get_slashes() {
        normalised(
            "//example//",
            "/example/",
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        );
    }

    #[test]
    fn get_space() {
        normalised(
            "/example space/",
            "/example%20space/",
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        );
    }

    #[test]
    fn lambda_arn_paths_are_encoded_twice() {
        // The SDKs send `arn%3Aaws%3A…` and sign `arn%253Aaws%253A…`.
        let req = Request {
            method: "POST",
            path: b"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
            query: b"",
            headers: &[HOST, DATE],
            payload_sha256: EMPTY_SHA256,
        };
        let mut creq = Vec::new();
        canonical_request(&req, &mut creq).unwrap();
        let creq = String::from_utf8(creq).unwrap();
        assert!(creq.starts_with(
            "POST\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunction%253Af/invocations\n\n"
        ));
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let many = [("a", "b"); MAX_SIGNED_HEADERS + 1];
        let req = Request {
            method: "GET",
            path: b"/",
            query: b"",
            headers: &many,
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(
            canonical_request(&req, &mut Vec::new()),
            Err(SignError::TooManyHeaders)
        );
    }

    #[test]
    fn signing_key_is_aws_example() {
        // AWS's documented derivation example (service iam, 20150830).
        let key = signing_key(SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            HexDigest::of(&key).as_str(),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }
}
