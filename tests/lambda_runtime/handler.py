"""A Lambda function written the way AWS documents Python handlers for API
Gateway proxy integrations: ``handler(event, context)`` returns a dict with
statusCode, headers, body (and, for payload 2.0, cookies). tollgate's tests
run it behind invoke_server.py and call it through the gateway.
"""

import base64
import json


def handler(event, context):
    # Payload 1.0 has `path` and `httpMethod`; 2.0 has `rawPath` and
    # requestContext.http.method.
    if event.get("version") == "2.0":
        path = event["rawPath"]
        method = event["requestContext"]["http"]["method"]
    else:
        path = event["path"]
        method = event["httpMethod"]
    query = event.get("queryStringParameters") or {}

    if path.endswith("/hello"):
        name = query.get("name", "World")
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(
                {
                    "message": f"Hello, {name}!",
                    "method": method,
                    "function": context.function_name,
                    "requestId": event["requestContext"]["requestId"],
                    "remainingMs": context.get_remaining_time_in_millis() > 0,
                }
            ),
        }
    if path.endswith("/echo"):
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("latin-1")
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Echo-Length": str(len(body))},
            "body": body[::-1],
        }
    if path.endswith("/cookies"):
        return {
            "statusCode": 200,
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "headers": {"content-type": "text/plain"},
            "body": "cookies set",
        }
    if path.endswith("/multi"):
        return {
            "statusCode": 200,
            "multiValueHeaders": {"X-Values": ["one", "two"]},
            "body": "multi",
        }
    if path.endswith("/binary"):
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "isBase64Encoded": True,
            "body": base64.b64encode(bytes(range(256))).decode(),
        }
    if path.endswith("/plain"):
        # 2.0 only: no statusCode, so the whole value is a JSON body.
        return {"items": [1, 2, 3]}
    if path.endswith("/boom"):
        raise ValueError("something broke")
    return {"statusCode": 404, "body": json.dumps({"message": "no such path"})}
