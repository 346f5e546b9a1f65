//! The chunked coding (RFC 9112 §7.1): decoding under every split, and one
//! test per rejection rule.

use super::super::*;

/// What feeding a whole message produced.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    body: Vec<u8>,
    /// Bytes the decoder consumed in all; the rest is left for the next message.
    consumed: usize,
    done: bool,
}

/// Feeds `input` in pieces of the given sizes (the last piece takes the
/// rest), the way a connection does: unconsumed bytes stay at the front and
/// new bytes are appended after them.
fn feed(input: &[u8], sizes: &mut dyn Iterator<Item = usize>) -> Result<Decoded, Reject> {
    let mut dec = ChunkedDecoder::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut fed = 0;
    let mut consumed = 0;
    loop {
        let take = sizes
            .next()
            .unwrap_or(input.len() - fed)
            .min(input.len() - fed);
        pending.extend_from_slice(&input[fed..fed + take]);
        fed += take;
        loop {
            let (n, chunk) = dec.decode(&pending)?;
            assert!(n <= pending.len());
            match chunk {
                Chunk::Data(ref r) => {
                    assert!(!r.is_empty() && r.end <= n, "range {r:?} consumed {n}");
                    body.extend_from_slice(&pending[r.clone()]);
                }
                Chunk::NeedMore => assert_eq!(n, pending.len(), "NeedMore leaves input"),
                Chunk::Done => {
                    consumed += n;
                    assert_eq!(dec.body_len(), body.len() as u64);
                    assert!(dec.is_done());
                    return Ok(Decoded {
                        body,
                        consumed,
                        done: true,
                    });
                }
            }
            pending.drain(..n);
            consumed += n;
            if chunk == Chunk::NeedMore {
                break;
            }
        }
        if fed == input.len() {
            return Ok(Decoded {
                body,
                consumed,
                done: false,
            });
        }
    }
}

fn whole(input: &[u8]) -> Result<Decoded, Reject> {
    feed(input, &mut std::iter::empty())
}

fn bytewise(input: &[u8]) -> Result<Decoded, Reject> {
    feed(input, &mut std::iter::repeat(1))
}

/// xorshift64*: deterministic split sizes without a dependency.
struct Splits(u64);
impl Iterator for Splits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        Some((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 59) as usize) // 0..=31
    }
}

/// The body `input` decodes to, asserting that every way of splitting it
/// agrees.
fn decodes_to(input: &[u8], body: &[u8]) {
    let one =
        whole(input).unwrap_or_else(|e| panic!("{e:?} for {:?}", String::from_utf8_lossy(input)));
    assert!(one.done, "not done: {:?}", String::from_utf8_lossy(input));
    assert_eq!(one.body, body);
    assert_eq!(
        bytewise(input),
        Ok(Decoded {
            body: body.to_vec(),
            consumed: one.consumed,
            done: true
        })
    );
    for seed in 1..200 {
        let got = feed(input, &mut Splits(seed));
        assert_eq!(
            got,
            Ok(Decoded {
                body: body.to_vec(),
                consumed: one.consumed,
                done: true
            }),
            "seed {seed}"
        );
    }
}

/// Asserts `input` is refused whole, byte by byte and in random splits.
fn rejected(input: &[u8]) -> Reject {
    let r = whole(input).expect_err(&format!("accepted {:?}", String::from_utf8_lossy(input)));
    assert_eq!(bytewise(input).err(), Some(r), "bytewise");
    for seed in 1..50 {
        assert_eq!(feed(input, &mut Splits(seed)).err(), Some(r), "seed {seed}");
    }
    r
}

fn malformed(input: &[u8]) {
    let r = rejected(input);
    assert!(
        matches!(r, Reject::Malformed(_)),
        "{r:?} for {:?}",
        String::from_utf8_lossy(input)
    );
}

// ---- Accepted -------------------------------------------------------------

#[test]
fn simple_body_any_split() {
    decodes_to(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world");
}

#[test]
fn empty_body() {
    decodes_to(b"0\r\n\r\n", b"");
    decodes_to(LAST_CHUNK, b"");
    // RFC 9112 §7.1: last-chunk = 1*("0").
    decodes_to(b"000\r\n\r\n", b"");
}

#[test]
fn hex_sizes() {
    // RFC 9112 §7.1: chunk-size = 1*HEXDIG, either case, leading zeros allowed.
    let data = vec![b'x'; 0x1a];
    let mut input = b"1A\r\n".to_vec();
    input.extend_from_slice(&data);
    input.extend_from_slice(b"\r\n0\r\n\r\n");
    decodes_to(&input, &data);
    decodes_to(b"00001\r\nz\r\n0\r\n\r\n", b"z");
    decodes_to(b"0000000000000001\r\nz\r\n0\r\n\r\n", b"z");
}

#[test]
fn large_body_random_splits() {
    let mut input = Vec::new();
    let mut body = Vec::new();
    for (i, len) in [1usize, 15, 16, 255, 256, 4095, 4096, 10_000]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
        write_chunk_header(&mut input, len);
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n");
        body.extend_from_slice(&data);
    }
    input.extend_from_slice(LAST_CHUNK);
    decodes_to(&input, &body);
}

