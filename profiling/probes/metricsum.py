"""Read `/metrics` from every process of a multi-process server, and sum them into one.

With `--processes N` the reference server's processes share one port (SO_REUSEPORT), so
a scrape of the server's URL reaches one of them at random and its counters cover about
1/N of the polls. Each process also listens on 127.0.0.1 at a port of its own and
publishes it in a folder (`--metrics-dir`: one `server-<pid>.json` holding `{pid, url}`);
`scrape_every` reads that folder, scrapes each live process there, and `sum_expositions`
adds the scrapes up sample by sample, so the DB counters, poll counts and histograms of
the run cover every process. Why this design rather than the alternatives: the parent
aggregating its workers' counters would need a channel between them (and prometheus_client's
multiprocess mode cannot carry the server's own collectors: the DB listener's, the loop lag,
the GC and process collectors); one listener per process needs nothing shared, each scrape
is exactly one process's, and the sum is taken here, outside the server, as every probe.

Every sample is summed: counters and histogram buckets add up to the tree's totals (a
pooled histogram), and so do the gauges memdiag reads (live entries, requests in
flight, RSS and peak RSS: the tree's sums, like the sampler's). `_created` timestamps
are dropped, since a sum of them means nothing. `sum_expositions` is pure.
"""

from __future__ import annotations

import contextlib
import json
import math
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

PUBLISHED = "server-*.json"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def sum_expositions(texts: Sequence[str]) -> str:
    """Prometheus texts of several processes -> one text whose samples are their sums."""
    families: dict[str, tuple[str, str]] = {}  # name -> (type, help), first seen first
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(family.name, (family.type, family.documentation))
            found = sums.setdefault(family.name, {})
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                key = (s.name, tuple(sorted(s.labels.items())))
                found[key] = found.get(key, 0.0) + s.value
    lines = [f"# memdiag: the sum of {len(texts)} server processes' /metrics"]
    for name, (kind, doc) in families.items():
        if not sums[name]:
            continue
        lines.append(f"# HELP {name} " + doc.replace("\\", "\\\\").replace("\n", "\\n"))
        lines.append(f"# TYPE {name} {kind}")
        for (sample, labels), value in sums[name].items():
            inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels)
            lines.append(
                f"{sample}{{{inner}}} {_number(value)}" if inner else f"{sample} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def published_urls(folder: Path) -> dict[int, str]:
    """pid -> base URL of each process that published its own address in `folder`."""
    out: dict[int, str] = {}
    for path in sorted(folder.glob(PUBLISHED)):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            record = json.loads(path.read_text(encoding="utf-8"))
            out[int(record["pid"])] = str(record["url"])
    return out


def metrics_text(url: str, timeout_s: float = 10.0) -> str | None:
    """GET `<url>/metrics` as text; None when it does not answer (a server of the user's
    own may have no /metrics)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout_s) as resp:
            return str(resp.read().decode("utf-8", errors="replace"))
    except (OSError, urllib.error.HTTPError):
        return None


def scrape_every(folder: Path, pids: Sequence[int]) -> tuple[str | None, int]:
    """The summed /metrics of the processes `pids` (the server's tree) that published an
    address in `folder`, and how many answered; (None, 0) when none did."""
    urls = published_urls(folder)
    texts = [text for pid in pids if pid in urls and (text := metrics_text(urls[pid]))]
    return (sum_expositions(texts) if texts else None), len(texts)
