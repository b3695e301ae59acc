"""The ``amq-harness`` command: run pybroker, and turn scenario results into reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _compare(args: argparse.Namespace) -> int:
    from harness.report.compare import comparison_markdown
    from harness.report.results import read_results

    try:
        results = read_results(Path(args.results))
    except FileNotFoundError:
        print(f"amq-harness: no results at {args.results} (run: pytest suites/ha)", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"amq-harness: {exc}", file=sys.stderr)
        return 2
    text = comparison_markdown(results)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(results)} results)")
    else:
        print(text, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker"]:
        # pybroker owns its own options; hand them over untouched.
        from harness.broker.cli import main as broker_main

        return broker_main(argv[1:])
    parser = argparse.ArgumentParser(prog="amq-harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("broker", help="run pybroker: amq-harness broker --config activemq.xml")
    report = commands.add_parser("report", help="reports from scenario results")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    compare = report_commands.add_parser("compare", help="vendor comparison table (Markdown)")
    compare.add_argument("results", nargs="?", default="reports/results/results.jsonl")
    compare.add_argument("-o", "--output", help="write the table to this file instead of stdout")
    compare.set_defaults(handler=_compare)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
