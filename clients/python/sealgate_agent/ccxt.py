"""ccxt adapter: the exchange object holds no secret; private calls go
through the agent's `request` op.

    exchange = ccxt.binance({...no apiKey, no secret...})
    sealgate_agent.ccxt.wrap(exchange, AgentClient(), "my-binance")
    exchange.fetch_balance(); exchange.create_order(...); exchange.cancel_order(...)

ccxt signs private requests with placeholder credentials; the adapter's
session recognises them by the placeholder key, strips ccxt's signature and
auth headers, and has the agent sign and send the request. Supported:
binance, kraken, okx, coinbase (Advanced Trade with a CDP key: the agent
makes the ES256/EdDSA JWT; ccxt is handed a placeholder bearer token for
private calls only, so it holds no key and does no JWT signing), bybit,
bitget, kucoin, gate, mexc, poloniex, bitfinex, gemini, bitstamp (spot;
Gemini's parameters are read from ccxt's base64 payload header; the `foo=bar`
body ccxt.bitstamp puts in an otherwise empty private POST is dropped, so the
agent signs an empty body with no content type, as Bitstamp's docs have it),
coinbaseexchange (Coinbase Exchange, the agent's "coinbase-exchange": key,
base64 secret and passphrase, like OKX's) and deribit (API v2: ccxt sends every
private call as a GET with its parameters in the query and its deri-hmac-sha256
signature in Authorization, which is stripped).
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
    "coinbase": ("coinbase", {"authorization"}, set()),
    "bybit": ("bybit", {"x-bapi-api-key", "x-bapi-sign", "x-bapi-timestamp", "x-bapi-recv-window"}, set()),
    "bitget": ("bitget", {"access-key", "access-sign", "access-timestamp", "access-passphrase"}, set()),
    "kucoin": ("kucoin", {"kc-api-key", "kc-api-sign", "kc-api-timestamp", "kc-api-passphrase"}, set()),
    "gate": ("gate", {"key", "sign", "timestamp"}, set()),
    "mexc": ("mexc", {"x-mexc-apikey"}, {"signature"}),
    "poloniex": ("poloniex", {"key", "signature", "signtimestamp"}, set()),
    "bitfinex": ("bitfinex", {"bfx-apikey", "bfx-signature", "bfx-nonce"}, set()),
    "gemini": ("gemini", {"x-gemini-apikey", "x-gemini-payload", "x-gemini-signature"}, set()),
    # ccxt.bitstamp sends `foo=bar` when a private POST has no parameters (its API0020 workaround).
    "bitstamp": ("bitstamp", {"x-auth", "x-auth-signature", "x-auth-nonce", "x-auth-timestamp", "x-auth-version"},
                 {"foo"}),
    "coinbaseexchange": (
        "coinbase-exchange",
        {"cb-access-key", "cb-access-sign", "cb-access-timestamp", "cb-access-passphrase"},
        set(),
    ),
    "deribit": ("deribit", {"authorization"}, set()),
}


def _strip_params(s, names):
    if not s or not names:
        return s or ""
    parts = [p for p in s.split("&") if p.split("=", 1)[0] not in names]
    return "&".join(parts)


class _AgentSession:
    def __init__(self, real, client, label, strip, exchange_id=None):
        self._exchange_id = exchange_id
        self._real = real
        self._client = client
        self._label = label
        self._headers, self._params = strip

    def __getattr__(self, name):
        return getattr(self._real, name)

    def request(self, method, url, data=None, headers=None, **kw):
        headers = headers or {}
        if not any(PLACEHOLDER_KEY in str(v) for v in headers.values()):
            return self._real.request(method, url, data=data, headers=headers, **kw)
        import requests  # ccxt's own dependency

        u = urlsplit(url)
        body = data.decode() if isinstance(data, (bytes, bytearray)) else (data or "")
        query = _strip_params(u.query, self._params)
        body = _strip_params(body, self._params) if "=" in body and not body.startswith("{") else body
        if self._exchange_id == "gemini":
            body = _gemini_payload(headers)
        if self._exchange_id == "coinbaseexchange" and method.upper() == "DELETE":
            # ccxt puts {"product_id": "<its unified symbol>"} in a cancel's JSON body; Coinbase
            # Exchange documents product_id as a query parameter of DELETE /orders/{id} and the
            # signer refuses a DELETE with a body (which reading would count?): dropped.
            body = ""
        r = self._client.request(self._label, method, u.path, query, body)
        resp = requests.Response()
        resp.status_code = r["status"]
        resp.reason = "OK" if r["status"] < 400 else "Error"
        resp._content = r["body"].encode()
        resp.headers = requests.structures.CaseInsensitiveDict(dict((k, v) for k, v in r["headers"]))
        resp.url = url
        resp.encoding = "utf-8"
        return resp


_BEARER = "Bearer " + PLACEHOLDER_KEY


def _gemini_payload(headers):
    """Gemini's parameters travel base64-encoded in X-GEMINI-PAYLOAD, not in the body: the
    payload is what the agent signs, less ccxt's nonce (the agent draws its own)."""
    import base64
    import json

    encoded = next((v for k, v in headers.items() if k.lower() == "x-gemini-payload"), None)
    if encoded is None:
        return ""
    payload = json.loads(base64.b64decode(encoded))
    payload.pop("nonce", None)
    return json.dumps(payload, separators=(",", ":"))


def _placeholder_bearer(exchange):
    """ccxt.coinbase signs a private call with `headers["Authorization"]`
    verbatim when it is set: set it to the placeholder for private calls only
    (public calls keep going straight to the exchange)."""
    real_sign = exchange.sign

    def sign(path, api=[], method="GET", params={}, *rest, **kw):
        private = isinstance(api, (list, tuple)) and len(api) > 1 and api[1] == "private"
        if not private:
            return real_sign(path, api, method, params, *rest, **kw)
        saved = exchange.headers
        exchange.headers = dict(saved or {}, Authorization=_BEARER)
        try:
            return real_sign(path, api, method, params, *rest, **kw)
        finally:
            exchange.headers = saved

    exchange.sign = sign


def wrap(exchange, client, credential_label):
    """Route `exchange`'s private calls through the agent; returns it."""
    strip = _STRIP.get(exchange.id)
    if strip is None:
        raise ValueError("sealgate_agent.ccxt: unsupported exchange %r (%s)" % (exchange.id, ", ".join(_STRIP)))
    if exchange.id == "coinbase":
        _placeholder_bearer(exchange)
    else:
        # ccxt signs Gemini calls only with an account-scoped key ("account-…").
        exchange.apiKey = ("account-" if exchange.id == "gemini" else "") + PLACEHOLDER_KEY
        exchange.secret = PLACEHOLDER_SECRET
    if exchange.id in ("okx", "bitget", "kucoin", "coinbaseexchange"):
        exchange.password = PLACEHOLDER_PASSWORD
    if exchange.id == "okx":
        # ccxt sends one order as a one-element batch by default; the single-order
        # endpoint lets the agent read the order's symbol and size for its policy
        # (a batch is an order of unknown size, refused under a symbol or notional cap).
        exchange.options["createOrder"] = "privatePostTradeOrder"
    exchange.session = _AgentSession(exchange.session, client, credential_label, (strip[1], strip[2]), exchange.id)
    return exchange
