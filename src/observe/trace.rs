//! Trace context: W3C `traceparent` (Trace Context Level 1) and AWS X-Ray's
//! `X-Amzn-Trace-Id`, accepted from clients, created when absent, and
//! propagated to integrations. Sans-IO: bytes in, bytes out, randomness from
//! the caller's per-core generator.
//!
//! The gateway is one hop of the trace: it keeps the client's trace id and
//! gives the upstream request a new span id (`parent-id` of `traceparent`,
//! `Parent=` of `X-Amzn-Trace-Id`), so a backend's spans hang under the
//! gateway's, whose ids the access log records. When only one of the two
//! headers arrives the other is derived from it (an X-Ray root `1-TTTTTTTT-
//! RRRRRRRRRRRRRRRRRRRRRRRR` and a W3C trace id are the same 128 bits), so
//! both name the same trace. A malformed header is treated as absent
//! (W3C §3.2.2.1: restart the trace).
//!
//! Does not: record spans or sample; the sampled flag and `Sampled=` pass
//! through as received (created contexts are not sampled).

use crate::observe::request_id::IdGen;

/// A parsed `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

/// The parts of an `X-Amzn-Trace-Id` the gateway reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmznTraceId {
    /// `Root=1-{8 hex}-{24 hex}` as 16 bytes.
    pub root: [u8; 16],
    pub parent: Option<[u8; 8]>,
    pub sampled: Option<bool>,
}

/// One request's trace context. `Copy`, on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The W3C trace id sent upstream.
    pub trace_id: [u8; 16],
    /// The X-Ray root sent upstream (equal to `trace_id` unless the client
    /// sent both headers naming different traces).
    pub xray_root: [u8; 16],
    /// This hop's span id: the parent of what the integration does.
    pub span_id: [u8; 8],
    /// W3C trace flags (bit 0: sampled).
    pub flags: u8,
    /// X-Ray's `Sampled=` when the client sent one.
    pub sampled: Option<bool>,
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Lower-case hex into `out` (exactly `out.len() * 2` digits); W3C forbids upper case.
fn parse_hex(s: &[u8], out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = unhex(s[2 * i])? << 4 | unhex(s[2 * i + 1])?;
    }
    Some(())
}

use crate::text::push_hex;

/// Parse `traceparent` (W3C Trace Context §3.2): `00-{32 hex}-{16 hex}-{2 hex}`.
/// A future version may append `-…` fields, which are ignored; version `ff`,
/// an all-zero trace id or parent id, and upper-case hex are invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<TraceParent> {
    let v = v.trim_ascii();
    if v.len() < 55 {
        return None;
    }
    let mut version = [0u8; 1];
    parse_hex(&v[0..2], &mut version)?;
    if version[0] == 0xff || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    // Version 00 is exactly 55 characters; later ones may continue after a '-'.
    if (version[0] == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let mut tp = TraceParent {
        trace_id: [0; 16],
        parent_id: [0; 8],
        flags: 0,
    };
    parse_hex(&v[3..35], &mut tp.trace_id)?;
    parse_hex(&v[36..52], &mut tp.parent_id)?;
    let mut flags = [0u8; 1];
    parse_hex(&v[53..55], &mut flags)?;
    tp.flags = flags[0];
    if tp.trace_id == [0; 16] || tp.parent_id == [0; 8] {
        return None;
    }
    Some(tp)
}

