"""Job event latency: from ``ctx.emit_metric`` in a worker process to a read in another process.

Also: submit → worker running → first metric, and the cost of one event append. The browser adds
its poll period (``core.jobs.view.POLL_RUNNING_S``) on top of the cross-process figure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["REASONSCOPE_HOME"] = home
        from core.jobs import JobStore, get_backend
        from core.jobs.records import JobRecord, JobStatus
        from core.jobs.view import POLL_RUNNING_S

        backend = get_backend("local")
        t_submit = time.time()
        job = backend.submit("demo.probe_sweep", {"steps": 100, "step_delay_s": 0.05})
        lags, since, t_running, t_first = [], 0, None, None
        while True:
            evs = backend.store.events(job, since)
            now = time.time()
            for e in evs:
                if e.kind == "metric":
                    lags.append(now - e.ts)
                    t_first = t_first or e.ts
                if e.kind == "status" and e.data["status"] == "running":
                    t_running = e.ts
            since = evs[-1].seq if evs else since
            if evs and evs[-1].kind == "status" and evs[-1].data["status"] != "running":
                break
            time.sleep(0.002)
        lags.sort()
        print("\n## Job events: worker emit_metric -> visible to another process (2 ms polling reader)")
        print(
            f"  metrics {len(lags)}  median {statistics.median(lags) * 1000:.1f} ms  "
            f"p95 {lags[int(0.95 * len(lags)) - 1] * 1000:.1f} ms  max {lags[-1] * 1000:.1f} ms"
        )
        print(
            f"  browser worst case ≈ max + poll period {POLL_RUNNING_S:.1f} s = "
            f"{lags[-1] + POLL_RUNNING_S:.2f} s"
        )
        print(
            f"  submit -> running {(t_running - t_submit) * 1000:.0f} ms; submit -> first metric "
            f"{(t_first - t_submit) * 1000:.0f} ms (worker start-up)"
        )
        store = JobStore()
        store.create(
            JobRecord(
                id="bench",
                type="t",
                config={},
                status=JobStatus.RUNNING,
                created_at=time.time(),
                run_dir=home,
            )
        )
        n, t0 = 500, time.perf_counter()
        for i in range(n):
            store.append("bench", "metric", {"step": i, "values": {"loss": 1.0}})
        print(f"  one event append (WAL, synchronous=NORMAL): {(time.perf_counter() - t0) / n * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
