"""Loopback peers for the notifier tests: an SMTP server (aiosmtpd) and a webhook receiver
that verifies every request with the Standard Webhooks library. Each message received is
appended as one JSON line to OUT/mail.jsonl or OUT/hooks.jsonl.

Usage: sink.py OUT_DIR SECRETS_FILE [FAIL_FIRST]
  SECRETS_FILE: JSON {"/path": "whsec_..."}, re-read per request (the test adds endpoints
  after start). FAIL_FIRST: answer the first N webhook requests 503 (a retry test).
Prints "READY smtp=PORT http=PORT" once both listen.
"""
import json
import os
import socket
import sys
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

OUT, SECRETS = sys.argv[1], sys.argv[2]
FAIL_FIRST = int(sys.argv[3]) if len(sys.argv) > 3 else 0
lock = threading.Lock()
failed = 0


def append(name, obj):
    with lock:
        with open(os.path.join(OUT, name), "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")


class Mail:
    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=default_policy)
        body = msg.get_body(preferencelist=("plain",))
        append("mail.jsonl", {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "body": body.get_content() if body is not None else "",
            "raw": envelope.content.decode("utf-8", "replace"),
        })
        return "250 OK"


class Hook(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        global failed
        n = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(n)
        with lock:
            fail = failed < FAIL_FIRST
            if fail:
                failed += 1
        rec = {"path": self.path, "id": self.headers.get("webhook-id"), "raw": body.decode("utf-8", "replace")}
        if fail:
            rec["refused"] = True
            append("hooks.jsonl", rec)
            self.send_response(503)
            self.end_headers()
            return
        with open(SECRETS, encoding="utf-8") as f:
            secret = json.load(f).get(self.path)
        try:
            if secret is None:
                raise ValueError("no secret for " + self.path)
            payload = Webhook(secret).verify(body, dict(self.headers))
            rec["verified"] = True
            rec["payload"] = payload
            status = 200
        except Exception as e:  # noqa: BLE001 - any failure is a refusal, recorded
            rec["verified"] = False
            rec["error"] = str(e)
            status = 400
        append("hooks.jsonl", rec)
        self.send_response(status)
        self.end_headers()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


smtp_port = free_port()
controller = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
controller.start()
httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
print(f"READY smtp={smtp_port} http={httpd.server_address[1]}", flush=True)
try:
    sys.stdin.read()  # until the test closes our stdin (or dies)
finally:
    controller.stop()
    httpd.shutdown()
