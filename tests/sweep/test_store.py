"""Results file: records round-trip, a line cut short by a kill is skipped, concurrent appends never interleave."""
import json
import math
import multiprocessing

import pytest

from dualgan.sweep import ResultsStore, RunConfig, RunRecord


def _record(i: int, status: str = "ok") -> RunRecord:
    cfg = RunConfig("standard_gan", "ring5", 3, i, (("lr", 1e-3 * (i + 1)),))
    return RunRecord(cfg.run_id, cfg, {"modes_covered": float(i % 6), "final_objective": 0.1 * i + 1e-17},
                     0.5 + i, status)


def test_record_round_trip(tmp_path):
    store = ResultsStore(tmp_path / "sub" / "r.jsonl")
    assert store.records() == []
    records = [_record(i) for i in range(3)] + [RunRecord("x" * 16, _record(9).config, {"m": math.nan}, math.nan,
                                                          "error: RuntimeError: boom")]
    for r in records:
        store.append(r)
    back = store.records()
    assert [b.run_id for b in back] == [r.run_id for r in records]
    assert back[:3] == records[:3]  # floats survive exactly (JSON repr round trip)
    assert math.isnan(back[3].metrics["m"]) and math.isnan(back[3].seconds) and back[3].errored
    lines = (tmp_path / "sub" / "r.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["format"] == "dualgan.RunRecord/1" for line in lines)


def test_truncated_last_line_is_skipped_and_next_append_starts_a_new_line(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(_record(0))
    full = _record(1).to_json()
    with open(store.path, "a") as f:
        f.write(full[: len(full) // 2])  # a writer killed mid-line
    assert [r.run_id for r in store.records()] == [_record(0).run_id]
    store.append(_record(2))
    with pytest.warns(RuntimeWarning, match="skipping an unreadable line"):  # now a damaged line in the middle
        assert [r.run_id for r in store.records()] == [_record(0).run_id, _record(2).run_id]


def _writer(path: str, start: int, n: int) -> None:
    store = ResultsStore(path)
    for i in range(start, start + n):
        store.append(_record(i))


def test_concurrent_appends_from_two_processes(tmp_path):
    path = str(tmp_path / "r.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 1000, 150)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = open(path).read().splitlines()
    assert len(lines) == 300
    ids = [json.loads(line)["run_id"] for line in lines]  # every line parses: no interleaving
    assert set(ids) == {_record(i).run_id for k in range(2) for i in range(k * 1000, k * 1000 + 150)}
