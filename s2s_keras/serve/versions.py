"""A model's versions as TF Serving keeps them: numbered export folders, polled.

`python -m s2s_keras.serve PATH` serves, as one model:

- an export folder (`saved_model/` and `export.json`, a recipe's
  `--output`): version 1, for as long as the server runs;
- a base folder whose numbered subfolders (`1/`, `2/`, ...) are export
  folders: the versions its `VersionPolicy` chooses (the latest by
  default), looked at again every `poll_seconds`.

A version goes through TF Serving's states: `START`, `LOADING` (its
SavedModel loaded in a thread, while the others keep serving),
`AVAILABLE`, `UNLOADING` (no new request; those in flight finish), `END`.
A request for no version in particular goes to the newest `AVAILABLE` one,
so a new version is swapped in at once when it has loaded, and no request
fails on the way. A folder still being written (its SavedModel, variables
or `export.json` missing, or its files changed since the last look) is left
alone until complete. A version that fails to load is `END` with its error
in the status and the log, the previous one keeps serving, and it is tried
again once its files change.
"""

import asyncio
import contextlib
import dataclasses
import logging
import pathlib

from s2s_keras.serve.tensors import RequestError

LOG = logging.getLogger("s2s_keras.serve")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions of a base folder are served (TF Serving's policies).

    Args:
        latest: serve the newest `latest` versions; None with `specific`
            empty: every version.
        specific: serve these version numbers only.
    """

    latest: int | None = 1
    specific: tuple = ()

    @classmethod
    def parse(cls, text):
        """A policy from `latest`, `latest:N`, `all` or `1,3`.

        Raises:
            ValueError: naming the text received.
        """
        if text == "all":
            return cls(latest=None)
        if text == "latest" or text.startswith("latest:"):
            count = text.partition(":")[2] or "1"
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"latest:N needs N >= 1, got {text!r}")
            return cls(latest=int(count))
        numbers = text.split(",")
        if not all(number.strip().isdigit() for number in numbers):
            raise ValueError(
                "a version policy is 'latest', 'latest:N', 'all' or version numbers "
                f"such as '1,3'; got {text!r}"
            )
        return cls(latest=None, specific=tuple(sorted(int(n) for n in numbers)))

    def choose(self, numbers):
        """The version numbers to serve of those found."""
        numbers = sorted(numbers)
        if self.specific:
            return {number for number in numbers if number in self.specific}
        if self.latest is None:
            return set(numbers)
        return set(numbers[-self.latest :])


def model_named(models, name):
    """The `ModelVersions` of `name` in `{name: ModelVersions}`; a
    `RequestError` (404, TF Serving's message) for another."""
    if name not in models:
        raise RequestError(f"Servable not found for request: Latest({name})", 404)
    return models[name]


def parse_labels(text):
    """`{label: version}` from `stable=1,canary=2`.

    Raises:
        ValueError: naming the text received.
    """
    labels = {}
    for item in filter(None, (text or "").split(",")):
        label, _, version = item.partition("=")
        if not label.strip() or not version.strip().isdigit():
            raise ValueError(
                f"labels are LABEL=VERSION pairs such as 'stable=1,canary=2'; got {text!r}"
            )
        labels[label.strip()] = int(version)
    return labels


def is_export(folder):
    """Whether `folder` holds an export's SavedModel."""
    return (pathlib.Path(folder) / "saved_model" / "saved_model.pb").is_file()


def complete(folder):
    """Whether an export folder has every file a load needs."""
    folder = pathlib.Path(folder)
    return (
        is_export(folder)
        and (folder / "saved_model" / "variables" / "variables.index").is_file()
        and (folder / "export.json").is_file()
    )


def version_folders(base):
    """`{number: folder}` of a base folder's numbered subfolders."""
    base = pathlib.Path(base)
    if not base.is_dir():
        return {}
    return {
        int(child.name): child
        for child in base.iterdir()
        if child.name.isdigit() and child.is_dir()
    }


def _files_of(folder):
    """What changes while a folder is written: its files' names, sizes, times."""
    return tuple(
        (str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        for stat in (path.stat(),)
    )


@dataclasses.dataclass(eq=False)
class Version:
    """One version of a model: its folder, state, error and `Predictor`."""

    number: int
    folder: pathlib.Path | None
    state: str = "START"
    error: str = ""
    predictor: object = None
    in_flight: int = 0
    files: tuple = ()

    def status(self):
        """The version's entry in TF Serving's `model_version_status`."""
        return {
            "version": str(self.number),
            "state": self.state,
            "status": {
                "error_code": "UNKNOWN" if self.error else "OK",
                "error_message": self.error,
            },
        }


class ModelVersions:
    """The versions of one model, loaded, swapped and unloaded as they change.

    Args:
        name: the model's name.
        make_predictor: `(servable, version number) -> Predictor`.
        base: a base folder of numbered export folders, or None.
        servable: a loaded `Servable` served as version 1 (instead of `base`).
        load: `folder -> Servable`, run in a thread.
        policy: the `VersionPolicy` for `base`.
        labels: `{label: version number}`.
        poll_seconds: how often `base` is looked at again; None: only at start.
        on_load: `(version number, failed) -> None`, called after each load
            (the server's metrics count them), or None.
    """

    def __init__(
        self,
        name,
        make_predictor,
        base=None,
        servable=None,
        load=None,
        policy=VersionPolicy(),
        labels=None,
        poll_seconds=None,
        on_load=None,
    ):
        if (base is None) == (servable is None):
            raise ValueError("give a base folder or a servable, not both or neither")
        self.name = name
        self.make_predictor = make_predictor
        self.base = None if base is None else pathlib.Path(base)
        self.load = load
        self.policy = policy
        self.labels = dict(labels or {})
        self.poll_seconds = poll_seconds
        self.on_load = on_load or (lambda number, failed: None)
        self.versions = {}  # number -> Version
        self._seen = {}  # number -> its files at the last look
        self._chosen = set()
        self._tasks = set()
        self._poller = None
        if servable is not None:
            self.versions[1] = Version(1, None, "AVAILABLE")
            self.versions[1].predictor = make_predictor(servable, 1)

    async def start(self):
        """Starts the versions loaded already; looks at the base folder."""
        for version in self.versions.values():
            if version.predictor is not None:
                version.predictor.batcher.start()
        if self.base is not None:
            await self.poll(first=True)
            if self.poll_seconds:
                self._poller = asyncio.get_running_loop().create_task(self._poll_loop())

    async def stop(self):
        """Stops polling and every version's batcher."""
        if self._poller is not None:
            self._poller.cancel()
        for task in list(self._tasks):
            task.cancel()
        for version in self.versions.values():
            if version.predictor is not None:
                await version.predictor.batcher.stop()
                version.predictor = None

    async def _poll_loop(self):
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.poll()
            except Exception:  # noqa: BLE001  (a bad poll must not stop serving)
                LOG.exception("looking at %s failed", self.base)

    async def poll(self, first=False):
        """Loads the versions the policy chooses, unloads the others.

        A folder counts once complete and, after the first look, unchanged
        since the look before; a version loading or served counts while its
        folder is there; one that failed is tried again once its files change.
        """
        ready = {}
        for number, folder in version_folders(self.base).items():
            known = self.versions.get(number)
            if known is not None and known.state in ("LOADING", "AVAILABLE"):
                ready[number] = known.files
                continue
            if not complete(folder):
                continue
            files = _files_of(folder)
            settled = first or self._seen.get(number) == files
            self._seen[number] = files
            if settled:
                ready[number] = files
        self._chosen = self.policy.choose(ready)
        for number in sorted(self._chosen):
            known = self.versions.get(number)
            if (
                known is None
                or (known.state == "END" and known.files != ready[number])
                or (known.state == "END" and not known.error)  # unloaded, chosen again
            ):
                version = Version(number, self.base / str(number), "LOADING")
                version.files = ready[number]
                self.versions[number] = version  # LOADING from now: not loaded twice
                self._spawn(self._load(version))
        self._unload_unchosen(self._chosen)

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, version):
        number = version.number
        loop = asyncio.get_running_loop()
        try:
            servable = await loop.run_in_executor(None, self.load, version.folder)
            predictor = self.make_predictor(servable, number)
            predictor.batcher.start()
        except Exception as error:  # noqa: BLE001  (reported, the others serve)
            version.state, version.error = "END", f"{type(error).__name__}: {error}"
            LOG.error("version %s of %s failed to load: %s", number, self.name, error)
            self.on_load(number, failed=True)
            return
        version.predictor, version.state = predictor, "AVAILABLE"
        LOG.info("version %s of %s is available", number, self.name)
        self.on_load(number, failed=False)
        self._unload_unchosen(self._chosen)

    def _unload_unchosen(self, chosen):
        """Unloads the available versions not chosen, once a chosen one serves."""
        if not any(self._serves(number) for number in chosen):
            return  # the chosen ones are loading or failed: the old keep serving
        for number, version in self.versions.items():
            if number not in chosen and version.state == "AVAILABLE":
                version.state = "UNLOADING"
                self._spawn(self._unload(version))

    def _serves(self, number):
        version = self.versions.get(number)
        return version is not None and version.state == "AVAILABLE"

    async def _unload(self, version):
        while version.in_flight:
            await asyncio.sleep(0.05)
        await version.predictor.batcher.stop()
        version.predictor, version.state = None, "END"
        LOG.info("version %s of %s is unloaded", version.number, self.name)

    def resolve(self, version=None, label=None):
        """The `Version` a request asks for, available.

        Args:
            version: a version number (a string), or None.
            label: a version label, or None.

        Raises:
            RequestError: 404 for a version or label not served, 503 while
                the version asked for is loading, or no version is available
                yet.
        """
        if label is not None:
            if label not in self.labels:
                raise RequestError(
                    f"Servable not found for request: label {label!r} of {self.name}; "
                    f"the labels are {sorted(self.labels) or 'none'}",
                    404,
                )
            version = str(self.labels[label])
        if version is not None:
            number = int(version) if str(version).isdigit() else None
            if number in self.versions and self.versions[number].state == "LOADING":
                raise RequestError(
                    f"version {number} of {self.name} is not ready: it is loading", 503
                )
            if not self._serves(number):
                served = [n for n in sorted(self.versions) if self._serves(n)]
                raise RequestError(
                    f"Servable not found for request: Specific({self.name}, {version}); "
                    f"the versions available are {served}",
                    404,
                )
            return self.versions[number]
        available = [n for n in self.versions if self._serves(n)]
        if not available:
            raise RequestError(
                f"model {self.name} is not ready: no version is available yet "
                f"({self.describe()})",
                503,
            )
        return self.versions[max(available)]

    @contextlib.contextmanager
    def serving(self, version=None, label=None):
        """The `Version` asked for, kept loaded while the request runs."""
        chosen = self.resolve(version, label)
        chosen.in_flight += 1
        try:
            yield chosen
        finally:
            chosen.in_flight -= 1

    def status(self, version=None):
        """TF Serving's `model_version_status` (one version, or every one)."""
        if version is not None:
            number = int(version) if str(version).isdigit() else None
            if number not in self.versions:
                raise RequestError(
                    f"Servable not found for request: Specific({self.name}, {version})",
                    404,
                )
            return {"model_version_status": [self.versions[number].status()]}
        return {
            "model_version_status": [
                self.versions[number].status() for number in sorted(self.versions)
            ]
        }

    def describe(self):
        states = ", ".join(
            f"{number}: {version.state}"
            for number, version in sorted(self.versions.items())
        )
        return f"versions {states}" if states else f"no version found in {self.base}"

    @property
    def queued(self):
        """Requests waiting, over every version."""
        return sum(
            version.predictor.batcher.queued
            for version in self.versions.values()
            if version.predictor is not None
        )
