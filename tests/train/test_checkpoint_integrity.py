"""Checkpoint files: damage is refused before anything changes, write failures name the file, temporaries of
killed saves are removed, histories are standard JSON (issue 24, section 5).

The references are independent of the library's reader: the flipped or zeroed bytes are chosen here, the
expected shapes and digests recomputed here (hashlib, torch), and the JSON is parsed by a strict parser that
refuses the tokens NaN and Infinity.
"""
import errno
import hashlib
import json
import math
import os
import resource
import signal
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from dualgan._io import atomic_write_bytes, clean_stale_temporaries
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import CheckpointError, History, StandardLinearGAN, mlp_generator, read_checkpoint, \
    write_checkpoint

DATA = ring(5, radius=2.0, std=0.3)
FEATS = RBF(DATA.sample(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.3)


def _fresh():
    return StandardLinearGAN(mlp_generator(seed=5, output_gain=3.0, dtype=torch.float64), FEATS, C=1e-3,
                             latent_dim=2, batch_size=8, seed=0)


def _snapshot(gan):
    return ([p.detach().clone() for p in gan.generator.parameters()], gan.iteration, len(gan.history),
            gan._rng.get_state().clone(), {k: v for k, v in gan.gen_optimizer.state_dict()["state"].items()})


def _unchanged(gan, snap):
    params, iteration, rows, rng, opt = snap
    return (all(torch.equal(p, q) for p, q in zip(params, gan.generator.parameters()))
            and gan.iteration == iteration and len(gan.history) == rows
            and torch.equal(gan._rng.get_state(), rng) and gan.gen_optimizer.state_dict()["state"].keys() == opt.keys())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    gan = _fresh()
    gan.fit(DATA, 4, checkpoint_path=path)
    return path


def test_file_layout_is_a_digest_header_over_a_torch_archive(checkpoint):
    data = checkpoint.read_bytes()
    first, second, body = data.split(b"\n", 2)
    assert first == b"dualgan checkpoint 2"
    word, digest, length = second.split(b" ")
    assert word == b"sha256" and int(length) == len(body)
    assert digest.decode() == hashlib.sha256(body).hexdigest()  # recomputed here
    assert body.startswith(b"PK\x03\x04")  # a torch (zip) archive
    assert torch.load(__import__("io").BytesIO(body), weights_only=True)["iteration"] == 4


def _first_float64_offset(data: bytes, gan) -> tuple[int, float]:
    """Offset in the file of the first float64 of the generator's first weight (found by its 8 bytes)."""
    first = next(iter(gan.generator.state_dict().values())).flatten()[0].item()
    offset = data.find(struct.pack("<d", first))
    assert offset > 0
    return offset, first


def test_the_issues_flip_bit_0x40_of_a_float64_top_byte_is_refused(tmp_path, checkpoint):
    data = bytearray(checkpoint.read_bytes())
    ref = _fresh().load_checkpoint(checkpoint)
    offset, value = _first_float64_offset(bytes(data), ref)
    data[offset + 7] ^= 0x40  # the top byte (little endian): the exponent's high bit, off by ~1e306
    flipped = struct.unpack("<d", bytes(data[offset:offset + 8]))[0]
    assert abs(flipped - value) > 1e300  # the damage the issue measured, recomputed here
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(data))
    gan = _fresh()
    snap = _snapshot(gan)
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        gan.load_checkpoint(path)
    assert _unchanged(gan, snap)


def test_100_random_bit_flips_and_20_zeroed_blocks_are_all_refused_before_anything_changes(tmp_path, checkpoint):
    data = checkpoint.read_bytes()
    rng = np.random.default_rng(24)
    damaged = []
    for _ in range(100):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        damaged.append(bytes(b))
    for _ in range(20):
        b = bytearray(data)
        start = int(rng.integers(0, len(b) - 1))
        b[start:start + 4096] = bytes(len(b[start:start + 4096]))
        if bytes(b) == data:  # a block that was already zero is no damage; zero the start of the file
            b[:4096] = bytes(4096)
        damaged.append(bytes(b))
    gan = _fresh()
    gan.fit(DATA, 2)  # a trainer with state of its own, which a refused load must keep
    snap = _snapshot(gan)
    path = tmp_path / "damaged.pt"
    for k, b in enumerate(damaged):
        assert b != data
        path.write_bytes(b)
        with pytest.raises(CheckpointError, match="corrupt|not a checkpoint"):
            gan.load_checkpoint(path)
        assert _unchanged(gan, snap), k
    gan.load_checkpoint(checkpoint)  # the undamaged file still loads
    assert gan.iteration == 4


