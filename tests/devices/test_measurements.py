"""The measurement format: round trip and one-line errors naming row and column."""

from __future__ import annotations

import numpy as np
import pytest

from tinycim.devices import PCMDevice
from tinycim.devices.measurements import read_measurements, sample_measurements, write_measurements
from tinycim.errors import DataError

GOOD = "cell,target_us,t_s,g_us\na,1.0,0,1.1\na,1.0,60,1.0\nb,5.0,0,4.9\nb,5.0,60,4.7\n"


def _write(tmp_path, text, name="m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_round_trip_keeps_every_value(tmp_path):
    m = sample_measurements(PCMDevice(), [0.0, 5.0, 25.0], [0.0, 3600.0], 30, seed=3)
    back = read_measurements(write_measurements(tmp_path / "m.csv", m))
    assert back.rows == m.rows == 180 and back.n_cells == 90
    np.testing.assert_array_equal(back.g_us, m.g_us)
    np.testing.assert_array_equal(back.target_us, m.target_us)
    np.testing.assert_array_equal(back.cell, m.cell)
    assert list(back.levels_us) == [0.0, 5.0, 25.0] and list(back.times_s) == [0.0, 3600.0]


def test_reader_accepts_any_column_order_and_temperature(tmp_path):
    path = _write(tmp_path, "g_us,temperature_c,t_s,cell,target_us\n1.1,25,0,a,1\n4.9,25,0,b,5\n")
    m = read_measurements(path)
    assert m.cell_ids == ("a", "b") and m.temperature_c.tolist() == [25.0, 25.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cell,target_us,t_s\na,1,0\n", "missing column(s) g_us"),
        (GOOD.replace("b,5.0,0,4.9", "b,5.0,0,-4.9"), "row 3, column g_us: -4.9 is negative"),
        (GOOD.replace("a,1.0,60,1.0", "a,1.0,60,nan"), "row 2, column g_us: 'nan' is not a finite number"),
        (GOOD.replace("b,5.0,60,4.7", "b,5.0,60,inf"), "row 4, column g_us: 'inf' is not a finite number"),
        (GOOD.replace("a,1.0,0,1.1", "a,-1.0,0,1.1"), "row 1, column target_us: -1.0 is negative"),
        (GOOD.replace("b,5.0,60,4.7", "b,5.0,-60,4.7"), "row 4, column t_s: -60.0 is negative"),
        ("cell,g_us\na,1\n", "missing column(s) target_us, t_s"),
        (GOOD.replace("a,1.0,60,1.0", "a,1.0,60,"), "row 2, column g_us: '' is not a number"),
        (GOOD.replace("b,5.0,60,4.7", "b,5.0,abc,4.7"), "row 4, column t_s: 'abc' is not a number"),
        (GOOD.replace("b,5.0", "b,1.0"), "column target_us has 1 level(s) only"),
        (GOOD.replace("a,1.0,60,1.0", "a,2.0,60,1.0"), "row 2, column target_us: cell 'a' has target 2 uS"),
        ("cell,target_us,t_s,g_us\n", "no data rows"),
    ],
)
def test_bad_files_get_one_line_naming_row_and_column(tmp_path, text, expected):
    with pytest.raises(DataError) as err:
        read_measurements(_write(tmp_path, text))
    message = str(err.value)
    assert expected in message and "\n" not in message and "m.csv" in message


def test_parquet_needs_pyarrow_or_round_trips(tmp_path):
    m = sample_measurements(PCMDevice(), [1.0, 5.0], [0.0], 5, seed=0)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="needs pyarrow"):
            write_measurements(tmp_path / "m.parquet", m)
        (tmp_path / "x.parquet").write_bytes(b"PAR1")
        with pytest.raises(DataError, match="needs pyarrow"):
            read_measurements(tmp_path / "x.parquet")
        return
    back = read_measurements(write_measurements(tmp_path / "m.parquet", m))
    np.testing.assert_array_equal(back.g_us, m.g_us)


def test_bad_parquet_rows_are_named_like_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "cell": ["a", "a", "b"],
            "target_us": [1.0, 1.0, 5.0],
            "t_s": [0.0, 60.0, 0.0],
            "g_us": [1.1, None, 4.9],
        }
    )
    pq.write_table(table, tmp_path / "m.parquet")
    with pytest.raises(DataError) as err:
        read_measurements(tmp_path / "m.parquet")
    assert "m.parquet: row 2, column g_us: None is not a finite number" in str(err.value)
    assert "\n" not in str(err.value)
