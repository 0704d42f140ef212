import csv
import math
import subprocess
import sys

import torch

from faceblur_cli.train import TrainConfig, Trainer
from faceblur_cli.weights import export_generator, load_checkpoint, load_generator


def _cfg(data, out, steps):
    return TrainConfig(
        data=[str(data)],
        out=str(out),
        preset="lite",
        steps=steps,
        batch=2,
        crop=64,
        warmup_steps=1,
        critic_width=8,
        val_every=2,
        val_images=2,
        ckpt_every=100,
        log_every=1,
        workers=0,
        holdout_fraction=0.3,
        generator_overrides={"width": 4, "levels": 2, "refine_width": 4},
    )


def test_tiny_run_resume_and_export(face_dir, tmp_path):
    cfg = _cfg(face_dir, tmp_path / "a", 4)
    cfg.snapshots = True
    res = Trainer(cfg).run()
    assert res["step"] == 4
    assert all(math.isfinite(v) for v in res["losses"].values())
    assert {"critic", "gp", "adversarial", "perceptual", "content"} <= set(res["losses"])
    assert (tmp_path / "a" / "checkpoint.pt").exists() and (tmp_path / "a" / "config.json").exists()
    rows = list(csv.DictReader(open(tmp_path / "a" / "val.csv")))
    assert rows and float(rows[-1]["blurry_psnr"]) > 10

    first = Trainer(_cfg(face_dir, tmp_path / "b", 2))
    first.run()
    resumed = Trainer(_cfg(face_dir, tmp_path / "b", 4), resume=True)
    assert resumed.step == 2
    resumed.run()
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k
    for k in a["critic"]:
        assert torch.equal(a["critic"][k], b["critic"][k]), k
    # --snapshots: a verified release at every validation, the last one the final generator
    snaps = sorted((tmp_path / "a" / "snapshots").glob("*.pth"))
    assert [p.name for p in snaps] == ["step_0000002.pth", "step_0000004.pth"]
    last = load_generator(snaps[-1])
    assert all(torch.equal(v, a["generator"][k]) for k, v in last.state_dict().items())

    release = tmp_path / "release.pth"
    digest = export_generator(tmp_path / "a" / "checkpoint.pt", release)
    blob = torch.load(release, map_location="cpu", weights_only=True)
    assert blob["config"]["width"] == 4 and blob["meta"]["step"] == 4
    assert (tmp_path / "release.pth.sha256").read_text().startswith(digest)
    model = load_generator(release)
    x = torch.rand(1, 3, 30, 42) * 2 - 1
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_torchrun_two_cpu_processes_gloo(face_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "faceblur_cli",
        "train",
        "--data",
        str(face_dir),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch",
        "2",
        "--crop",
        "48",
        "--perceptual-weight",
        "0",
        "--critic-width",
        "8",
        "--val-images",
        "0",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--log-every",
        "1",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", **__import__("os").environ}
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2


def test_resume_takes_new_learning_rate(face_dir, tmp_path):
    Trainer(_cfg(face_dir, tmp_path / "r", 1)).run()
    cfg = _cfg(face_dir, tmp_path / "r", 2)
    cfg.lr = 3e-5
    resumed = Trainer(cfg, resume=True)
    assert resumed.step == 1
    assert all(g["lr"] == 3e-5 for opt in (resumed.opt_g, resumed.opt_d) for g in opt.param_groups)


def test_sigterm_to_worker_then_main_still_saves(face_dir, tmp_path):
    """`pkill -f "faceblur train"` signals the data worker too; the run must still save and exit cleanly."""
    import os
    import signal
    import time

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "faceblur_cli", "train", "--data", str(face_dir), "--out", str(out)]
    cmd += ["--steps", "100000", "--batch", "2", "--crop", "32", "--perceptual-weight", "0"]
    cmd += ["--adversarial-weight", "0", "--val-images", "0", "--workers", "1", "--log-every", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    deadline = time.time() + 120
    while not (out / "train.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    # Worker first, then the main process a moment later: the order that used to lose the run.
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "expected a data-loading worker process"
    for pid in children:
        os.kill(int(pid), signal.SIGTERM)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGTERM)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, log[-2000:]
    assert "Traceback" not in log and "interrupted at step" in log
    assert load_checkpoint(out / "checkpoint.pt")["step"] >= 1


def test_cosine_schedule_is_a_function_of_the_step(face_dir, tmp_path):
    from faceblur_cli.train import learning_rate

    cfg = _cfg(face_dir, tmp_path / "c", 4)
    cfg.lr_schedule = "cosine"
    assert learning_rate(cfg, 0) == cfg.lr
    assert learning_rate(cfg, 2) < cfg.lr and math.isclose(learning_rate(cfg, 4), cfg.lr / 100)
    Trainer(cfg).run()
    rows = list(csv.DictReader(open(tmp_path / "c" / "train.csv")))
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] == cfg.lr
    cfg.lr_schedule = "linear"
    import pytest

    with pytest.raises(ValueError, match="lr-schedule"):
        Trainer(cfg)


