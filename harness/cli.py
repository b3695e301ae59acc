"""The ``amq-harness`` command: run pybroker, build container images, clean Docker up, report results."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _read_sets(paths: list[str]) -> list[dict[str, Any]] | None:
    """Result lines of every results directory or results.jsonl given; None (and a message) when unreadable."""
    from harness.report.inputs import load_result_sets

    try:
        return load_result_sets([Path(p) for p in paths])
    except FileNotFoundError as exc:
        print(f"amq-harness: {exc} (run: pytest suites/ha)", file=sys.stderr)
    except ValueError as exc:
        print(f"amq-harness: {exc}", file=sys.stderr)
    return None


def _emit(text: str, output: str | None, what: str) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output} ({what})")
    else:
        print(text, end="")


def _compare(args: argparse.Namespace) -> int:
    from harness.report.compare import comparison_json, comparison_markdown

    results = _read_sets([args.results])
    if results is None:
        return 2
    if args.format == "json":
        text = json.dumps(comparison_json(results), indent=2, sort_keys=True) + "\n"
    else:
        text = comparison_markdown(results)
    _emit(text, args.output, f"{len(results)} results")
    return 0


def _changes(args: argparse.Namespace) -> int:
    from harness.report.changes import compare_result_sets

    older, newer = _read_sets([args.older]), _read_sets([args.newer])
    if older is None or newer is None:
        return 2
    report = compare_result_sets(older, newer)
    text = json.dumps(report.to_json(), indent=2) + "\n" if args.format == "json" else report.markdown()
    _emit(text, args.output, f"{len(report.changes)} changes")
    return 1 if args.fail_on_regression and report.regressions else 0


def _merge(args: argparse.Namespace) -> int:
    from harness.report.inputs import merge_result_sets

    try:
        count = merge_result_sets([Path(p) for p in args.results], Path(args.output))
    except FileNotFoundError as exc:
        print(f"amq-harness: {exc}", file=sys.stderr)
        return 2
    print(f"merged {count} results from {len(args.results)} sets into {args.output}")
    return 0


def _allure_metadata(args: argparse.Namespace) -> int:
    from harness.report.allure_results import write_metadata

    results = _read_sets(args.results)
    if results is None:
        return 2
    write_metadata(Path(args.output), results)
    print(f"wrote environment.properties and categories.json into {args.output}")
    return 0


def _html(args: argparse.Namespace) -> int:
    from harness.report.html import write_html_report

    try:
        built = write_html_report([Path(p) for p in args.results], Path(args.output), args.title)
    except FileNotFoundError as exc:
        print(f"amq-harness: {exc} (run: pytest suites/ha)", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"amq-harness: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {built.path} ({built.results} results in {built.seconds:.1f} s)")
    if args.screenshot:
        from harness.report.browser import BrowserUnavailable, screenshot

        try:
            print(f"wrote {screenshot(built.path, Path(args.screenshot))} (headless Chromium)")
        except BrowserUnavailable as exc:
            print(f"amq-harness: no screenshot: {exc}", file=sys.stderr)
            return 2
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)


def _images_build(args: argparse.Namespace) -> int:
    from harness.images.build import ImageBuildError, ensure_images
    from harness.images.recipes import RecipeError
    from harness.runtime.engine import EngineUnavailable

    vendors = args.vendor or ["pybroker", "activemq"]
    started = time.monotonic()
    try:
        cache_dir = Path(args.cache_dir) if args.cache_dir else None
        _, outcomes = ensure_images(vendors, args.images, _progress, cache_dir)
    except (EngineUnavailable, ImageBuildError, RecipeError) as exc:
        print(f"amq-harness images build: {exc}", file=sys.stderr)
        return 2
    built = [o.name for o in outcomes if o.built]
    summary = f"built {', '.join(built)}" if built else "all up to date"
    print(f"images ready in {time.monotonic() - started:.1f} s ({summary}):", flush=True)
    for outcome in outcomes:
        print(f"  {outcome.name:9} {outcome.tag}")
    return 0


def _docker_prune(args: argparse.Namespace) -> int:
    from harness.runtime.docker_reaper import prune
    from harness.runtime.engine import EngineUnavailable, connect

    try:
        client = connect()
    except EngineUnavailable as exc:
        print(f"amq-harness docker prune: {exc}", file=sys.stderr)
        return 2
    removed = prune(client, everything=args.all, progress=_progress)
    print(f"removed {removed.summary()}" if removed.count else "nothing to remove")
    return 0


def _prune(args: argparse.Namespace) -> int:
    """Local leftovers (processes, directories) of recorded runs, then the Docker engine's."""
    from harness.runtime.engine import EngineUnavailable, connect
    from harness.runtime.leftovers import prune_local

    reaped = prune_local(everything=args.all, progress=_progress)
    processes = sum(len(r.processes) for r in reaped)
    directories = sum(len(r.directories) for r in reaped)
    print(f"local: removed {processes} processes and {directories} directories of {len(reaped)} runs")
    try:
        client = connect(timeout=30)
    except EngineUnavailable as exc:
        print(f"docker: skipped, {exc}")
        return 0
    from harness.runtime.docker_reaper import prune

    try:
        removed = prune(client, everything=args.all, progress=_progress)
    finally:
        client.close()
    print(f"docker: removed {removed.summary()}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from harness.errors import ScenarioError
    from harness.explore import topology_named, up
    from harness.runtime.choice import vendor_on
    from harness.vendors import VendorUnavailable
    from harness.vendors.selection import activemq_homes, vendor_choices

    try:
        topology = topology_named(args.topology, args.nodes, args.database)
        homes = (
            activemq_homes([args.activemq_home] if args.activemq_home else None) if args.vendor == "activemq" else []
        )
        [choice] = [c for c in vendor_choices([args.vendor], homes) if c == args.vendor]
        vendor = choice.vendor() if args.runtime == "local" else vendor_on(args.runtime, args.vendor)
        return up(topology, vendor, args.runtime, out=_progress)
    except (ScenarioError, VendorUnavailable) as exc:
        print(f"amq-harness up: {exc}", file=sys.stderr)
        return 2


def _fault(args: argparse.Namespace) -> int:
    from harness.explore import send_fault

    if args.for_s < 0:
        print(f"amq-harness fault: --for must be zero or more seconds, not {args.for_s:g}", file=sys.stderr)
        return 2
    accepted, message = send_fault(args.name, args.node, args.for_s)
    print(message if accepted else f"amq-harness fault: {message}", file=sys.stdout if accepted else sys.stderr)
    return 0 if accepted else 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker"]:
        # pybroker owns its own options; hand them over untouched.
        from harness.broker.cli import main as broker_main

        return broker_main(argv[1:])
    parser = argparse.ArgumentParser(prog="amq-harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("broker", help="run pybroker: amq-harness broker --config activemq.xml")
    from harness.explore import FAULTS, TOPOLOGIES

    up_cmd = commands.add_parser("up", help="start a cluster to explore by hand; Ctrl-C removes it")
    up_cmd.add_argument("topology", help=f"one of {', '.join(TOPOLOGIES)}")
    up_cmd.add_argument("--vendor", choices=["pybroker", "activemq"], default="pybroker")
    up_cmd.add_argument("--runtime", choices=["local", "docker"], default="local")
    up_cmd.add_argument("--nodes", type=int, default=2, help="brokers in the master/slave group (default 2)")
    up_cmd.add_argument("--database", default="postgresql", help="for jdbc: postgresql (default) or mariadb")
    up_cmd.add_argument("--activemq-home", help="an unpacked ActiveMQ Classic distribution (with --vendor activemq)")
    up_cmd.set_defaults(handler=_up)
    fault_cmd = commands.add_parser("fault", help="inject a fault into the cluster `amq-harness up` runs")
    fault_cmd.add_argument("name", choices=FAULTS)
    fault_cmd.add_argument("node", nargs="?", help="the node (kill, pause)")
    fault_cmd.add_argument("--for", dest="for_s", type=float, default=10.0, help="seconds until it heals (10)")
    fault_cmd.set_defaults(handler=_fault)

    report = commands.add_parser("report", help="reports from scenario results")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    compare = report_commands.add_parser("compare", help="vendor comparison table (Markdown, or JSON)")
    compare.add_argument("results", nargs="?", default="reports/results/results.jsonl")
    compare.add_argument("-o", "--output", help="write the table to this file instead of stdout")
    compare.add_argument("--format", choices=["markdown", "json"], default="markdown")
    compare.set_defaults(handler=_compare)
    html = report_commands.add_parser(
        "html", help="one self-contained HTML report: matrix, versions, failover distributions, timelines"
    )
    html.add_argument("results", nargs="+", help="results directories (or results.jsonl files); several are merged")
    html.add_argument("-o", "--output", default="reports/index.html")
    html.add_argument("--title", default="amq-harness report")
    html.add_argument("--screenshot", metavar="PNG", help="also save the top of the page as headless Chromium draws it")
    html.set_defaults(handler=_html)
    changes = report_commands.add_parser(
        "changes", help="what changed verdict between two result sets (e.g. last night against the night before)"
    )
    changes.add_argument("older", help="the earlier results directory or results.jsonl")
    changes.add_argument("newer", help="the later results directory or results.jsonl")
    changes.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    changes.add_argument("--format", choices=["markdown", "json"], default="markdown")
    changes.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a cell got worse")
    changes.set_defaults(handler=_changes)
    merge = report_commands.add_parser(
        "merge", help="one results directory from several (parallel jobs), histories copied along"
    )
    merge.add_argument("results", nargs="+", help="results directories (or results.jsonl files)")
    merge.add_argument("-o", "--output", required=True, help="the merged results directory")
    merge.set_defaults(handler=_merge)
    allure_meta = report_commands.add_parser(
        "allure-metadata", help="environment.properties and categories.json for merged allure results"
    )
    allure_meta.add_argument("results", nargs="+", help="the results directories the allure results came from")
    allure_meta.add_argument("-o", "--output", required=True, help="allure's results directory")
    allure_meta.set_defaults(handler=_allure_metadata)

    images = commands.add_parser("images", help="container images for --runtime docker")
    images_commands = images.add_subparsers(dest="images_command", required=True)
    build = images_commands.add_parser(
        "build", help="build the images (offline, from a Debian root file system); only what changed"
    )
    build.add_argument(
        "--vendor", action="append", choices=["pybroker", "activemq"], help="only this vendor's image (repeatable)"
    )
    build.add_argument(
        "--images",
        choices=["built", "official"],
        default="built",
        help="built: made here from Debian packages, no registry needed (default); official: pull "
        "apache/activemq-classic and python:3.11-slim from a registry",
    )
    build.add_argument("--cache-dir", help="where downloaded .deb files are kept (default: ~/.cache/amq-harness)")
    build.set_defaults(handler=_images_build)

    docker_cmd = commands.add_parser("docker", help="Docker housekeeping")
    docker_commands = docker_cmd.add_subparsers(dest="docker_command", required=True)
    prune = docker_commands.add_parser(
        "prune", help="remove containers, networks and volumes left by harness runs that are no longer running"
    )
    prune.add_argument("--all", action="store_true", help="also those of runs still going (stops them)")
    prune.set_defaults(handler=_docker_prune)

    prune_all = commands.add_parser(
        "prune",
        help="remove what harness runs that died left behind: processes and directories (checked by pid and "
        "start time, never by name), containers and networks",
    )
    prune_all.add_argument("--all", action="store_true", help="also what runs still going started (stops them)")
    prune_all.set_defaults(handler=_prune)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
