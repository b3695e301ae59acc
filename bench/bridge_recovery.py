"""How long a static: bridge takes to carry messages again after a cut, as a function of the cut's
length, each vendor in one run, local runtime.

fan_out(1, producer_pair=False, bridge_links=True): amq2's duplex static:(amq1) connector through the
link proxy "amq2->amq1", both vendors at ActiveMQ's reconnect defaults. For each cut length the link
goes down (connections closed, new ones refused) for that long and comes back; the figure is the time
from the heal to the first message sent on amq1 after it that amq2's consumer receives (bench/network.py's
measurement, a fresh queue each time). Before each cut the bridge has been up for longer than
minConnectTime, so every cut starts the schedule afresh.

A cut of 0 s is a reset: the bridge's connections are closed and the link takes new ones at once (the
proxy disabled and enabled again back to back), so the figure is the bridge noticing its connection
closed plus the first reconnect attempt, which both vendors make initialReconnectDelay (1 s) after a
bridge that was up longer than minConnectTime fails: no attempt at once.

Printed per cut: each vendor's figure, the pybroker/ActiveMQ ratio, and what the schedule alone predicts
(the first attempt at or after the heal, attempts failing at once while the link is down: 1, 3, 7, 15,
31 s after the bridge fell). A cut that ends just as an attempt is made races it: either figure is
right. Recovery after a long cut is bounded by the back-off's current delay (30 s at most), for both
vendors.

    PYTHONPATH=. python bench/bridge_recovery.py
    PYTHONPATH=. python bench/bridge_recovery.py --cuts 0 1 2 3 5 10 20 --rounds 2 --vendor pybroker
    PYTHONPATH=. python bench/bridge_recovery.py --cuts 0 --rounds 5     # the reset alone
    PYTHONPATH=. python bench/bridge_recovery.py --uri-options 'useExponentialBackOff=false'

``--uri-options`` puts discovery agent options on the static: URI of both vendors (what a user who
wants a bridge back within about a second after any cut can configure; the defaults stay ActiveMQ's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from urllib.parse import parse_qsl

from bench.network import bridge_recovery_s, load_average, with_cluster
from harness.broker.config.network import Reconnect, parse_reconnect
from harness.broker.network.reconnect import ReconnectSchedule
from harness.cluster import Cluster
from harness.topology import Topology, fan_out
from harness.vendors import get_vendor


def topology(uri_options: tuple[tuple[str, str], ...] = ()) -> Topology:
    return fan_out(1, producer_pair=False, bridge_links=True, uri_options=uri_options)


# Longer than minConnectTime (5 s): a bridge that failed sooner would count as a failed connection and
# the next cut would start from a longer delay.
SETTLE_S = 6.0


def predicted_recovery_s(cut_s: float, policy: Reconnect) -> float:
    """Heal to the first attempt at or after it, if the bridge falls at the cut's start and every
    attempt while the link is down fails at once."""
    now = [0.0]
    schedule = ReconnectSchedule(policy, lambda: now[0])
    schedule.started = -3600.0  # the bridge had been up for long
    while True:
        delay = schedule.failed()
        if delay is None:
            return float("inf")
        now[0] += delay / 1000.0
        if now[0] >= cut_s:
            return now[0] - cut_s
        schedule.attempt()


def describe(cut_s: float) -> str:
    return "reset (connections closed, link open at once)" if cut_s == 0 else f"cut {cut_s:g} s"


def sweep(vendor: str, shape: Topology, cuts: list[float], round_no: int) -> dict[float, float]:
    figures: dict[float, float] = {}

    def body(cluster: Cluster) -> None:
        for i, cut in enumerate(cuts):
            time.sleep(SETTLE_S)
            queue = f"/queue/bench.recovery.{round_no}.{i}"
            figures[cut] = bridge_recovery_s(cluster, cut_s=cut, timeout=cut + 90.0, queue=queue)
            again = f"carries messages again {figures[cut]:.2f} s after the heal"
            print(f"{vendor}: {describe(cut)} -> {again} ({load_average()})", flush=True)

    with_cluster(vendor, shape, body)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cuts", type=float, nargs="+", default=[0, 1, 2, 3, 5, 10, 20], help="cut lengths (s); 0 is a reset"
    )
    parser.add_argument("--rounds", type=int, default=1, help="sweeps per vendor, alternating the vendors")
    parser.add_argument("--vendor", action="append", help="pybroker and/or activemq (default: both)")
    parser.add_argument("--uri-options", default="", help="static: URI options, e.g. 'maxReconnectDelay=2000'")
    args = parser.parse_args(argv)
    vendors = args.vendor or ["pybroker", "activemq"]
    options = tuple(parse_qsl(args.uri_options))
    policy = parse_reconnect(dict(options), "--uri-options")
    shape = topology(options)
    print(f"static: options {args.uri_options or '(ActiveMQ defaults)'}: {policy}")
    for vendor in vendors:
        reason = get_vendor(vendor).unsupported_reason(shape)
        if reason:
            print(f"{vendor}: unsupported ({reason})")
            return 1
    results: dict[str, dict[float, list[float]]] = {v: {c: [] for c in args.cuts} for v in vendors}
    for round_no in range(args.rounds):
        order = vendors if round_no % 2 == 0 else list(reversed(vendors))
        for vendor in order:
            for cut, figure in sweep(vendor, shape, args.cuts, round_no).items():
                results[vendor][cut].append(figure)
    print()
    header = f"{'cut (s)':>8} {'schedule':>9} " + " ".join(f"{v:>10}" for v in vendors)
    if len(vendors) == 2:
        header += f" {vendors[0] + '/' + vendors[1]:>18}"
    print(header + f"   (seconds from the heal to the first delivery; median of the rounds; {load_average()})")
    for cut in args.cuts:
        medians = [statistics.median(results[v][cut]) for v in vendors]
        label = "0 (reset)" if cut == 0 else f"{cut:g}"
        line = f"{label:>8} {predicted_recovery_s(cut, policy):>9.2f} " + " ".join(f"{m:>10.2f}" for m in medians)
        if len(vendors) == 2:
            ratio = medians[0] / medians[1] if medians[1] > 0 else float("inf")
            line += f" {ratio:>18.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
