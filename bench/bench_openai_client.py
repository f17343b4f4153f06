"""How many requests per second the `openai` runner sustains against a server that answers at once.

    python bench/bench_openai_client.py [--requests 4000] [--concurrency 64] [--endpoints 1]

Starts N instant OpenAI-compatible servers (uvicorn + a bare Starlette route that returns a
fixed completion) in subprocesses on loopback, drives them with OpenAIRunner.generate, and
prints requests/s. Client and servers share the machine's cores, so the figure is a lower
bound on what the client alone can do. Target: >= 500 requests/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from evalkit.records import ChatRequest, SamplingParams
from evalkit.runners.openai_api import OpenAIRunner

SERVER = r"""
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
BODY = (b'{"id":"x","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"Answer: A"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}')
async def chat(request):
    await request.body()
    return Response(BODY, media_type="application/json")
async def health(request):
    return Response(b"ok")
app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--endpoints", type=int, default=1)
    args = ap.parse_args()
    ports = [free_port() for _ in range(args.endpoints)]
    procs = [subprocess.Popen([sys.executable, "-c", SERVER, str(p)]) for p in ports]
    try:
        for p in ports:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{p}/health", timeout=1).close()
                    break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.05)
        runner = OpenAIRunner(
            "m",
            endpoints=[f"http://127.0.0.1:{p}/v1" for p in ports],
            concurrency=args.concurrency,
            api_key_env=None,
        )
        req = ChatRequest(
            messages=[{"role": "user", "content": "Which option? A, B, C or D."}],
            params=SamplingParams(max_new_tokens=16),
        )
        list(runner.generate([req] * 200))  # warm-up: connections, imports
        t0 = time.perf_counter()
        done = sum(1 for _, c in runner.generate([req] * args.requests) if c.finish_reason == "stop")
        dt = time.perf_counter() - t0
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(
            f"{done}/{args.requests} requests ok in {dt:.2f} s over {args.endpoints} endpoint(s), "
            f"concurrency {args.concurrency} per endpoint: {done / dt:.0f} requests/s "
            f"(target >= 500)"
        )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