def test_init_from_grows_a_model_and_rejects_misfits(face_dir, tmp_path):
    import pytest

    small = _cfg(face_dir, tmp_path / "small", 1)
    small.generator_overrides = {"width": 4, "levels": 2, "refine_width": 0}
    Trainer(small).run()
    src = tmp_path / "small" / "checkpoint.pt"
    release = tmp_path / "small.pth"
    export_generator(src, release)
    for init in (src, release):
        cfg = _cfg(face_dir, tmp_path / "grown", 1)
        cfg.generator_overrides = {"width": 4, "levels": 2, "refine_width": 4}
        cfg.init_from = str(init)
        grown = Trainer(cfg)
        assert grown.step == 0
        old = load_checkpoint(src)["generator"]
        for k, v in old.items():
            assert torch.equal(grown.generator.state_dict()[k], v), k
    cfg = _cfg(face_dir, tmp_path / "wide", 1)
    cfg.generator_overrides = {"width": 8, "levels": 2, "refine_width": 0}
    cfg.init_from = str(src)
    with pytest.raises(ValueError, match="do not fit"):
        Trainer(cfg)


def test_teacher_distillation_logs_its_term_and_provenance(face_dir, tmp_path):
    import json

    import pytest

    Trainer(_cfg(face_dir, tmp_path / "t", 1)).run()
    export_generator(tmp_path / "t" / "checkpoint.pt", tmp_path / "teacher.pth")
    cfg = _cfg(face_dir, tmp_path / "s", 2)
    cfg.teacher, cfg.teacher_weight = str(tmp_path / "teacher.pth"), 0.5
    res = Trainer(cfg).run()
    assert res["losses"]["teacher"] > 0 and 0 < res["losses"]["share_teacher"] < 1
    env = json.loads((tmp_path / "s" / "config.json").read_text())["environment"]
    assert env["teacher_sha256"] == (tmp_path / "teacher.pth.sha256").read_text().split()[0]
    cfg = _cfg(face_dir, tmp_path / "u", 1)
    cfg.teacher_weight = 0.5
    with pytest.raises(ValueError, match="--teacher"):
        Trainer(cfg)


def test_init_from_deepens_a_trained_refiner_without_changing_its_output(tmp_path):
    """--refine-depth with --init-from: the added refiner layers start as identity, so the grown
    model's output equals the old one's (and the refiner really contributes to that output)."""
    from faceblur_cli.models.generator import Generator, preset
    from faceblur_cli.train import init_generator
    from faceblur_cli.weights import RELEASE_FORMAT

    torch.manual_seed(0)
    small = {"width": 4, "levels": 2, "refine_width": 4, "refine_depth": 2}
    src = Generator(preset("lite", **small)).eval()
    torch.nn.init.normal_(src.refine.out.weight, std=0.1)  # a trained refiner: its output is not zero
    path = tmp_path / "src.pth"
    torch.save({"format": RELEASE_FORMAT, "state_dict": src.state_dict()}, path)
    deep = Generator(preset("lite", **{**small, "refine_depth": 4})).eval()
    init_generator(deep, path)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(deep(x), src(x), atol=1e-6)
        torch.nn.init.zeros_(src.refine.out.weight)
        torch.nn.init.zeros_(src.refine.out.bias)
        assert not torch.allclose(deep(x), src(x), atol=1e-4)  # the refiner mattered


