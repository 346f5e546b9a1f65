//! The one place that decides message framing (RFC 9112 §6): Content-Length,
//! Transfer-Encoding, Host and Connection rules for requests
//! ([`request_framing`]) and responses ([`response_framing`]).
//!
//! A head's fields are read once into a [`Fields`] summary (one pass, names
//! compared by length first); the decision functions only look at that
//! summary, so `parse_request` / `parse_response` and the public functions
//! cannot disagree.
//!
//! Request rules (all 400): Content-Length must be one field of 1*DIGIT that
//! fits in u64, so duplicates are refused even when identical; any
//! Transfer-Encoding must be exactly `chunked`; both together are refused;
//! Transfer-Encoding in HTTP/1.0 is refused; HTTP/1.1 needs exactly one
//! valid Host, and no version may repeat it.
//!
//! Response rules follow §6.3 in order; see [`response_framing`].

use super::head::{Framing, Method, Reject, RequestHead, ResponseHead, Span, Version};

/// RFC 9112 §6 for requests: the one function that decides a request body's framing.
///
/// * `Transfer-Encoding` with exactly one coding, `chunked` → `Chunked`.
/// * `Content-Length: n` → `Length(n)` (also for `n == 0`).
/// * neither → `None`.
///
/// Also applies the Host rules of RFC 9112 §3.2 (missing or repeated Host,
/// invalid Host value → `BadHost`).
pub fn request_framing(buf: &[u8], head: &RequestHead) -> Result<Framing, Reject> {
    decide_request(head.version, &Fields::scan(buf, &head.headers))
}

/// RFC 9112 §6.3 for responses, rule by rule:
///
/// 1. a response to HEAD, a 1xx, 204 or 304 → `None` whatever its fields say;
/// 2. a 2xx to CONNECT → `None` (the connection becomes a tunnel);
/// 3. Transfer-Encoding with Content-Length: Transfer-Encoding wins and the
///    Content-Length is ignored (the caller must not forward it); such a
///    response is never keep-alive;
/// 4. Transfer-Encoding whose final coding is `chunked` → `Chunked`; any
///    other Transfer-Encoding → `Close`. `chunked` applied twice, or
///    Transfer-Encoding in HTTP/1.0 (§6.1), → `BadFraming`;
/// 5. an invalid or repeated Content-Length → `BadFraming` (the caller
///    answers 502);
/// 6. a valid Content-Length → `Length(n)`;
/// 8. otherwise → `Close`.
pub fn response_framing(
    buf: &[u8],
    request_method: Method,
    head: &ResponseHead,
) -> Result<Framing, Reject> {
    decide_response(
        request_method,
        head.status,
        head.version,
        &Fields::scan(buf, &head.headers),
    )
}

/// What a Content-Length field section says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum ContentLength {
    #[default]
    Absent,
    Valid(u64),
    /// Present but unusable; the text says why.
    Invalid(&'static str),
}

/// The framing-relevant fields of one head, read in one pass.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fields {
    pub content_length: ContentLength,
    /// A Transfer-Encoding field was present (even an empty one).
    pub te: bool,
    /// Non-empty transfer-coding list members over all Transfer-Encoding fields.
    pub te_codings: u32,
    /// How many of them are `chunked`.
    pub te_chunked: u32,
    /// The final coding is `chunked`.
    pub te_chunked_last: bool,
    /// The first Host field's value.
    pub host: Option<Span>,
    pub host_count: u32,
    /// Some Host value is not a valid `uri-host [":" port]`.
    pub host_invalid: bool,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    /// `Expect` holds `100-continue` (the version check is the caller's).
    pub expect_continue: bool,
}

