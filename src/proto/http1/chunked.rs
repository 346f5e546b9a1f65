//! `Transfer-Encoding: chunked` (RFC 9112 §7.1): an incremental decoder and
//! the two encoder pieces.
//!
//! The decoder is a byte-at-a-time state machine over the framing bytes
//! (chunk-size lines, CRLFs, trailer section) and hands chunk data back as
//! ranges of the caller's input, so it copies nothing and its state is a few
//! integers. It accepts input split at any byte boundary: every framing byte
//! it is given is consumed, so it answers `NeedMore` only once the input is
//! used up.
//!
//! Strict: only CRLF line ends (no bare LF or CR), at most 16 hex digits of
//! chunk size, no whitespace around the size except the BWS the
//! chunk-extension grammar allows, extensions exactly as §7.1.1 spells them
//! (`;name`, `;name=token`, `;name="quoted"`), CRLF right after each chunk's
//! data. Extensions are parsed and dropped (at most [`MAX_EXT_BYTES`] per
//! body). Trailer fields are validated as field lines (token name, colon,
//! value without CTLs but HTAB, no obs-fold) and dropped (at most
//! [`MAX_TRAILER_BYTES`]).
//!
//! Does not: limit the body size (the caller checks [`ChunkedDecoder::body_len`]
//! or sums the `Data` ranges), or keep trailer fields.

use super::Reject;
use std::ops::Range;

/// The terminating chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Largest trailer section accepted (bytes after the last chunk's size line,
/// final CRLF included); beyond → `Reject::HeadTooLarge`.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Most chunk-extension bytes accepted over one body; beyond → `Malformed`.
/// They are framing the caller never sees, so they must not be unbounded.
pub const MAX_EXT_BYTES: usize = 16 * 1024;

/// Most hex digits in a chunk size (leading zeros count): 16 fill a u64.
const MAX_SIZE_DIGITS: u8 = 16;

/// Append a chunk-size line (`{hex}\r\n`) for a chunk of `len` bytes (`len > 0`).
/// The caller appends the data and then `\r\n`.
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    debug_assert!(
        len > 0,
        "a zero-size chunk is the last chunk: use LAST_CHUNK"
    );
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 2 * size_of::<usize>() + 2];
    let mut i = digits.len() - 2;
    digits[i..].copy_from_slice(b"\r\n");
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// What one `decode` step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The input ended inside framing bytes; call again with more input.
    NeedMore,
    /// Body data: this range of the input slice passed to `decode`.
    Data(Range<usize>),
    /// The last chunk and the trailer section were consumed; the body is complete.
    Done,
}

/// Where the decoder is in the chunked grammar (RFC 9112 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk-size.
    #[default]
    SizeStart,
    /// In the chunk-size digits.
    Size,
    /// BWS before a `;` (after the size, a token value or a quoted value).
    ExtBeforeSemi,
    /// After `;`, BWS before the extension name.
    ExtNameStart,
    /// In an extension name.
    ExtName,
    /// BWS after an extension name, before `=` or `;`.
    ExtAfterName,
    /// After `=`, BWS before the value.
    ExtValueStart,
    /// In a token value.
    ExtToken,
    /// In a quoted-string value.
    ExtQuoted,
    /// After a `\` in a quoted-string.
    ExtQuotedPair,
    /// After the closing `"` of a quoted-string.
    ExtAfterQuoted,
    /// After the CR of a chunk-size line.
    SizeLf,
    /// In chunk data.
    Data,
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer field line or the final CRLF.
    TrailerLineStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR of a trailer field line.
    TrailerLineLf,
    /// After the CR of the final empty line.
    TrailerEndLf,
    /// The body is complete.
    Done,
}

/// Incremental chunked-body decoder; holds only a few integers of state.
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read, then the data bytes of it still to come.
    remaining: u64,
    /// Hex digits read of the current chunk size.
    digits: u8,
    /// Chunk-extension bytes seen over the body.
    ext_bytes: usize,
    /// Trailer section bytes seen.
    trailer_bytes: usize,
    /// Data bytes handed out so far.
    body_len: u64,
}

