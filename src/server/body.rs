//! Streaming a message body out of a read buffer, reading more from the
//! stream as needed: Content-Length, chunked (decoded) and, for responses,
//! close-delimited. A body is never held whole: each step yields the data
//! that is in the buffer now. Used for client request bodies (with
//! `Expect: 100-continue` and the body size limit) and upstream response
//! bodies alike.

use std::ops::Range;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use crate::proto::http1::{Chunk, ChunkedDecoder, Framing};
use crate::server::io::{self, IoFail};

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the configured maximum.
    TooLarge,
    /// Chunked framing was malformed.
    Malformed,
    /// The peer closed before the body ended.
    Truncated,
    Timeout,
    Io(std::io::Error),
}

impl From<IoFail> for BodyError {
    fn from(f: IoFail) -> Self {
        match f {
            IoFail::Timeout => BodyError::Timeout,
            IoFail::Closed => BodyError::Truncated,
            IoFail::Io(e) => BodyError::Io(e),
        }
    }
}

#[derive(Debug)]
pub struct BodyReader {
    framing: Framing,
    remaining: u64,
    decoder: ChunkedDecoder,
    /// Bytes at the front of the buffer that the last step handed out and
    /// that the next step drops.
    consumed: usize,
    done: bool,
    /// Decoded bytes so far.
    pub total: u64,
    max: u64,
    /// Send `100 Continue` before the first read from the stream.
    continue_pending: bool,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl BodyReader {
    pub fn new(framing: Framing, max: u64, expect_continue: bool) -> Self {
        BodyReader {
            framing,
            remaining: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            decoder: ChunkedDecoder::new(),
            consumed: 0,
            done: matches!(framing, Framing::None | Framing::Length(0)),
            total: 0,
            max,
            continue_pending: expect_continue,
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Drop the bytes the last step handed out. Called by `next`; call it
    /// yourself after the last step so `buf` holds only what follows the body.
    pub fn settle(&mut self, buf: &mut Vec<u8>) {
        if self.consumed > 0 {
            buf.drain(..self.consumed);
            self.consumed = 0;
        }
    }

    /// The next piece of body data, as a range of `buf`; `None` at the end.
    /// `stream` is read (and, for `100 Continue`, written) only when `buf`
    /// holds no more body bytes.
    pub async fn next<S: AsyncReadRent + AsyncWriteRent>(
        &mut self,
        stream: &mut S,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<Option<Range<usize>>, BodyError> {
        self.settle(buf);
        if self.done {
            return Ok(None);
        }
        loop {
            match self.framing {
                Framing::None => {
                    self.done = true;
                    return Ok(None);
                }
                Framing::Length(_) => {
                    if self.remaining == 0 {
                        self.done = true;
                        return Ok(None);
                    }
                    if !buf.is_empty() {
                        let k = (buf.len() as u64).min(self.remaining) as usize;
                        self.remaining -= k as u64;
                        self.consumed = k;
                        self.total += k as u64;
                        if self.remaining == 0 {
                            self.done = true;
                        }
                        return Ok(Some(0..k));
                    }
                }
                Framing::Close => {
                    if !buf.is_empty() {
                        let k = buf.len();
                        self.consumed = k;
                        self.total += k as u64;
                        if self.total > self.max {
                            return Err(BodyError::TooLarge);
                        }
                        return Ok(Some(0..k));
                    }
                }
                Framing::Chunked => {
                    if !buf.is_empty() {
                        match self.decoder.decode(buf) {
                            Ok((n, Chunk::Data(r))) => {
                                self.consumed = n;
                                self.total += r.len() as u64;
                                if self.total > self.max {
                                    return Err(BodyError::TooLarge);
                                }
                                if r.is_empty() {
                                    self.settle(buf);
                                    continue;
                                }
                                return Ok(Some(r));
                            }
                            Ok((n, Chunk::Done)) => {
                                buf.drain(..n);
                                self.done = true;
                                return Ok(None);
                            }
                            Ok((n, Chunk::NeedMore)) => {
                                buf.drain(..n);
                                if n > 0 && !buf.is_empty() {
                                    continue;
                                }
                            }
                            Err(_) => return Err(BodyError::Malformed),
                        }
                    }
                }
            }
            if self.continue_pending {
                self.continue_pending = false;
                let mut c = CONTINUE.to_vec();
                io::write_all(stream, &mut c, timeout).await?;
            }
            match io::read_more(stream, buf, 16 * 1024, timeout).await {
                Ok(_) => {}
                Err(IoFail::Closed) if self.framing == Framing::Close => {
                    self.done = true;
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
