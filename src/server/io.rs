//! Small owned-buffer I/O helpers over monoio's rent traits: append reads
//! into a `Vec`'s spare capacity, write a range of a `Vec`, both with a
//! deadline. A buffer handed to an operation that times out is lost with the
//! cancelled operation; the helpers leave an empty `Vec` in its place and the
//! caller closes the connection.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

/// How an I/O step failed.
#[derive(Debug)]
pub enum IoFail {
    /// The deadline passed.
    Timeout,
    /// The peer closed (read returned 0).
    Closed,
    Io(io::Error),
}

/// Read once into `buf`'s spare capacity (growing it by `grow` when full).
/// Returns the number of bytes appended (never 0: that is `Closed`).
pub async fn read_more<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    grow: usize,
    timeout: Duration,
) -> Result<usize, IoFail> {
    if buf.len() == buf.capacity() {
        buf.reserve(grow);
    }
    let owned = std::mem::take(buf);
    let len = owned.len();
    let cap = owned.capacity();
    match monoio::time::timeout(timeout, stream.read(owned.slice_mut(len..cap))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            match res {
                Ok(0) => Err(IoFail::Closed),
                Ok(n) => Ok(n),
                Err(e) => Err(IoFail::Io(e)),
            }
        }
        Err(_) => Err(IoFail::Timeout),
    }
}

/// Write `buf[range]` wholly.
pub async fn write_range<S: AsyncWriteRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    start: usize,
    end: usize,
    timeout: Duration,
) -> Result<(), IoFail> {
    if start == end {
        return Ok(());
    }
    let owned = std::mem::take(buf);
    match monoio::time::timeout(timeout, stream.write_all(owned.slice(start..end))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res.map(|_| ()).map_err(IoFail::Io)
        }
        Err(_) => Err(IoFail::Timeout),
    }
}

/// Write all of `buf`.
pub async fn write_all<S: AsyncWriteRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), IoFail> {
    let end = buf.len();
    write_range(stream, buf, 0, end, timeout).await
}
