"""The floor of `ci-track compare`: the same MLflow requests, sent by a standard-library script.

    python bench/stdlib_floor.py [--import MODULE,...] URL REQUESTS.json

REQUESTS.json lists the requests one `ci-track compare` made (method, path with query, body), as
bench_floor.py recorded them through the counting proxy. This script sends exactly those, in
order, over one keep-alive connection, and decodes every JSON answer: what any client must pay to
ask the same questions, with nothing imported beyond the standard library and no decision made.
With `--import requests,git,...` it first imports those libraries (and uses none of them): the
floor of any program built on the same dependencies.
"""

from __future__ import annotations

import http.client
import json
import sys
import urllib.parse


def main(url: str, requests_file: str) -> int:
    with open(requests_file, encoding="utf-8") as handle:
        requests = json.load(handle)
    target = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
    for request in requests:
        body = request["body"].encode() if request["body"] else None
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(request["method"], request["path"], body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 400:
            print(f"{request['method']} {request['path']}: HTTP {response.status}", file=sys.stderr)
            return 1
        if payload and response.getheader("Content-Type", "").startswith("application/json"):
            json.loads(payload)
    connection.close()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--import":
        import importlib

        for module in args[1].split(","):
            importlib.import_module(module)
        args = args[2:]
    sys.exit(main(args[0], args[1]))
