"""Benchmark: `sign` round trip from Python through the agent, beside a bare
Unix-socket JSON echo (same framing, a Python echo server process) and
ccxt's in-process gate sign() of the same request; then signs/s from 1
and 4 client processes.

LABEL is a Gate credential added with `sealgate agent add --exchange gate
--allow-sign`: the agent hands out signatures only where they bind the whole
request (Gate, Bitstamp, Deribit) and only with that opt-in (until issue 14
this bench signed a Binance order, whose `sign` is now refused).

usage: bench_sign.py AGENT_SOCKET LABEL [N]
"""
import json
import multiprocessing as mp
import os
import socket
import struct
import sys
import tempfile
import time

from sealgate_agent import AgentClient

PATH = "/api/v4/spot/orders"
ORDER = {"currency_pair": "BTC_USDT", "side": "buy", "type": "limit", "amount": "0.01", "price": "40000"}
BODY = json.dumps(ORDER, separators=(",", ":"))


def echo_server(path, ready):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(8)
    ready.set()
    while True:
        c, _ = srv.accept()
        if os.fork() == 0:
            f = c.makefile("rb")
            while True:
                h = f.read(4)
                if len(h) < 4:
                    os._exit(0)
                (n,) = struct.unpack(">I", h)
                body = f.read(n)
                out = json.dumps({"v": 1, "ok": True, "echo": json.loads(body)}).encode()
                c.sendall(struct.pack(">I", len(out)) + out)
        c.close()


def per_call(fn, n):
    for _ in range(min(200, n)):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def agent_sign(sock, label):
    c = AgentClient(sock)
    return lambda: c.sign(label, "POST", PATH, "", BODY)


def worker(sock, label, n, q):
    f = agent_sign(sock, label)
    f()
    t = time.perf_counter()
    for _ in range(n):
        f()
    q.put(n / (time.perf_counter() - t))


def main():
    sock, label = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    tmp = tempfile.mkdtemp()
    epath = os.path.join(tmp, "echo.sock")
    ready = mp.Event()
    ep = mp.Process(target=echo_server, args=(epath, ready), daemon=True)
    ep.start()
    ready.wait()
    echo = AgentClient(epath)
    req = {"v": 1, "op": "sign", "credential": label,
           "request": {"method": "POST", "path": PATH, "query": "", "body": BODY}}
    echo_us = per_call(lambda: echo.call(req), n)
    agent_us = per_call(agent_sign(sock, label), n)
    import ccxt
    ex = ccxt.gate({"apiKey": "k", "secret": "s"})
    ccxt_us = per_call(lambda: ex.sign("orders", ["private", "spot"], "POST", dict(ORDER)), n)
    rates = {}
    for procs in (1, 4):
        q = mp.Queue()
        ps = [mp.Process(target=worker, args=(sock, label, n // procs * 2, q)) for _ in range(procs)]
        for p in ps:
            p.start()
        rates[procs] = sum(q.get() for _ in ps)
        for p in ps:
            p.join()
    ep.terminate()
    print(json.dumps({
        "n": n,
        "agent_sign_us": round(agent_us, 1),
        "echo_floor_us": round(echo_us, 1),
        "ratio_to_echo": round(agent_us / echo_us, 2),
        "ccxt_inprocess_sign_us": round(ccxt_us, 1),
        "signs_per_s_1_client": round(rates[1]),
        "signs_per_s_4_clients": round(rates[4]),
    }, indent=1))


if __name__ == "__main__":
    main()
