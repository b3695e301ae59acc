"""``python -m harness.toxiproxy [--host H] [--port P]``: serve Toxiproxy's API until killed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from harness.toxiproxy.server import ToxiproxyServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.toxiproxy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="port of the HTTP API (default 8474; 0: any free port)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the toxicity dice")
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args()
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s toxiproxy %(message)s")
    # SIGTERM ends the loop like Ctrl-C does, so that the proxies close their sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(ToxiproxyServer(arguments.host, arguments.port, arguments.seed).serve_forever())


if __name__ == "__main__":
    main()
