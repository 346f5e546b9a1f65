//! Request and response heads: parsing (httparse plus the checks httparse
//! leaves to us) and the framing decision. Interface fixed; bodies to fill.

/// A byte range into the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    Http10,
    #[default]
    Http11,
}

/// Request method. `Other` covers extension methods (their bytes stay in
/// `RequestHead::method_span`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// Limits applied while parsing a head.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Largest head (request line + fields + final CRLF) accepted; beyond → 431.
    pub max_head_bytes: usize,
    /// Most header fields accepted; beyond → 431.
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

/// How a message's body is delimited (RFC 9112 §6).
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
        todo!()
    }
    /// A short human-readable reason, for logs.
    pub fn reason(&self) -> &'static str {
        todo!()
    }
}

/// A parsed request head. Reused across requests on a connection: `parse_request`
/// clears it first, keeping the `headers` allocation.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    pub method: Method,
    /// The method token as sent.
    pub method_span: Span,
    /// The whole request-target as sent.
    pub target: Span,
    /// The request-target up to (not including) `?`.
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
    /// The Host field value.
    pub host: Option<Span>,
    /// Whether the connection may be reused after this exchange (version
    /// default, overridden by `Connection: close` / `keep-alive` tokens).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (HTTP/1.1 only).
    pub expect_continue: bool,
}

/// A parsed response head (from an upstream).
#[derive(Clone, Debug, Default)]
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
    let _ = (buf, limits, out);
    todo!()
}

/// RFC 9112 §6 for requests: the one function that decides a request body's framing.
pub fn request_framing(buf: &[u8], head: &RequestHead) -> Result<Framing, Reject> {
    let _ = (buf, head);
    todo!()
}

/// Parse a response head from the front of `buf`. `request_method` decides
/// whether a body can follow (HEAD, and CONNECT 2xx, never have one).
/// Interim 1xx responses are returned as they are; the caller skips them.
pub fn parse_response(
    buf: &[u8],
    request_method: Method,
    limits: &HeadLimits,
    out: &mut ResponseHead,
) -> Result<Option<usize>, Reject> {
    let _ = (buf, request_method, limits, out);
    todo!()
}

/// RFC 9112 §6.3 for responses.
pub fn response_framing(
    buf: &[u8],
    request_method: Method,
    head: &ResponseHead,
) -> Result<Framing, Reject> {
    let _ = (buf, request_method, head);
    todo!()
}
