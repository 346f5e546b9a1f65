//! HTTP/2 to `protocol: h2` upstreams: one multiplexed connection per
//! target per worker (h2c, or h2 by ALPN over TLS), made on first use and
//! replaced when it fails; its connection task runs on the worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;

use bytes::Bytes;
use h2::client::SendRequest;
use monoio::io::IntoPollIo;
use monoio::net::TcpStream;

use super::Pools;
use crate::tls::TlsStream;
use crate::tls::poll::PollTls;

#[derive(Debug, Default)]
pub struct H2Conns {
    conns: RefCell<HashMap<(usize, usize), SendRequest<Bytes>>>,
}

impl Pools {
    /// A ready sender on the HTTP/2 connection to that target.
    pub async fn h2(&self, upstream: usize, target: usize) -> io::Result<SendRequest<Bytes>> {
        let existing = self.h2.conns.borrow().get(&(upstream, target)).cloned();
        if let Some(s) = existing
            && let Ok(s) = s.ready().await
        {
            return Ok(s);
        }
        self.h2.conns.borrow_mut().remove(&(upstream, target));
        let g = &self.groups[upstream];
        let addr = g.targets[target].addr;
        let tcp =
            match monoio::time::timeout(g.connect_timeout, TcpStream::connect_addr(addr)).await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            };
        let _ = tcp.set_nodelay(true);
        self.stats.connects.set(self.stats.connects.get() + 1);
        let sender = match &g.tls {
            None => handshake(tcp.into_poll_io()?).await?,
            Some(Err(e)) => return Err(io::Error::other(e.clone())),
            Some(Ok((cfg, name))) => {
                let conn = rustls::ClientConnection::new(cfg.clone(), name.clone())
                    .map_err(io::Error::other)?;
                let mut tls = TlsStream::new(tcp, conn);
                match monoio::time::timeout(g.connect_timeout, tls.handshake()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake timed out",
                        ));
                    }
                }
                let (tcp, conn, rest) = tls.into_parts();
                handshake(PollTls::new(tcp.into_poll_io()?, conn, rest)).await?
            }
        };
        let sender = sender.ready().await.map_err(io::Error::other)?;
        self.h2
            .conns
            .borrow_mut()
            .insert((upstream, target), sender.clone());
        Ok(sender)
    }
}

async fn handshake<IO>(io: IO) -> io::Result<SendRequest<Bytes>>
where
    IO: monoio::io::poll_io::AsyncRead + monoio::io::poll_io::AsyncWrite + Unpin + 'static,
{
    let (sender, conn) = h2::client::Builder::new()
        .initial_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(io::Error::other)?;
    monoio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
