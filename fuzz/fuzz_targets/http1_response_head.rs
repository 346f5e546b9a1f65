//! `parse_response` on arbitrary bytes, the request method taken from the
//! first byte. A head that parses obeys the module's guarantees (spans in
//! bounds, framing as `response_framing` says and as RFC 9112 §6.3 orders,
//! keep-alive never after a close-delimited body), parses the same from
//! `buf[..n]` alone, and is incomplete one byte short.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::http1::{
    Framing, HeadLimits, Method, Reject, ResponseHead, Span, parse_response, response_framing,
};

const METHODS: [Method; 10] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Connect,
    Method::Trace,
    Method::Other,
];

fn in_bounds(s: Span, n: usize) {
    assert!(
        s.start <= s.end && s.end as usize <= n,
        "{s:?} outside ..{n}"
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&m, data)) = input.split_first() else {
        return;
    };
    let method = METHODS[m as usize % METHODS.len()];
    let limits = HeadLimits::default();
    let mut head = ResponseHead::default();
    match parse_response(data, method, &limits, &mut head) {
        Ok(Some(n)) => {
            assert!(n <= data.len() && n <= limits.max_head_bytes && n == head.head_len);
            let raw = &data[..n];
            assert!(raw.ends_with(b"\r\n\r\n"));
            for i in memchr_all(b'\n', raw) {
                assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}");
            }
            assert!((100..=999).contains(&head.status));
            in_bounds(head.reason, n);
            assert!(!head.reason.get(raw).contains(&b'\r'));
            for &(name, value) in &head.headers {
                in_bounds(name, n);
                in_bounds(value, n);
                assert!(!name.is_empty());
            }
            assert_eq!(response_framing(raw, method, &head), Ok(head.framing));
            let no_body = method == Method::Head
                || (100..200).contains(&head.status)
                || head.status == 204
                || head.status == 304
                || (method == Method::Connect && (200..300).contains(&head.status));
            if no_body {
                assert_eq!(head.framing, Framing::None);
            } else {
                assert_ne!(head.framing, Framing::None);
            }
            if head.framing == Framing::Close {
                assert!(!head.keep_alive);
            }
            let mut again = ResponseHead::default();
            assert_eq!(
                parse_response(&data[..n], method, &limits, &mut again),
                Ok(Some(n))
            );
            assert_eq!(again, head);
            assert_eq!(
                parse_response(&data[..n - 1], method, &limits, &mut again),
                Ok(None)
            );
            let short = HeadLimits {
                max_head_bytes: n - 1,
                ..limits
            };
            assert_eq!(
                parse_response(data, method, &short, &mut again),
                Err(Reject::HeadTooLarge)
            );
        }
        Ok(None) => assert!(data.len() < limits.max_head_bytes),
        Err(r) => {
            assert!(matches!(r.status(), 400 | 431 | 505));
            assert!(!r.reason().starts_with("internal"));
        }
    }
});

fn memchr_all(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |&(_, &b)| b == needle)
        .map(|(i, _)| i)
}
