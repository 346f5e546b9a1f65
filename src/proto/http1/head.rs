//! Request and response heads: the types, and parsing with httparse plus the
//! checks httparse leaves to us.
//!
//! What httparse (v1, default `ParserConfig`) already refuses, and we rely on:
//! obs-fold, whitespace between a field name and its colon, whitespace before
//! the first field line, bare CR, CTLs other than HTAB in field values,
//! non-token field names and methods, versions other than `HTTP/1.0` and
//! `HTTP/1.1`.
//!
//! What httparse accepts and this module refuses (each patched here and
//! tested in `tests/`):
//! * a bare LF as a line terminator (RFC 9112 §2.2 lets a recipient accept it;
//!   we don't, for requests and responses alike, so every head that passes can
//!   be forwarded without re-terminating lines);
//! * a request-target that is not origin-form, `*` for OPTIONS, or `http(s)`
//!   absolute-form; a `#` or a non-ASCII byte in the request-target
//!   (RFC 9112 §3.2, RFC 3986 §3; see `target.rs`);
//! * status codes below 100 (RFC 9110 §15);
//! * everything about Content-Length, Transfer-Encoding, Host and Connection:
//!   httparse does not look at field semantics at all (see `framing.rs`).
//!
//! Guarantees: on `Ok(Some(n))` the head is `buf[..n]`, `n <= max_head_bytes`,
//! every [`Span`] lies within `buf[..n]`, and `framing`/`keep_alive` were
//! decided by [`super::request_framing`]'s rules. Nothing is allocated except
//! when the reused `headers` Vec must grow. On `Err` or `Ok(None)` the output
//! head's contents are unspecified.

use std::fmt;
use std::mem::MaybeUninit;

use super::framing::{self, Fields};
use super::target::RequestTarget;

/// A byte range into the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The bytes this span covers in `buf` (the buffer it was parsed from).
    #[inline]
    pub fn get<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// HTTP version of a message; anything else is rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    Http10,
    #[default]
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Request method. `Other` covers extension methods (their bytes stay in
/// `RequestHead::method_span`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
    Other,
}

impl Method {
    /// The method a token names. Methods are case-sensitive (RFC 9110 §9.1):
    /// `get` is an extension method, `Other`.
    pub fn parse(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    /// The method's token, e.g. `"GET"`. `Other` has no fixed name and
    /// returns `""`: read its bytes through `RequestHead::method_span`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "",
        }
    }
}

/// Limits applied while parsing a head.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Largest head (request line + fields + final CRLF) accepted; beyond → 431.
    pub max_head_bytes: usize,
    /// Most header fields accepted; beyond → 431. Values above
    /// [`MAX_HEADERS_CAP`] act as `MAX_HEADERS_CAP`.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// The most field lines one head can hold whatever `HeadLimits::max_headers`
/// says: the size of the parser's stack array of slots.
pub const MAX_HEADERS_CAP: usize = 128;

/// How a message's body is delimited (RFC 9112 §6).
///
/// `None` and `Length(0)` both mean that no body bytes follow. A request or
/// response that carried `Content-Length: 0` is reported as `Length(0)`; one
/// with neither Content-Length nor Transfer-Encoding as `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    #[default]
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Responses only: the body runs until the connection closes.
    Close,
}

