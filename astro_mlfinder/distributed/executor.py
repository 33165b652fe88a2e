"""Run independent tasks on Dask: local threads or processes, or a dask.distributed cluster.

`TaskRunner.map` is the one way a tiled run or a survey runs its tasks; a
progress bar (`astro_mlfinder.core.progress`) counts finished tasks. Dask is
imported only here, when tasks run.
"""

from ..core.progress import progress_bar

__all__ = ["TaskRunner", "get_client"]


def get_client(client):
    """A `distributed.Client` for ``client`` (a Client, or a scheduler address such as ``tcp://host:8786``)."""
    if client is None or not isinstance(client, str):
        return client
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask[distributed] is in the [dask] extra
        raise ImportError("--scheduler needs dask.distributed: pip install 'astro_mlfinder[dask]'") from None
    try:
        return Client(client, timeout="10s")
    except OSError as exc:
        raise ValueError(f"cannot reach the dask scheduler at {client!r} ({exc}); start one with "
                         "'dask scheduler' or omit --scheduler") from None


class TaskRunner:
    """Map a function over task items with Dask.

    Parameters
    ----------
    client : `distributed.Client` or str, optional
        Run on this cluster (or scheduler address); else locally.
    workers : int
        Tasks run at the same time locally.
    scheduler : {'threads', 'processes', 'synchronous'}
        The local Dask scheduler.
    progress : bool
        Show a progress bar over the tasks.
    """

    def __init__(self, client=None, workers=1, scheduler="threads", progress=True):
        self.client = get_client(client)
        self.workers = max(int(workers), 1)
        if scheduler not in ("threads", "processes", "synchronous"):
            raise ValueError(f"scheduler must be 'threads', 'processes' or 'synchronous', got {scheduler!r}")
        self.scheduler = scheduler
        self.progress = bool(progress)

    def map(self, func, items, desc="tiles", errors="raise"):
        """``[func(item) for item in items]``, run as Dask tasks, in the order of ``items``.

        With ``errors='return'`` a task that raises gives its exception as
        its result instead of stopping the others.
        """
        items = list(items)
        if not items:
            return []
        call = func if errors == "raise" else _Catching(func)
        bar = progress_bar(total=len(items), desc=desc, enabled=self.progress, unit="task")
        try:
            if self.client is not None:
                from distributed import as_completed

                futures = self.client.map(call, items, pure=False)
                for _ in as_completed(futures):
                    bar.update(1)
                return self.client.gather(futures)
            import dask
            from dask.callbacks import Callback

            class _Bar(Callback):
                def _posttask(self, key, result, dsk, state, worker_id):
                    name = key[0] if isinstance(key, tuple) else key
                    if str(name).startswith("task-"):
                        bar.update(1)

            tasks = [dask.delayed(call, pure=False, name=f"task-{i}")(item) for i, item in enumerate(items)]
            with _Bar():
                return list(dask.compute(*tasks, scheduler=self.scheduler, num_workers=self.workers))
        finally:
            bar.close()


class _Catching:
    """``func`` returning its exception instead of raising it (picklable)."""

    def __init__(self, func):
        self.func = func

    def __call__(self, item):
        try:
            return self.func(item)
        except Exception as exc:  # noqa: BLE001 - reported per task by the caller
            return exc
