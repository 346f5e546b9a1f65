//! Reading a request's signature parts and the checks that need neither
//! the key nor the body (see [`check`]), in API Gateway's order and words.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{
    ALGORITHM, Headers, Incoming, MAX_CREDENTIAL_LEN, MAX_EXPIRES_SECS, MAX_SIGNED_HEADERS_LEN,
    MAX_SKEW_SECS, SERVICE, Signed, VerifyError,
};
use crate::auth::sigv4::{self, AmzDate};

/// A fixed-capacity byte string: a signature part, decoded, without allocating.
#[derive(Clone, Copy)]
pub(super) struct Small<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Small<N> {
    fn new() -> Self {
        Small {
            buf: [0; N],
            len: 0,
        }
    }

    /// `raw` as is; `None` when longer than `N`.
    fn raw(raw: &[u8]) -> Option<Self> {
        let mut s = Small::new();
        s.buf.get_mut(..raw.len())?.copy_from_slice(raw);
        s.len = raw.len();
        Some(s)
    }

    /// `raw` percent-decoded (a query value); `None` when longer than `N`.
    fn decoded(raw: &[u8]) -> Option<Self> {
        let mut s = Small::new();
        for b in sigv4::decoded(raw, true) {
            *s.buf.get_mut(s.len)? = b;
            s.len += 1;
        }
        Some(s)
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.bytes())
    }
}

impl<const N: usize> std::fmt::Debug for Small<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.lossy())
    }
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The raw value of query parameter `name` (first occurrence).
fn query_param<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&b| b == b'&').find_map(|part| {
        let eq = part.iter().position(|&b| b == b'=').unwrap_or(part.len());
        (&part[..eq] == name).then(|| part.get(eq + 1..).unwrap_or(&[]))
    })
}

/// An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`; also `-0000`
/// / `+0000` / `UTC` for the zone, as Python's `formatdate` writes it), to
/// seconds since the epoch.
pub(super) fn parse_http_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let s = s.split_once(", ").map_or(s, |(_, rest)| rest);
    let mut it = s.split_ascii_whitespace();
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let (h, m, sec) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if !matches!(it.next(), Some("GMT" | "UTC" | "+0000" | "-0000") | None) {
        return None;
    }
    sigv4::unix_from_civil(year, month, day, h, m, sec)
}

/// `N min.` or `N sec.`, as AWS writes a window in its expiry messages.
fn window(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} sec.")
    }
}

fn stamp(secs: u64) -> AmzDate {
    AmzDate::from_unix(secs)
}

/// Read and check a request's signature parts at time `now` (seconds since
/// the Unix epoch), for this gateway's `region`. See the module docs for
/// what is checked here, in API Gateway's order.
pub fn check<H: Headers + ?Sized>(
    req: &Incoming<'_, H>,
    now: u64,
    region: &str,
) -> Result<Signed, VerifyError> {
    check_scoped(req, now, region, SERVICE)
}