#[test]
fn extensions_accepted() {
    // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ).
    for ext in [
        ";a",
        ";a=b",
        ";a=\"b c\"",
        ";a=\"q\\\"uote\\\\\"",
        ";a;b=1;c=\"\"",
        " ;a",
        "\t; a = b",
        ";a =\t\"x\"\t;b",
        ";!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
    ] {
        let input = format!("3{ext}\r\nabc\r\n0{ext}\r\n\r\n");
        decodes_to(input.as_bytes(), b"abc");
    }
    decodes_to(b"1;a=\"\xe9\"\r\nx\r\n0\r\n\r\n", b"x");
}

#[test]
fn trailers_parsed_and_dropped() {
    // RFC 9112 §7.1.2: a trailer section of field lines after the last chunk.
    decodes_to(
        b"1\r\nx\r\n0\r\nExpires: never\r\nX-Sum:abc \t\r\n\r\n",
        b"x",
    );
    decodes_to(b"0\r\nX-Empty:\r\n\r\n", b"");
}

#[test]
fn done_leaves_pipelined_bytes() {
    let input = b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let got = whole(input).unwrap();
    assert_eq!(got.body, b"hi");
    assert_eq!(&input[got.consumed..], b"GET / HTTP/1.1\r\n");
    for seed in 1..50 {
        assert_eq!(
            feed(input, &mut Splits(seed)).unwrap().consumed,
            got.consumed
        );
    }
}

#[test]
fn after_done_returns_done() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(dec.decode(b"0\r\n\r\nrest"), Ok((5, Chunk::Done)));
    assert_eq!(dec.decode(b"rest"), Ok((0, Chunk::Done)));
    assert_eq!(dec.decode(b""), Ok((0, Chunk::Done)));
}

#[test]
fn never_need_more_without_consuming() {
    // Each call with non-empty input makes progress: framing bytes are
    // consumed even when the element they start is incomplete.
    let input = b"a;ext=\"v\"\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
    for split in 1..input.len() {
        let mut dec = ChunkedDecoder::new();
        let (n, chunk) = dec.decode(&input[..split]).unwrap();
        assert!(n > 0, "split {split}: {chunk:?}");
        if chunk == Chunk::NeedMore {
            assert_eq!(n, split);
        }
    }
    let mut dec = ChunkedDecoder::new();
    assert_eq!(dec.decode(b""), Ok((0, Chunk::NeedMore)));
}

#[test]
fn data_ranges_are_into_the_given_input() {
    let mut dec = ChunkedDecoder::new();
    let input = b"3\r\nabc\r\n";
    assert_eq!(dec.decode(input), Ok((6, Chunk::Data(3..6))));
    assert_eq!(dec.decode(&input[6..]), Ok((2, Chunk::NeedMore)));
    assert_eq!(dec.decode(b"4\r\nde"), Ok((5, Chunk::Data(3..5))));
    assert_eq!(dec.decode(b"fg\r\n0\r\n\r\n"), Ok((2, Chunk::Data(0..2))));
    assert_eq!(dec.body_len(), 7);
    assert_eq!(dec.decode(b"\r\n0\r\n\r\n"), Ok((7, Chunk::Done)));
}

#[test]
fn largest_chunk_size() {
    // 16 hex digits fill a u64; the data itself is the caller's limit.
    let mut dec = ChunkedDecoder::new();
    assert_eq!(
        dec.decode(b"ffffffffffffffff\r\nab"),
        Ok((20, Chunk::Data(18..20)))
    );
    assert_eq!(dec.body_len(), 2);
}

#[test]
fn chunk_header_encoding() {
    for (len, want) in [
        (1usize, "1\r\n"),
        (9, "9\r\n"),
        (10, "a\r\n"),
        (255, "ff\r\n"),
        (4096, "1000\r\n"),
        (0xdead_beef, "deadbeef\r\n"),
    ] {
        let mut out = b"x".to_vec();
        write_chunk_header(&mut out, len);
        assert_eq!(out, format!("x{want}").as_bytes());
    }
    let mut out = Vec::new();
    write_chunk_header(&mut out, usize::MAX);
    assert_eq!(out, format!("{:x}\r\n", usize::MAX).as_bytes());
}

// ---- Rejected -------------------------------------------------------------

#[test]
fn size_not_hex() {
    // RFC 9112 §7.1: chunk-size = 1*HEXDIG; no sign, prefix or empty size.
    for input in [
        &b"x\r\n"[..],
        b"-1\r\n",
        b"+1\r\n",
        b"0x1\r\nx\r\n",
        b"\r\n",
        b"g\r\n",
    ] {
        malformed(input);
    }
}

#[test]
fn size_too_long() {
    // RFC 9112 §7.1: recipients MUST anticipate large sizes and prevent
    // integer overflow; 17 digits (even zeros) are refused.
    malformed(b"10000000000000000\r\n");
    malformed(b"00000000000000001\r\n");
}