def test_a_bare_torch_archive_of_an_older_version_loads_with_a_warning(tmp_path, checkpoint):
    payload = read_checkpoint(checkpoint)
    legacy = tmp_path / "legacy.pt"
    torch.save(payload, legacy)
    with pytest.warns(UserWarning, match="no content digest"):
        gan = _fresh().load_checkpoint(legacy)
    assert gan.iteration == 4


def _edited(tmp_path, checkpoint, edit):
    payload = read_checkpoint(checkpoint)
    edit(payload)
    path = tmp_path / "edited.pt"
    write_checkpoint(path, payload)  # a valid digest: only the content checks can refuse it
    return path


def _drop_objective(p):
    p["history"]["columns"].pop("objective")


def _adam_state_of_wrong_shape(p):
    state = p["gen_optimizer"]["state"]
    key = next(iter(state))
    state[key]["exp_avg"] = torch.zeros(state[key]["exp_avg"].numel() + 1, dtype=torch.float64)


def _unlisted_optimizer_entry(p):
    p["gen_optimizer"]["state"][999] = {"step": torch.tensor(1.0)}


def _two_d_history_column(p):
    col = p["history"]["columns"]["objective"]
    p["history"]["columns"]["objective"] = [[v] for v in col]


@pytest.mark.parametrize("edit,match", [
    (_drop_objective, r"lacks the column\(s\) \['objective'\]"),
    (_adam_state_of_wrong_shape, r"'exp_avg' of parameter 0 has shape \(\d+,\), but this Adam needs"),
    (_unlisted_optimizer_entry, "parameter 999"),
    (_two_d_history_column, "column 'objective' holds"),
])
def test_edited_checkpoints_are_refused_naming_what_is_wrong(tmp_path, checkpoint, edit, match):
    gan = _fresh()
    snap = _snapshot(gan)
    with pytest.raises(CheckpointError, match=match):
        gan.load_checkpoint(_edited(tmp_path, checkpoint, edit))
    assert _unchanged(gan, snap)


def test_adam_state_shapes_are_checked_against_the_parameters(checkpoint):
    """The reference: every exp_avg / exp_avg_sq of a loaded checkpoint has its parameter's shape (torch's rule)."""
    payload = read_checkpoint(checkpoint)
    gan = _fresh()
    shapes = [tuple(p.shape) for p in gan.generator.parameters()]
    for k, entry in payload["gen_optimizer"]["state"].items():
        assert tuple(entry["exp_avg"].shape) == shapes[k] == tuple(entry["exp_avg_sq"].shape)
    gan.load_checkpoint(checkpoint)
    gan.fit(DATA, 5)  # the unedited state trains on
    assert gan.status.success


