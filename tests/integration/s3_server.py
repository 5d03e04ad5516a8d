"""moto's S3 API server on 127.0.0.1, handling one request at a time: `python s3_server.py PORT`.

This is `moto_server -p PORT` (the same WSGI application, request handler and werkzeug server)
with one difference the commit tests depend on. moto answers a conditional PUT
(`If-None-Match: *`) by first looking the key up and then, a few steps later, storing the object;
with its threads two PUTs of one key can both pass the look-up and both be stored. S3 does the
check and the store atomically, so here each request runs whole before the next: a lost commit
seen against this server is the log store's doing, not the test server's.
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


def main(port: int) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialized(environ, start_response):
        with one_at_a_time:
            return list(app(environ, start_response))

    run_simple("127.0.0.1", port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(int(sys.argv[1]))