def test_ema_is_released_validated_and_resumed_exactly(face_dir, tmp_path):
    """--ema: the average (not the raw weights) is what snapshots, exports and --init-from take, a
    resume restores it (not a fresh copy of the raw weights) and reaches the same average."""
    cfg = _cfg(face_dir, tmp_path / "a", 4)
    cfg.ema, cfg.snapshots = 0.5, True
    straight = Trainer(cfg)
    before = {k: v.clone() for k, v in straight.ema.state_dict().items()}
    assert all(torch.equal(v, straight.generator.state_dict()[k]) for k, v in before.items())
    straight.run()
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    moved = [k for k in a["generator"] if not torch.equal(a["generator"][k], a["generator_ema"][k])]
    assert moved, "the average should lag the raw weights"

    first_cfg = _cfg(face_dir, tmp_path / "b", 2)
    first_cfg.ema = 0.5
    Trainer(first_cfg).run()
    resumed_cfg = _cfg(face_dir, tmp_path / "b", 4)
    resumed_cfg.ema = 0.5
    resumed = Trainer(resumed_cfg, resume=True)
    assert not all(torch.equal(v, resumed.generator.state_dict()[k]) for k, v in resumed.ema.state_dict().items())
    resumed.run()
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for key in ("generator", "generator_ema"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)

    snap = load_generator(tmp_path / "a" / "snapshots" / "step_0000004.pth")
    assert all(torch.equal(v, a["generator_ema"][k]) for k, v in snap.state_dict().items())
    export_generator(tmp_path / "a" / "checkpoint.pt", tmp_path / "r.pth")
    released = load_generator(tmp_path / "r.pth")
    assert all(torch.equal(v, a["generator_ema"][k]) for k, v in released.state_dict().items())
    grown_cfg = _cfg(face_dir, tmp_path / "c", 1)
    grown_cfg.init_from = str(tmp_path / "a" / "checkpoint.pt")
    grown = Trainer(grown_cfg)
    assert all(torch.equal(v, a["generator_ema"][k]) for k, v in grown.generator.state_dict().items())


def test_weight_ema_update_rule():
    from faceblur_cli.ema import WeightEMA

    net = torch.nn.Linear(3, 2)
    ema = WeightEMA(net, 0.9)
    old = ema.model.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.model.weight, 0.9 * old + 0.1 * net.weight)
    assert not ema.model.weight.requires_grad
    for bad in (0.0, 1.0):
        try:
            WeightEMA(net, bad)
        except ValueError:
            continue
        raise AssertionError(f"decay {bad} accepted")


def test_config_kept_on_resume_and_a_run_restarts_from_its_file(face_dir, tmp_path):
    import json

    from faceblur_cli.cli import main_argv

    Trainer(_cfg(face_dir, tmp_path / "a", 2)).run()
    first = (tmp_path / "a" / "config.json").read_text()
    Trainer(_cfg(face_dir, tmp_path / "a", 3), resume=True).run()
    assert (tmp_path / "a" / "config.json").read_text() == first  # the start is never overwritten
    log = (tmp_path / "a" / "train.log").read_text()
    assert "val step 2" in log and "[bold]" not in log  # the trainer's own log, plain text
    again = json.loads((tmp_path / "a" / "config.resume-1.json").read_text())
    assert again["config"]["steps"] == 3
    env = json.loads(first)["environment"]
    assert len(env["commit"] or "x" * 40) == 40 and "init_from_sha256" in env
    # the same run from its file, into another folder, with one option changed on the command line
    assert main_argv(["train", "--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "b")]) == 0
    b = json.loads((tmp_path / "b" / "config.json").read_text())["config"]
    a = json.loads(first)["config"]
    assert b["out"] == str(tmp_path / "b") and {k: v for k, v in b.items() if k != "out"} == {
        k: v for k, v in a.items() if k != "out"
    }
    # a file's switch can be turned off on the command line (--amp in a file, --no-amp typed)
    on = json.loads(first)
    on["config"]["amp"] = True
    (tmp_path / "amp.json").write_text(json.dumps(on))
    assert main_argv(["train", "--config", str(tmp_path / "amp.json"), "--out", str(tmp_path / "c"), "--no-amp"]) == 0
    assert json.loads((tmp_path / "c" / "config.json").read_text())["config"]["amp"] is False
