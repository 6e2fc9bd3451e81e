"""A ccxt bot for the proof tests: balance, order, cancel, then waits on stdin.

usage: bot.py agent SOCKET LABEL BASE_URL [EXCHANGE]   (through the agent, holds no secret)
       bot.py direct API_KEY SECRET BASE_URL            (binance, holds the secret itself: the control)

EXCHANGE is binance (default), kraken, okx, coinbase, bybit, bitget, kucoin,
gate, mexc, poloniex, bitfinex, gemini, bitstamp, coinbase-exchange (ccxt's
coinbaseexchange) or deribit; BASE_URL is where the exchange (the
sandbox) listens: every API URL ccxt knows for it is pointed there. Prints
"RESULT <free quote balance> <order id> <cancel status>" then "READY" (Deribit: the free
BTC of its BTC account, and an order on BTC-PERPETUAL sized in USD).
"""
import sys

import ccxt

mode, a, b, base = sys.argv[1:5]
exchange_id = sys.argv[5] if len(sys.argv) > 5 else "binance"


def market(mid, symbol, base_code, quote_code, base_id, quote_id, **extra):
    m = {
        "id": mid, "symbol": symbol, "base": base_code, "quote": quote_code, "baseId": base_id, "quoteId": quote_id,
        "settle": None, "settleId": None, "type": "spot", "spot": True, "margin": False, "swap": False,
        "future": False, "option": False, "contract": False, "linear": None, "inverse": None, "active": True,
        "precision": {"amount": 0.00001, "price": 0.01}, "contractSize": None, "expiry": None, "strike": None,
        "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None},
                   "cost": {"min": None, "max": None}, "leverage": {"min": None, "max": None}},
        "info": {"orderTypes": ["LIMIT", "MARKET"]}, "taker": 0.001, "maker": 0.001, "percentage": True,
        "tierBased": False,
    }
    m.update(extra)
    return m


def point_at(ex, base):
    """Every API URL of `ex` (nested or not) on `base`: nothing reaches a real exchange."""
    def moved(v):
        if isinstance(v, dict):
            return {k: moved(x) for k, x in v.items()}
        if isinstance(v, str) and v.startswith("https://"):
            rest = v[len("https://"):]
            return base + (rest[rest.index("/"):] if "/" in rest else "")
        return v
    ex.urls["api"] = moved(ex.urls["api"])


opts = {"enableRateLimit": False, "options": {"adjustForTimeDifference": False}}
# Per exchange: (options, market id, symbol, base, quote).
SPOT = {
    # Bybit: the account is a unified trading account; saying so spares ccxt two probes
    # (/v5/user/query-api and /v5/account/info) before the balance.
    "bybit": ({"enableUnifiedMargin": False, "enableUnifiedAccount": True, "unifiedMarginStatus": 6},
              "BTCUSDT", "BTC/USDT", "BTC", "USDT"),
    # Bitget: a classic (not unified) account; saying so spares ccxt a probe of /api/v3/account/settings.
    "bitget": ({"uta": False}, "BTCUSDT", "BTC/USDT", "BTC", "USDT"),
    # KuCoin and Gate: classic accounts, said up front (no probe of their unified-account modes).
    "kucoin": ({"uta": False}, "BTC-USDT", "BTC/USDT", "BTC", "USDT"),
    "gate": ({"unifiedAccount": False}, "BTC_USDT", "BTC/USDT", "BTC", "USDT"),
    "mexc": ({}, "BTCUSDT", "BTC/USDT", "BTC", "USDT"),
    "poloniex": ({}, "BTC_USDT", "BTC/USDT", "BTC", "USDT"),
    "bitfinex": ({}, "tBTCUSD", "BTC/USD", "BTC", "USD"),
    "gemini": ({}, "btcusd", "BTC/USD", "BTC", "USD"),
    "bitstamp": ({}, "btcusd", "BTC/USD", "BTC", "USD"),
    "coinbase-exchange": ({}, "BTC-USD", "BTC/USD", "BTC", "USD"),
}
if exchange_id == "binance":
    ex = ccxt.binance(dict(opts, options={"adjustForTimeDifference": False,
                                          "warnOnFetchOpenOrdersWithoutSymbol": False}))
    for k in list(ex.urls["api"].keys()):
        if isinstance(ex.urls["api"][k], str) and ("/api/" in ex.urls["api"][k] or "/sapi/" in ex.urls["api"][k]):
            ex.urls["api"][k] = base + ex.urls["api"][k].split(".com", 1)[1]
    ex.set_markets([market("BTCUSDT", "BTC/USDT", "BTC", "USDT", "BTC", "USDT")])
    symbol, quote = "BTC/USDT", "USDT"
