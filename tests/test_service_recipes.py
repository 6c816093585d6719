"""The unattended-running recipes in docs/service/: they parse, verify, and their commands run."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs" / "service"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
# The console script pip installs: bin/booktape beside python (venv), Scripts\booktape.exe
# on Windows.
BOOKTAPE = shutil.which("booktape", path=sysconfig.get_path("scripts")) or str(
    Path(sys.executable).with_name("booktape"))


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "booktape.toml"
    cfg.write_text(f"out = '{tmp_path / 'data'}'\n"
                   'symbols = ["RIU2"]\ntopology = "sequential"\n'
                   f'session = "always"\n')
    return cfg


def _local_unit(tmp_path: Path, text: str, cfg: Path) -> Path:
    unit = tmp_path / "booktape.service"
    unit.write_text(text.replace("/srv/booktape/.venv/bin/booktape", BOOKTAPE)
                    .replace("WorkingDirectory=/srv/booktape", f"WorkingDirectory={tmp_path}")
                    .replace("/etc/booktape/booktape.toml", str(cfg)))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (apt-get install systemd)")
def test_systemd_unit_verifies_clean_and_its_command_records(tmp_path):
    text = (DOCS / "booktape.service").read_text()
    cfg = _config(tmp_path)
    unit = _local_unit(tmp_path, text, cfg)
    p = _verify(unit)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    # The check can fail: a bad directive or a missing program is reported.
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "restart specifier" in _verify(bad).stderr
    bad.write_text(unit.read_text().replace(BOOKTAPE, "/nonexistent/booktape"))
    assert _verify(bad).returncode != 0
    # What the unit promises: SIGTERM drains and seals, bad config is not restarted.
    keys = dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))
    assert keys["Restart"] == "on-failure" and keys["RestartPreventExitStatus"] == "2"
    assert keys["KillSignal"] == "SIGTERM" and int(keys["TimeoutStopSec"]) >= 60
    # Its ExecStart really records (bounded here by --duration).
    cmd = shlex.split(unit.read_text().split("\nExecStart=", 1)[1].splitlines()[0])
    r = subprocess.run([*cmd, "--duration", "2s", "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list((tmp_path / "data").glob("symbol=RIU2/date=*/collector=zero/part-*.parquet"))


def test_windows_task_xml_parses_with_restart_and_its_command_records(tmp_path):
    root = ET.parse(DOCS / "booktape-task.xml").getroot()
    assert root.tag == f"{{{NS['t']}}}Task"
    s = root.find("t:Settings", NS)
    assert s.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert s.findtext("t:ExecutionTimeLimit", namespaces=NS) == "PT0S"  # no time limit
    assert s.findtext("t:DisallowStartIfOnBatteries", namespaces=NS) == "false"
    rf = s.find("t:RestartOnFailure", NS)
    assert rf.findtext("t:Interval", namespaces=NS) == "PT1M" and int(rf.findtext("t:Count", namespaces=NS)) > 100
    trig = root.find("t:Triggers", NS)
    assert trig.find("t:BootTrigger", NS) is not None
    assert trig.findtext("t:CalendarTrigger/t:Repetition/t:Interval", namespaces=NS) == "PT5M"
    ex = root.find("t:Actions/t:Exec", NS)
    assert ex.findtext("t:Command", namespaces=NS).endswith("booktape.exe")
    args = ex.findtext("t:Arguments", namespaces=NS)
    assert args.startswith("record --config ")
    # The same arguments, with this machine's paths, really record.
    cfg = _config(tmp_path)
    argv = args.replace("C:\\booktape\\booktape.toml", str(cfg)).split()
    r = subprocess.run([BOOKTAPE, *argv, "--duration", "2s", "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list((tmp_path / "data").glob("symbol=RIU2/date=*/collector=zero/part-*.parquet"))
