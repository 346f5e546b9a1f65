//! Byte streams a connection task reads and writes: plain TCP, or TLS over
//! TCP through rustls, driven here by a small rent-style glue (owned
//! buffers, io_uring friendly) instead of a wrapper crate, so the rustls
//! connection stays reachable after the handshake (SNI, ALPN, cipher suite,
//! peer certificates).
//!
//! Guarantees: plaintext written is encrypted and handed to the socket before
//! `write` returns (no hidden write buffering); a read returns plaintext
//! rustls already decrypted before it touches the socket again. A TLS error
//! sends its alert (best effort) and surfaces as `InvalidData`. Does not:
//! time anything out (callers wrap operations in their deadlines; a
//! cancelled operation loses its ciphertext buffer, and the caller closes
//! the connection, as for plain streams — see `server::io`).

use std::io::{self, Read as _, Write as _};
use std::ops::DerefMut;

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::{ClientConnection, ConnectionCommon, ServerConnection, SideData};

/// Ciphertext read buffer: one TLS record and its overhead.
const RECORD: usize = 16 * 1024 + 256;

/// TLS over a TCP stream with a rustls connection (server or client side).
#[derive(Debug)]
pub struct TlsStream<C> {
    io: TcpStream,
    pub conn: C,
    /// Ciphertext read from the socket; `rbuf[rpos..]` is not yet fed to rustls.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Ciphertext on its way to the socket.
    wbuf: Vec<u8>,
    /// The peer closed the TCP stream.
    eof: bool,
}

impl<C, D> TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    D: SideData,
{
    pub fn new(io: TcpStream, conn: C) -> TlsStream<C> {
        TlsStream {
            io,
            conn,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            eof: false,
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.io
    }

    /// Take the parts back: the TCP stream, the connection, and ciphertext
    /// read but not yet fed to rustls (for a glue of another style).
    pub fn into_parts(mut self) -> (TcpStream, C, Vec<u8>) {
        let rest = self.rbuf.split_off(self.rpos.min(self.rbuf.len()));
        (self.io, self.conn, rest)
    }

    /// Drive the handshake to its end (and send what rustls queued after it,
    /// like TLS 1.3 session tickets).
    pub async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush_tls().await?;
            } else if self.feed().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush_tls().await
    }

    /// Whether decrypted bytes (or undecrypted ones already read) wait, so
    /// a read would not need the socket.
    pub fn has_buffered(&mut self) -> bool {
        self.rpos < self.rbuf.len()
            || self
                .conn
                .process_new_packets()
                .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }

    /// Wait until a read can make progress.
    pub async fn readable(&mut self) -> io::Result<()> {
        if self.has_buffered() {
            return Ok(());
        }
        self.io.readable(true).await
    }

    /// Encrypted bytes rustls queued, written to the socket.
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.wbuf.clear();
            while self.conn.wants_write() {
                self.conn.write_tls(&mut self.wbuf)?;
            }
            let buf = std::mem::take(&mut self.wbuf);
            let (r, mut buf) = self.io.write_all(buf).await;
            buf.clear();
            self.wbuf = buf;
            r?;
        }
        Ok(())
    }

    /// Feed rustls ciphertext (reading the socket when none is left) and
    /// process it. Returns true at the end of the TCP stream.
    async fn feed(&mut self) -> io::Result<bool> {
        if self.rpos >= self.rbuf.len() {
            let mut buf = std::mem::take(&mut self.rbuf);
            self.rpos = 0;
            buf.clear();
            if buf.capacity() < RECORD {
                buf.reserve(RECORD);
            }
            let (r, buf) = self.io.read(buf).await;
            self.rbuf = buf;
            if r? == 0 {
                self.eof = true;
                // A read of nothing tells rustls the stream ended.
                self.conn.read_tls(&mut io::empty())?;
                self.process().await?;
                return Ok(true);
            }
        }
        let mut rest = &self.rbuf[self.rpos..];
        let n = self.conn.read_tls(&mut rest)?;
        self.rpos += n;
        self.process().await?;
        Ok(false)
    }

    async fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                // Send the alert rustls queued for the error.
                let _ = self.flush_tls().await;
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Read plaintext into `dst`; 0 at the end of the stream.
    async fn read_plain(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            if self.conn.wants_write() {
                self.flush_tls().await?;
            }
            self.feed().await?;
        }
    }

    async fn write_plain(&mut self, parts: &[&[u8]]) -> io::Result<usize> {
        let mut n = 0;
        for p in parts {
            let w = self.conn.writer().write(p)?;
            n += w;
            if w < p.len() {
                break;
            }
        }
        self.flush_tls().await?;
        Ok(n)
    }

    pub async fn close(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let _ = self.flush_tls().await;
        self.io.shutdown().await
    }
}

