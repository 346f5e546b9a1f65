//! A read-side watch over an HTTP/2 connection's bytes for the floods h2
//! itself does not bound by a count: PING and SETTINGS frames (each costs
//! the server an answer). It parses only frame headers (9 bytes: length,
//! type, flags) after the client preface; past `MAX_PER_SECOND` of either
//! kind within a second, it marks the connection abusive and fires its
//! notify, and from then on reads nothing more; the connection task then
//! sends GOAWAY (ENHANCE_YOUR_CALM) and ends.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use monoio::io::poll_io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::server::notify::Notify;

/// PINGs or SETTINGS (without ACK) allowed per second and connection.
pub const MAX_PER_SECOND: u32 = 100;

const PREFACE_LEN: usize = 24;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;

/// Why a connection is abusive, once it is.
#[derive(Debug, Default)]
pub struct Verdict {
    pub abusive: Cell<bool>,
    pub notify: Notify,
}

/// The frame-header scanner, sans-IO: feed it the bytes read, in order.
#[derive(Debug)]
pub struct Scanner {
    preface_left: usize,
    hdr: [u8; 9],
    hdr_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: usize,
    window: Instant,
    pings: u32,
    settings: u32,
}

impl Scanner {
    pub fn new(now: Instant) -> Scanner {
        Scanner {
            preface_left: PREFACE_LEN,
            hdr: [0; 9],
            hdr_len: 0,
            skip: 0,
            window: now,
            pings: 0,
            settings: 0,
        }
    }

    /// Returns true when the connection went past a limit.
    pub fn feed(&mut self, mut bytes: &[u8], now: Instant) -> bool {
        let n = self.preface_left.min(bytes.len());
        self.preface_left -= n;
        bytes = &bytes[n..];
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.hdr_len).min(bytes.len());
            self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&bytes[..n]);
            self.hdr_len += n;
            bytes = &bytes[n..];
            if self.hdr_len < 9 {
                break;
            }
            self.hdr_len = 0;
            let len = (usize::from(self.hdr[0]) << 16)
                | (usize::from(self.hdr[1]) << 8)
                | usize::from(self.hdr[2]);
            self.skip = len;
            let (kind, flags) = (self.hdr[3], self.hdr[4]);
            if flags & FLAG_ACK == 0 && (kind == FRAME_PING || kind == FRAME_SETTINGS) {
                if now.duration_since(self.window) >= Duration::from_secs(1) {
                    self.window = now;
                    self.pings = 0;
                    self.settings = 0;
                }
                let count = if kind == FRAME_PING {
                    &mut self.pings
                } else {
                    &mut self.settings
                };
                *count += 1;
                if *count > MAX_PER_SECOND {
                    return true;
                }
            }
        }
        false
    }
}

/// The IO wrapper h2 reads through.
#[derive(Debug)]
pub struct Watched<IO> {
    io: IO,
    scanner: Scanner,
    verdict: Rc<Verdict>,
}

impl<IO> Watched<IO> {
    pub fn new(io: IO, verdict: Rc<Verdict>) -> Watched<IO> {
        Watched {
            io,
            scanner: Scanner::new(Instant::now()),
            verdict,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.verdict.abusive.get() {
            // Read nothing more; the connection task ends the connection.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r
            && this.scanner.feed(&buf.filled()[before..], Instant::now())
        {
            this.verdict.abusive.set(true);
            this.verdict.notify.fire();
            return Poll::Pending;
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            0,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn counts_pings_and_settings_across_split_reads_and_windows() {
        let t0 = Instant::now();
        let mut s = Scanner::new(t0);
        let mut bytes = crate::server::h2::PREFACE.to_vec();
        bytes.extend(frame(FRAME_SETTINGS, 0, &[0; 6]));
        for _ in 0..MAX_PER_SECOND - 1 {
            bytes.extend(frame(FRAME_PING, 0, &[7; 8]));
            bytes.extend(frame(FRAME_PING, FLAG_ACK, &[7; 8])); // ACKs are not counted
            bytes.extend(frame(0x0, 0, &[6; 100])); // DATA with PING-looking payload
        }
        // Fed one byte at a time: still under the limit.
        for b in &bytes {
            assert!(!s.feed(std::slice::from_ref(b), t0));
        }
        assert!(!s.feed(&frame(FRAME_PING, 0, &[0; 8]), t0));
        assert!(s.feed(&frame(FRAME_PING, 0, &[0; 8]), t0));
        // A new second starts a new count.
        let mut s = Scanner::new(t0);
        s.feed(crate::server::h2::PREFACE, t0);
        for i in 0..3 * MAX_PER_SECOND {
            let now = t0 + Duration::from_millis(u64::from(i) * 20);
            assert!(!s.feed(&frame(FRAME_SETTINGS, 0, &[]), now));
        }
    }
}