/// Why a message head (or chunked body) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reject {
    /// The head is longer than `max_head_bytes` (431).
    HeadTooLarge,
    /// More header fields than `max_headers` (431).
    TooManyHeaders,
    /// Syntax that RFC 9112 does not allow; the text says which rule (400).
    Malformed(&'static str),
    /// Content-Length / Transfer-Encoding that cannot frame the body unambiguously (400).
    BadFraming(&'static str),
    /// Missing or repeated Host in HTTP/1.1, or an invalid Host value (400).
    BadHost(&'static str),
    /// Not HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
}

impl Reject {
    /// The status a server answers this rejection with.
    pub fn status(&self) -> u16 {
        match self {
            Reject::HeadTooLarge | Reject::TooManyHeaders => 431,
            Reject::Malformed(_) | Reject::BadFraming(_) | Reject::BadHost(_) => 400,
            Reject::UnsupportedVersion => 505,
        }
    }
    /// A short human-readable reason, for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::HeadTooLarge => "message head too large",
            Reject::TooManyHeaders => "too many header fields",
            Reject::Malformed(why) | Reject::BadFraming(why) | Reject::BadHost(why) => why,
            Reject::UnsupportedVersion => "HTTP version not supported",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Reject {}

/// A parsed request head. Reused across requests on a connection: `parse_request`
/// clears it first, keeping the `headers` allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The method token as sent.
    pub method_span: Span,
    /// The whole request-target as sent.
    pub target: Span,
    /// The request-target up to (not including) `?`. For absolute-form
    /// (`http://host/p?q`) the path part only (`/p`), empty when the target
    /// has no path (`http://host`); for OPTIONS `*`, the `*`.
    pub path: Span,
    /// After `?` (without it); empty when there is no query.
    pub query: Span,
    pub version: Version,
    /// (name, value) per field line, in order; values trimmed of OWS.
    pub headers: Vec<(Span, Span)>,
    /// Bytes of the head including the final CRLF CRLF.
    pub head_len: usize,
    /// The body framing decided by `request_framing`.
    pub framing: Framing,
    /// The Host field value; for absolute-form, the target's authority
    /// instead, which RFC 9112 §3.2.2 says wins over the Host field.
    pub host: Option<Span>,
    /// Whether the connection may be reused after this exchange (version
    /// default, overridden by `Connection: close` / `keep-alive` tokens).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (HTTP/1.1 only).
    pub expect_continue: bool,
}

impl RequestHead {
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: impl AsRef<[u8]>) -> Option<&'b [u8]> {
        find_header(&self.headers, buf, name.as_ref())
    }
}

/// A parsed response head (from an upstream).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Span,
    pub version: Version,
    pub headers: Vec<(Span, Span)>,
    pub head_len: usize,
    pub framing: Framing,
    /// Whether the upstream connection may be reused after this response's body.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: impl AsRef<[u8]>) -> Option<&'b [u8]> {
        find_header(&self.headers, buf, name.as_ref())
    }
}

fn find_header<'b>(headers: &[(Span, Span)], buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.len() == name.len() && n.get(buf).eq_ignore_ascii_case(name))
        .map(|(_, v)| v.get(buf))
}

/// Parse a request head from the front of `buf` into `out`.
///
/// `Ok(None)`: incomplete, read more (unless `buf.len() >= max_head_bytes`,
/// which is `Err(HeadTooLarge)`). `Ok(Some(head_len))`: complete; `out` is
/// filled, including `framing`, `host`, `keep_alive` and `expect_continue`.
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
    out: &mut RequestHead,
) -> Result<Option<usize>, Reject> {
    // Parse no further than the limit: a complete head inside the window is
    // within the limit, a partial one that fills it is too large.
    let window = head_window(buf, limits);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let slots = &mut slots[..limits.max_headers.min(MAX_HEADERS_CAP)];
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, window, slots);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(buf, window, limits),
        Err(e) => return Err(map_error(e, request_version_token(window))),
    };
    let head = &window[..head_len];
    // RFC 9112 §2.2: httparse takes a bare LF as a line end; we don't.
    reject_bare_lf(head)?;

    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Reject::Malformed("incomplete request line"));
    };
    out.method = Method::parse(method.as_bytes());
    out.method_span = span_of(buf, method.as_bytes())?;
    out.target = span_of(buf, target.as_bytes())?;
    out.version = version_of(minor);
    let parts = RequestTarget::split(out.method, target.as_bytes(), out.target.start)?;
    out.path = parts.path;
    out.query = parts.query;

    out.headers.clear();
    for h in req.headers.iter() {
        out.headers
            .push((span_of(buf, h.name.as_bytes())?, span_of(buf, h.value)?));
    }
    out.head_len = head_len;

    let fields = Fields::scan(buf, &out.headers);
    out.framing = framing::decide_request(out.version, &fields)?;
    out.host = parts.authority.or(fields.host);
    out.keep_alive = fields.keep_alive(out.version);
    out.expect_continue = out.version == Version::Http11 && fields.expect_continue;
    Ok(Some(head_len))
}

