//! One cached response, stored as one contiguous block: the key (checked
//! on every hit against the request's), the status line, the response's
//! header lines as sent to the first client (minus the per-request ones the
//! gateway writes itself, and minus any `Age`), and the body, decoded from
//! whatever framing the upstream used.
//!
//! A hit writes the status line, the stored header lines, the per-request
//! lines (Date, request id, `Age`, `Connection`, `Content-Length`) and the
//! body: the block is laid out so that is a few copies out of one
//! allocation, or a zero-copy write of the body for large ones.
//!
//! Guarantees: an [`Entry`] is immutable; a [`Builder`] refuses to grow a
//! body past its maximum (the caller then drops it). Does not: know TTLs
//! (the store does) or write responses.

use std::ops::Range;

/// Bookkeeping bytes an entry costs beyond its block (store slot, map and
/// queue entries, the `Rc` and `Entry` headers), charged against the
/// capacity so many small entries cannot exceed it.
pub const ENTRY_OVERHEAD: u64 = 160;

#[derive(Debug)]
pub struct Entry {
    bytes: Box<[u8]>,
    key_end: usize,
    status_end: usize,
    head_end: usize,
    pub status: u16,
    /// When the response was stored (the store's clock, milliseconds).
    pub stored_at: u64,
}

impl Entry {
    pub fn key(&self) -> &[u8] {
        &self.bytes[..self.key_end]
    }

    /// `HTTP/1.1 200 OK\r\n`
    pub fn status_line(&self) -> &[u8] {
        &self.bytes[self.key_end..self.status_end]
    }

    /// Stored header lines, each ending in CRLF (no blank line).
    pub fn headers(&self) -> &[u8] {
        &self.bytes[self.status_end..self.head_end]
    }

    pub fn body(&self) -> &[u8] {
        &self.bytes[self.head_end..]
    }

    /// Where the body lies in [`bytes`](Self::bytes).
    pub fn body_range(&self) -> Range<usize> {
        self.head_end..self.bytes.len()
    }

    /// The whole block.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What the entry costs against a cache's capacity.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64 + ENTRY_OVERHEAD
    }
}

/// An entry being filled from a response as it streams to the client.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    key_end: usize,
    status_end: usize,
    head_end: usize,
    status: u16,
    max_body: u64,
}

impl Builder {
    /// Start an entry for `key` with `head` (the status line, then header
    /// lines, each ending in CRLF, without the blank line). `body_len`,
    /// when the framing tells it, sizes the block exactly; `None` when it
    /// already exceeds `max_body`.
    pub fn new(
        key: &[u8],
        head: &[u8],
        status: u16,
        max_body: u64,
        body_len: Option<u64>,
    ) -> Option<Builder> {
        if body_len.is_some_and(|n| n > max_body) {
            return None;
        }
        let body_cap = body_len.unwrap_or(0) as usize;
        let mut buf = Vec::with_capacity(key.len() + head.len() + body_cap);
        buf.extend_from_slice(key);
        let key_end = buf.len();
        let mut lines = head.split_inclusive(|&b| b == b'\n');
        buf.extend_from_slice(lines.next().unwrap_or_default());
        let status_end = buf.len();
        for line in lines {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            if !name.eq_ignore_ascii_case(b"age") {
                buf.extend_from_slice(line);
            }
        }
        let head_end = buf.len();
        Some(Builder {
            buf,
            key_end,
            status_end,
            head_end,
            status,
            max_body,
        })
    }

    /// Append body bytes; false when the body grew past the maximum.
    pub fn body(&mut self, piece: &[u8]) -> bool {
        if (self.buf.len() - self.head_end + piece.len()) as u64 > self.max_body {
            return false;
        }
        self.buf.extend_from_slice(piece);
        true
    }

    pub fn finish(self, stored_at: u64) -> Entry {
        Entry {
            bytes: self.buf.into_boxed_slice(),
            key_end: self.key_end,
            status_end: self.status_end,
            head_end: self.head_end,
            status: self.status,
            stored_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_age_dropped() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAge: 30\r\nX-A: 1\r\n";
        let mut b = Builder::new(b"KEY", head, 200, 10, Some(5)).unwrap();
        assert!(b.body(b"hel"));
        assert!(b.body(b"lo"));
        let e = b.finish(42);
        assert_eq!(e.key(), b"KEY");
        assert_eq!(e.status_line(), b"HTTP/1.1 200 OK\r\n");
        assert_eq!(e.headers(), b"Content-Type: text/plain\r\nX-A: 1\r\n");
        assert_eq!(e.body(), b"hello");
        assert_eq!(&e.bytes()[e.body_range()], b"hello");
        assert_eq!(e.stored_at, 42);
        assert_eq!(e.size(), e.bytes().len() as u64 + ENTRY_OVERHEAD);
    }

    #[test]
    fn body_over_the_maximum() {
        assert!(Builder::new(b"k", b"HTTP/1.1 200 OK\r\n", 200, 4, Some(5)).is_none());
        let mut b = Builder::new(b"k", b"HTTP/1.1 200 OK\r\n", 200, 4, None).unwrap();
        assert!(b.body(b"abcd"));
        assert!(!b.body(b"e"));
    }
}
