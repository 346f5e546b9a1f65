//! Path parameters of one lookup, percent-decoded into buffers that are
//! reused from request to request.
//!
//! Guarantees: once the buffers have grown to a route's usual parameter sizes,
//! filling them allocates nothing. Values are decoded as API Gateway passes
//! them to integrations: `%XX` becomes the byte (so `%2F` becomes `/`), an
//! invalid `%` sequence stays as written, `+` stays `+` (this is a path, not a
//! form); when the decoded bytes are not UTF-8 the raw text is kept instead.
//! Does not: know which route matched (the caller passes the names).

use std::ops::Range;

/// Decoded path parameters of the last lookup. Reused across requests.
#[derive(Debug, Default)]
pub struct Params {
    /// Names and decoded values, back to back.
    text: String,
    /// (name, value) ranges into `text`, in path order.
    entries: Vec<(Range<u32>, Range<u32>)>,
    /// Decoding scratch space.
    scratch: Vec<u8>,
}

impl Params {
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
    }

    /// The decoded value of parameter `name` (`proxy` for `{proxy+}`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// (name, decoded value) pairs in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| {
            (
                &self.text[n.start as usize..n.end as usize],
                &self.text[v.start as usize..v.end as usize],
            )
        })
    }

    /// How many parameters the last lookup captured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Append parameter `name` with the raw (percent-encoded) `raw` value.
    pub(crate) fn push(&mut self, name: &str, raw: &[u8]) {
        let name_start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        decode_into(raw, &mut self.scratch, &mut self.text);
        let end = self.text.len();
        self.entries.push((
            as_u32(name_start)..as_u32(value_start),
            as_u32(value_start)..as_u32(end),
        ));
    }
}

/// Request paths are bounded by the head limit, far below `u32::MAX`.
fn as_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode `raw` and append it to `out`; if the result is not UTF-8,
/// append `raw` itself (invalid UTF-8 in `raw` becomes U+FFFD).
fn decode_into(raw: &[u8], scratch: &mut Vec<u8>, out: &mut String) {
    if memchr::memchr(b'%', raw).is_none() {
        push_lossy(raw, out);
        return;
    }
    scratch.clear();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            scratch.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        scratch.push(b);
        i += 1;
    }
    match std::str::from_utf8(scratch) {
        Ok(s) => out.push_str(s),
        Err(_) => push_lossy(raw, out),
    }
}

fn push_lossy(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> String {
        let mut p = Params::default();
        p.push("x", raw.as_bytes());
        p.get("x").unwrap().to_owned()
    }

    #[test]
    fn decodes_percent_sequences() {
        assert_eq!(decoded("plain"), "plain");
        assert_eq!(decoded("a%20b"), "a b");
        assert_eq!(decoded("a%2Fb"), "a/b");
        assert_eq!(decoded("a%2fb"), "a/b");
        assert_eq!(decoded("caf%C3%A9"), "caf\u{e9}");
        assert_eq!(decoded("a+b"), "a+b");
    }

    #[test]
    fn invalid_percent_sequences_stay_literal() {
        assert_eq!(decoded("100%"), "100%");
        assert_eq!(decoded("%zz%4"), "%zz%4");
        assert_eq!(decoded("%%41"), "%A");
    }

    #[test]
    fn non_utf8_result_keeps_raw_text() {
        assert_eq!(decoded("a%FFb"), "a%FFb");
        assert_eq!(decoded("%C3"), "%C3");
    }

    #[test]
    fn reuse_keeps_order_and_clears() {
        let mut p = Params::default();
        p.push("a", b"1");
        p.push("b", b"x%2Fy");
        assert_eq!(p.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "x/y")]);
        assert_eq!(p.len(), 2);
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.get("a"), None);
        p.push("c", b"3");
        assert_eq!(p.iter().collect::<Vec<_>>(), [("c", "3")]);
    }
}