# ---------------------------------------------------------------------------------------- write failures
@pytest.fixture
def file_size_limit():
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk (RLIMIT_FSIZE; SIGXFSZ ignored)."""
    if not hasattr(signal, "SIGXFSZ"):
        pytest.skip("RLIMIT_FSIZE needs POSIX signals")
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limit(nbytes):
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, old[1]))

    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_full_disk_during_a_checkpoint_save_is_an_oserror_naming_the_path(tmp_path, file_size_limit):
    gan = _fresh()
    gan.fit(DATA, 2)
    path = tmp_path / "ck.pt"
    gan.save_checkpoint(path)
    before = path.read_bytes()
    gan.fit(DATA, 3)
    file_size_limit(4096)
    try:
        with pytest.raises(OSError) as info:
            gan.save_checkpoint(path)
    finally:
        file_size_limit(resource.RLIM_INFINITY)
    assert not isinstance(info.value, RuntimeError)
    assert info.value.errno == errno.EFBIG and str(path) in str(info.value)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary left
    assert _fresh().load_checkpoint(path).iteration == 2


def test_a_full_disk_during_a_history_save_is_an_oserror_naming_the_path(tmp_path, file_size_limit):
    h = History()
    for t in range(2000):
        h.append(iteration=t, objective=float(t))
    for suffix in (".json", ".npz"):
        path = tmp_path / f"h{suffix}"
        file_size_limit(1024)
        try:
            with pytest.raises(OSError, match="cannot write") as info:
                h.save(path)
        finally:
            file_size_limit(resource.RLIM_INFINITY)
        assert info.value.filename == str(path)
        assert not path.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------- stale temporaries
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_saves_are_removed_by_the_next_save_and_load(tmp_path, checkpoint):
    path = tmp_path / "ck.pt"
    dead = _dead_pid()
    stale = tmp_path / f".ck.pt.{dead}.abcd1234.tmp"
    alive = tmp_path / f".ck.pt.{os.getppid()}.abcd1234.tmp"  # a writer still running: left alone
    other = tmp_path / f".other.pt.{dead}.abcd1234.tmp"  # another file's temporary: left alone
    unrelated = tmp_path / "ck.pt.tmp"
    for p in (stale, alive, other, unrelated):
        p.write_bytes(b"x" * 100)
    gan = _fresh()
    gan.fit(DATA, 1)
    gan.save_checkpoint(path)
    assert not stale.exists() and alive.exists() and other.exists() and unrelated.exists()
    stale.write_bytes(b"x")
    old = tmp_path / ".ck.pt.abcd1234.tmp"  # an older version's temporary (no pid), two hours old
    old.write_bytes(b"x")
    os.utime(old, (os.path.getmtime(old) - 7200,) * 2)
    _fresh().load_checkpoint(path)
    assert not stale.exists() and not old.exists() and alive.exists()
    assert clean_stale_temporaries(tmp_path / "other.pt") == [other]


def test_a_save_killed_by_sigkill_leaves_a_temporary_that_the_next_load_removes(tmp_path):
    path = tmp_path / "big.pt"
    code = ("import os, signal\n"
            "import dualgan._io as io_\n"  # the writer under every checkpoint, without torch's import time
            "def killed(*a):\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            "io_.os.replace = killed\n"  # SIGKILLed after the temporary is complete, before the rename
            f"io_.atomic_write_bytes({str(path)!r}, bytes(100000))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".big.pt.") and left[0].endswith(".tmp")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------- histories
def _strict_json(text):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_history_with_infinities_is_standard_json_and_reads_back_exactly(tmp_path):
    h = History(meta={"radius": math.inf, "floor": -math.inf, "scale": math.nan, "name": "inf"})
    for t, v in enumerate([1.0, math.inf, -math.inf, math.nan, -0.0, 5e-324, 1.7976931348623157e308]):
        h.append(iteration=t, objective=v)
    h.add_array("lam", np.array([[math.inf, math.nan], [-math.inf, 2.0]]))
    path = tmp_path / "h.json"
    h.save(path)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    raw = _strict_json(text)  # a strict parser: the file is RFC 8259 JSON
    assert raw["columns"]["objective"][1:4] == ["inf", "-inf", None]
    back = History.load(path)
    assert back == h
    assert back.meta["radius"] == math.inf and back.meta["floor"] == -math.inf and math.isnan(back.meta["scale"])
    assert back.meta["name"] == "inf"  # a string setting stays a string
    got, ref = back["objective"], np.array([1.0, math.inf, -math.inf, math.nan, -0.0, 5e-324, 1.7976931348623157e308])
    assert np.array_equal(got, ref, equal_nan=True) and math.copysign(1, got[4]) == -1
    npz = tmp_path / "h.npz"
    h.save(npz)
    assert History.load(npz) == h


@pytest.mark.parametrize("edit,match", [
    (lambda d: d["arrays"]["lam"].update(shape=[-1]), r"array 'lam' has shape \[-1\]"),
    (lambda d: d["arrays"]["lam"].update(shape=[3]), r"array 'lam' has shape \[3\] for 4 values"),
    (lambda d: d["columns"].update(objective=[[1.0, 2.0], [3.0, 4.0]]), r"column 'objective' holds \[1.0, 2.0\]"),
    (lambda d: d["columns"].update(objective=["1.0", 2.0]), r"column 'objective' holds '1.0' in row 0"),
    (lambda d: d["columns"].update(objective=[True, 2.0]), r"column 'objective' holds True"),
    (lambda d: d["columns"].update(objective=3.0), r"column 'objective' is float"),
    (lambda d: d["columns"].update(objective=[1.0]), "different lengths"),
])
def test_history_load_refuses_malformed_columns_naming_them(tmp_path, edit, match):
    h = History()
    h.append(iteration=0, objective=1.0)
    h.append(iteration=1, objective=2.0)
    h.add_array("lam", np.arange(4.0).reshape(2, 2))
    data = h.to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        History.load(path)


def test_history_npz_refuses_a_two_dimensional_column(tmp_path):
    path = tmp_path / "bad.npz"
    meta = json.dumps({"format": "dualgan.History/1", "meta": {}, "columns": ["objective"]})
    with open(path, "wb") as fh:
        np.savez(fh, **{"col:objective": np.ones((3, 2)), "__meta__": np.array(meta)})
    with pytest.raises(ValueError, match=r"column 'objective' has shape \[3, 2\]"):
        History.load(path)


def test_history_written_by_an_older_version_with_infinity_tokens_still_loads(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"format": "dualgan.History/1", "meta": {}, "columns": {"objective": [1.0, Infinity, null]}, '
                    '"arrays": {}}')
    assert np.array_equal(History.load(path)["objective"], [1.0, math.inf, math.nan], equal_nan=True)


# ---------------------------------------------------------------------------------------- other checkpoint files
def test_game_run_checkpoints_carry_the_digest_and_refuse_flipped_bits(tmp_path):
    from dualgan.games import BilinearGame, make_optimizer, random_matrix, run_optimizer

    def fresh():
        return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)

    ck = tmp_path / "game.pt"
    run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1), 4, checkpoint_path=ck, checkpoint_every=2)
    data = ck.read_bytes()
    assert data.startswith(b"dualgan checkpoint 2\n")
    rng = np.random.default_rng(7)
    bad = tmp_path / "bad.pt"
    for _ in range(10):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(b))
        game = fresh()
        before = game.get_flat().clone()
        with pytest.raises(CheckpointError, match="corrupt|not a checkpoint"):
            run_optimizer(game, make_optimizer("simultaneous", lr=0.1), 6, resume_from=bad)
        assert torch.equal(game.get_flat(), before)


def test_a_damaged_classifier_cache_is_rebuilt_not_used(tmp_path, monkeypatch):
    import dualgan.features.classifier as classifier

    trained = []

    def fake_training(model, seed, epochs):  # the real training is tested in tests/features
        trained.append(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.25)
        model.held_out_accuracy = 0.5

    monkeypatch.setattr(classifier, "_train_digits", fake_training)
    classifier.digits_classifier(seed=3, epochs=1, cache_dir=tmp_path)
    path, = tmp_path.glob("*.pt")
    classifier.digits_classifier(seed=3, epochs=1, cache_dir=tmp_path)
    assert trained == [3]  # the intact cache is used
    data = bytearray(path.read_bytes())
    offset = data.find(struct.pack("<f", 0.25))
    data[offset + 3] ^= 0x40  # a float32 weight's exponent: 0.25 -> about 8.5e37
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        model = classifier.digits_classifier(seed=3, epochs=1, cache_dir=tmp_path)
    assert trained == [3, 3]  # rebuilt
    assert all(bool((p == 0.25).all()) for p in model.parameters())


def _wrong_moment_shape(state: dict, field: str) -> None:
    """Make the first per-parameter moment ``field`` one entry longer than its parameter (the issue's edit)."""
    entry = next(iter(state["state"].values()))
    entry[field] = torch.zeros(entry[field].numel() + 1, dtype=entry[field].dtype)


def test_standard_gan_discriminator_adam_state_of_the_wrong_shape_is_refused(tmp_path, checkpoint):
    def edit(p):
        _wrong_moment_shape(p["extra"]["disc_optimizer"], "exp_avg_sq")

    gan = _fresh()
    snap = _snapshot(gan)
    with pytest.raises(CheckpointError, match=r"discriminator optimiser state 'exp_avg_sq' of parameter 0"):
        gan.load_checkpoint(_edited(tmp_path, checkpoint, edit))
    assert _unchanged(gan, snap) and gan.w is None


def test_game_trainer_base_optimizer_state_of_the_wrong_shape_is_refused(tmp_path):
    from torch import nn

    from dualgan.games import GameTrainer

    def make():
        torch.manual_seed(0)
        g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
        d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
        return GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer="simultaneous",
                           optimizer_options={"lr": 1e-2, "base": "adam"})

    trainer = make()
    path = tmp_path / "game.pt"
    trainer.fit(DATA, 2, checkpoint_path=path)
    payload = read_checkpoint(path)
    _wrong_moment_shape(payload["extra"]["optimizer"]["base"], "exp_avg")
    write_checkpoint(tmp_path / "bad.pt", payload)
    fresh = make()
    with pytest.raises(CheckpointError, match=r"base optimiser state 'exp_avg' of parameter 0 has shape"):
        fresh.load_checkpoint(tmp_path / "bad.pt")
    assert fresh.iteration == 0
    fresh.load_checkpoint(path)  # the unedited file loads and trains on
    fresh.fit(DATA, 3)
    assert fresh.status.success