/// Parse a response head from the front of `buf`. `request_method` decides
/// whether a body can follow (HEAD, and CONNECT 2xx, never have one).
/// Interim 1xx responses are returned as they are; the caller skips them.
///
/// As strict as [`parse_request`] about syntax: obs-fold, whitespace before a
/// colon and bare LF are refused (the caller answers 502), which RFC 9112
/// §5.1/§5.2 allow a proxy to do, and which keeps every accepted head safe to
/// forward byte for byte. Lenient where the RFC asks a client to be: a
/// missing reason phrase and obs-text in it are accepted.
pub fn parse_response(
    buf: &[u8],
    request_method: Method,
    limits: &HeadLimits,
    out: &mut ResponseHead,
) -> Result<Option<usize>, Reject> {
    let window = head_window(buf, limits);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let slots = &mut slots[..limits.max_headers.min(MAX_HEADERS_CAP)];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, window, slots);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(buf, window, limits),
        Err(e) => return Err(map_error(e, response_version_token(window))),
    };
    let head = &window[..head_len];
    reject_bare_lf(head)?;

    let (Some(minor), Some(status)) = (resp.version, resp.code) else {
        return Err(Reject::Malformed("incomplete status line"));
    };
    if status < 100 {
        // RFC 9110 §15: status codes are 100..=599 (6xx-9xx tolerated).
        return Err(Reject::Malformed("status code below 100"));
    }
    out.status = status;
    out.version = version_of(minor);
    out.reason = reason_span(head)?;
    out.headers.clear();
    for h in resp.headers.iter() {
        out.headers
            .push((span_of(buf, h.name.as_bytes())?, span_of(buf, h.value)?));
    }
    out.head_len = head_len;

    let fields = Fields::scan(buf, &out.headers);
    out.framing = framing::decide_response(request_method, status, out.version, &fields)?;
    out.keep_alive = fields.response_keep_alive(out.version, out.framing);
    Ok(Some(head_len))
}

/// The front of `buf` a head may occupy: `max_head_bytes`, and never more
/// than a `Span` can address.
fn head_window<'b>(buf: &'b [u8], limits: &HeadLimits) -> &'b [u8] {
    let cap = limits.max_head_bytes.min(u32::MAX as usize);
    &buf[..buf.len().min(cap)]
}

/// The answer for a head httparse found incomplete within `window`.
fn partial(buf: &[u8], window: &[u8], limits: &HeadLimits) -> Result<Option<usize>, Reject> {
    if window.len() < buf.len() || window.len() >= limits.max_head_bytes {
        Err(Reject::HeadTooLarge)
    } else {
        Ok(None)
    }
}

fn version_of(minor: u8) -> Version {
    if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    }
}

/// The span of `part`, a sub-slice of `buf` that httparse returned.
fn span_of(buf: &[u8], part: &[u8]) -> Result<Span, Reject> {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    let end = start.wrapping_add(part.len());
    // httparse only ever returns sub-slices of the window, which is at most
    // u32::MAX long; the check keeps a broken invariant from becoming a panic.
    match (u32::try_from(start), u32::try_from(end)) {
        (Ok(s), Ok(e)) if s <= e && end <= buf.len() => Ok(Span { start: s, end: e }),
        _ => Err(Reject::Malformed("internal: field outside the buffer")),
    }
}

