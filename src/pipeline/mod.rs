//! The request's way through the gateway, after its head was parsed:
//! domain or stage → deployment (canary) → route → integrate → respond.
//! Each step is its own module; this one reads as the list. Every failure
//! becomes an API-Gateway-shaped response through [`gateway_response`], the
//! one place that knows those shapes.

pub mod gateway_response;
pub mod response;

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use crate::config::{Integration, Protocol};
use crate::integration;
use crate::observe::clock::DATE_LEN;
use crate::observe::request_id::RequestId;
use crate::proto::http1::{Framing, Method, Version};
use crate::route::{Lookup, Selected, choose_deployment};
use crate::server::body::{BodyError, BodyReader};
use crate::server::bufpool::Bufs;
use crate::server::core::{Active, Core};
use crate::server::io;
use gateway_response::GatewayResponse;
use response::Common;

/// Connection facts an exchange needs, and the configuration it runs on.
#[derive(Debug)]
pub struct Exchange {
    pub listener: usize,
    pub peer: SocketAddr,
    pub active: Rc<Active>,
}

/// What the pipeline knows of a request once its head is parsed; `Copy`, so
/// it outlives the head's bytes in the read buffer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub http10: bool,
    /// The client allows reuse and the worker is not draining.
    pub keep_alive: bool,
    pub framing: Framing,
    pub expect_continue: bool,
    pub head_len: usize,
    pub protocol: Protocol,
    pub id: RequestId,
    pub date: [u8; DATE_LEN],
    /// The name of the deployment that serves the request (the stage's or
    /// its canary's), once a stage matched; for the access log.
    pub deployment: Option<&'a str>,
    /// The stage's `deployment_header`: responses name the deployment.
    pub deployment_header: bool,
}

impl Request<'_> {
    /// The shared parts of this exchange's response.
    pub fn common(&self, keep_alive: bool) -> Common<'_> {
        Common {
            protocol: self.protocol,
            request_id: &self.id,
            http10: self.http10,
            keep_alive,
            date: &self.date,
            deployment: self.deployment.filter(|_| self.deployment_header),
        }
    }
}

/// Serve one request whose head is parsed in `bufs`. Returns whether the
/// connection may carry another request; `bufs.rd` then holds only bytes
/// that follow this request.
pub async fn run(core: &Core, ex: &Exchange, stream: &mut TcpStream, bufs: &mut Bufs) -> bool {
    let head = &bufs.head;
    let rd = &bufs.rd;
    let table = &ex.active.listeners[ex.listener].table;
    let gw = ex.active.gw();
    let path = head.path.get(rd);
    let selected = table.select(head.host.map(|h| h.get(rd)), path);
    let protocol = match selected {
        Selected::Stage(sm) => gw.apis[sm.api].protocol,
        Selected::NotFound(p) | Selected::Forbidden(p) => p,
    };
    let id = core.request_id(protocol);
    // Stage → deployment (the canary's share picked here) → route.
    let mut matched = None;
    let mut deployment = None;
    let mut deployment_header = false;
    let refusal = match selected {
        Selected::Stage(sm) => {
            let api = &gw.apis[sm.api];
            let stage = &api.stages[sm.stage];
            let headers = head.headers.iter().map(|(n, v)| (n.get(rd), v.get(rd)));
            let d = choose_deployment(stage, headers, || id.hash64());
            deployment = Some(api.deployments[d].name.as_str());
            deployment_header = stage.deployment_header;
            let method_name = head.method_span.get(rd);
            match table.route(sm, d, head.method, method_name, path, &mut bufs.params) {
                Lookup::Found(m) => {
                    matched = Some(m);
                    None
                }
                Lookup::NotFound(p) => Some(not_found(p)),
            }
        }
        Selected::NotFound(p) => Some(not_found(p)),
        Selected::Forbidden(_) => Some(GatewayResponse::Forbidden),
    };
    let mut req = Request {
        method: head.method,
        http10: head.version == Version::Http10,
        keep_alive: head.keep_alive && !core.draining.is_fired(),
        framing: head.framing,
        expect_continue: head.expect_continue && head.version == Version::Http11,
        head_len: head.head_len,
        protocol,
        id,
        date: [0; DATE_LEN],
        deployment,
        deployment_header,
    };
    core.date.copy_to(&mut req.date);

    if let Framing::Length(n) = req.framing
        && n > ex.active.limits.max_body_bytes
    {
        // The body is not read: answer and close (RFC 9110 §15.5.14).
        return respond_error(
            core,
            ex,
            stream,
            bufs,
            &req,
            GatewayResponse::RequestTooLarge,
            false,
        )
        .await;
    }

    let integration =
        matched.map(|m| &gw.apis[m.api].deployments[m.deployment].routes[m.route].integration);
    if let Some(Integration::HttpProxy(hp)) = integration {
        return integration::http::proxy(core, ex, stream, bufs, &req, hp).await;
    }

    // Answered by the gateway itself: the request body is read and dropped.
    bufs.rd.drain(..req.head_len);
    let mut keep = req.keep_alive;
    if req.expect_continue && req.framing != Framing::None {
        // Never invite the body we would drop: answer now and close (RFC 9110 §10.1.1).
        keep = false;
    } else {
        match discard_body(ex, stream, bufs, &req).await {
            Ok(()) => {}
            Err(BodyError::TooLarge) => {
                return respond_error(
                    core,
                    ex,
                    stream,
                    bufs,
                    &req,
                    GatewayResponse::RequestTooLarge,
                    false,
                )
                .await;
            }
            Err(BodyError::Malformed) => {
                return respond_error(
                    core,
                    ex,
                    stream,
                    bufs,
                    &req,
                    GatewayResponse::BadRequest,
                    false,
                )
                .await;
            }
            Err(_) => return false,
        }
    }
    bufs.wr.clear();
    let head_only = req.method == Method::Head;
    match integration {
        Some(Integration::Mock(mock)) => {
            integration::mock::write(&mut bufs.wr, mock, &req.common(keep), head_only)
        }
        _ => refusal.unwrap_or(GatewayResponse::ResourceNotFound).write(
            &mut bufs.wr,
            &req.common(keep),
            head_only,
        ),
    }
    io::write_all(stream, &mut bufs.wr, ex.active.limits.keepalive_timeout)
        .await
        .is_ok()
        && keep
}

fn not_found(protocol: Protocol) -> GatewayResponse {
    match protocol {
        Protocol::Http => GatewayResponse::ResourceNotFound,
        Protocol::Rest => GatewayResponse::MissingAuthenticationToken,
    }
}

async fn discard_body(
    ex: &Exchange,
    stream: &mut TcpStream,
    bufs: &mut Bufs,
    req: &Request<'_>,
) -> Result<(), BodyError> {
    let mut body = BodyReader::new(req.framing, ex.active.limits.max_body_bytes, false);
    while body
        .next(stream, &mut bufs.rd, ex.active.limits.header_read_timeout)
        .await?
        .is_some()
    {}
    body.settle(&mut bufs.rd);
    Ok(())
}

/// Answer with a gateway response; `keep` says whether the connection may
/// continue (only when the request was consumed whole).
pub async fn respond_error(
    core: &Core,
    ex: &Exchange,
    stream: &mut TcpStream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    gr: GatewayResponse,
    keep: bool,
) -> bool {
    let keep = keep && req.keep_alive && !core.draining.is_fired();
    bufs.wr.clear();
    gr.write(&mut bufs.wr, &req.common(keep), req.method == Method::Head);
    io::write_all(stream, &mut bufs.wr, ex.active.limits.keepalive_timeout)
        .await
        .is_ok()
        && keep
}
