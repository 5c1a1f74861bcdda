"""The local process pool of a sweep: points run in worker processes that die with the sweep.

Each worker is spawned (so none inherits a started thread pool), takes one point at a time over a pipe,
and runs it on one thread. A worker watches its parent (PR_SET_PDEATHSIG on Linux, and a thread that polls
its parent's id elsewhere), so a sweep killed with SIGKILL leaves none training: each gets SIGTERM,
checkpoints the update it is on and exits. A worker that dies fails its point in one line (the next run
of the command resumes it) and the others go on. On Ctrl-C or SIGTERM no new point starts: every worker is
told, checkpoints and exits, and any that has not within a few seconds is killed, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import connection

from seqmem.run import signals

GRACE_SECONDS = 10.0  # for a worker to finish its update and write its checkpoint, once told to stop
SECOND_GRACE_SECONDS = 3.0  # after a second Ctrl-C or SIGTERM: the workers stop at once
PR_SET_PDEATHSIG = 1


def one_thread() -> None:
    """One PyTorch thread a worker: two workers on two cores each with two threads would compete."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch  # after the line above: OpenMP reads it when PyTorch loads

    torch.set_num_threads(1)


def die_with(parent: int) -> None:
    """SIGTERM to this process when `parent` dies: the kernel's signal on Linux, a polling thread anywhere."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def no_process_locks() -> None:
    """tqdm's lock as a thread lock: its default also makes a multiprocessing lock, a named semaphore that
    Python's resource tracker reports as leaked ("leaked semaphore objects", two lines on stderr) when the
    worker is killed. A worker's bars are off, and it shares no terminal lock with anyone."""
    from tqdm.auto import tqdm  # it looks for IPython: loaded only in a worker, not for --help

    tqdm.set_lock(threading.RLock())


def worker(fn, conn, parent: int) -> None:
    """A worker's life: points from the pipe until told to stop (None), its parent is gone, or a signal.
    It ends quietly on a signal: the training loop has checkpointed, the parent says what happened."""
    die_with(parent)
    signals.install()  # outside training a signal ends the worker; inside, the loop checkpoints first
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals.SIGNALS)  # held while it started
    try:
        one_thread()
        no_process_locks()
        while True:
            job = conn.recv()
            if job is None:
                return
            try:
                result = fn(job)
            except KeyboardInterrupt:
                conn.send({"name": job[0], "status": "stopped"})
                return
            conn.send(result)
    except (KeyboardInterrupt, EOFError, OSError):
        return
    finally:
        for s in signals.SIGNALS:  # nothing after this point may print a traceback
            signal.signal(s, signal.SIG_IGN)


class ProcessPool:
    """Points run in up to `workers` local processes at once, each on one thread."""

    def __init__(self, workers: int = 2):
        self.workers = workers

    def run(self, fn, jobs):
        """Yield each job's result (a dict with `name` and `status`) as it comes."""
        context = multiprocessing.get_context("spawn")
        queue, busy, idle = list(jobs), {}, []  # busy: process -> (conn, job)
        procs: dict = {}  # process -> conn

        def start():
            parent_end, child_end = context.Pipe()
            process = context.Process(target=worker, args=(fn, child_end, os.getpid()), daemon=True)
            held = signal.pthread_sigmask(signal.SIG_BLOCK, signals.SIGNALS)  # the child starts with them held
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            child_end.close()
            procs[process] = parent_end
            idle.append(process)

        try:
            for _ in range(min(self.workers, len(queue))):
                start()
            while queue or busy:
                while queue and idle:
                    process = idle.pop()
                    job = queue.pop(0)
                    try:
                        procs[process].send(job)
                        busy[process] = job
                    except OSError:  # it died while idle: the job fails in one line (a rerun resumes it)
                        procs.pop(process).close()
                        yield {"name": job[0], "status": "failed", "error": f"its worker {died(process)} before "
                                                                           "it began; run the same command again"}
                if not busy:
                    if queue:
                        start()
                    continue
                waiting = {procs[p]: p for p in busy} | {p.sentinel: p for p in busy}
                for ready in connection_wait(list(waiting)):
                    process = waiting[ready]
                    if process not in busy:
                        continue
                    result = receive(procs[process]) if ready is procs[process] else None
                    job = busy.pop(process)
                    if result is not None and result.get("status") != "stopped":
                        idle.append(process)
                        yield result
                        continue
                    process.join(1.0)  # it died, or a signal to it alone stopped it
                    procs.pop(process).close()
                    how = "was stopped by a signal" if result is not None else died(process)
                    yield {"name": job[0], "status": "failed", "error": f"its worker {how}; run the same command "
                                                                       "again to resume it from its last checkpoint"}
                    if queue:
                        start()
        except BaseException:  # Ctrl-C, SIGTERM, or the consumer's own error: stop every worker now
            stop(list(procs))
            raise
        finally:
            for conn in procs.values():
                with contextlib.suppress(OSError):
                    conn.send(None)
                conn.close()
            finish(list(procs), GRACE_SECONDS)


def connection_wait(objects):
    return connection.wait(objects)


def receive(conn) -> dict | None:
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def died(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return "stopped" if code is None else f"exited with code {code}"


def stop(processes) -> None:
    """Tell every worker to checkpoint and stop (SIGTERM; a Ctrl-C reached them with the process group too,
    and a copy of one signal is taken as one request), then wait for them, killing any that hangs."""
    signal_all(processes)
    try:
        finish(processes, GRACE_SECONDS)
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: the workers stop at once
        signal_all(processes)
        with contextlib.suppress(KeyboardInterrupt):
            finish(processes, SECOND_GRACE_SECONDS)
        finish(processes, 0)
        raise


def signal_all(processes) -> None:
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGTERM)


def finish(processes, seconds: float) -> None:
    """Wait up to `seconds` for the workers to exit; kill those that have not."""
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(5.0)
