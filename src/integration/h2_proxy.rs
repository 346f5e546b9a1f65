//! `http_proxy` to a `protocol: h2` upstream, for requests that arrive over
//! HTTP/2: the stream is relayed as a stream — request DATA as it comes,
//! response HEADERS, DATA and trailers as they come — so gRPC (unary and
//! streaming, `grpc-status` in trailers) works end to end.
//!
//! What is forwarded: method, the request's own path and query (an
//! integration URI path template is not applied on this path), headers
//! except connection-specific ones (`te: trailers` is kept, gRPC needs
//! it), `X-Forwarded-For`/`-Proto` added; the upstream's `:authority` is the
//! URI's authority. Failures before the response head become a 502 (gRPC
//! clients see UNAVAILABLE); after it, the client stream is reset.
//!
//! Does not (yet): apply throttles, API keys, the cache, access logs or
//! metrics to these exchanges (the HTTP/1 pipeline does those); HTTP/1.1
//! clients of an h2 upstream (they get 502).

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;

use crate::config::HttpProxy;
use crate::pipeline::Exchange;
use crate::server::core::Core;

fn hop_by_hop(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "host"
    )
}

fn bad_gateway(respond: &mut SendResponse<Bytes>) {
    let mut r = http::Response::new(());
    *r.status_mut() = http::StatusCode::BAD_GATEWAY;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(mut s) = respond.send_response(r, false) {
        let _ = s.send_data(
            Bytes::from_static(b"{\"message\":\"Internal server error\"}"),
            true,
        );
    }
}

/// Relay one HTTP/2 stream to the upstream of `hp`.
pub async fn relay(
    core: &Core,
    ex: &Exchange,
    hp: &HttpProxy,
    parts: http::request::Parts,
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
) {
    let (active, listener, peer) = (&*ex.active, ex.listener, ex.peer);
    let target = active.pools.pick(hp.upstream, &core.ids);
    let sender = match active.pools.h2(hp.upstream, target).await {
        Ok(s) => s,
        Err(_) => return bad_gateway(&mut respond),
    };
    let tls = active.gw().listeners[listener].tls.is_some();
    let scheme = if active.gw().upstreams[hp.upstream].tls.is_some() {
        "https"
    } else {
        "http"
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = http::Uri::builder()
        .scheme(scheme)
        .authority(hp.host_header.as_str())
        .path_and_query(path)
        .build()
    else {
        return bad_gateway(&mut respond);
    };
    let mut req = http::Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    let mut forwarded = String::new();
    for (n, v) in &parts.headers {
        if hop_by_hop(n) || n.as_str() == "x-forwarded-proto" {
            continue;
        }
        if n.as_str() == "x-forwarded-for" {
            forwarded.push_str(v.to_str().unwrap_or(""));
            forwarded.push_str(", ");
            continue;
        }
        headers.append(n.clone(), v.clone());
    }
    forwarded.push_str(&peer.ip().to_string());
    if let Ok(v) = http::HeaderValue::from_str(&forwarded) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        http::HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    let end = body.is_end_stream();
    let mut sender = sender;
    let (response, mut up_send) = match sender.send_request(req, end) {
        Ok(x) => x,
        Err(_) => return bad_gateway(&mut respond),
    };
    if !end {
        // The request body streams up on its own task.
        monoio::spawn(async move {
            while let Some(chunk) = body.data().await {
                let Ok(chunk) = chunk else {
                    up_send.send_reset(h2::Reason::CANCEL);
                    return;
                };
                let _ = body.flow_control().release_capacity(chunk.len());
                if up_send.send_data(chunk, false).is_err() {
                    return;
                }
            }
            let _ = match body.trailers().await {
                Ok(Some(t)) => up_send.send_trailers(t),
                _ => up_send.send_data(Bytes::new(), true),
            };
        });
    }
    let resp = match monoio::time::timeout(hp.timeout, response).await {
        Ok(Ok(r)) => r,
        _ => return bad_gateway(&mut respond),
    };
    let (rparts, mut ubody) = resp.into_parts();
    let mut out = http::Response::new(());
    *out.status_mut() = rparts.status;
    for (n, v) in &rparts.headers {
        if !hop_by_hop(n) {
            out.headers_mut().append(n.clone(), v.clone());
        }
    }
    let end = ubody.is_end_stream();
    let Ok(mut down) = respond.send_response(out, end) else {
        return;
    };
    if end {
        return;
    }
    while let Some(chunk) = ubody.data().await {
        let Ok(chunk) = chunk else {
            down.send_reset(h2::Reason::INTERNAL_ERROR);
            return;
        };
        let _ = ubody.flow_control().release_capacity(chunk.len());
        if down.send_data(chunk, false).is_err() {
            return;
        }
    }
    let _ = match ubody.trailers().await {
        Ok(Some(t)) => down.send_trailers(t),
        Ok(None) => down.send_data(Bytes::new(), true),
        Err(_) => {
            down.send_reset(h2::Reason::INTERNAL_ERROR);
            Ok(())
        }
    };
}