/// Parse `X-Amzn-Trace-Id`: `;`-separated `key=value` fields in any order,
/// of which `Root=1-{8 hex}-{24 hex}` is required; `Parent={16 hex}` and
/// `Sampled=0|1` are read, others are kept by [`write_amzn_trace_id`].
pub fn parse_amzn_trace_id(v: &[u8]) -> Option<AmznTraceId> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for field in v.split(|&b| b == b';') {
        let field = field.trim_ascii();
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (k, val) = (&field[..eq], &field[eq + 1..]);
        match k {
            b"Root" => {
                if val.len() != 35 || &val[..2] != b"1-" || val[10] != b'-' {
                    return None;
                }
                let mut id = [0u8; 16];
                parse_hex(&val[2..10], &mut id[..4])?;
                parse_hex(&val[11..35], &mut id[4..])?;
                root = Some(id);
            }
            b"Parent" => {
                let mut p = [0u8; 8];
                parent = parse_hex(val, &mut p).map(|_| p);
            }
            b"Sampled" => {
                sampled = match val {
                    b"1" => Some(true),
                    b"0" => Some(false),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(AmznTraceId {
        root: root?,
        parent,
        sampled,
    })
}

fn nonzero_u64(ids: &IdGen) -> u64 {
    loop {
        let v = ids.next_u64();
        if v != 0 {
            return v;
        }
    }
}

impl TraceContext {
    /// The context for a request that carried these header values (either
    /// may be absent or malformed). `now_secs`: Unix time, the first 32 bits
    /// of a created trace id (X-Ray reads them as the trace's start).
    pub fn from_headers(
        traceparent: Option<&[u8]>,
        amzn: Option<&[u8]>,
        ids: &IdGen,
        now_secs: u64,
    ) -> TraceContext {
        let w3c = traceparent.and_then(parse_traceparent);
        let xray = amzn.and_then(parse_amzn_trace_id);
        let created = || {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&(now_secs as u32).to_be_bytes());
            id[4..12].copy_from_slice(&ids.next_u64().to_le_bytes());
            id[12..].copy_from_slice(&(ids.next_u64() as u32).to_le_bytes());
            id
        };
        let (trace_id, xray_root) = match (w3c, xray) {
            (Some(t), Some(x)) => (t.trace_id, x.root),
            (Some(t), None) => (t.trace_id, t.trace_id),
            (None, Some(x)) => (x.root, x.root),
            (None, None) => {
                let id = created();
                (id, id)
            }
        };
        let flags = match (w3c, xray.and_then(|x| x.sampled)) {
            (Some(t), _) => t.flags,
            (None, Some(true)) => 0x01,
            _ => 0x00,
        };
        TraceContext {
            trace_id,
            xray_root,
            span_id: nonzero_u64(ids).to_be_bytes(),
            flags,
            sampled: xray.and_then(|x| x.sampled),
        }
    }

    /// `00-{trace id}-{span id}-{flags}`: the value sent upstream.
    pub fn write_traceparent(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"00-");
        push_hex(out, &self.trace_id);
        out.push(b'-');
        push_hex(out, &self.span_id);
        out.push(b'-');
        push_hex(out, &[self.flags]);
    }

    /// `1-{8 hex}-{24 hex}`: the X-Ray trace id (`$context.xrayTraceId`).
    pub fn write_xray_trace_id(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"1-");
        push_hex(out, &self.xray_root[..4]);
        out.push(b'-');
        push_hex(out, &self.xray_root[4..]);
    }

    /// `X-Amzn-Trace-Id` for the upstream request: `Root=…;Parent={span id}`,
    /// then `Sampled=` when known, then the other fields of the client's
    /// header (`incoming`) in their order.
    pub fn write_amzn_trace_id(&self, out: &mut Vec<u8>, incoming: Option<&[u8]>) {
        out.extend_from_slice(b"Root=");
        self.write_xray_trace_id(out);
        out.extend_from_slice(b";Parent=");
        push_hex(out, &self.span_id);
        if let Some(s) = self.sampled {
            out.extend_from_slice(if s { b";Sampled=1" } else { b";Sampled=0" });
        }
        // Keep the client's other fields only if its header was valid (it
        // named the root we send).
        let Some(v) = incoming.filter(|v| parse_amzn_trace_id(v).is_some()) else {
            return;
        };
        for field in v.split(|&b| b == b';') {
            let field = field.trim_ascii();
            let key = field.split(|&b| b == b'=').next().unwrap_or(b"");
            if field.is_empty() || matches!(key, b"Root" | b"Parent" | b"Sampled") {
                continue;
            }
            if field.iter().all(|&b| b.is_ascii_graphic()) {
                out.push(b';');
                out.extend_from_slice(field);
            }
        }
    }

    /// The `X-Amzn-Trace-Id` REST APIs return to the client: `Root=…`.
    pub fn write_response_trace_id(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Root=");
        self.write_xray_trace_id(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    // W3C Trace Context §3.2.2.7 example
    const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_w3c_example() {
        let tp = parse_traceparent(TP).unwrap();
        assert_eq!(tp.trace_id[0], 0x4b);
        assert_eq!(tp.trace_id[15], 0x36);
        assert_eq!(
            tp.parent_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(tp.flags, 1);
    }

    #[test]
    fn refuses_malformed_traceparents() {
        for bad in [
            // §3.2.2.3: all-zero trace id
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            // §3.2.2.4: all-zero parent id
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // §3.2.2.1: version ff is invalid
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // upper-case hex
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // version 00 with trailing data
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",
            // short trace id
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"",
            b"garbage",
        ] {
            assert_eq!(
                parse_traceparent(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // §3.2.4: a higher version may carry more fields after a '-'.
        assert!(
            parse_traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")
                .is_some()
        );
    }

    #[test]
    fn parses_xray_headers_in_any_field_order() {
        let x = parse_amzn_trace_id(
            b"Parent=53995c3f42cd8ad8; Sampled=1;Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .unwrap();
        assert_eq!(&x.root[..4], &[0x57, 0x59, 0xe9, 0x88]);
        assert_eq!(
            x.parent,
            Some([0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8])
        );
        assert_eq!(x.sampled, Some(true));
        assert!(parse_amzn_trace_id(b"Root=2-5759e988-bd862e3fe1be46a994272793").is_none());
        assert!(parse_amzn_trace_id(b"Parent=53995c3f42cd8ad8").is_none());
        assert!(parse_amzn_trace_id(b"Root=1-5759e988-bd862e3fe1be46a99427279").is_none());
    }

    #[test]
    fn keeps_the_clients_trace_with_a_new_span() {
        let ids = IdGen::new(9);
        let c = TraceContext::from_headers(Some(TP), None, &ids, 0);
        let out = text(|o| c.write_traceparent(o));
        assert!(
            out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{out}"
        );
        assert!(out.ends_with("-01"));
        assert!(!out.contains("00f067aa0ba902b7"), "a new span id: {out}");
        // The X-Ray form of the same trace id.
        assert_eq!(
            text(|o| c.write_xray_trace_id(o)),
            "1-4bf92f35-77b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn derives_traceparent_from_an_xray_root() {
        let ids = IdGen::new(9);
        let h = b"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";
        let c = TraceContext::from_headers(None, Some(h), &ids, 0);
        let tp = text(|o| c.write_traceparent(o));
        assert!(
            tp.starts_with("00-5759e988bd862e3fe1be46a994272793-"),
            "{tp}"
        );
        assert!(tp.ends_with("-01"), "Sampled=1 → sampled flag");
        let span = &tp[36..52];
        assert_eq!(
            text(|o| c.write_amzn_trace_id(o, Some(h))),
            format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent={span};Sampled=1;Lineage=a87bd80c:1|68fd508a:5"
            )
        );
        assert_eq!(
            text(|o| c.write_response_trace_id(o)),
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
    }

    #[test]
    fn creates_a_context_when_absent_or_malformed() {
        let ids = IdGen::new(1);
        let now = 0x5759_e988;
        let a = TraceContext::from_headers(None, None, &ids, now);
        let b = TraceContext::from_headers(Some(b"00-bogus"), Some(b"Root=nope"), &ids, now);
        assert_ne!(a.trace_id, b.trace_id);
        assert_eq!(a.trace_id, a.xray_root);
        assert_eq!(a.flags, 0, "created contexts are not sampled");
        let x = text(|o| a.write_xray_trace_id(o));
        assert!(
            x.starts_with("1-5759e988-"),
            "time in the first 8 hex digits: {x}"
        );
        assert_eq!(x.len(), 35);
        let tp = text(|o| a.write_traceparent(o));
        assert!(parse_traceparent(tp.as_bytes()).is_some(), "{tp}");
        let amzn = text(|o| a.write_amzn_trace_id(o, Some(b"Root=nope")));
        assert!(parse_amzn_trace_id(amzn.as_bytes()).is_some(), "{amzn}");
        assert!(!amzn.contains("nope"));
    }

    #[test]
    fn both_headers_keep_their_own_trace_ids() {
        let ids = IdGen::new(3);
        let c = TraceContext::from_headers(
            Some(TP),
            Some(b"Root=1-5759e988-bd862e3fe1be46a994272793"),
            &ids,
            0,
        );
        assert!(text(|o| c.write_traceparent(o)).contains("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(
            text(|o| c.write_amzn_trace_id(o, None))
                .contains("1-5759e988-bd862e3fe1be46a994272793")
        );
    }
}
