"""`record --config FILE` and `booktape config check`: one file, flags win, named errors."""

from __future__ import annotations

import pytest

import booktape
from booktape.errors import BadArgument
from booktape.service.config import Setting, apply_password, load_config

from .conftest import run_booktape

GOOD = """\
# booktape.toml
out = '{out}'
symbols = ["RIU2", "SiZ2"]
collector = "cfg"
topology = "sequential"

[thresholds]
rotate_every = "30m"
rotate_bytes = "256MB"
sync_every = "2s"

[sim]
seed = 7
lockstep = true

[mt5]
password = "hunter2-secret"

[publish]
url = "nats://127.0.0.1:4222"
stream = "DESK"
"""


def test_config_check_prints_effective_settings_with_secrets_masked(tmp_path):
    f = tmp_path / "booktape.toml"
    f.write_text(GOOD.format(out=tmp_path / "data"))
    p = run_booktape("config", "check", str(f), env={"BOOKTAPE_NATS_TOKEN": "tok-sekrit"},
                     check=True)
    out = p.stdout
    assert "hunter2" not in out + p.stderr and "tok-sekrit" not in out + p.stderr
    assert "mt5 password: set in" in out and "BOOKTAPE_NATS_TOKEN: set (********)" in out
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
            for line in out.splitlines() if line.startswith("│")}
    assert rows["--symbol"] == ["RIU2, SiZ2", "file, line 3"]
    assert rows["--rotate-every"] == ["30m", "file, line 8"]
    assert rows["--topology"] == ["sequential", "file, line 5"]
    assert rows["--publish"] == ["nats://127.0.0.1:4222", "file, line 20"]  # the [publish] section
    assert rows["--stream"] == ["DESK", "file, line 21"]
    assert rows["--duration"] == ["", "default"] and rows["--source"] == ["sim", "default"]


def test_config_check_env_password_is_masked(tmp_path):
    f = tmp_path / "b.toml"
    f.write_text('source = "sim"\n')
    p = run_booktape("config", "check", str(f), env={"BOOKTAPE_MT5_PASSWORD": "pw-in-env"},
                     check=True)
    assert "pw-in-env" not in p.stdout and "from $BOOKTAPE_MT5_PASSWORD (********)" in p.stdout


@pytest.mark.parametrize("text, expect", [
    ('out = 5\n', "key 'out' (line 1): must be a string, got 5"),
    ('out = "d"\ncolector = "x"\n', "key 'colector' (line 2): unknown key"),
    ('[thresholds]\nrotate_every = "soon"\n', "key 'thresholds.rotate_every' (line 2): use a number"),
    ('[thresholds]\nrotate_bytes = true\n', "key 'thresholds.rotate_bytes' (line 2): must be"),
    ('[sim]\nrate = "fast"\n', "key 'sim.rate' (line 2): must be a number"),
    ('[sim]\nlockstep = "yes"\n', "key 'sim.lockstep' (line 2): must be true or false"),
    ('symbols = "RIU2"\nsymbols2 = 1\n', "key 'symbols2' (line 2): unknown key"),
    ('symbols = [1, 2]\n', "key 'symbols' (line 1): must be a string"),
    ('topology = "tube"\n', "key 'topology' (line 1): 'tube' is not one of"),
    ('[mt5]\nlogin = "me"\n', "key 'mt5.login' (line 2): must be an integer"),
    ('[storage]\nout = "d"\n', "key 'storage' (line 1): unknown section [storage]"),
    ('collector = "a"\n[thresholds]\ncollector = "b"\n', "key 'thresholds.collector' (line 3): set twice"),
    ('out = "unterminated\n', "not valid TOML"),
    # A Windows path in double quotes: TOML reads \U and \d as escapes; the fix is named.
    ('out = "C:\\Users\\trader\\data"\n', "write it in 'single quotes'"),
    ('session = "moex-fort"\n', "unknown calendar 'moex-fort'"),
])
def test_config_check_bad_file_names_key_and_line_exit_2(tmp_path, text, expect):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    p = run_booktape("config", "check", str(f))
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith("Error: ") and expect in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_config_check_missing_file(tmp_path):
    p = run_booktape("config", "check", str(tmp_path / "nope.toml"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_record_takes_options_from_the_file_and_flags_override_them(tmp_path):
    data = tmp_path / "data"
    f = tmp_path / "booktape.toml"
    f.write_text(GOOD.format(out=data).split("[mt5]")[0])  # no bus for this one
    p = run_booktape("record", "--config", str(f), "--polls", "3000", "--collector", "flag",
                     "--json", check=True)
    assert '"topology": "sequential"' in p.stdout
    df = booktape.read(data)
    assert set(df["collector"].unique()) == {"flag"}  # the flag won over collector = "cfg"
    assert set(df["symbol"].unique()) == {"RIU2", "SiZ2"}  # the file's symbols
    # lockstep + seed 7 from the file: the same run again gives the same books.
    again = tmp_path / "again"
    run_booktape("record", "--out", str(again), "--symbol", "RIU2", "--symbol", "SiZ2",
                 "--sim-seed", "7", "--sim-lockstep", "--polls", "3000", "--collector", "flag",
                 "--topology", "sequential", "--quiet", check=True)
    a = df[df.symbol == "RIU2"][["seq", "price", "volume"]].reset_index(drop=True)
    b = booktape.read(again, symbol="RIU2")[["seq", "price", "volume"]].reset_index(drop=True)
    assert a.equals(b)


def test_record_with_a_bad_config_touches_nothing(tmp_path):
    data = tmp_path / "data"
    f = tmp_path / "b.toml"
    f.write_text(f"out = '{data}'\n[thresholds]\nrotate_every = 5.5\n")
    p = run_booktape("record", "--config", str(f), "--polls", "10")
    assert p.returncode == 2 and "key 'thresholds.rotate_every' (line 3)" in p.stderr
    assert not data.exists()


def test_mt5_password_from_the_file_goes_to_the_environment_only():
    s = {"mt5_password": Setting("mt5_password", "pw", "pw", "mt5.password", 3),
         "out": Setting("out", "d", "d", "out", 1)}
    env: dict[str, str] = {}
    apply_password(s, env)
    assert env == {"BOOKTAPE_MT5_PASSWORD": "pw"} and "mt5_password" not in s
    env = {"BOOKTAPE_MT5_PASSWORD": "from-env"}
    apply_password({"mt5_password": Setting("mt5_password", "pw", "pw", "mt5.password", 3)}, env)
    assert env == {"BOOKTAPE_MT5_PASSWORD": "from-env"}  # the environment wins


def test_load_config_library_rejects_keys_the_caller_does_not_offer(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('out = "d"\nsession = "always"\n')
    got = load_config(f, {"out": str, "session": str})
    assert {k: (v.value, v.line) for k, v in got.items()} == {"out": ("d", 1), "session": ("always", 2)}
    with pytest.raises(BadArgument, match="key 'session' \\(line 2\\): unknown key"):
        load_config(f, {"out": str})
