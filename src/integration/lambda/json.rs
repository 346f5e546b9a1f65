//! Writing JSON text straight into a byte buffer: string escaping (RFC 8259
//! §7) and the few building blocks the Lambda event writer needs. No
//! intermediate tree, no allocation beyond the buffer's growth.
//!
//! Guarantees: [`string`] always produces one valid JSON string, whatever
//! the input bytes: `"` `\` and C0 controls are escaped, and bytes that are
//! not UTF-8 become U+FFFD (JSON text must be Unicode). Does not: parse.

/// Bytes that need an escape inside a JSON string: `"`, `\`, and 0x00–0x1F.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of the word needs a look: an escape, or not ASCII.
/// (SWAR: "has a byte less than n" and "has a zero byte" tricks.)
#[inline]
fn word_needs_look(x: u64) -> bool {
    let ctl = x.wrapping_sub(LO * 0x20) & !x;
    let quote = (x ^ (LO * b'"' as u64)).wrapping_sub(LO) & !(x ^ (LO * b'"' as u64));
    let bslash = (x ^ (LO * b'\\' as u64)).wrapping_sub(LO) & !(x ^ (LO * b'\\' as u64));
    (ctl | quote | bslash | x) & HI != 0
}

/// 1 for bytes that need a look (escape or non-ASCII), 0 for the rest.
static LOOK: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = (b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80) as u8;
        i += 1;
    }
    t
};

/// Index of the first byte at or after `i` that needs an escape or is not
/// ASCII, or `s.len()`.
#[inline]
fn scan(s: &[u8], mut i: usize) -> usize {
    while let Some(w) = s.get(i..i + 8) {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if word_needs_look(w) {
            break;
        }
        i += 8;
    }
    while i < s.len() && LOOK[s[i] as usize] == 0 {
        i += 1;
    }
    i
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 15) as usize],
        ]),
    }
}

/// Escape `s`, which is valid UTF-8 (non-ASCII bytes pass as they are).
fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if needs_escape(b) {
            out.extend_from_slice(&s[start..i]);
            push_escape(out, b);
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// The contents of a JSON string for `s`, without the quotes.
pub fn escaped(out: &mut Vec<u8>, s: &[u8]) {
    // ASCII without escapes (the common case) is copied in runs; the first
    // non-ASCII byte switches to validating the rest once.
    let mut start = 0;
    loop {
        let i = scan(s, start);
        if i == s.len() {
            out.extend_from_slice(&s[start..]);
            return;
        }
        if s[i] < 0x80 {
            out.extend_from_slice(&s[start..i]);
            push_escape(out, s[i]);
            start = i + 1;
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        let rest = &s[i..];
        if std::str::from_utf8(rest).is_ok() {
            escape_valid(out, rest);
            return;
        }
        for chunk in rest.utf8_chunks() {
            escape_valid(out, chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice("\u{fffd}".as_bytes());
            }
        }
        return;
    }
}

/// A JSON string for `s` (any bytes; see the module docs).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Members of one JSON object being written: handles the commas.
#[derive(Debug)]
pub struct Object {
    first: bool,
}

impl Object {
    /// Write `{` and start an object.
    pub fn open(out: &mut Vec<u8>) -> Object {
        out.push(b'{');
        Object { first: true }
    }

    /// `"name":` for a name that needs no escaping (the writer's own keys).
    pub fn key(&mut self, out: &mut Vec<u8>, name: &str) {
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }

    /// `"name":` for any name (escaped).
    pub fn key_bytes(&mut self, out: &mut Vec<u8>, name: &[u8]) {
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        string(out, name);
        out.push(b':');
    }

    /// `"name":` for a header name, lower-cased (names are tokens: no escapes).
    pub fn key_lower(&mut self, out: &mut Vec<u8>, name: &[u8]) {
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        out.push(b'"');
        let start = out.len();
        escaped(out, name);
        out[start..].make_ascii_lowercase();
        out.extend_from_slice(b"\":");
    }

    /// `"name":"value"`.
    pub fn str(&mut self, out: &mut Vec<u8>, name: &str, value: &[u8]) {
        self.key(out, name);
        string(out, value);
    }

    /// `"name":null`.
    pub fn null(&mut self, out: &mut Vec<u8>, name: &str) {
        self.key(out, name);
        out.extend_from_slice(b"null");
    }

    /// `"name":true|false`.
    pub fn bool(&mut self, out: &mut Vec<u8>, name: &str, v: bool) {
        self.key(out, name);
        out.extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// `"name":123`.
    pub fn num(&mut self, out: &mut Vec<u8>, name: &str, v: u64) {
        self.key(out, name);
        push_u64(out, v);
    }

    /// `}`
    pub fn close(self, out: &mut Vec<u8>) {
        out.push(b'}');
    }
}

pub use crate::text::push_u64;

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, bytes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_what_rfc8259_requires() {
        assert_eq!(s(b"plain"), "\"plain\"");
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"\n\r\t\x08\x0c"), r#""\n\r\t\b\f""#);
        assert_eq!(s(b"\x00\x1f\x7f"), "\"\\u0000\\u001f\x7f\"");
        assert_eq!(
            s("caf\u{e9} \u{1f600}".as_bytes()),
            "\"caf\u{e9} \u{1f600}\""
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(s(b"a\xffb\xc3"), "\"a\u{fffd}b\u{fffd}\"");
    }

    #[test]
    fn every_output_parses_back() {
        // All single bytes and some pairs: the output is always one JSON string.
        for a in 0u8..=255 {
            for b in [0u8, b'"', b'\\', 0x80, 0xc3, 0xa9, b'x'] {
                let text = s(&[a, b]);
                let back: String = serde_json::from_str(&text).unwrap();
                if let Ok(orig) = std::str::from_utf8(&[a, b]) {
                    assert_eq!(back, orig);
                }
            }
        }
    }

    #[test]
    fn digits() {
        for v in [0u64, 7, 10, 99, 100, 12345, 1_584_039_838_390, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
    }

    #[test]
    fn object_commas() {
        let mut out = Vec::new();
        let mut o = Object::open(&mut out);
        o.str(&mut out, "a", b"x");
        o.null(&mut out, "b");
        o.bool(&mut out, "c", true);
        o.num(&mut out, "d", 42);
        o.key_bytes(&mut out, b"e\"");
        out.extend_from_slice(b"[]");
        o.close(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","b":null,"c":true,"d":42,"e\"":[]}"#
        );
    }
}
