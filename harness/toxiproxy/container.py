"""The built-in Toxiproxy server in a container (the docker runtime's way to run it).

The container runs this checkout's ``harness`` package (mounted read-only; the server needs nothing
beyond the standard library) with the base image's python3, on the host's network: its proxies listen
where a local server's would, on a Docker network's gateway for brokers and on loopback for clients,
and reach brokers and databases the same way. It carries the run's owner labels, so the run's watchdog
and ``amq-harness docker prune`` remove it if the run dies.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import harness
from harness.runtime.docker_labels import LABEL_NODE, LABEL_RUN, NAME_PREFIX, RUN_ID, Owner
from harness.runtime.engine import connect, engine_address
from harness.runtime.run import register_docker_run
from harness.toxiproxy.links import LinkProxyError

log = logging.getLogger("harness.toxiproxy")

MOUNT = "/opt/amq-harness"


class ToxiproxyContainer:
    def __init__(self, image: str, host: str = "127.0.0.1", start_timeout_s: float = 60.0) -> None:
        self.client = connect()
        register_docker_run(RUN_ID, engine_address())  # before anything exists: a dying run's watchdog removes it
        source = Path(harness.__file__).resolve().parent
        self.container = self.client.containers.run(
            image,
            ["python3", "-m", "harness.toxiproxy", "--host", host, "--port", "0"],
            name=f"{NAME_PREFIX}-{RUN_ID[:6]}-toxiproxy-{os.urandom(2).hex()}",
            detach=True,
            init=True,
            network_mode="host",
            labels={**Owner.current().labels(), LABEL_RUN: RUN_ID, LABEL_NODE: "toxiproxy"},
            volumes={str(source): {"bind": f"{MOUNT}/harness", "mode": "ro"}},
            environment={"PYTHONPATH": MOUNT, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        deadline = time.monotonic() + start_timeout_s
        while True:
            output = self.container.logs().decode(errors="replace")
            listening = [line for line in output.splitlines() if line.startswith("listening ")]
            if listening:
                self.url = "http://" + listening[0].split()[1]
                break
            self.container.reload()
            if self.container.status == "exited" or time.monotonic() > deadline:
                self.close()
                raise LinkProxyError(f"the toxiproxy container did not start; it said:\n{output[-2000:]}")
            time.sleep(0.1)
        log.info("toxiproxy container %s serves %s", self.container.name, self.url)

    def close(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception as exc:  # already gone (a prune), or the engine went away: nothing left to do here
            log.debug("toxiproxy container not removed: %s", exc)
        finally:
            self.client.close()

    def __enter__(self) -> ToxiproxyContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