impl Fields {
    pub fn scan(buf: &[u8], headers: &[(Span, Span)]) -> Fields {
        let mut f = Fields::default();
        for &(name, value) in headers {
            let name = name.get(buf);
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    f.host_count += 1;
                    if f.host.is_none() {
                        f.host = Some(value);
                    }
                    if !valid_host(value.get(buf)) {
                        f.host_invalid = true;
                    }
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    for member in list_members(value.get(buf)) {
                        if member.eq_ignore_ascii_case(b"100-continue") {
                            f.expect_continue = true;
                        }
                    }
                }
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    for member in list_members(value.get(buf)) {
                        if member.eq_ignore_ascii_case(b"close") {
                            f.conn_close = true;
                        } else if member.eq_ignore_ascii_case(b"keep-alive") {
                            f.conn_keep_alive = true;
                        }
                    }
                }
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    f.content_length = match f.content_length {
                        // RFC 9112 §6.3 rule 5 / RFC 9110 §8.6: a repeated
                        // field is refused even with identical values.
                        ContentLength::Absent => parse_content_length(value.get(buf)),
                        _ => ContentLength::Invalid("repeated Content-Length"),
                    };
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    f.te = true;
                    for member in list_members(value.get(buf)) {
                        f.te_codings += 1;
                        f.te_chunked_last = member.eq_ignore_ascii_case(b"chunked");
                        if f.te_chunked_last {
                            f.te_chunked += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        f
    }

    /// Request keep-alive: HTTP/1.1 persists unless `close`; HTTP/1.0 only
    /// with `keep-alive` (RFC 9112 §9.3). `close` wins over `keep-alive`.
    pub fn keep_alive(&self, version: Version) -> bool {
        !self.conn_close && (version == Version::Http11 || self.conn_keep_alive)
    }

    /// Response keep-alive: as for requests, and never after a body that runs
    /// to close or a Content-Length that Transfer-Encoding overrode.
    pub fn response_keep_alive(&self, version: Version, framing: Framing) -> bool {
        self.keep_alive(version)
            && framing != Framing::Close
            && !(self.te && self.content_length != ContentLength::Absent)
    }
}

/// The request decision; see [`request_framing`].
pub(super) fn decide_request(version: Version, f: &Fields) -> Result<Framing, Reject> {
    // RFC 9112 §3.2: 400 for a repeated Host, a missing one in HTTP/1.1, or
    // an invalid value.
    if f.host_count > 1 {
        return Err(Reject::BadHost("repeated Host"));
    }
    if f.host_count == 0 && version == Version::Http11 {
        return Err(Reject::BadHost("missing Host in HTTP/1.1 request"));
    }
    if f.host_invalid {
        return Err(Reject::BadHost("invalid Host value"));
    }
    if f.te {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if version == Version::Http10 {
            return Err(Reject::BadFraming(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        // RFC 9112 §6.1: a server MAY reject both together; we do, since the
        // pair is the classic smuggling vector.
        if f.content_length != ContentLength::Absent {
            return Err(Reject::BadFraming("Content-Length with Transfer-Encoding"));
        }
        // RFC 9112 §6.3 rule 4: the final coding must be chunked, and §6.1:
        // chunked at most once. We decode no other coding (not even
        // `gzip, chunked`), so anything but exactly `chunked` is refused.
        if f.te_codings != 1 || !f.te_chunked_last {
            return Err(Reject::BadFraming("Transfer-Encoding other than chunked"));
        }
        return Ok(Framing::Chunked);
    }
    match f.content_length {
        ContentLength::Absent => Ok(Framing::None),
        ContentLength::Valid(n) => Ok(Framing::Length(n)),
        // RFC 9112 §6.3 rule 5.
        ContentLength::Invalid(why) => Err(Reject::BadFraming(why)),
    }
}

/// The response decision; see [`response_framing`].
pub(super) fn decide_response(
    request_method: Method,
    status: u16,
    version: Version,
    f: &Fields,
) -> Result<Framing, Reject> {
    // Rule 1.
    if request_method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::None);
    }
    // Rule 2.
    if request_method == Method::Connect && (200..300).contains(&status) {
        return Ok(Framing::None);
    }
    if f.te {
        // §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if version == Version::Http10 {
            return Err(Reject::BadFraming(
                "Transfer-Encoding in an HTTP/1.0 response",
            ));
        }
        // §6.1: chunked MUST NOT be applied more than once.
        if f.te_chunked > 1 {
            return Err(Reject::BadFraming("chunked applied more than once"));
        }
        // Rules 3 and 4.
        return Ok(if f.te_chunked_last {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    match f.content_length {
        // Rule 5.
        ContentLength::Invalid(why) => Err(Reject::BadFraming(why)),
        // Rule 6.
        ContentLength::Valid(n) => Ok(Framing::Length(n)),
        // Rule 8.
        ContentLength::Absent => Ok(Framing::Close),
    }
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`. No sign, no list, no
/// whitespace inside (httparse trimmed the OWS around it), no overflow.
fn parse_content_length(v: &[u8]) -> ContentLength {
    if v.is_empty() {
        return ContentLength::Invalid("empty Content-Length");
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return ContentLength::Invalid("Content-Length is not 1*DIGIT");
        }
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(n) => n,
            None => return ContentLength::Invalid("Content-Length overflows"),
        };
    }
    ContentLength::Valid(n)
}

/// The non-empty members of a `#element` list (RFC 9110 §5.6.1), trimmed of
/// OWS. Empty members (`a, , b`) are skipped as §5.6.1 asks.
fn list_members(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|m| !m.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, checked by alphabet: the
/// bytes of reg-name / IP-literal / IPv4 and a port, nothing that could end
/// the authority (`/ ? # @`, whitespace). Must not be empty.
pub(super) fn valid_host(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'['
                        | b']'
                )
        })
}
