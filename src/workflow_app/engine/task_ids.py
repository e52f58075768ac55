"""Task ids an instance can re-derive, so its stored state need not spell them out.

SpiffWorkflow gives every task a random ``uuid4``. A stored state names each task several times (its own id,
its parent's, its children's, the workflow's root and last task): an escalation at Stage 5 holds ~400 id
occurrences of ~100 distinct ids, and random ids are incompressible (16 bytes of entropy each, whatever the
compressor), so they were half of what the state cost to store and made it grow past 5 KB as it climbed.

Here each instance has a :class:`TaskIds` source: 16 random bytes (``seed``) and a counter. Its k-th id is the
keyed BLAKE2b hash of k, shaped as a version-4 UUID: as unique across instances as ``uuid4`` (the seed is
random per instance; ids are also the primary keys of the ``tasks`` table), yet the state only needs to store
the seed once and the small integer k wherever a task is named (see serialization.py, ``STATE_FORMAT`` 2).

Wiring: ``Task.__init__`` is wrapped (once, on import) so that a task created without an explicit id takes the
next id of its top workflow's source (``workflow._task_ids``); while :func:`new_workflow` constructs a workflow
(whose ``__init__`` already creates the root task and its predicted children) the source comes from the
``constructing`` context variable. A task created with an id (a loaded state) or in a workflow without a source
is unaffected (``uuid4``, as the library does).
"""
from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState


# The version-4 / RFC 4122 variant bits, set in every derived id as ``UUID(..., version=4)`` would set them.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)


class TaskIds:
    """A per-instance source of task ids: the k-th id is derived from ``seed`` and k (k = 0, 1, ..., ``count`` - 1
    have been issued).

    Ids are derived on demand (a loaded state pays only for the ids it names, as text); ``numbers`` maps each id
    this source is known to have issued (issued here, or named by number in a loaded state), as ``UUID.int``,
    to its k."""

    __slots__ = ("seed", "count", "numbers", "_texts", "_keyed")

    def __init__(self, seed: bytes | None = None, count: int = 0):
        self.seed = os.urandom(16) if seed is None else bytes(seed)
        if len(self.seed) != 16 or count < 0:
            raise ValueError("A task id source needs a 16-byte seed and a count of at least 0")
        self.count = count
        self.numbers: dict[int, int] = {}
        self._texts: dict[int, str] = {}
        self._keyed = hashlib.blake2b(key=self.seed, digest_size=16)  # copied per id: the key is hashed once

    def _derive(self, k: int) -> int:
        """``UUID(bytes=blake2b(k.to_bytes(8, "big"), key=seed, digest_size=16).digest(), version=4).int``"""
        hasher = self._keyed.copy()
        hasher.update(k.to_bytes(8, "big"))
        return (int.from_bytes(hasher.digest(), "big") & _CLEAR) | _SET

    def new(self) -> UUID:
        """The next id."""
        k = self.count
        value = self._derive(k)
        self.count = k + 1
        self.numbers[value] = k
        return UUID(int=value)

    def id_for(self, k: int) -> UUID:
        """The k-th id issued."""
        return UUID(self.text_for(k))

    def text_for(self, k: int) -> str:
        """The k-th id issued, as ``str(UUID)`` writes it."""
        text = self._texts.get(k)
        if text is None:
            if not 0 <= k < self.count:
                raise ValueError(f"Task number {k} was never issued (this source has issued {self.count})")
            value = self._derive(k)
            self.numbers[value] = k
            h = "%032x" % value
            text = self._texts[k] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return text

    def number_of(self, task_id: UUID) -> int | None:
        """k if this source is known to have issued ``task_id``, else None."""
        return self.numbers.get(task_id.int)

    def as_dict(self) -> dict:
        return {"seed": self.seed.hex(), "count": self.count}

    @classmethod
    def from_dict(cls, dct: dict) -> "TaskIds":
        return cls(bytes.fromhex(dct["seed"]), int(dct["count"]))


# Set only while new_workflow() constructs a workflow: BpmnWorkflow.__init__ creates tasks before the new
# workflow can be given its source.
constructing: ContextVar[TaskIds | None] = ContextVar("task_ids_constructing", default=None)


def source_of(workflow) -> TaskIds | None:
    """The id source of a workflow (a subprocess uses its top workflow's), or None."""
    return getattr(getattr(workflow, "top_workflow", workflow), "_task_ids", None)


def next_id(workflow) -> UUID:
    """A fresh task id for ``workflow``: the next of its source, else a random one."""
    source = source_of(workflow)
    return source.new() if source is not None else uuid4()


def new_workflow(spec, subprocess_specs=None) -> BpmnWorkflow:
    """A new workflow whose tasks, from its root on, take their ids from a fresh source."""
    source = TaskIds()
    token = constructing.set(source)
    try:
        workflow = BpmnWorkflow(spec, subprocess_specs)
    finally:
        constructing.reset(token)
    workflow._task_ids = source
    return workflow


def _patch_task_init() -> None:
    original = Task.__init__
    if getattr(original, "_derives_task_ids", False):
        return

    def __init__(self, workflow, task_spec, parent=None, state=TaskState.MAYBE, id=None):  # noqa: A002
        if id is None:
            source = source_of(workflow) or constructing.get()
            if source is not None:
                id = source.new()  # noqa: A001
        original(self, workflow, task_spec, parent, state, id)

    __init__._derives_task_ids = True
    __init__.__wrapped__ = original
    __init__.__doc__ = original.__doc__
    Task.__init__ = __init__


_patch_task_init()
