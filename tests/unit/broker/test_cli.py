"""CLI: configuration problems exit with status 2 and one clear line on stderr, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.broker.cli import main

CONFIG = """<broker brokerName="cli" persistent="true">
  <persistenceAdapter><kahaDB directory="{store}"/></persistenceAdapter>
  <transportConnectors><transportConnector name="stomp" uri="stomp://127.0.0.1:{port}"/></transportConnectors>
  {extra}
</broker>"""


def write_config(tmp_path: Path, port: int = 61613, extra: str = "") -> Path:
    path = tmp_path / "activemq.xml"
    path.write_text(CONFIG.format(store=tmp_path / "store", port=port, extra=extra))
    return path


def test_unsupported_element_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, extra="<systemUsage/>")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: <systemUsage> is not supported by pybroker yet" in err
    assert "Traceback" not in err
    assert not (tmp_path / "store").exists()


def test_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "none.xml")]) == 2
    assert "config file does not exist" in capsys.readouterr().err


def test_port_in_use_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = write_config(tmp_path, port=port)
        assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "store" / "lock").exists()  # failed before touching the store


def test_config_option_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_replication_routes_need_a_replicated_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYBROKER_REPLICATION_ROUTES", "127.0.0.1:5001=127.0.0.1:6001")
    assert main(["--config", str(write_config(tmp_path))]) == 2
    assert "PYBROKER_REPLICATION_ROUTES is set, but the store is not <replicatedLevelDB>" in capsys.readouterr().err