/// [`check`] for another service's scope (AWS's test vectors use `service`).
pub(super) fn check_scoped<H: Headers + ?Sized>(
    req: &Incoming<'_, H>,
    now: u64,
    region: &str,
    service: &str,
) -> Result<Signed, VerifyError> {
    let mut authz = None;
    let mut amz_date = None;
    let mut http_date = None;
    let mut token = false;
    req.headers.each(&mut |n, v| {
        if n.eq_ignore_ascii_case(b"authorization") {
            authz.get_or_insert(v);
        } else if n.eq_ignore_ascii_case(b"x-amz-date") {
            amz_date.get_or_insert(v);
        } else if n.eq_ignore_ascii_case(b"date") {
            http_date.get_or_insert(v);
        } else if n.eq_ignore_ascii_case(b"x-amz-security-token") {
            token = true;
        }
    });
    let in_query = query_param(req.query, b"X-Amz-Algorithm").is_some();

    // (algorithm, credential, signed headers, signature, date text, expires)
    let (algorithm, credential, signed_headers, signature, date, expires);
    match (authz, in_query) {
        (Some(_), true) => {
            return Err(VerifyError::Invalid(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
                    .into(),
            ));
        }
        (None, false) => return Err(VerifyError::Missing),
        (Some(value), false) => {
            let value = trim(value);
            let (alg, rest) = match value.iter().position(|&b| b == b' ') {
                Some(i) => (&value[..i], &value[i + 1..]),
                None => (value, &[][..]),
            };
            let (mut cred, mut sh, mut sig) = (None, None, None);
            for part in rest.split(|&b| b == b',') {
                let part = trim(part);
                if part.is_empty() {
                    continue;
                }
                let Some(eq) = part.iter().position(|&b| b == b'=') else {
                    return Err(VerifyError::Incomplete(format!(
                        "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: '{}'.",
                        lossy(part),
                        lossy(value)
                    )));
                };
                let v = trim(&part[eq + 1..]);
                match trim(&part[..eq]) {
                    b"Credential" => cred = Some(v),
                    b"SignedHeaders" => sh = Some(v),
                    b"Signature" => sig = Some(v),
                    _ => {}
                }
            }
            let mut msg = String::new();
            for (name, got) in [
                ("Credential", cred),
                ("Signature", sig),
                ("SignedHeaders", sh),
            ] {
                if got.is_none_or(<[u8]>::is_empty) {
                    let _ = write!(msg, "Authorization header requires '{name}' parameter. ");
                }
            }
            if amz_date.is_none() && http_date.is_none() {
                msg.push_str(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
                );
            }
            if !msg.is_empty() {
                let _ = write!(msg, "Authorization={}", lossy(value));
                return Err(VerifyError::Incomplete(msg));
            }
            algorithm = Small::<64>::raw(alg);
            credential = Small::<MAX_CREDENTIAL_LEN>::raw(cred.unwrap_or_default());
            signed_headers = Small::<MAX_SIGNED_HEADERS_LEN>::raw(sh.unwrap_or_default());
            signature = Small::<128>::raw(sig.unwrap_or_default());
            date = match amz_date {
                Some(d) => DateText::Amz(trim(d)),
                None => DateText::Http(trim(http_date.unwrap_or_default())),
            };
            expires = None;
        }
        (None, true) => {
            let q = req.query;
            let names = [
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Signature",
                "X-Amz-SignedHeaders",
                "X-Amz-Date",
            ];
            let mut msg = String::new();
            for name in names {
                if query_param(q, name.as_bytes()).is_none_or(<[u8]>::is_empty) {
                    let _ = write!(msg, "AWS query-string parameters must include '{name}'. ");
                }
            }
            if !msg.is_empty() {
                msg.push_str("Re-examine the query-string parameters.");
                return Err(VerifyError::Incomplete(msg));
            }
            let get = |n: &str| query_param(q, n.as_bytes()).unwrap_or_default();
            algorithm = Small::<64>::decoded(get("X-Amz-Algorithm"));
            credential = Small::<MAX_CREDENTIAL_LEN>::decoded(get("X-Amz-Credential"));
            signed_headers = Small::<MAX_SIGNED_HEADERS_LEN>::decoded(get("X-Amz-SignedHeaders"));
            signature = Small::<128>::decoded(get("X-Amz-Signature"));
            date = DateText::Query(get("X-Amz-Date"));
            token |= query_param(q, b"X-Amz-Security-Token").is_some();
            expires = Some(match query_param(q, b"X-Amz-Expires") {
                None => MAX_SKEW_SECS,
                Some(e) => match std::str::from_utf8(e)
                    .ok()
                    .and_then(|e| e.parse::<u64>().ok())
                {
                    Some(e) if e <= MAX_EXPIRES_SECS => e,
                    Some(_) => {
                        return Err(VerifyError::Incomplete(format!(
                            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {MAX_EXPIRES_SECS} seconds"
                        )));
                    }
                    None => {
                        return Err(VerifyError::Incomplete(format!(
                            "X-Amz-Expires should be a number, got '{}'",
                            lossy(e)
                        )));
                    }
                },
            });
        }
    }
    let too_long = || VerifyError::Incomplete("Authorization parts are too long.".into());
    let (algorithm, credential, signed_headers, signature) = (
        algorithm.ok_or_else(too_long)?,
        credential.ok_or_else(too_long)?,
        signed_headers.ok_or_else(too_long)?,
        signature.ok_or_else(too_long)?,
    );

    // The date: its format, then the window.
    let parsed = match date {
        DateText::Amz(d) => AmzDate::parse(d),
        DateText::Query(d) => Small::<64>::decoded(d).and_then(|d| AmzDate::parse(d.bytes())),
        DateText::Http(d) => parse_http_date(d).map(|s| (stamp(s), s)),
    };
    let Some((date, secs)) = parsed else {
        return Err(VerifyError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            lossy(date.text())
        )));
    };
    let lifetime = expires.unwrap_or(MAX_SKEW_SECS);
    if secs.saturating_add(lifetime) < now {
        return Err(VerifyError::Invalid(format!(
            "Signature expired: {} is now earlier than {} ({} - {})",
            date.as_str(),
            stamp(now - lifetime).as_str(),
            stamp(now).as_str(),
            window(lifetime)
        )));
    }
    if secs > now.saturating_add(MAX_SKEW_SECS) {
        return Err(VerifyError::Invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + {})",
            date.as_str(),
            stamp(now + MAX_SKEW_SECS).as_str(),
            stamp(now).as_str(),
            window(MAX_SKEW_SECS)
        )));
    }

    if !signed_headers
        .bytes()
        .split(|&b| b == b';')
        .any(|n| n.eq_ignore_ascii_case(b"host"))
    {
        return Err(VerifyError::Invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }

    if algorithm.bytes() != ALGORITHM.as_bytes() {
        return Err(VerifyError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} for now). ",
            algorithm.lossy()
        )));
    }

    // The credential: five parts (trailing slashes ignored), then its scope.
    let cred = credential.bytes();
    let cred_trimmed = {
        let mut c = cred;
        while let [rest @ .., b'/'] = c {
            c = rest;
        }
        c
    };
    let mut parts = [&[][..]; 5];
    let mut n = 0;
    for p in cred_trimmed.split(|&b| b == b'/') {
        if n < 5 {
            parts[n] = p;
        }
        n += 1;
    }
    if n != 5 {
        return Err(VerifyError::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            lossy(cred)
        )));
    }
    let [key_id, scope_date, scope_region, scope_service, term] = parts;
    let mut errors = Vec::new();
    if scope_region != region.as_bytes() {
        errors.push(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            lossy(scope_region)
        ));
    }
    if scope_service != service.as_bytes() {
        errors.push(format!(
            "Credential should be scoped to correct service: '{service}'."
        ));
    }
    if term != b"aws4_request" {
        errors.push(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            lossy(term)
        ));
    }
    if scope_date != date.date().as_bytes() {
        errors.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            lossy(scope_date),
            date.date(),
            date.as_str()
        ));
    }
    if !errors.is_empty() {
        return Err(VerifyError::Invalid(errors.join(" ")));
    }
    if std::str::from_utf8(key_id).is_err() {
        return Err(VerifyError::UnknownKey);
    }
    let region_start = key_id.len() + 1 + scope_date.len() + 1;
    Ok(Signed {
        presigned: expires.is_some(),
        credential,
        key_id_len: key_id.len(),
        region_range: (region_start, region_start + scope_region.len()),
        service_range: (
            region_start + scope_region.len() + 1,
            region_start + scope_region.len() + 1 + scope_service.len(),
        ),
        signed_headers,
        signature,
        date,
        security_token: token,
    })
}

/// Where a signature's date came from (for its format error).
#[derive(Clone, Copy)]
enum DateText<'a> {
    Amz(&'a [u8]),
    Http(&'a [u8]),
    Query(&'a [u8]),
}

impl<'a> DateText<'a> {
    fn text(self) -> &'a [u8] {
        match self {
            DateText::Amz(t) | DateText::Http(t) | DateText::Query(t) => t,
        }
    }
}
