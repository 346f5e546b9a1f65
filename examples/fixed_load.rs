//! A fixed number of keep-alive GETs, one at a time, for instruction counts
//! per request (bench/throttle.sh runs the gateway under cachegrind twice,
//! with two counts, and divides the difference).
//!
//! `fixed_load ADDR PATH COUNT [HEADER]` — exits non-zero unless every
//! response has status 200.

use std::io::{Read, Write};
use std::net::TcpStream;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, path, count, rest @ ..] = args.as_slice() else {
        eprintln!("usage: fixed_load ADDR PATH COUNT [HEADER]");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let header = rest.first().map(|h| format!("{h}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{header}\r\n");
    let mut s = TcpStream::connect(addr.as_str()).expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 16384];
    for i in 0..count {
        s.write_all(req.as_bytes()).expect("write");
        let mut have = 0;
        loop {
            let n = s.read(&mut buf[have..]).expect("read");
            assert!(n > 0, "closed after {i} responses");
            have += n;
            let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end]).expect("ascii head");
            if !head.starts_with("HTTP/1.1 200") {
                eprintln!("response {i}: {}", head.lines().next().unwrap_or(""));
                std::process::exit(1);
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while have < end + 4 + len {
                have += s.read(&mut buf[have..]).expect("read body");
            }
            break;
        }
    }
}
