"""Command line entry point: ``python -m harness.broker --config activemq.xml``.

Exit status: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a configuration the broker cannot
use (unsupported or invalid activemq.xml, missing file, port in use), 1 for other failures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys

from harness.broker.config.activemq_xml import BrokerConfig, ConfigError, load_config
from harness.broker.config.replicated_leveldb import ROUTES_ENV, ReplicatedStoreConfig, parse_routes
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


def with_replication_routes(config: BrokerConfig, routes: str) -> BrokerConfig:
    """The configuration with the replicated store's routes from the environment (see ROUTES_ENV)."""
    if not routes.strip():
        return config
    if not isinstance(config.store, ReplicatedStoreConfig):
        raise ConfigError(f"{ROUTES_ENV} is set, but the store is not <replicatedLevelDB>")
    try:
        parsed = parse_routes(routes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return dataclasses.replace(config, store=dataclasses.replace(config.store, routes=parsed))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = with_replication_routes(load_config(args.config), os.environ.get(ROUTES_ENV, ""))
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
