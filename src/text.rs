//! Writing numbers and bytes as text into a `Vec<u8>` without allocating
//! beyond the vector's growth: the one copy of these helpers that response
//! heads, access log lines, Lambda events and trace headers share.

/// Lowercase hexadecimal digits.
pub const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decimal digits of `v`, two at a time from a table.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v >= 100 {
        let p = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
    if v >= 10 {
        let p = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Lowercase hex of `bytes`, two digits a byte. Written into a stack buffer
/// and copied once: a `push` per digit costs a capacity check each.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        let mut text = [0u8; 32];
        for (pair, b) in text.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        out.extend_from_slice(&text[..chunk.len() * 2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        let mut cases = vec![0u64, 1, 9, 10, 99, 100, 101, 999, 1000, 12345, u64::MAX];
        cases.extend((0..20).map(|k| 10u64.pow(k)));
        cases.extend((1..20).map(|k| 10u64.pow(k) - 1));
        for v in cases {
            let mut out = b"x".to_vec();
            push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
    }

    #[test]
    fn hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        for n in [0, 1, 15, 16, 17, 32, 256] {
            let mut out = Vec::new();
            push_hex(&mut out, &bytes[..n]);
            let want: String = bytes[..n].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(out, want.into_bytes());
        }
    }
}
