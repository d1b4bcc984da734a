"""Results file: records round-trip, a line cut short by a kill is skipped, concurrent appends never interleave."""
import json
import math
import multiprocessing

import pytest

from dualgan.status import Status, StatusCode
from dualgan.sweep import ResultsStore, RunConfig, RunRecord


def _record(i: int, status: Status = Status.ok()) -> RunRecord:
    cfg = RunConfig("standard_gan", "ring5", 3, i, (("generator_lr", 1e-3 * (i + 1)),))
    return RunRecord(cfg.run_id, cfg, {"modes_covered": float(i % 6), "final_objective": 0.1 * i + 1e-17},
                     0.5 + i, status)


def test_record_round_trip(tmp_path):
    store = ResultsStore(tmp_path / "sub" / "r.jsonl")
    assert store.records() == []
    records = [_record(i) for i in range(3)] + [RunRecord("x" * 16, _record(9).config, {"m": math.nan}, math.nan,
                                                          Status(StatusCode.ERROR, "RuntimeError: boom"))]
    for r in records:
        store.append(r)
    back = store.records()
    assert [b.run_id for b in back] == [r.run_id for r in records]
    assert back[:3] == records[:3]  # floats survive exactly (JSON repr round trip)
    assert math.isnan(back[3].metrics["m"]) and math.isnan(back[3].seconds) and back[3].errored
    lines = (tmp_path / "sub" / "r.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["format"] == "dualgan.RunRecord/2" for line in lines)
    assert json.loads(lines[3])["status"] == {"code": "error", "message": "RuntimeError: boom"}
    assert back[3].status == records[3].status and back[0].status.success


@pytest.mark.parametrize("status,match", [
    ("ok", "status must be"),
    ({"code": "fine", "message": ""}, "unknown status code 'fine'"),
    ({"code": "success"}, "status must be"),
    ({"code": "success", "message": 3}, "status must be"),
])
def test_free_text_or_unknown_statuses_are_refused_on_load(status, match):
    payload = json.loads(_record(0).to_json())
    payload["status"] = status
    with pytest.raises(ValueError, match=match):
        RunRecord.from_json(json.dumps(payload))


def test_records_refuse_a_status_that_is_not_a_status():
    with pytest.raises(TypeError, match="RunRecord.status must be a dualgan.status.Status"):
        _record(0, status="ok")


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
