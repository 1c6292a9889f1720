#!/usr/bin/env python3
"""Event append -> SSE receive latency, with the Python standard library only.

Opens `GET /v1/events/stream` with an agent's key, then, one at a time and a bounded number
of times, creates a link with `POST /v1/links` and measures the time from sending the POST to
receiving the matching `link.created` message on the stream (matched by `link_id` in the
message's data JSON). Every create is committed (and fsynced, when `synchronous=FULL` is in
effect) before the server rings the streams, so the figure is: request + commit + stream wake +
stream read + SSE write, as a console would see it.

    PAYLINK_LOAD_KEY=plk_… python3 scripts/load/sse_latency.py --base https://127.0.0.1:PORT --count 500

With `--write-base https://127.0.0.1:OTHER`, the links are created on another instance sharing
the database (PostgreSQL), so the figure also includes that instance's notification reaching
the one that serves the stream.

Loopback only; certificate verification is off because the server uses the generated
development certificate. Prints percentiles; never asserts on time.
"""

import argparse
import http.client
import json
import math
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


class StreamReader(threading.Thread):
    """Reads the SSE stream and records when each (link_id, type) first arrived."""

    def __init__(self, response):
        super().__init__(daemon=True)
        self.response = response
        self.arrivals = {}
        self.condition = threading.Condition()
        self.messages = 0
        self.error = None

    def run(self):
        event_type, data_lines = None, []
        try:
            while True:
                line = self.response.readline()
                if not line:
                    raise EOFError("the event stream closed")
                now = time.perf_counter()
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data_lines:
                        self._dispatch(event_type, "\n".join(data_lines), now)
                    event_type, data_lines = None, []
                elif line.startswith(":"):
                    continue  # heartbeat comment
                elif line.startswith("event:"):
                    event_type = line[len("event:"):].strip()
                elif line.startswith("data:"):
                    data_lines.append(line[len("data:"):].lstrip(" "))
        except Exception as error:  # reported by the main thread
            with self.condition:
                self.error = error
                self.condition.notify_all()

    def _dispatch(self, event_type, data, now):
        payload = json.loads(data)
        key = (payload.get("link_id"), event_type or payload.get("type"))
        with self.condition:
            self.messages += 1
            self.arrivals.setdefault(key, now)
            self.condition.notify_all()

    def wait_for(self, key, timeout):
        deadline = time.perf_counter() + timeout
        with self.condition:
            while key not in self.arrivals:
                if self.error is not None:
                    raise RuntimeError(f"stream failed: {self.error!r}")
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return None
                self.condition.wait(remaining)
            return self.arrivals[key]


def connect(base, context, timeout):
    url = urllib.parse.urlsplit(base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to load a non-loopback host: {url.hostname}")
    connection = http.client.HTTPSConnection(url.hostname, url.port or 443, context=context, timeout=timeout)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="https://127.0.0.1:PORT, the instance serving the stream")
    parser.add_argument("--write-base", help="create the links on this instance instead (default: --base)")
    parser.add_argument("--count", type=int, default=500, help="measured creates (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured creates first (default 20)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each event (default 5)")
    parser.add_argument("--dump", help="also write every sample as CSV (index, start_s, post_ms, event_ms) to this file")
    args = parser.parse_args()
    key = os.environ.get("PAYLINK_LOAD_KEY")
    if not key:
        sys.exit("PAYLINK_LOAD_KEY is not set")
    if not 1 <= args.count <= 100_000:
        sys.exit("--count must be 1...100000")

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the generated development certificate
    auth = {"Authorization": f"Bearer {key}"}

    stream_connection = connect(args.base, context, timeout=None)
    stream_connection.request("GET", "/v1/events/stream", headers={**auth, "Accept": "text/event-stream"})
    stream_response = stream_connection.getresponse()
    if stream_response.status != 200:
        sys.exit(f"GET /v1/events/stream -> {stream_response.status}: {stream_response.read()[:300]!r}")
    reader = StreamReader(stream_response)
    reader.start()

    post_connection = connect(args.write_base or args.base, context, timeout=30)
    tag = f"{os.getpid()}-{int(time.time())}"

    def create(index):
        body = json.dumps({"amount": 1999, "currency": "GBP", "reference": f"sse-{tag}-{index}"})
        sent = time.perf_counter()
        post_connection.request("POST", "/v1/links", body=body, headers={**auth, "Content-Type": "application/json"})
        response = post_connection.getresponse()
        raw = response.read()
        answered = time.perf_counter()
        if response.status != 201:
            raise RuntimeError(f"POST /v1/links -> {response.status}: {raw[:300]!r}")
        return json.loads(raw)["id"], sent, answered

    # Warm up; the first wait also drains any backlog the stream replays from cursor 0.
    for index in range(args.warmup + 1):
        link_id, _, _ = create(f"warmup-{index}")
        if reader.wait_for((link_id, "link.created"), timeout=60 if index == 0 else args.timeout) is None:
            sys.exit(f"warm-up event for {link_id} never arrived")

    latencies, round_trips, after_response, missed, samples = [], [], [], 0, []
    began = time.perf_counter()
    for index in range(args.count):
        link_id, sent, answered = create(index)
        arrived = reader.wait_for((link_id, "link.created"), timeout=args.timeout)
        round_trips.append((answered - sent) * 1000)
        samples.append((index, sent - began, (answered - sent) * 1000, (arrived - sent) * 1000 if arrived else None))
        if arrived is None:
            missed += 1
            continue
        latencies.append((arrived - sent) * 1000)
        after_response.append((arrived - answered) * 1000)
    if args.dump:
        with open(args.dump, "w") as dump:
            dump.write("index,start_s,post_ms,event_ms\n")
            for index, start, post, event in samples:
                dump.write(f"{index},{start:.4f},{post:.3f},{'' if event is None else f'{event:.3f}'}\n")

    latencies.sort()
    round_trips.sort()
    after_response.sort()
    where = f", created on {args.write_base}, streamed from {args.base}" if args.write_base else ""
    print(f"creates: {args.count} (after {args.warmup} warm-up){where}, events received: {len(latencies)}, missed: {missed}")
    print("append -> SSE receive (POST sent -> matching `event: link.created` read), ms: "
          + ", ".join(f"p{p} {percentile(latencies, p):.2f}" for p in (50, 90, 99))
          + f", max {latencies[-1] if latencies else float('nan'):.2f}")
    print("POST /v1/links round trip, ms: "
          + ", ".join(f"p{p} {percentile(round_trips, p):.2f}" for p in (50, 90, 99))
          + f", max {round_trips[-1]:.2f}")
    print("event arrival relative to the POST response (negative: event first), ms: "
          + ", ".join(f"p{p} {percentile(after_response, p):.2f}" for p in (50, 99)))
    print(f"SSE_P50_MS={percentile(latencies, 50):.2f} SSE_P99_MS={percentile(latencies, 99):.2f}")

    try:
        stream_connection.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    post_connection.close()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
