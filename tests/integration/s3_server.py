"""moto's S3 API server on 127.0.0.1, handling one request at a time: `python s3_server.py PORT
[--lose-first-reply-to FRAGMENT]`.

This is `moto_server -p PORT` (the same WSGI application, request handler and werkzeug server)
with one difference the commit tests depend on. moto answers a conditional PUT
(`If-None-Match: *`) by first looking the key up and then, a few steps later, storing the object;
with its threads two PUTs of one key can both pass the look-up and both be stored. S3 does the
check and the store atomically, so here each request runs whole before the next: a lost commit
seen against this server is the log store's doing, not the test server's.

`--lose-first-reply-to FRAGMENT` injects the fault a commit must survive: the first conditional
PUT of each key containing FRAGMENT is stored, and then answered 500 as if the reply had been lost
on the way back. The client retries the PUT, which now finds its own object: 412.
"""

from __future__ import annotations

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

LOST_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def main(port: int, lose_first_reply_to: str | None) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()
    replied: set[str] = set()

    def serialized(environ, start_response):
        path = environ.get("PATH_INFO", "")
        with one_at_a_time:
            lose = (
                lose_first_reply_to is not None
                and environ["REQUEST_METHOD"] == "PUT"
                and environ.get("HTTP_IF_NONE_MATCH") == "*"
                and lose_first_reply_to in path
                and path not in replied
            )
            if not lose:
                return list(app(environ, start_response))
            replied.add(path)
            # Stored as usual; only the reply is lost.
            list(app(environ, lambda status, headers, exc_info=None: None))
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(LOST_REPLY)))],
        )
        return [LOST_REPLY]

    run_simple("127.0.0.1", port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    fault = sys.argv[3] if sys.argv[2:3] == ["--lose-first-reply-to"] else None
    main(int(sys.argv[1]), fault)