#[test]
fn whitespace_around_size() {
    // RFC 9112 §7.1: no whitespace around chunk-size except BWS before `;`
    // (§7.1.1); a lenient parser here is a smuggling vector.
    malformed(b" 1\r\nx\r\n0\r\n\r\n");
    malformed(b"1 \r\nx\r\n0\r\n\r\n");
    malformed(b"1\t\r\nx\r\n0\r\n\r\n");
    malformed(b"1 1\r\nx\r\n0\r\n\r\n");
    malformed(b"0 \r\n\r\n");
}

#[test]
fn junk_after_size() {
    // RFC 9112 §7.1: only `;` extensions may follow the size.
    malformed(b"1x\r\nx\r\n0\r\n\r\n");
    malformed(b"1,\r\nx\r\n0\r\n\r\n");
    malformed(b"1\x00\r\nx\r\n0\r\n\r\n");
}

#[test]
fn malformed_extensions() {
    // RFC 9112 §7.1.1: chunk-ext-name = token; chunk-ext-val = token / quoted-string.
    for ext in [
        &b";"[..],
        b"; ",
        b";=b",
        b";a=",
        b";a= ",
        b";a=b c",
        b";a b",
        b";a=\"b\"c",
        b";a=\"b\x01\"",
        b";a=\"\\\x01\"",
        b";a=b=c",
        b";a@b",
        b";a=(b)",
        b";a\x00",
        // BWS only comes before `;`, never before the CRLF.
        b";a=b ",
        b";a ",
        b";a=\"b\" ",
    ] {
        let mut input = b"1".to_vec();
        input.extend_from_slice(ext);
        input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        malformed(&input);
    }
}

#[test]
fn unterminated_quoted_extension_hits_cr() {
    // RFC 9110 §5.6.4: CR is not qdtext, so a quote can't swallow the line end.
    malformed(b"1;a=\"b\r\nx\r\n0\r\n\r\n");
}

#[test]
fn extensions_bounded() {
    // RFC 9112 §7.1.1: a recipient MAY limit chunk extensions; 16 KiB per body.
    let mut input = b"1;a=".to_vec();
    input.extend(std::iter::repeat_n(b'v', MAX_EXT_BYTES));
    input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert!(matches!(whole(&input), Err(Reject::Malformed(_))));
}

#[test]
fn bare_lf_in_size_line() {
    // RFC 9112 §7.1 / §2.2: CRLF only.
    malformed(b"1\nx\r\n0\r\n\r\n");
    malformed(b"1;a\nx\r\n0\r\n\r\n");
    malformed(b"1;a=b\nx\r\n0\r\n\r\n");
    malformed(b"1;a=\"b\"\nx\r\n0\r\n\r\n");
}

#[test]
fn bare_cr_in_size_line() {
    // RFC 9112 §2.2: a bare CR is not a line end.
    malformed(b"1\rx\r\n0\r\n\r\n");
}

#[test]
fn data_not_followed_by_crlf() {
    // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
    // A size shorter than the data sent is the classic desync.
    malformed(b"1\r\nxy\r\n0\r\n\r\n");
    malformed(b"1\r\nx\n0\r\n\r\n");
    malformed(b"1\r\nx\r0\r\n\r\n");
    malformed(b"1\r\nx0\r\n\r\n");
}

#[test]
fn bare_lf_after_last_chunk() {
    // RFC 9112 §7.1: last-chunk ends with CRLF, the trailer section with CRLF.
    malformed(b"0\n\r\n");
    malformed(b"0\r\n\n");
    malformed(b"0\r\n\r\r\n");
}

#[test]
fn trailer_bare_lf() {
    // RFC 9112 §7.1.2 / §2.2: trailer field lines end with CRLF.
    malformed(b"0\r\nX: y\n\r\n");
    malformed(b"0\r\nX: y\r\r\n\r\n");
}

#[test]
fn trailer_obs_fold() {
    // RFC 9112 §5.2: no obs-fold (a line starting with SP/HTAB).
    malformed(b"0\r\nX: y\r\n z\r\n\r\n");
    malformed(b"0\r\n\tX: y\r\n\r\n");
}

#[test]
fn trailer_ctl_in_value() {
    // RFC 9110 §5.5: no CTLs but HTAB in field values.
    malformed(b"0\r\nX: a\x00b\r\n\r\n");
    malformed(b"0\r\nX: a\x7fb\r\n\r\n");
}

#[test]
fn trailer_bad_names() {
    // RFC 9110 §5.1: field-name = token, then `:` with no whitespace before it.
    malformed(b"0\r\nX : y\r\n\r\n");
    malformed(b"0\r\n: y\r\n\r\n");
    malformed(b"0\r\nNoColon\r\n\r\n");
    malformed(b"0\r\nX@: y\r\n\r\n");
}

#[test]
fn trailer_too_large() {
    // RFC 9112 §7.1.2 lets a recipient limit trailers: 16 KiB → 431.
    let mut input = b"0\r\n".to_vec();
    while input.len() < MAX_TRAILER_BYTES + 100 {
        input.extend_from_slice(b"X-Trailer: 0123456789012345678901234567890123456789\r\n");
    }
    input.extend_from_slice(b"\r\n");
    assert_eq!(rejected(&input), Reject::HeadTooLarge);
}
