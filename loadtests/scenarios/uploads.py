"""uploads: multipart uploads of real audio files from a folder, at a low fixed rate.

Uploads are paced globally at --upload-rate per second; each user uploads the next
file of --audio-dir (field `file`, plus `engine` when --upload-engine is set), then
polls that task every --poll-interval-s until it ends. The end state must be
--expect-upload-status (completed, failed, or any): a server without an audio engine
ends uploads `failed`, which a run can declare expected.

    locust -f loadtests/scenarios/uploads.py --host http://127.0.0.1:8080 --headless \
        -u 2 -r 2 -t 60s --audio-dir tests/audio --upload-rate 0.2
"""

from __future__ import annotations

import itertools
import mimetypes
from pathlib import Path
from typing import Any

import gevent
from _apiuser import TERMINAL, ApiUser, log
from _memdiag import want
from locust import events, task
from urllib3 import encode_multipart_formdata

from loadtests.validate import Kind, Problem

want(
    "uploads",
    "upload_rate",
    "audio_dir",
    "expect_upload_status",
    "upload_engine",
    "poll_interval_s",
    "view",
    "page_size",
    streams={"upload": "upload_rate"},
    tasks_end_in_run=True,  # each upload ends in the run: the work is the tasks run
)

AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".webm", ".opus"}
_files: list[Path] = []
_turn = itertools.count()


@events.test_start.add_listener
def _find_audio(environment: Any, **_kw: Any) -> None:
    folder = Path(environment.parsed_options.audio_dir or ".")
    _files[:] = sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not _files:
        # Nothing to upload: stop at once with a usage error instead of idling.
        log.error("No audio files in --audio-dir %s: give a folder with .wav/.mp3 files", folder)
        environment.process_exit_code = 2
        gevent.spawn(environment.runner.quit)


def check_end_status(doc: Any, expected: str) -> list[Problem]:
    status = doc.get("status") if isinstance(doc, dict) else None
    if status not in TERMINAL or expected == "any" or status == expected:
        return []
    return [
        Problem(
            Kind.UPLOAD_STATUS, f"upload ended {status} ({doc.get('error')}), expected {expected}"
        )
    ]


class Uploader(ApiUser):
    """Someone uploading a recording and waiting for its transcript."""

    def on_start(self) -> None:
        self.token = self.sign_up()

    @task
    def upload_one(self) -> None:
        if not _files or not self.token:
            gevent.sleep(1.0)
            return
        path = _files[next(_turn) % len(_files)]
        fields: dict[str, Any] = {
            "file": (
                path.name,
                path.read_bytes(),
                mimetypes.guess_type(path.name)[0] or "audio/wav",
            )
        }
        if self.opts.upload_engine:
            fields["engine"] = self.opts.upload_engine
        body, content_type = encode_multipart_formdata(fields)
        doc = self.call(
            "POST",
            "/api/tasks",
            name="POST /api/tasks (upload)",
            intended_s=self.paced("upload"),
            data=body,
            expect=(202, 201, 200),
            headers={"Content-Type": content_type},
        )
        task_id = doc.get("task_id") if isinstance(doc, dict) else None
        if not isinstance(task_id, str):
            return
        failed = 0
        while failed < 5:
            gevent.sleep(float(self.opts.poll_interval_s))
            doc = self.poll(task_id)
            if doc is None:
                failed += 1
                continue
            if doc.get("status") in TERMINAL:
                expected = str(self.opts.expect_upload_status)
                self.call(
                    "GET",
                    f"/api/tasks/{task_id}",
                    name="GET /api/tasks/{id} final",
                    check=lambda d, e=expected: check_end_status(d, e),
                )
                return
