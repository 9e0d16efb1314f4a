"""The causes the fix report missed, as opt-in rows of the claims table (pure).

docs/INCIDENT.md's report names eight changes; the issue names what it did not look at: the
allocator (`@arenas=2`, `@jemalloc`, `malloc_trim(0)` after a task), motor's thread
pool against PyMongo's `AsyncMongoClient`, JSON encoding of the in-memory task on every
poll (orjson, a summary view), a second server process (each has its own in-memory
dict, so a poll that reaches the other one reads the DB copy: stale replies), and
aiohttp keeping each idle keep-alive connection's last reply body alive (the switch
`release_body_after_send`; examples/keepalive_body/ reproduces it with plain aiohttp).

Each is a `Claim` of change "missed" in `profiling.fixreport.claims.CLAIMS`, measured like the
others (interleaved with its scenario's schedule, U test, effect floors) and always
add-one-in: the configuration with the cause applied against its reference, which is
the base except for `driver_async` (db-polling is the design whose polls go through the
driver, so it is always db-polling against `db-polling@driver=pymongo-async`). `--missed`
adds every row a base offers (`OFFERED`); `--switches` names them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

# Allocators and their knobs: the base with an item after `@` (`mode@ITEM`).
# mmap_fixed: glibc's default mmap threshold (128 KiB), fixed, so a reply body of 1 MiB
# is mmapped and unmapped on free instead of moving into the heap once a freed mmapped
# block has raised the dynamic threshold.
ALLOCATORS = {
    "arenas_2": "arenas=2",
    "jemalloc": "jemalloc",
    "mmap_fixed": "mmap_threshold=131072",
    "pymalloc_off": "pymalloc=off",
}


@dataclass(frozen=True, slots=True)
class MissedRow:
    """How a missed cause is applied: overrides over a mode, or runtime items after `@`."""

    mode: str  # the mode it is applied to; "" for the base itself
    overrides: tuple[str, ...] = ()
    runtime: str = ""  # "driver=pymongo-async", "processes=2"
    bases: tuple[str, ...] = ("memory-first",)  # the bases that offer it

    def spec(self, base: str) -> str:
        mode = self.mode or base
        text = mode + (":" + ",".join(self.overrides) if self.overrides else "")
        return text + (f"@{self.runtime}" if self.runtime else "")

    def reference(self, base: str) -> str:
        """The configuration it is judged against; "" when that is the base."""
        mode = self.mode or base
        return "" if mode == base else mode


# Lean offers what it does not already have: it trims after its tasks end too, and runs
# in two processes with its checkpoints every 2 s (stale replies bounded, not unbounded);
# it already encodes a summary with orjson, so those two rows are memory-first's alone.
ROWS: dict[str, MissedRow] = {
    "driver_async": MissedRow(
        "db-polling", runtime="driver=pymongo-async", bases=("db-polling", "memory-first")
    ),
    "malloc_trim": MissedRow("", ("malloc_trim=true",), bases=("memory-first", "lean")),
    "orjson_in_memory": MissedRow("memory-first", ("json_encoder=orjson",)),
    "summary_in_memory": MissedRow("memory-first", ("status_view=summary",)),
    "two_processes": MissedRow("", runtime="processes=2", bases=("memory-first", "lean")),
    # Lean releases its bodies already (and its summary replies are small).
    "release_bodies": MissedRow(
        "", ("release_body_after_send=true",), bases=("db-polling", "memory-first")
    ),
}


def offered(base: str) -> list[str]:
    """Every missed-cause row `base` offers (`--missed`), allocators first."""
    return [*ALLOCATORS, *(k for k, row in ROWS.items() if base in row.bases)]
