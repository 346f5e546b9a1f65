//! A listener's `redirect_https`: every request is answered with a
//! `308 Permanent Redirect` to the same host and target over https
//! (308 keeps the method and body, RFC 9110 §15.4.9), before routing.
//! Sans-IO: writes the response into a buffer.

use crate::pipeline::response::{content_length, push_u64, status_line};
use crate::proto::http1::RequestHead;

/// The host part of a Host value (without its port; IPv6 keeps brackets).
fn host_only(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&b| b == b']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => &host[..i],
        None => host,
    }
}

/// Write the redirect for `head` (whose bytes are in `rd`) to `out`;
/// `fallback_host` when the request named none.
pub fn write(
    out: &mut Vec<u8>,
    rd: &[u8],
    head: &RequestHead,
    port: u16,
    fallback_host: &[u8],
    date: &[u8],
    keep_alive: bool,
) {
    status_line(out, 308, b"Permanent Redirect");
    out.extend_from_slice(b"Location: https://");
    out.extend_from_slice(host_only(head.host.map_or(fallback_host, |h| h.get(rd))));
    if port != 443 {
        out.push(b':');
        push_u64(out, u64::from(port));
    }
    let path = head.path.get(rd);
    if path.first() == Some(&b'/') {
        out.extend_from_slice(path);
    } else {
        out.push(b'/');
    }
    if !head.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(head.query.get(rd));
    }
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    content_length(out, 0);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http1::{HeadLimits, parse_request};

    fn redirect(req: &str, port: u16) -> String {
        let mut head = RequestHead::default();
        let limits = HeadLimits {
            max_head_bytes: 8192,
            max_headers: 32,
        };
        parse_request(req.as_bytes(), &limits, &mut head)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        write(
            &mut out,
            req.as_bytes(),
            &head,
            port,
            b"10.0.0.1",
            b"D",
            true,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_host_path_and_query_and_sets_the_port() {
        let r = redirect(
            "GET /a/b?x=1 HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n",
            8443,
        );
        assert!(r.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"), "{r}");
        assert!(
            r.contains("Location: https://api.example.com:8443/a/b?x=1\r\n"),
            "{r}"
        );
        let r = redirect("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 443);
        assert!(r.contains("Location: https://[::1]/\r\n"), "{r}");
        let r = redirect("GET /p HTTP/1.0\r\n\r\n", 443);
        assert!(r.contains("Location: https://10.0.0.1/p\r\n"), "{r}");
    }
}
