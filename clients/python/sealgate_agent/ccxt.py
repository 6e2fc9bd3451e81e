"""ccxt adapter: the exchange object holds no secret; private calls go
through the agent's `request` op.

    exchange = ccxt.binance({...no apiKey, no secret...})
    sealgate_agent.ccxt.wrap(exchange, AgentClient(), "my-binance")
    exchange.fetch_balance(); exchange.create_order(...); exchange.cancel_order(...)

ccxt signs private requests with placeholder credentials; the adapter's
session recognises them by the placeholder key, strips ccxt's signature and
auth headers, and has the agent sign and send the request. Supported:
binance, kraken, okx.
"""

from urllib.parse import urlsplit

PLACEHOLDER_KEY = "sealgate-agent-placeholder"
# Base64 so that exchanges that decode their secret (Kraken) accept it; not a secret.
PLACEHOLDER_SECRET = "c2VhbGdhdGUtYWdlbnQtcGxhY2Vob2xkZXI="
PLACEHOLDER_PASSWORD = "sealgate-agent-placeholder"

# Per exchange id: the agent's exchange id, auth headers to strip, signature params to strip.
_STRIP = {
    "binance": ("binance", {"x-mbx-apikey"}, {"signature"}),
    "kraken": ("kraken", {"api-key", "api-sign"}, set()),
    "okx": ("okx", {"ok-access-key", "ok-access-sign", "ok-access-timestamp", "ok-access-passphrase"}, set()),
}


def _strip_params(s, names):
    if not s or not names:
        return s or ""
    parts = [p for p in s.split("&") if p.split("=", 1)[0] not in names]
    return "&".join(parts)


class _AgentSession:
    def __init__(self, real, client, label, strip):
        self._real = real
        self._client = client
        self._label = label
        self._headers, self._params = strip

    def __getattr__(self, name):
        return getattr(self._real, name)

    def request(self, method, url, data=None, headers=None, **kw):
        headers = headers or {}
        if PLACEHOLDER_KEY not in [str(v) for v in headers.values()]:
            return self._real.request(method, url, data=data, headers=headers, **kw)
        import requests  # ccxt's own dependency

        u = urlsplit(url)
        body = data.decode() if isinstance(data, (bytes, bytearray)) else (data or "")
        query = _strip_params(u.query, self._params)
        body = _strip_params(body, self._params) if "=" in body and not body.startswith("{") else body
        r = self._client.request(self._label, method, u.path, query, body)
        resp = requests.Response()
        resp.status_code = r["status"]
        resp.reason = "OK" if r["status"] < 400 else "Error"
        resp._content = r["body"].encode()
        resp.headers = requests.structures.CaseInsensitiveDict(dict((k, v) for k, v in r["headers"]))
        resp.url = url
        resp.encoding = "utf-8"
        return resp


def wrap(exchange, client, credential_label):
    """Route `exchange`'s private calls through the agent; returns it."""
    strip = _STRIP.get(exchange.id)
    if strip is None:
        raise ValueError("sealgate_agent.ccxt: unsupported exchange %r (binance, kraken, okx)" % exchange.id)
    exchange.apiKey = PLACEHOLDER_KEY
    exchange.secret = PLACEHOLDER_SECRET
    if exchange.id == "okx":
        exchange.password = PLACEHOLDER_PASSWORD
    exchange.session = _AgentSession(exchange.session, client, credential_label, (strip[1], strip[2]))
    return exchange
