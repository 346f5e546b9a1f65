#!/usr/bin/env python3
"""gRPC test peer for tests/h2.rs (grpcio from PyPI; raw bytes messages, so
no .proto compilation is needed).

usage: grpc_echo.py server [CERT KEY] -> prints its port, serves until killed
                                         (over TLS when given a certificate)
       grpc_echo.py client HOST:PORT [CA_FILE SNI_NAME]
                                      -> runs the calls (over TLS when a CA
                                         file is given), prints results
Service /test.Echo: Unary (echo with a prefix), Stream (the request's bytes
one at a time, 5 messages), Fail (aborts NOT_FOUND with details).
"""
import sys
from concurrent import futures

import grpc

ident = lambda b: b


def unary(req, ctx):
    ctx.set_trailing_metadata((("x-trailer", "kept"),))
    return b"echo:" + req


def stream(req, ctx):
    for i in range(5):
        yield b"%d:" % i + req


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def server(cert=None, key=None):
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
    }
    s.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    if cert:
        creds = grpc.ssl_server_credentials([(open(key, "rb").read(), open(cert, "rb").read())])
        port = s.add_secure_port("127.0.0.1:0", creds)
    else:
        port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print(port, flush=True)
    s.wait_for_termination()


def client(target, ca=None, name=None):
    if ca:
        creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
        ch = grpc.secure_channel(target, creds, options=(("grpc.ssl_target_name_override", name),))
    else:
        ch = grpc.insecure_channel(target)
    with ch:
        unary_call = ch.unary_unary("/test.Echo/Unary", request_serializer=ident, response_deserializer=ident)
        resp, call = unary_call.with_call(b"hi", timeout=10)
        trailers = dict(call.trailing_metadata() or ())
        print("unary", resp.decode(), call.code().name, trailers.get("x-trailer"))
        stream_call = ch.unary_stream("/test.Echo/Stream", request_serializer=ident, response_deserializer=ident)
        print("stream", ",".join(m.decode() for m in stream_call(b"s", timeout=10)))
        fail_call = ch.unary_unary("/test.Echo/Fail", request_serializer=ident, response_deserializer=ident)
        try:
            fail_call(b"x", timeout=10)
            print("fail none")
        except grpc.RpcError as e:
            print("fail", e.code().name, e.details())


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(*sys.argv[2:4])
    else:
        client(*sys.argv[2:5])
