"""Command line entry point: ``python -m harness.broker --config activemq.xml``.

Exit status: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a configuration the broker cannot
use (unsupported or invalid activemq.xml, missing file, port in use), 1 for other failures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from harness.broker.config.activemq_xml import ConfigError, load_config
from harness.broker.ha import master_slave_for
from harness.broker.logs import setup_logging
from harness.broker.network.service import NetworkService
from harness.broker.server import BrokerServer, StartupError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pybroker", description="A persistent STOMP broker with ActiveMQ-style shared-file and JDBC master/slave."
    )
    parser.add_argument("--config", required=True, help="path to an activemq.xml")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"pybroker: error: {exc}", file=sys.stderr)
        return 2
    log = setup_logging(config.broker_name, getattr(logging, args.log_level))
    log.info("pybroker starting with %s", args.config)
    try:
        network = config.network
        services = None
        if network.listen is not None or network.connectors:
            services = NetworkService(network, log).run
        return asyncio.run(BrokerServer(config, log, master_slave_for, services).run())
    except StartupError as exc:
        log.error("%s", exc)
        print(f"pybroker: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        log.error("Broker failed: %s", exc)
        print(f"pybroker: error: {exc}", file=sys.stderr)
        return 1