/// RFC 9112 §2.2: a bare LF is not a line terminator here. httparse already
/// refuses a bare CR; one scan for LF finds the rest.
fn reject_bare_lf(head: &[u8]) -> Result<(), Reject> {
    for i in memchr::memchr_iter(b'\n', head) {
        if i == 0 || head[i - 1] != b'\r' {
            return Err(Reject::Malformed("bare LF line terminator"));
        }
    }
    Ok(())
}

/// The reason phrase of the status line that starts `head` (after any
/// empty lines). httparse returns `""`, not a sub-slice, when the phrase
/// holds obs-text, so we find it ourselves. `head` is a complete head whose
/// line ends are all CRLF.
fn reason_span(head: &[u8]) -> Result<Span, Reject> {
    let mut start = 0;
    while head[start..].starts_with(b"\r\n") {
        start += 2;
    }
    // "HTTP/1.x 200" is 12 bytes; then SP reason, or the CRLF.
    let line_end = memchr::memchr(b'\r', &head[start..]).map_or(head.len(), |i| start + i);
    let reason_start = (start + 13).min(line_end);
    let to_u32 = |n: usize| u32::try_from(n).map_err(|_| Reject::HeadTooLarge);
    Ok(Span {
        start: to_u32(reason_start)?,
        end: to_u32(line_end)?,
    })
}

/// Maps an httparse error; `version` is the request's or response's version
/// token, which decides between 400 and 505.
fn map_error(e: httparse::Error, version: Option<(&[u8], bool)>) -> Reject {
    use httparse::Error as E;
    match e {
        E::TooManyHeaders => Reject::TooManyHeaders,
        E::Version => match version {
            Some((token, complete)) if is_http_version(token, complete) => {
                Reject::UnsupportedVersion
            }
            _ => Reject::Malformed("invalid HTTP version"),
        },
        E::HeaderName => Reject::Malformed(
            "invalid field line (non-token name, whitespace before the colon or at the start of a line, or obs-fold)",
        ),
        E::HeaderValue => Reject::Malformed("invalid byte in field value (CTL or bare CR)"),
        E::NewLine => Reject::Malformed("invalid line terminator"),
        E::Status => Reject::Malformed("invalid status line"),
        E::Token => Reject::Malformed("invalid request line (method or request-target)"),
    }
}

/// RFC 9112 §2.3: `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`. A well-formed
/// version we don't speak gets 505; anything else 400. An incomplete token
/// (the line has not ended yet) counts when it is a prefix of that shape.
fn is_http_version(token: &[u8], complete: bool) -> bool {
    const SHAPE: &[u8; 8] = b"HTTP/9.9";
    if token.len() > SHAPE.len() || (complete && token.len() != SHAPE.len()) || token.len() < 6 {
        return false;
    }
    token.iter().zip(SHAPE).all(|(&b, &s)| {
        if s == b'9' {
            b.is_ascii_digit()
        } else {
            b == s
        }
    })
}

/// The first line of `buf` after any empty lines, and whether it ended.
fn first_line(buf: &[u8]) -> (&[u8], bool) {
    let mut rest = buf;
    while let [b'\r' | b'\n', tail @ ..] = rest {
        rest = tail;
    }
    match memchr::memchr2(b'\r', b'\n', rest) {
        Some(i) => (&rest[..i], true),
        None => (rest, false),
    }
}

/// The version token of a request line: after its second SP
/// (`method SP request-target SP HTTP-version`).
fn request_version_token(buf: &[u8]) -> Option<(&[u8], bool)> {
    let (line, complete) = first_line(buf);
    let sp1 = memchr::memchr(b' ', line)?;
    let sp2 = sp1 + 1 + memchr::memchr(b' ', &line[sp1 + 1..])?;
    Some((&line[sp2 + 1..], complete))
}

/// The version token of a status line: up to its first SP.
fn response_version_token(buf: &[u8]) -> Option<(&[u8], bool)> {
    let (line, complete) = first_line(buf);
    match memchr::memchr(b' ', line) {
        Some(sp) => Some((&line[..sp], true)),
        None => Some((line, complete)),
    }
}
