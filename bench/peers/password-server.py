#!/usr/bin/env python3
"""The password peer of bench-metadata: CloudStack's password server design, written for the bench.

One Python process per listening address, http.server's ThreadingHTTPServer (a thread per
connection) with a BaseHTTPRequestHandler speaking HTTP/1.0 (one request per connection), the
passwords in an in-memory dict keyed by the client's source IP. The protocol, as guests use it
(wget --header 'DomU_Request: send_my_password' http://<router>:8080):

  GET, DomU_Request: send_my_password  -> 200, body: the pending password, or "saved_password"
  GET, DomU_Request: saved_password    -> the client's entry is deleted; 200, body "saved_password"
  any other GET                        -> 400, body "bad_request"

Saving passwords (CloudStack's token-checked POST from the router itself) is left out: the bench
loads them from a JSON file {"<ip>": "<password>"} at start. Per-request logging is off.

Usage: password-server.py <listen ip> <port> <passwords.json>
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

passwords: dict[str, str] = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        request = self.headers.get("DomU_Request")
        client = self.client_address[0]
        if request == "send_my_password":
            with lock:
                password = passwords.get(client)
            self.answer(200, password if password is not None else "saved_password")
        elif request == "saved_password":
            with lock:
                passwords.pop(client, None)
            self.answer(200, "saved_password")
        else:
            self.answer(400, "bad_request")

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    listen, port, store = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(store, encoding="utf-8") as f:
        passwords.update(json.load(f))
    server = ThreadingHTTPServer((listen, port), Handler)
    server.daemon_threads = True
    print(f"listening on {listen}:{port} with {len(passwords)} passwords", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