elif exchange_id == "kraken":
    ex = ccxt.kraken(opts)
    ex.urls["api"]["public"] = base
    ex.urls["api"]["private"] = base
    ex.set_markets([market("XBTUSD", "BTC/USD", "BTC", "USD", "XXBT", "ZUSD", altname="XBTUSD")])
    symbol, quote = "BTC/USD", "USD"
elif exchange_id == "okx":
    ex = ccxt.okx(opts)
    ex.urls["api"]["rest"] = base
    ex.set_markets([market("BTC-USDT", "BTC/USDT", "BTC", "USDT", "BTC", "USDT")])
    symbol, quote = "BTC/USDT", "USDT"
elif exchange_id == "coinbase":
    # The Advanced Trade (v3) balance: the sandbox has no Coinbase App v2 /v2/accounts.
    ex = ccxt.coinbase(dict(opts, options={"adjustForTimeDifference": False,
                                           "fetchBalance": "v3PrivateGetBrokerageAccounts"}))
    ex.urls["api"]["rest"] = base
    ex.set_markets([market("BTC-USD", "BTC/USD", "BTC", "USD", "BTC", "USD")])
    symbol, quote = "BTC/USD", "USD"
elif exchange_id in SPOT:
    extra, mid, symbol, base_code, quote = SPOT[exchange_id]
    # ccxt's class names drop the hyphen of Sealgate's ids (coinbase-exchange: coinbaseexchange).
    ex = getattr(ccxt, exchange_id.replace("-", ""))(dict(opts, options=dict({"adjustForTimeDifference": False}, **extra)))
    point_at(ex, base)
    # ccxt's Bitfinex counts precision in decimal places, the others in steps.
    places = {"precision": {"amount": 8, "price": 5}} if exchange_id == "bitfinex" else {}
    ex.set_markets([market(mid, symbol, base_code, quote, base_code, quote, **places)])
elif exchange_id == "deribit":
    # The inverse perpetual, margined (and settled) in BTC: its amount is USD, 10 a contract.
    ex = ccxt.deribit(opts)
    point_at(ex, base)
    ex.set_markets([market("BTC-PERPETUAL", "BTC/USD:BTC", "BTC", "USD", "BTC", "USD", type="swap", spot=False,
                           swap=True, contract=True, inverse=True, linear=False, settle="BTC", settleId="BTC",
                           contractSize=10, precision={"amount": 10, "price": 0.5})])
    symbol, quote = "BTC/USD:BTC", "BTC"
else:
    sys.exit("unknown exchange " + exchange_id)

if mode == "agent":
    from sealgate_agent import AgentClient
    import sealgate_agent.ccxt
    sealgate_agent.ccxt.wrap(ex, AgentClient(a), b)
else:
    ex.apiKey, ex.secret = a, b
if exchange_id == "deribit":
    # One currency's account summary (without a code ccxt asks every currency's at once).
    bal = ex.fetch_balance({"code": "BTC"})
    order = ex.create_order(symbol, "limit", "buy", 10, 40000)
else:
    bal = ex.fetch_balance()
    order = ex.create_order(symbol, "limit", "buy", 0.01, 40000)
cancelled = ex.cancel_order(order["id"], symbol)
print("RESULT", bal[quote]["free"], order["id"], cancelled.get("status"), flush=True)
print("READY", flush=True)
sys.stdin.readline()
