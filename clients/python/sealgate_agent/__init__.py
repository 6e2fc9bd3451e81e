"""Client for the Sealgate desktop agent (protocol v1), standard library only.

Each message is a u32 big-endian length then that many bytes of JSON (at
most 1 MiB). See crates/sealgate-agent/src/lib.rs for the protocol.
"""

import json
import os
import socket
import struct

__all__ = ["AgentClient", "AgentError", "default_socket"]

MAX_FRAME = 1 << 20


def default_socket():
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join("/tmp", "sealgate-%d" % os.getuid())
    return os.path.join(base, "sealgate", "agent.sock")


class AgentError(Exception):
    """A refusal from the agent: .kind is bad_request, unknown_credential,
    denied, sign_failed, upstream, refused, locked, wrong_passphrase,
    rate_limited or keystore."""

    def __init__(self, kind, message):
        super().__init__("%s: %s" % (kind, message))
        self.kind = kind
        self.message = message


def _check_server(s, path):
    """The process listening on the socket must run as this user or as root
    (SO_PEERCRED), before anything (a passphrase above all) is sent to it."""
    if not hasattr(socket, "SO_PEERCRED"):
        raise AgentError(
            "refused",
            "cannot check who listens on %s (no SO_PEERCRED on this platform); nothing was sent" % path,
        )
    _pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    me = os.getuid()
    if uid not in (me, 0):
        raise AgentError(
            "refused",
            "the process listening on %s runs as uid %d, neither you (uid %d) nor root: it is not your agent, "
            "and nothing was sent to it; remove the socket (and its directory, if another user made it) and "
            "start your agent again" % (path, uid, me),
        )


class AgentClient:
    def __init__(self, path=None):
        self.path = path or default_socket()
        self._sock = None

    def _conn(self):
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                _check_server(s, self.path)
            except BaseException:
                s.close()
                raise
            self._sock = s
        return self._sock

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _recv_exact(self, n):
        s = self._sock
        buf = bytearray()
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("agent closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, msg):
        body = json.dumps(msg, separators=(",", ":")).encode()
        if len(body) > MAX_FRAME:
            raise ValueError("message larger than 1 MiB")
        s = self._conn()
        try:
            s.sendall(struct.pack(">I", len(body)) + body)
            (n,) = struct.unpack(">I", self._recv_exact(4))
            if n > MAX_FRAME:
                raise ConnectionError("reply larger than 1 MiB")
            reply = json.loads(self._recv_exact(n))
        except Exception:
            self.close()
            raise
        if not reply.get("ok"):
            raise AgentError(reply.get("error", "error"), reply.get("message", ""))
        return reply

    def list(self):
        """The credentials (never secrets); empty while the agent is locked."""
        return self.call({"v": 1, "op": "list"})["credentials"]

    def lock(self):
        """Lock the agent: it drops every opened credential and refuses to
        sign (AgentError kind "locked") until unlocked."""
        self.call({"v": 1, "op": "lock"})

    def unlock(self, passphrase):
        """Unlock with the keystore passphrase (str); returns the number of
        credentials opened. A wrong one raises AgentError "wrong_passphrase";
        retrying too soon after it raises "rate_limited"."""
        if not isinstance(passphrase, str):
            raise TypeError("passphrase must be a str")
        return self.call({"v": 1, "op": "unlock", "passphrase": passphrase})["credentials"]

    @staticmethod
    def _req(method, path, query, body):
        return {"method": method.upper(), "path": path, "query": query or "", "body": body or ""}

    def sign(self, credential, method, path, query="", body=""):
        """Sign; returns {method, path, query, headers: [[name, value]...], body}.

        Only for a credential added with `sealgate agent add --allow-sign`, on
        an exchange whose signature binds method, path, query and body (Gate,
        Bitstamp, Deribit); otherwise AgentError "denied". Bots use request()."""
        return self.call({"v": 1, "op": "sign", "credential": credential,
                          "request": self._req(method, path, query, body)})["signed"]

    def request(self, credential, method, path, query="", body=""):
        """Sign and send through the agent; returns {status, headers, body}."""
        r = self.call({"v": 1, "op": "request", "credential": credential,
                       "request": self._req(method, path, query, body)})
        return {"status": r["status"], "headers": r["headers"], "body": r["body"]}
