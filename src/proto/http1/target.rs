//! The request-target (RFC 9112 §3.2): which of its forms a request used,
//! and where its path, query and authority are.
//!
//! Accepted: origin-form (`/p?q`), asterisk-form (`*`, OPTIONS only) and
//! absolute-form with an `http` or `https` scheme (`http://host/p?q`).
//! Refused (`Malformed`): authority-form (CONNECT tunnels are not served),
//! other schemes, userinfo or an empty host in the authority, a fragment
//! (`#`), and non-ASCII bytes. httparse has already refused CTLs and SP.
//!
//! Does not decode percent-encoding or normalize dot-segments.

use super::head::{Method, Reject, Span};

/// Where the parts of a request-target are, as spans of the parsed buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RequestTarget {
    /// Up to the first `?`; for absolute-form the path part only (empty
    /// when the URI has no path); for asterisk-form the `*`.
    pub path: Span,
    /// After the first `?`, without it; empty when there is none.
    pub query: Span,
    /// The authority of an absolute-form target (which RFC 9112 §3.2.2
    /// puts before the Host field).
    pub authority: Option<Span>,
}

impl RequestTarget {
    /// Splits `target`, which starts at offset `base` of the parsed buffer.
    /// `target` lies within a head of at most `u32::MAX` bytes.
    pub fn split(method: Method, target: &[u8], base: u32) -> Result<RequestTarget, Reject> {
        let at = |i: usize| base + i as u32; // base + i <= head length <= u32::MAX
        let empty_at_end = Span {
            start: at(target.len()),
            end: at(target.len()),
        };
        let mut authority = None;
        let path_start = match target.first() {
            // RFC 9112 §3.2.1 origin-form: absolute-path [ "?" query ].
            Some(b'/') => 0,
            // RFC 9112 §3.2.4 asterisk-form, for OPTIONS only.
            Some(b'*') if target.len() == 1 => {
                if method != Method::Options {
                    return Err(Reject::Malformed(
                        "asterisk-form request-target outside OPTIONS",
                    ));
                }
                return Ok(RequestTarget {
                    path: Span {
                        start: base,
                        end: at(1),
                    },
                    query: empty_at_end,
                    authority: None,
                });
            }
            // RFC 9112 §3.2.2 absolute-form, for the schemes we serve.
            _ => {
                let rest_at = if starts_with_ignore_case(target, b"http://") {
                    7
                } else if starts_with_ignore_case(target, b"https://") {
                    8
                } else {
                    // RFC 9112 §3.2.3 authority-form (CONNECT), and anything else.
                    return Err(Reject::Malformed("unsupported request-target form"));
                };
                let rest = &target[rest_at..];
                let auth_len = rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
                // RFC 9110 §4.2.1: an http(s) URI has a non-empty host;
                // §4.2.4: userinfo (`@`) in one is an error. `#` and
                // non-ASCII are refused here too.
                if !super::framing::valid_host(&rest[..auth_len]) {
                    return Err(Reject::Malformed(
                        "invalid authority in absolute-form request-target",
                    ));
                }
                authority = Some(Span {
                    start: at(rest_at),
                    end: at(rest_at + auth_len),
                });
                rest_at + auth_len
            }
        };
        // Refuse non-ASCII (RFC 3986 §2: a URI is ASCII) and `#` (RFC 9110
        // §4.2.5: a fragment is never sent); find the first `?`.
        let rest = &target[path_start..];
        if !rest.is_ascii() {
            return Err(Reject::Malformed("non-ASCII byte in request-target"));
        }
        let query_at = match memchr::memchr2(b'?', b'#', rest) {
            Some(i) if rest[i] == b'?' && memchr::memchr(b'#', &rest[i..]).is_none() => {
                Some(path_start + i)
            }
            Some(_) => return Err(Reject::Malformed("fragment in request-target")),
            None => None,
        };
        Ok(RequestTarget {
            path: Span {
                start: at(path_start),
                end: at(query_at.unwrap_or(target.len())),
            },
            query: match query_at {
                Some(q) => Span {
                    start: at(q + 1),
                    end: at(target.len()),
                },
                None => empty_at_end,
            },
            authority,
        })
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}
