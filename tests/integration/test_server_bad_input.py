"""Bad input by hand, on a real server and the real DB: uploads that are not audio, too
large or too slow, hostile file names, malformed and foreign ids, `$`/`.` keys, long and
non-UTF-8 headers. Each answers a clear 4xx with the JSON error body, leaves nothing on
disk, and the server keeps serving."""

from __future__ import annotations

import http.client
import io
import socket
import struct
import urllib.parse
import wave
from pathlib import Path
from typing import Any

import pymongo
import pytest

MODES = ["db-polling", "memory-first", "lean"]
BOUNDARY = "memdiagbadinput"


def wav_bytes(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack("<h", 0) * int(16000 * seconds))
    return buf.getvalue()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082"
)


def multipart(
    content: bytes, filename: str = "a.wav", *, star: bool = False, **fields: str
) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    # RFC 5987's filename*= carries any byte, control characters included, percent-encoded.
    disposition = (
        f"filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
        if star
        else f'filename="{filename}"'
    )
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f"{disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return out + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(server: Any, token: str, body: bytes) -> Any:
    return server.request(
        "POST",
        "/api/tasks",
        data=body,
        token=token,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def assert_error(res: Any, status: int) -> dict[str, Any]:
    assert res.status == status, (res.status, res.body[:300])
    body = res.json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], str), body
    return dict(body)


def no_task_files(upload_dir: Path) -> bool:
    return list(upload_dir.iterdir()) == []


def test_non_audio_upload_is_415_naming_what_ffprobe_saw(start_server, upload_dir):
    server = start_server("--mode", "lean", "--upload-dir", str(upload_dir))
    token = server.new_user()
    detail = assert_error(upload(server, token, multipart(PNG, "cat.png")), 415)["detail"]
    assert "png" in detail and "no audio stream" in detail, detail
    detail = assert_error(upload(server, token, multipart(b"\x00\x01 not audio" * 50)), 415)[
        "detail"
    ]
    assert "is not audio ffmpeg can read" in detail and str(upload_dir) not in detail, detail
    assert no_task_files(upload_dir)
    assert server.request("GET", "/api/tasks", token=token).json()["total_count"] == 0
    # Real audio passes the probe and is queued.
    res = upload(server, token, multipart(wav_bytes(), "ok.wav"))
    assert res.status == 202, res.body