def test_game_run_resume_refuses_a_base_optimizer_state_of_the_wrong_shape(tmp_path):
    from dualgan.games import BilinearGame, make_optimizer, random_matrix, run_optimizer

    def fresh():
        return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)

    ck = tmp_path / "game.pt"
    run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1, base="adam"), 4, checkpoint_path=ck,
                  checkpoint_every=2)
    payload = read_checkpoint(ck)
    _wrong_moment_shape(payload["optimizer"]["base"], "exp_avg")
    write_checkpoint(tmp_path / "bad.pt", payload)
    game = fresh()
    before = game.get_flat().clone()
    with pytest.raises(CheckpointError, match=r"base optimiser state 'exp_avg' of parameter 0 has shape"):
        run_optimizer(game, make_optimizer("simultaneous", lr=0.1, base="adam"), 6, resume_from=tmp_path / "bad.pt")
    assert torch.equal(game.get_flat(), before)  # refused before the game changed
    resumed = run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1, base="adam"), 6, resume_from=ck)
    assert resumed.status.success and resumed.steps == 6


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_history_files_with_a_flipped_bit_are_refused_or_read_unchanged(tmp_path, suffix):
    h = History(meta={"trainer": "x", "radius": math.inf})
    for t in range(40):
        h.append(iteration=t, objective=math.sin(t) * 10.0 ** (t % 7 - 3), inner_gap=1e-12 * t)
    h.add_array("lam", np.linspace(0, 1, 12).reshape(3, 4))
    path = tmp_path / f"h{suffix}"
    h.save(path)
    data = path.read_bytes()
    rng = np.random.default_rng(5)
    bad = tmp_path / f"bad{suffix}"
    refused = 0
    for _ in range(100):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(b))
        try:
            got = History.load(bad)
        except ValueError:
            refused += 1
            continue
        assert got == h  # a flip that changes nothing read (zip bookkeeping, JSON spacing) is harmless
    # JSON: refused by the digest or a parse error, except a flip in a 17th digit that names the same double
    # (0.18181818181818182 -> ...83); npz: the zip's CRC-32 refuses every flip of the data, and a flip of
    # bookkeeping the reader does not use leaves what is read unchanged
    assert refused >= (95 if suffix == ".json" else 75)
    assert History.load(path) == h


def test_history_json_digest_changes_with_one_digit(tmp_path):
    h = History()
    h.append(iteration=0, objective=0.125)
    path = tmp_path / "h.json"
    h.save(path)
    text = path.read_text()
    assert '"sha256"' in text and "0.125" in text
    path.write_text(text.replace("0.125", "0.126"))  # valid JSON, a different number
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        History.load(path)
