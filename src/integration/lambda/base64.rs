//! Base64 (RFC 4648 §4, standard alphabet) for Lambda bodies: encoding
//! binary request bodies into events, decoding `isBase64Encoded` response
//! bodies. Appends to the caller's buffer; never allocates beyond its growth.
//!
//! Decoding is lenient where Lambda runtimes differ and strict elsewhere:
//! ASCII whitespace is skipped (Python's `base64.encodebytes` wraps lines),
//! padding may be left out, but a character outside the alphabet, padding in
//! the middle, or a dangling single character is an error.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the encoding of `n` bytes (with padding).
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Append the padded encoding of `input`.
pub fn encode(out: &mut Vec<u8>, input: &[u8]) {
    out.reserve(encoded_len(input.len()));
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(v >> 18) as usize & 63],
            ALPHABET[(v >> 12) as usize & 63],
            ALPHABET[(v >> 6) as usize & 63],
            ALPHABET[v as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(v >> 18) as usize & 63],
                ALPHABET[(v >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                ALPHABET[(v >> 18) as usize & 63],
                ALPHABET[(v >> 12) as usize & 63],
                ALPHABET[(v >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Why base64 text could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A byte outside the alphabet (and not whitespace or padding).
    InvalidByte,
    /// Padding in the wrong place, or a dangling character.
    InvalidLength,
}

fn value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// How many bytes `text` decodes to, checking it as [`decode`] does.
pub fn decoded_len(text: &[u8]) -> Result<usize, DecodeError> {
    let mut n = 0usize;
    let mut pad = 0u8;
    for &b in text {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return Err(DecodeError::InvalidLength);
        }
        value(b).ok_or(DecodeError::InvalidByte)?;
        n += 1;
    }
    match (n % 4, pad) {
        (0, 0) => Ok(n / 4 * 3),
        (2, 0 | 2) => Ok(n / 4 * 3 + 1),
        (3, 0 | 1) => Ok(n / 4 * 3 + 2),
        _ => Err(DecodeError::InvalidLength),
    }
}

/// Append the bytes `text` encodes. On error `out` may hold a partial result.
pub fn decode(out: &mut Vec<u8>, text: &[u8]) -> Result<(), DecodeError> {
    out.reserve(text.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut n = 0u8;
    let mut pad = 0u8;
    for &b in text {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return Err(DecodeError::InvalidLength);
        }
        acc = acc << 6 | value(b).ok_or(DecodeError::InvalidByte)?;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match (n, pad) {
        (0, 0) => {}
        (2, 0 | 2) => out.push((acc >> 4) as u8),
        (3, 0 | 1) => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return Err(DecodeError::InvalidLength),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        let mut out = Vec::new();
        encode(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn dec(s: &str) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        decode(&mut out, s.as_bytes()).map(|()| out)
    }

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 §10
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes()), coded);
            assert_eq!(dec(coded).unwrap(), plain.as_bytes());
            assert_eq!(encoded_len(plain.len()), coded.len());
        }
    }

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            assert_eq!(dec(&enc(&all[..n])).unwrap(), &all[..n]);
        }
    }

    #[test]
    fn decoded_len_agrees_with_decode() {
        for text in [
            "",
            "Zg==",
            "Zm8=",
            "Zm9v",
            "Zm9vYg",
            "Zm9v\nYmE=\n",
            "Zm9v!",
            "Zg==Zg==",
            "Z",
            "Zm9==",
        ] {
            let mut out = Vec::new();
            let decoded = decode(&mut out, text.as_bytes()).map(|()| out.len());
            assert_eq!(decoded_len(text.as_bytes()), decoded, "{text:?}");
        }
    }

    #[test]
    fn lenient_about_whitespace_and_missing_padding() {
        assert_eq!(dec("Zm9v\nYmE=\n").unwrap(), b"fooba");
        assert_eq!(dec("Zm9vYg").unwrap(), b"foob");
        assert_eq!(dec("Zm9vYmE").unwrap(), b"fooba");
    }

    #[test]
    fn strict_about_alphabet_and_structure() {
        assert_eq!(dec("Zm9v!"), Err(DecodeError::InvalidByte));
        assert_eq!(dec("Zm9v-_"), Err(DecodeError::InvalidByte));
        assert_eq!(dec("Zg==Zg=="), Err(DecodeError::InvalidLength));
        assert_eq!(dec("Z"), Err(DecodeError::InvalidLength));
        assert_eq!(dec("Zm9=="), Err(DecodeError::InvalidLength));
    }
}
