#!/usr/bin/env python3
"""The [pay] issue's numbers, with the Python standard library only, against a running
`paylink serve` (embedded sandbox PSP on its own port):

1. page weight: bytes of `GET /p/TOKEN` uncompressed and gzip-compressed (level 9);
2. time to first byte of `GET /p/TOKEN` (fresh TLS connection each time, and on a kept-alive one);
3. webhook in -> agent SSE latency: for each sample, a link is put into 3-D Secure (tokenise
   4000 0000 0000 3220 at the sandbox, pay through the page endpoint), an SSE stream on the link
   is open, then a correctly signed `charge.succeeded` webhook is POSTed to /webhooks/sandbox and
   the time from sending it to reading `event: payment.succeeded` on the stream is recorded.

    PAYLINK_LOAD_KEY=plk_… PAYLINK_SANDBOX_WEBHOOK_SECRET=whsec_… \\
      python3 scripts/load/payment_numbers.py --base https://127.0.0.1:8443 --psp https://127.0.0.1:8444 --count 200

Start the server with the same PAYLINK_SANDBOX_WEBHOOK_SECRET so the script can sign like the PSP,
and with the velocity rules opened up (PAYLINK_FRAUD_MAX_ATTEMPTS_PER_CARD=1000000,
PAYLINK_FRAUD_MAX_ATTEMPTS_PER_IP=1000000): one card from one address is exactly what they block.
Loopback only, certificate checks off (development certificate). Prints numbers; asserts nothing.
"""

import argparse
import gzip
import hashlib
import hmac
import http.client
import json
import math
import os
import ssl
import statistics
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


class Client:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.https = url.scheme == "https"
        self.host, self.port = url.hostname, url.port
        self.context = ssl._create_unverified_context() if self.https else None

    def connect(self, timeout=10):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, connection=None):
        own = connection is None
        connection = connection or self.connect()
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = dict(headers or {})
        if isinstance(body, dict):
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if own:
            connection.close()
        return response.status, payload


def sign(secret, body):
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--psp", required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--ttfb-count", type=int, default=200)
    args = parser.parse_args()
    key = os.environ["PAYLINK_LOAD_KEY"]
    secret = os.environ["PAYLINK_SANDBOX_WEBHOOK_SECRET"]
    paylink, psp = Client(args.base), Client(args.psp)
    auth = {"Authorization": f"Bearer {key}"}
    origin = {"Origin": args.base}

    def new_link():
        status, body = paylink.request("POST", "/v1/links", {"amount": 1999, "currency": "GBP", "reference": "numbers"}, auth)
        assert status == 201, body
        link = json.loads(body)
        return link, urllib.parse.urlsplit(link["url"]).path

    # 1. Page weight.
    link, page = new_link()
    status, html = paylink.request("GET", page)
    assert status == 200, status
    print(f"page weight: {len(html)} bytes uncompressed, {len(gzip.compress(html, 9))} bytes gzip -9")

    # 2. Time to first byte.
    fresh, kept = [], []
    connection = paylink.connect()
    for _ in range(args.ttfb_count):
        start = time.perf_counter()
        c = paylink.connect()
        c.request("GET", page)
        r = c.getresponse()
        fresh.append(time.perf_counter() - start)
        r.read()
        c.close()
        start = time.perf_counter()
        connection.request("GET", page)
        r = connection.getresponse()
        kept.append(time.perf_counter() - start)
        r.read()
    connection.close()
    for name, values in (("new TLS connection", fresh), ("kept-alive connection", kept)):
        print(f"TTFB GET /p/TOKEN, {name}: p50 {percentile(values, 50)*1000:.2f} ms, "
              f"p99 {percentile(values, 99)*1000:.2f} ms (n={len(values)})")

    # 3. Webhook in -> SSE out.
    samples = []
    for _ in range(args.count):
        link, page = new_link()
        status, body = psp.request("POST", "/v1/tokens", {
            "number": "4000 0000 0000 3220", "exp_month": 12, "exp_year": 2040, "cvc": "123",
            "reference": link["id"], "amount": 1999, "currency": "GBP"}, origin)
        assert status == 201, body
        token = json.loads(body)["id"]
        status, body = paylink.request("POST", page + "/pay", {"psp_token": token})
        payment = json.loads(body)["payment"]
        assert payment["status"] == "requires_action", body

        stream = paylink.connect(timeout=15)
        stream.request("GET", f"/v1/links/{link['id']}/events/stream", headers={**auth, "Accept": "text/event-stream"})
        response = stream.getresponse()
        arrived = threading.Event()
        seen = {}

        def read():
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line == "event: payment.succeeded":
                    seen["at"] = time.perf_counter()
                    arrived.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.02)  # the stream has replayed the link's history by now
        # The charge this attempt made, as the PSP describes it: Paylink refuses a webhook whose
        # charge id, amount or currency differ (the 3-D Secure page is https://PSP/3ds/ch_...).
        charge_id = payment["redirect_url"].rstrip("/").rsplit("/", 1)[-1]
        event = json.dumps({"id": "evt_numbers_" + payment["id"], "object": "event", "type": "charge.succeeded",
                            "data": {"object": {"id": charge_id, "object": "charge", "status": "succeeded",
                                                "amount": 1999, "currency": "GBP", "reference": payment["id"]}}}).encode()
        start = time.perf_counter()
        status, _ = paylink.request("POST", "/webhooks/sandbox", event,
                                    {"Content-Type": "application/json", "Stripe-Signature": sign(secret, event)})
        assert status == 200, status
        if not arrived.wait(5):
            print("a payment.succeeded never arrived", file=sys.stderr)
            continue
        samples.append(seen["at"] - start)
        stream.close()
    ms = [s * 1000 for s in samples]
    print(f"webhook in -> agent SSE: p50 {percentile(ms, 50):.2f} ms, p90 {percentile(ms, 90):.2f} ms, "
          f"p99 {percentile(ms, 99):.2f} ms, max {max(ms):.2f} ms, mean {statistics.mean(ms):.2f} ms (n={len(ms)})")


if __name__ == "__main__":
    main()
