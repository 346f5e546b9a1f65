"""A small stand-in for Lambda's Invoke API, for tollgate's black-box tests.

Serves ``POST /2015-03-31/functions/{name}/invocations`` the way Lambda and
the Lambda Runtime Interface Emulator do: the request body is the event, the
handler's return value (as JSON) is the response body; an exception in the
handler answers 200 with ``X-Amz-Function-Error: Unhandled`` and Lambda's
error document. The handler is imported from a module, as Lambda's Python
runtime does with ``module.function``.

    python3 invoke_server.py MODULE.FUNCTION [--port N]

Prints ``listening PORT`` on stdout once it accepts connections. Standard
library only; HTTP/1.1 with keep-alive, one thread per connection.
"""

import argparse
import importlib
import json
import sys
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"


class Context:
    """The attributes of the Python runtime's context object."""

    def __init__(self, function_name, timeout_s=30):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = "128"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


def make_handler_class(handler):
    class Invoke(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
                self.reply(404, json.dumps({"Type": "User", "message": "Unknown path"}))
                return
            name = urllib.parse.unquote(path[len(PREFIX):-len(SUFFIX)])
            context = Context(name)
            try:
                event = json.loads(raw)
                result = handler(event, context)
                self.reply(200, json.dumps(result))
            except Exception as e:  # Lambda reports unhandled errors this way
                doc = {
                    "errorMessage": str(e),
                    "errorType": type(e).__name__,
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(e.__traceback__),
                }
                self.reply(200, json.dumps(doc), [("X-Amz-Function-Error", "Unhandled")])

    return Invoke


def main():
    p = argparse.ArgumentParser()
    p.add_argument("handler", help="MODULE.FUNCTION, as in Lambda's handler setting")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    module, _, function = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module), function)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler_class(handler))
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
