"""A ccxt bot for the proof test: balance, order, cancel, then waits on stdin.

usage: bot.py agent SOCKET LABEL BASE_URL   (through the agent, holds no secret)
       bot.py direct API_KEY SECRET BASE_URL (holds the secret itself: the control)
"""
import sys

import ccxt

mode, a, b, base = sys.argv[1:5]
ex = ccxt.binance({"enableRateLimit": False, "options": {"adjustForTimeDifference": False, "warnOnFetchOpenOrdersWithoutSymbol": False}})
for k in list(ex.urls["api"].keys()):
    if isinstance(ex.urls["api"][k], str) and ("/api/" in ex.urls["api"][k] or "/sapi/" in ex.urls["api"][k]):
        path = ex.urls["api"][k].split(".com", 1)[1]
        ex.urls["api"][k] = base + path
ex.set_markets([{
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC", "quoteId": "USDT",
    "settle": None, "settleId": None, "type": "spot", "spot": True, "margin": False, "swap": False,
    "future": False, "option": False, "contract": False, "linear": None, "inverse": None, "active": True,
    "precision": {"amount": 0.00001, "price": 0.01}, "contractSize": None, "expiry": None, "strike": None,
    "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None},
               "cost": {"min": None, "max": None}, "leverage": {"min": None, "max": None}},
    "info": {"orderTypes": ["LIMIT", "MARKET"]}, "taker": 0.001, "maker": 0.001, "percentage": True, "tierBased": False,
}])
if mode == "agent":
    from sealgate_agent import AgentClient
    import sealgate_agent.ccxt
    sealgate_agent.ccxt.wrap(ex, AgentClient(a), b)
else:
    ex.apiKey, ex.secret = a, b
bal = ex.fetch_balance()
order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
cancelled = ex.cancel_order(order["id"], "BTC/USDT")
print("RESULT", bal["USDT"]["free"], order["id"], cancelled["status"], flush=True)
print("READY", flush=True)
sys.stdin.readline()