fn malformed(why: &'static str) -> Reject {
    Reject::Malformed(why)
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 §5.6.4 qdtext (HTAB, SP, VCHAR but `"` and `\`, obs-text).
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..)
}

/// A field-value byte (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text.
fn is_field_vchar(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=0x7e | 0x80..)
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Data bytes decoded so far (the sum of the `Data` ranges handed out).
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// The last chunk and trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from the front of `input`. Returns how many bytes of `input` were
    /// consumed and what they held. The caller drops the consumed bytes and
    /// calls again (with more input after `NeedMore`).
    ///
    /// `Data(r)` has `r.end == consumed` and `r` non-empty. `NeedMore` means
    /// all of `input` was consumed (so `(0, NeedMore)` only for empty input).
    /// After `Done`, further calls return `(0, Done)`; bytes after the body
    /// (a pipelined message) are never consumed.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Chunk), Reject> {
        if self.state == State::Done {
            return Ok((0, Chunk::Done));
        }
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Data {
                let avail = (input.len() - i) as u64;
                let n = self.remaining.min(avail) as usize; // <= avail, a usize
                self.remaining -= n as u64;
                self.body_len = self.body_len.saturating_add(n as u64);
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                return Ok((i + n, Chunk::Data(i..i + n)));
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
            if self.state == State::Done {
                return Ok((i, Chunk::Done));
            }
        }
        Ok((i, Chunk::NeedMore))
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), Reject> {
        use State as S;
        let in_ext = matches!(
            self.state,
            S::ExtBeforeSemi
                | S::ExtNameStart
                | S::ExtName
                | S::ExtAfterName
                | S::ExtValueStart
                | S::ExtToken
                | S::ExtQuoted
                | S::ExtQuotedPair
                | S::ExtAfterQuoted
        );
        if in_ext {
            self.ext_bytes += 1;
            if self.ext_bytes > MAX_EXT_BYTES {
                return Err(malformed("chunk extensions too long"));
            }
        }
        let in_trailer = matches!(
            self.state,
            S::TrailerLineStart
                | S::TrailerName
                | S::TrailerValue
                | S::TrailerLineLf
                | S::TrailerEndLf
        );
        if in_trailer {
            self.trailer_bytes += 1;
            if self.trailer_bytes > MAX_TRAILER_BYTES {
                return Err(Reject::HeadTooLarge);
            }
        }
        self.state = match (self.state, b) {
            // chunk-size = 1*HEXDIG
            (S::SizeStart, _) => match hex_value(b) {
                Some(v) => {
                    self.remaining = u64::from(v);
                    self.digits = 1;
                    S::Size
                }
                None => return Err(malformed("chunk size is not a hex number")),
            },
            (S::Size, _) => match (hex_value(b), b) {
                (Some(v), _) => {
                    if self.digits == MAX_SIZE_DIGITS {
                        return Err(malformed("chunk size longer than 16 hex digits"));
                    }
                    self.digits += 1;
                    self.remaining = (self.remaining << 4) | u64::from(v);
                    S::Size
                }
                (None, b'\r') => S::SizeLf,
                (None, b';') => S::ExtNameStart,
                (None, b' ' | b'\t') => S::ExtBeforeSemi,
                (None, _) => return Err(malformed("invalid byte after chunk size")),
            },

            // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
            (S::ExtBeforeSemi, b' ' | b'\t') => S::ExtBeforeSemi,
            (S::ExtBeforeSemi, b';') => S::ExtNameStart,
            (S::ExtBeforeSemi, _) => return Err(malformed("whitespace in chunk-size line")),
            (S::ExtNameStart, b' ' | b'\t') => S::ExtNameStart,
            (S::ExtNameStart, _) if is_tchar(b) => S::ExtName,
            (S::ExtNameStart, _) => return Err(malformed("chunk extension without a name")),
            (S::ExtName, _) if is_tchar(b) => S::ExtName,
            (S::ExtName, b' ' | b'\t') => S::ExtAfterName,
            (S::ExtName, b'=') => S::ExtValueStart,
            (S::ExtName, b';') => S::ExtNameStart,
            (S::ExtName, b'\r') => S::SizeLf,
            (S::ExtName, _) => return Err(malformed("invalid chunk extension name")),
            (S::ExtAfterName, b' ' | b'\t') => S::ExtAfterName,
            (S::ExtAfterName, b'=') => S::ExtValueStart,
            (S::ExtAfterName, b';') => S::ExtNameStart,
            (S::ExtAfterName, _) => return Err(malformed("invalid chunk extension")),
            (S::ExtValueStart, b' ' | b'\t') => S::ExtValueStart,
            (S::ExtValueStart, b'"') => S::ExtQuoted,
            (S::ExtValueStart, _) if is_tchar(b) => S::ExtToken,
            (S::ExtValueStart, _) => return Err(malformed("chunk extension without a value")),
            (S::ExtToken, _) if is_tchar(b) => S::ExtToken,
            (S::ExtToken, b' ' | b'\t') => S::ExtBeforeSemi,
            (S::ExtToken, b';') => S::ExtNameStart,
            (S::ExtToken, b'\r') => S::SizeLf,
            (S::ExtToken, _) => return Err(malformed("invalid chunk extension value")),
            (S::ExtQuoted, b'"') => S::ExtAfterQuoted,
            (S::ExtQuoted, b'\\') => S::ExtQuotedPair,
            (S::ExtQuoted, _) if is_qdtext(b) => S::ExtQuoted,
            (S::ExtQuoted, _) => return Err(malformed("invalid byte in quoted chunk extension")),
            (S::ExtQuotedPair, _) if is_field_vchar(b) => S::ExtQuoted,
            (S::ExtQuotedPair, _) => {
                return Err(malformed("invalid quoted-pair in chunk extension"));
            }
            (S::ExtAfterQuoted, b' ' | b'\t') => S::ExtBeforeSemi,
            (S::ExtAfterQuoted, b';') => S::ExtNameStart,
            (S::ExtAfterQuoted, b'\r') => S::SizeLf,
            (S::ExtAfterQuoted, _) => {
                return Err(malformed("invalid byte after quoted chunk extension"));
            }

            (S::SizeLf, b'\n') => {
                if self.remaining == 0 {
                    S::TrailerLineStart
                } else {
                    S::Data
                }
            }
            (S::SizeLf, _) => return Err(malformed("chunk-size line not ended by CRLF")),

            // chunk-data CRLF
            (S::DataCr, b'\r') => S::DataLf,
            (S::DataCr, _) => return Err(malformed("chunk data not followed by CRLF")),
            (S::DataLf, b'\n') => S::SizeStart,
            (S::DataLf, _) => return Err(malformed("chunk data not followed by CRLF")),

            // trailer-section = *( field-line CRLF ), then CRLF
            (S::TrailerLineStart, b'\r') => S::TrailerEndLf,
            (S::TrailerLineStart, _) if is_tchar(b) => S::TrailerName,
            (S::TrailerLineStart, _) => return Err(malformed("invalid trailer field line")),
            (S::TrailerName, _) if is_tchar(b) => S::TrailerName,
            (S::TrailerName, b':') => S::TrailerValue,
            (S::TrailerName, _) => return Err(malformed("invalid trailer field name")),
            (S::TrailerValue, b'\r') => S::TrailerLineLf,
            (S::TrailerValue, _) if is_field_vchar(b) => S::TrailerValue,
            (S::TrailerValue, _) => return Err(malformed("invalid byte in trailer field value")),
            (S::TrailerLineLf, b'\n') => S::TrailerLineStart,
            (S::TrailerLineLf, _) => return Err(malformed("trailer field line not ended by CRLF")),
            (S::TrailerEndLf, b'\n') => S::Done,
            (S::TrailerEndLf, _) => return Err(malformed("trailer section not ended by CRLF")),

            // `decode` hands data out without stepping and stops at Done.
            (S::Data | S::Done, _) => return Err(malformed("internal: chunked decoder state")),
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