def test_oversized_bodies_are_413(start_server, upload_dir):
    server = start_server(
        "--mode", "lean", "--upload-dir", str(upload_dir), "--max-upload-mib", "1"
    )
    token = server.new_user()
    big = multipart(b"\x00" * (2 * 1024 * 1024))
    assert_error(upload(server, token, big), 413)  # refused by Content-Length up front
    # Chunked (no Content-Length): refused while it streams, the partial file removed.
    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.putrequest("POST", "/api/tasks")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for start in range(0, len(big), 64 * 1024):
            piece = big[start : start + 64 * 1024]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the rest is sent
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    assert no_task_files(upload_dir)
    # JSON bodies: aiohttp's 1 MiB limit, answered in the same JSON shape.
    res = server.request(
        "POST",
        "/api/users",
        data=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(res, 413)
    assert server.request("GET", "/healthz").status == 200


BAD_IDS = [
    "nope",
    "0" * 31,
    "0" * 33,
    "A" * 32,
    "%24where",
    "%7B%22%24gt%22%3A%22%22%7D",
    "..%2F..%2Fetc%2Fpasswd",
    "%00" + "0" * 31,
    "%C3%A9" * 16,
    "a" * 2000,
]


@pytest.mark.parametrize("mode", MODES)
def test_malformed_and_foreign_ids_are_404_on_every_route(start_server, mode):
    server = start_server("--mode", mode)
    alice, bob = server.new_user("alice"), server.new_user("bob")
    res = server.request("POST", "/api/tasks", {"synthetic": {"segments": 5}}, token=alice)
    foreign = res.json()["task_id"]
    for task_id in [*BAD_IDS, foreign]:
        for method, template in (
            ("GET", "/api/tasks/{}"),
            ("GET", "/api/tasks/{}/segments"),
            ("POST", "/api/tasks/{}/cancel"),
            ("DELETE", "/api/tasks/{}"),
        ):
            path = template.format(task_id)
            assert assert_error(server.request(method, path, token=bob), 404)["error"] == (
                "not_found"
            ), path


DOLLAR_AND_DOT = ["$where", "$gt", "a.b", ".", "$", "x.$y"]


@pytest.mark.parametrize("mode", MODES)
def test_dollar_and_dot_keys_in_every_json_field_are_400(start_server, mode, mongo_uri):
    admin = "bad-input-admin"
    server = start_server("--mode", mode, "--admin-token", admin)
    token = server.new_user()
    bodies: list[tuple[str, str | None, Any]] = []
    for key in DOLLAR_AND_DOT:
        bodies += [
            ("/api/users", None, {"name": "x", key: 1}),
            ("/api/users", None, {key: "x"}),
            ("/api/users", None, {"name": {key: ""}}),
            ("/api/tasks", token, {"synthetic": {"segments": 5}, key: 1}),
            ("/api/tasks", token, {key: {"segments": 5}}),
            ("/api/tasks", token, {"synthetic": {"segments": 5, key: 1}}),
            ("/api/tasks", token, {"synthetic": {"segments": {key: 5}}}),
            ("/api/tasks", token, {"synthetic": {key: {"segments": 5}}}),
            ("/debug/tracemalloc/start", admin, {"frames": 5, key: 1}),
            ("/debug/tracemalloc/start", admin, {"frames": {key: 5}}),
            ("/debug/tracemalloc/snapshot", admin, {"path": "/tmp/x", key: 1}),
            ("/debug/tracemalloc/snapshot", admin, {"path": {key: "/tmp/x"}}),
        ]
    for path, auth, body in bodies:
        res = server.request("POST", path, body, token=auth)
        assert assert_error(res, 400)["error"] == "bad_request", (path, body)
    server.request("POST", "/debug/tracemalloc/stop", token=admin)
    assert server.request("GET", "/api/tasks", token=token).json()["total_count"] == 0
    with pymongo.MongoClient(mongo_uri) as client:
        assert client[server.database].users.count_documents({}) == 1  # only `token`'s


HOSTILE_NAMES = [
    "../../../../../tmp/memdiag-evil.wav",
    "..\\..\\..\\memdiag-evil.wav",
    "/etc/memdiag-evil.wav",
    "x" * 300 + ".wav",
]
# Sent percent-encoded (filename*=): raw control bytes in a part header are refused by
# aiohttp's parser with a 400 before any file is written (checked below too).
CONTROL_NAMES = ["a\x01b\x1bc\x7fd.wav", "memdiag-evil\x00.wav", "../\x00/../memdiag-evil\r\n.wav"]


def test_hostile_file_names_are_stored_under_a_generated_name(
    start_server, upload_dir, mongo_uri, tmp_path
):
    # One worker kept busy: the uploads stay queued, so their files can be looked at.
    server = start_server("--mode", "lean", "--upload-dir", str(upload_dir), "--workers", "1")
    token = server.new_user()
    blocker = server.request(
        "POST",
        "/api/tasks",
        {"synthetic": {"segments": 3000, "segments_per_second": 20}},
        token=token,
    ).json()["task_id"]
    ids = []
    for name, star in [(n, False) for n in HOSTILE_NAMES] + [(n, True) for n in CONTROL_NAMES]:
        res = upload(server, token, multipart(wav_bytes(0.2), name, star=star))
        assert res.status == 202, (name, res.body)
        ids.append(res.json()["task_id"])
    raw = upload(server, token, multipart(wav_bytes(0.2), "a\x01b.wav"))
    assert assert_error(raw, 400)["detail"].startswith("malformed multipart body")
    for task_id in ids:
        dirs = list(upload_dir.glob(f"memdiag-task-{task_id}-*"))
        assert len(dirs) == 1, task_id
        assert [p.name for p in dirs[0].iterdir()] == ["upload.wav"], list(dirs[0].iterdir())
    stray = [p for p in upload_dir.rglob("*") if "evil" in p.name]
    assert stray == [] and not Path("/tmp/memdiag-evil.wav").exists()
    assert not Path("/etc/memdiag-evil.wav").exists()
    with pymongo.MongoClient(mongo_uri) as client:
        for task_id in ids:
            label = client[server.database].tasks.find_one({"_id": task_id})["source"]["filename"]
            assert "/" not in label and "\\" not in label and label.isprintable(), label
            assert len(label) <= 200
    for task_id in [blocker, *ids]:
        server.request("POST", f"/api/tasks/{task_id}/cancel", token=token)


def raw_request(server: Any, head: bytes, body: bytes = b"") -> bytes:
    url = urllib.parse.urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_long_and_non_utf8_headers(start_server):
    server = start_server("--mode", "lean", "--admin-token", "hdr-admin")
    token = server.new_user()
    for head in (
        b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100_000 + b"\r\n",
        b"GET /api/tasks HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 5000,
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n",
    ):
        reply = raw_request(server, head + b"Connection: close\r\n")
        status = int(reply.split(b" ", 2)[1])
        assert 400 <= status < 500, reply[:200]
    for value in (b"Bearer \xff\xfe\xfd", b"\xc3\x28", b"Bearer " + token.encode() + b"\xff"):
        for path in (b"/api/tasks", b"/debug/memory", b"/openapi.json"):
            head = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + value
            reply = raw_request(server, head + b"\r\nConnection: close\r\n")
            status = int(reply.split(b" ", 2)[1])
            assert status < 500, (path, value, reply[:300])
            if path != b"/openapi.json":
                assert status in (401, 404), (path, value, reply[:300])
                assert b'"error"' in reply, reply[:300]
    head = b"GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Junk: \xff\xfe\r\nAuthorization: Bearer "
    reply = raw_request(server, head + token.encode() + b"\r\nConnection: close\r\n")
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert server.request("GET", "/healthz").status == 200
    assert "unhandled error" not in server.stderr_text()


def test_a_trickling_upload_times_out_and_frees_its_slot(start_server, upload_dir, wait_for):
    server = start_server(
        "--mode", "lean", "--upload-dir", str(upload_dir), "--upload-timeout-s", "2"
    )
    token = server.new_user()
    body = multipart(wav_bytes(5.0))
    url = urllib.parse.urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(
            b"POST /api/tasks HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:4096]
        )
        # The upload has started: its temp dir exists while the rest trickles in.
        wait_for(lambda: list(upload_dir.iterdir()), "the upload's temp dir")
        # Others are served meanwhile (the loop is not blocked by the slow client).
        assert server.request("GET", "/api/tasks", token=token).status == 200
        reply = b""
        sent = 4096
        sock.settimeout(0.2)
        while b"\r\n\r\n" not in reply and sent < len(body):
            try:
                sock.sendall(body[sent : sent + 1])
                sent += 1
                reply += sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(30)
        while b'"}' not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    assert sent < len(body), "the whole body went through: no timeout happened"
    assert reply.startswith(b"HTTP/1.1 408"), reply[:300]
    assert b'"error": "timeout"' in reply
    wait_for(lambda: no_task_files(upload_dir), "the partial upload to be removed", 30)
    assert server.request("GET", "/api/tasks", token=token).json()["total_count"] == 0
    assert server.request("GET", "/healthz").status == 200
