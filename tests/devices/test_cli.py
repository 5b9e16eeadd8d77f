"""`tinycim device fit` and `tinycim device plot` end to end on a tiny file."""

from __future__ import annotations

import json

import pytest

from tinycim.cli import main
from tinycim.devices import PCMDevice, from_file
from tinycim.devices.measurements import sample_measurements, write_measurements


def test_fit_writes_device_and_plot_then_plot_reads_it(tmp_path, capsys, one_thread):
    m = sample_measurements(PCMDevice(), [0.0, 2.5, 10.0, 25.0], [0.0, 60.0, 3600.0, 86400.0], 60, seed=0)
    csv = write_measurements(tmp_path / "m.csv", m)
    out = tmp_path / "dev.json"
    main(["device", "fit", str(csv), "--out", str(out), "--model", "pcm", "--bootstrap", "2", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in summary["params"]} >= {"prog_noise_c0", "drift_mu_a", "read_noise_q"}
    assert (tmp_path / "dev_fit.png").stat().st_size > 0
    device = from_file(out)
    assert device.kind == "pcm" and device.g_max_us == 25.0
    main(["device", "plot", str(out), "--out", str(tmp_path / "p.png"), "--cells", "200", "--times", "0s,1d"])
    assert (tmp_path / "p.png").stat().st_size > 0


def test_fit_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "m.csv"
    bad.write_text("cell,target_us,t_s,g_us\na,1,0,1\nb,1,0,1\n")
    with pytest.raises(SystemExit) as err:
        main(["device", "fit", str(bad), "--out", str(tmp_path / "d.json")])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "column target_us has 1 level(s) only" in lines[0]