impl<C, D> AsyncReadRent for TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    D: SideData,
{
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: write_ptr..write_ptr+bytes_total is the buffer's writable
        // spare room; rustls only writes into it.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), buf.bytes_total()) };
        match self.read_plain(dst).await {
            Ok(n) => {
                // SAFETY: `read_plain` initialised the first n bytes.
                unsafe { buf.set_init(n) };
                (Ok(n), buf)
            }
            Err(e) => (Err(e), buf),
        }
    }

    async fn readv<T: monoio::buf::IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let len = buf.write_iovec_len();
        if len == 0 {
            return (Ok(0), buf);
        }
        // SAFETY: the iovec array has `len` entries; the first is writable.
        let first = unsafe { *buf.write_iovec_ptr() };
        // SAFETY: the first iovec describes writable memory of iov_len bytes.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(first.iov_base as *mut u8, first.iov_len) };
        match self.read_plain(dst).await {
            Ok(n) => {
                // SAFETY: n bytes of the first iovec were written.
                unsafe { buf.set_init(n) };
                (Ok(n), buf)
            }
            Err(e) => (Err(e), buf),
        }
    }
}

impl<C, D> AsyncWriteRent for TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    D: SideData,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: read_ptr..read_ptr+bytes_init is initialised data.
        let src = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let r = self.write_plain(&[src]).await;
        (r, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let n = buf.read_iovec_len();
        // SAFETY: the iovec array has n entries describing initialised memory.
        let iov = unsafe { std::slice::from_raw_parts(buf.read_iovec_ptr(), n) };
        let mut total = 0;
        for v in iov {
            // SAFETY: each iovec describes iov_len initialised bytes.
            let s = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
            match self.conn.writer().write(s) {
                Ok(w) => {
                    total += w;
                    if w < s.len() {
                        break;
                    }
                }
                Err(e) => return (Err(e), buf),
            }
        }
        let r = self.write_plain(&[]).await.map(|_| total);
        (r, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.close().await
    }
}

/// A client connection's stream (plain or TLS-terminated) or an upstream
/// connection's (plain or TLS-originated). The TLS states are boxed so a
/// plain connection's task stays small.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Server(Box<TlsStream<ServerConnection>>),
    Client(Box<TlsStream<ClientConnection>>),
    /// In memory: an HTTP/2 stream's request runs through the HTTP/1
    /// pipeline against this (see `server::h2`).
    Mem(Box<MemStream>),
}

/// A stream in memory: reads return `input` then the end; writes append
/// to `output`.
#[derive(Debug, Default)]
pub struct MemStream {
    pub input: Vec<u8>,
    pub pos: usize,
    pub output: Vec<u8>,
}

impl MemStream {
    fn read_into(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.input.len() - self.pos);
        dst[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

impl AsyncReadRent for MemStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: write_ptr..write_ptr+bytes_total is the buffer's spare room.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), buf.bytes_total()) };
        let n = self.read_into(dst);
        // SAFETY: n bytes were written.
        unsafe { buf.set_init(n) };
        (Ok(n), buf)
    }

    async fn readv<T: monoio::buf::IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        if buf.write_iovec_len() == 0 {
            return (Ok(0), buf);
        }
        // SAFETY: the array has at least one entry.
        let first = unsafe { *buf.write_iovec_ptr() };
        // SAFETY: the first iovec describes writable memory of iov_len bytes.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(first.iov_base as *mut u8, first.iov_len) };
        let n = self.read_into(dst);
        // SAFETY: n bytes of the first iovec were written.
        unsafe { buf.set_init(n) };
        (Ok(n), buf)
    }
}

impl AsyncWriteRent for MemStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: read_ptr..read_ptr+bytes_init is initialised data.
        let src = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        self.output.extend_from_slice(src);
        (Ok(src.len()), buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let n = buf.read_iovec_len();
        // SAFETY: the array has n entries describing initialised memory.
        let iov = unsafe { std::slice::from_raw_parts(buf.read_iovec_ptr(), n) };
        let mut total = 0;
        for v in iov {
            // SAFETY: each iovec describes iov_len initialised bytes.
            let s = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
            self.output.extend_from_slice(s);
            total += s.len();
        }
        (Ok(total), buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Plain(s)
    }
}

impl Stream {
    /// Wait until a read can make progress (without taking a buffer).
    pub async fn readable(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.readable(true).await,
            Stream::Server(s) => s.readable().await,
            Stream::Client(s) => s.readable().await,
            Stream::Mem(_) => Ok(()),
        }
    }

    /// The TLS server side of a client connection, if it is one.
    pub fn server_tls(&self) -> Option<&ServerConnection> {
        match self {
            Stream::Server(s) => Some(&s.conn),
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Server(s) => s.read(buf).await,
            Stream::Client(s) => s.read(buf).await,
            Stream::Mem(s) => s.read(buf).await,
        }
    }

    async fn readv<T: monoio::buf::IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.readv(buf).await,
            Stream::Server(s) => s.readv(buf).await,
            Stream::Client(s) => s.readv(buf).await,
            Stream::Mem(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.write(buf).await,
            Stream::Server(s) => s.write(buf).await,
            Stream::Client(s) => s.write(buf).await,
            Stream::Mem(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.writev(buf).await,
            Stream::Server(s) => s.writev(buf).await,
            Stream::Client(s) => s.writev(buf).await,
            Stream::Mem(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush().await,
            Stream::Server(s) => s.flush().await,
            Stream::Client(s) => s.flush().await,
            Stream::Mem(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Server(s) => s.shutdown().await,
            Stream::Client(s) => s.shutdown().await,
            Stream::Mem(s) => s.shutdown().await,
        }
    }
}
