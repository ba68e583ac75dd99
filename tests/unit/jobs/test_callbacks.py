"""JobProgressCallback inside a real transformers Trainer: metrics, progress, checkpoints, cancel, resume."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs import JobContext, JobStatus, JobStore
from core.jobs.context import DbSink
from core.jobs.records import JobRecord

REPO = Path(__file__).resolve().parents[3]


def test_callbacks_module_imports_without_transformers():
    code = (
        "import sys, core.jobs, core.jobs.callbacks, core.jobs.worker, core.jobs.demo, core.jobs.view; "
        "print(sorted({'torch', 'transformers', 'streamlit'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_trainer_callback_streams_and_cancels(rs_home):
    torch = pytest.importorskip("torch")
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from core.jobs.callbacks import JobProgressCallback, trainer_logs_to_scalars

    assert trainer_logs_to_scalars({"loss": 1, "lr": torch.tensor(0.5), "flag": True, "name": "x"}) == {
        "loss": 1.0,
        "lr": 0.5,
    }
    store = JobStore()
    store.create(
        JobRecord(
            id="tr",
            type="x",
            config={},
            status=JobStatus.RUNNING,
            created_at=time.time(),
            run_dir=str(rs_home),
        )
    )
    ctx = JobContext("tr", sink=DbSink(store, "tr", 1), run_dir=rs_home)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 1)

        def forward(self, x, labels):
            return {"loss": torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), labels)}

    g = torch.Generator().manual_seed(0)
    data = [{"x": torch.randn(4, generator=g), "labels": torch.randn((), generator=g)} for _ in range(64)]

    class PressCancelAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                store.update("tr", cancel_requested=True)

    def trainer(cbs):
        args = TrainingArguments(
            output_dir=str(rs_home / "out"),
            max_steps=6,
            logging_steps=1,
            save_steps=100,
            per_device_train_batch_size=4,
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        return Trainer(model=Tiny(), args=args, train_dataset=data, callbacks=cbs)

    # the cancelling callback runs before ours in the same step, like a user pressing Cancel mid-step
    t = trainer([PressCancelAtStep3(), JobProgressCallback(ctx)])
    t.train()
    assert t.state.global_step == 3 and ctx.stop_observed
    evs = store.events("tr")
    assert [e.data["step"] for e in evs if e.kind == "progress"] == [1, 2, 3]
    assert {"loss", "learning_rate"} <= set(next(e for e in evs if e.kind == "metric").data["values"])
    ckpt = ctx.last_checkpoint()
    assert ckpt is not None and ckpt.name == "checkpoint-3" and ckpt.is_dir()

    store.update("tr", cancel_requested=False)  # what resume() does; the new attempt gets a new context
    ctx2 = JobContext("tr", sink=DbSink(store, "tr", 2), run_dir=rs_home, attempt=2, resume_from=ckpt)
    t2 = trainer([JobProgressCallback(ctx2)])
    # the checkpoint saved on cancel stores should_training_stop=True; restoring it must not stop the new run
    t2.args.restore_callback_states_from_checkpoint = True
    t2.train(resume_from_checkpoint=str(ctx2.last_checkpoint()))
    assert t2.state.global_step == 6
    assert [e.data["step"] for e in store.events("tr") if e.kind == "progress"] == [1, 2, 3, 4, 5, 6]


def test_processes_started_by_a_job_attach_to_it(rs_home):
    """`accelerate launch` ranks: rank 0 emits into the job's log, every rank sees the cancel flag."""
    import os

    store = JobStore()
    store.create(
        JobRecord(
            id="mg",
            type="x",
            config={},
            status=JobStatus.RUNNING,
            created_at=time.time(),
            run_dir=str(rs_home),
        )
    )
    store.update("mg", cancel_requested=True)
    code = (
        "import os; from core.jobs.context import attach_context; ctx = attach_context(); "
        "ctx.emit_metric(1, rank=int(os.environ['RANK'])); print(ctx.should_stop(), ctx.attempt)"
    )
    outs = []
    for rank in ("0", "1"):
        env = dict(
            os.environ,
            RANK=rank,
            REASONSCOPE_JOB_ID="mg",
            REASONSCOPE_JOB_ATTEMPT="2",
            REASONSCOPE_JOB_SINK="db",
            REASONSCOPE_JOB_RUN_DIR=str(rs_home),
        )
        outs.append(
            subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.split()
        )
    assert outs == [["True", "2"], ["True", "2"]]
    metrics = store.events("mg", kinds=["metric"])
    assert [(e.data["values"], e.attempt) for e in metrics] == [({"rank": 0.0}, 2)]
