//! rustls over a poll-style (tokio `AsyncRead`/`AsyncWrite`) stream, for
//! HTTP/2 (server, and client to upstreams): h2 drives its connection with poll functions, so after a
//! handshake done by the rent-style glue (`stream`), an `h2` connection's
//! TCP stream goes to monoio's poll-io and its rustls state comes here.
//!
//! Guarantees: ciphertext read but not yet fed at the switch is fed first;
//! `poll_write` buffers plaintext (up to 64 KiB before it pushes), so the
//! frames written between two flushes go out in as few records and writes
//! as possible; `poll_flush` returns once every byte is encrypted and
//! written. TLS errors send their alert (best
//! effort) and surface as `InvalidData`.

use std::io::{self, Read as _, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use monoio::io::poll_io::{AsyncRead, AsyncWrite, ReadBuf};
use std::ops::DerefMut;

use rustls::{ConnectionCommon, SideData};

/// Ciphertext read size: one record and its overhead.
const READ_BUF: usize = 16 * 1024 + 256;
/// Plaintext buffered before it must go to rustls.
const PLAIN_BUF: usize = 64 * 1024;

/// TLS (either side) over a poll-style stream.
#[derive(Debug)]
pub struct PollTls<IO, C> {
    io: IO,
    conn: C,
    /// Ciphertext read from the socket, `rbuf[rpos..rlen]` not yet fed
    /// (`rbuf` keeps its full length: no zeroing per read).
    rbuf: Vec<u8>,
    rpos: usize,
    rlen: usize,
    /// Plaintext written but not yet handed to rustls: HTTP/2 writes
    /// frame by frame, and one record per flush beats one per frame.
    pbuf: Vec<u8>,
    /// Ciphertext to write, `wbuf[wpos..]` not yet written.
    wbuf: Vec<u8>,
    wpos: usize,
    /// The peer ended the TCP stream.
    eof: bool,
    /// close_notify was queued (shutdown).
    closing: bool,
}

impl<IO, C, D> PollTls<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    /// `pending`: ciphertext the previous glue read but did not feed.
    pub fn new(io: IO, conn: C, pending: Vec<u8>) -> PollTls<IO, C> {
        let rlen = pending.len();
        PollTls {
            io,
            conn,
            rbuf: pending,
            rpos: 0,
            rlen,
            pbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            eof: false,
            closing: false,
        }
    }

    /// Hand buffered plaintext to rustls (as few records as it takes) and
    /// write the ciphertext out.
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut at = 0;
        while at < self.pbuf.len() {
            let n = self.conn.writer().write(&self.pbuf[at..])?;
            at += n;
            if n == 0 {
                // rustls' buffer is full: write ciphertext out first.
                if self.poll_flush_tls(cx)?.is_pending() {
                    self.pbuf.drain(..at);
                    return Poll::Pending;
                }
            }
        }
        self.pbuf.clear();
        self.poll_flush_tls(cx)
    }

    /// Write queued ciphertext until none is left (or the socket is full).
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.wpos == self.wbuf.len() {
                self.wbuf.clear();
                self.wpos = 0;
                if !self.conn.wants_write() {
                    return Poll::Ready(Ok(()));
                }
                while self.conn.wants_write() {
                    self.conn.write_tls(&mut self.wbuf)?;
                }
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
    }

    /// Feed ciphertext (reading the socket when none is left).
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.rpos >= self.rlen {
            self.rpos = 0;
            self.rlen = 0;
            if self.rbuf.len() < READ_BUF {
                self.rbuf.resize(READ_BUF, 0);
            }
            let mut rb = ReadBuf::new(&mut self.rbuf);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            self.rlen = n;
            if n == 0 {
                self.eof = true;
                self.conn.read_tls(&mut io::empty())?;
                return Poll::Ready(self.process());
            }
        }
        let mut rest = &self.rbuf[self.rpos..self.rlen];
        let n = self.conn.read_tls(&mut rest)?;
        self.rpos += n;
        Poll::Ready(self.process())
    }

    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                // Queue the alert; the next flush (if any) sends it.
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }
}

impl<IO, C, D> AsyncRead for PollTls<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if this.conn.wants_write() {
                // Key updates and alerts go out before more is read.
                let _ = this.poll_flush_tls(cx)?;
            }
            if let Err(e) = ready!(this.poll_feed(cx)) {
                let _ = this.poll_flush_tls(cx);
                return Poll::Ready(Err(e));
            }
        }
    }
}

impl<IO, C, D> AsyncWrite for PollTls<IO, C>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pbuf.len() >= PLAIN_BUF {
            ready!(this.poll_push(cx))?;
        }
        this.pbuf.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_push(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_push(cx))?;
        if !this.closing {
            this.conn.send_close_notify();
            this.closing = true;
        }
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
