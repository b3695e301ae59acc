"""Opening a report in a real browser: Debian's headless Chromium, for the DOM after scripts ran and a screenshot.

Chromium is run as a child in a session of its own with a throwaway profile, and the whole session is
killed if it overstays, so no renderer or zygote process outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.runtime.run import register_process

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class BrowserUnavailable(RuntimeError):
    pass


def find_chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(
        "no Chromium on PATH (looked for " + ", ".join(CANDIDATES) + "): run scripts/setup.sh as root, "
        "or apt-get install -y chromium"
    )


def _run(argv: list[str], timeout: float) -> str:
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        register_process(proc.pid, "chromium")  # reaped by the watchdog if the run dies meanwhile
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BrowserUnavailable(f"chromium did not finish within {timeout:.0f} s: {' '.join(argv)}") from None
        finally:
            # Whatever is left in chromium's session (everything after a timeout, nothing normally) goes.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0:
        raise BrowserUnavailable(f"chromium exited with {proc.returncode}: {err.strip()[-800:]}")
    return out


def _argv(chromium: str, profile: str, width: int, height: int) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",  # as root (CI), chromium refuses to start with its sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]


def dump_dom(page: Path, timeout: float = 60) -> str:
    """The page's DOM as serialised by Chromium after loading it and running its scripts."""
    with tempfile.TemporaryDirectory(prefix="amqh-chromium-") as profile:
        return _run([*_argv(find_chromium(), profile, 1400, 1000), "--dump-dom", page.resolve().as_uri()], timeout)


def screenshot(page: Path, output: Path, width: int = 1400, height: int = 1800, timeout: float = 60) -> Path:
    """A PNG of the top of the page as Chromium draws it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="amqh-chromium-") as profile:
        argv = [*_argv(find_chromium(), profile, width, height), f"--screenshot={output.resolve()}"]
        _run([*argv, page.resolve().as_uri()], timeout)
    if not output.is_file():
        raise BrowserUnavailable(f"chromium wrote no screenshot at {output}")
    return output
