//! Request ids in API Gateway's two shapes, from a per-core PRNG: REST APIs
//! send a UUID in `x-amzn-RequestId`, HTTP APIs a 16-character id in
//! `apigw-requestid`. Not cryptographic; unique enough to correlate logs.

use std::cell::Cell;

/// Longest id text (a UUID).
pub const MAX_ID_LEN: usize = 36;

/// A formatted request id, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct RequestId {
    buf: [u8; MAX_ID_LEN],
    len: u8,
}

impl RequestId {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
    pub fn as_str(&self) -> &str {
        // The generator writes only ASCII.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
    /// The first 64 bits, for hashing (canary picks and the like).
    pub fn hash64(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &b in self.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
        }
        h
    }
}

/// Per-core id generator (xorshift64*), seeded from the worker index and time.
#[derive(Debug)]
pub struct IdGen {
    state: Cell<u64>,
}

impl IdGen {
    pub fn new(seed: u64) -> Self {
        IdGen {
            state: Cell::new(seed | 1),
        }
    }

    pub fn next_u64(&self) -> u64 {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A version-4 UUID, lower-case hex (REST APIs).
    pub fn uuid(&self) -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut buf = [0u8; MAX_ID_LEN];
        let mut o = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                buf[o] = b'-';
                o += 1;
            }
            buf[o] = HEX[(b >> 4) as usize];
            buf[o + 1] = HEX[(b & 15) as usize];
            o += 2;
        }
        RequestId { buf, len: 36 }
    }

    /// A 16-character id shaped like HTTP APIs' `apigw-requestid`
    /// (`Jb1rVgzpoAMEV7Q=`: 15 base64 characters and `=`).
    pub fn short(&self) -> RequestId {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut buf = [0u8; MAX_ID_LEN];
        let mut bits = self.next_u64();
        let mut more = self.next_u64();
        for (i, slot) in buf.iter_mut().take(15).enumerate() {
            if i == 10 {
                bits = more;
                more = 0;
            }
            *slot = B64[(bits & 63) as usize];
            bits >>= 6;
        }
        let _ = more;
        buf[15] = b'=';
        RequestId { buf, len: 16 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_version_4() {
        let g = IdGen::new(42);
        let id = g.uuid();
        let s = id.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(g.uuid().as_str(), s);
    }

    #[test]
    fn short_id_shape() {
        let id = IdGen::new(7).short();
        assert_eq!(id.as_bytes().len(), 16);
        assert!(id.as_str().ends_with('='));
    }
}
