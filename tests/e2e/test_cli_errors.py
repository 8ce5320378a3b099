"""Every user error of the CLI is one line and exit 2; an unreachable or unavailable
server or database is one line and exit 3; a traceback is only ever a bug
(issue 13, classes 3, 4 and 8). The CLI runs as a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.server import free_port
from tests.support.transfer_data import CATEGORIES, ENTRIES, write_jsonl

HEURIST = str(Path(sys.executable).with_name("heurist"))


def cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEURIST_")}
    environ |= {
        "HEURIST_DATA_DIR": str(tmp_path / "data"),
        "HEURIST_DATABASE_URL": f"sqlite:///{tmp_path / 'heurist.db'}",
        "HEURIST_API_URL": f"http://127.0.0.1:{free_port()}",  # no server there
        "HEURIST_ADMIN_TOKEN": "t",
        "COLUMNS": "300",
        **extra,
    }
    return subprocess.run(
        [HEURIST, *args], env=environ, capture_output=True, text=True, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    progress = ("validate ", "write ", "embed ")  # the progress bars, also on stderr
    errors = [
        line for line in lines if line != "nothing was imported" and not line.startswith(progress)
    ]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def entries_in_store(tmp_path: Path) -> int:
    export = tmp_path / "check.jsonl"
    assert cli(tmp_path, "export", str(export)).returncode == 0
    lines = export.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if json.loads(line)["kind"] != "category")


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    seed = write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES)
    result = cli(tmp_path, "import", str(seed))
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_bad_files_are_one_line_and_exit_2_with_nothing_written(seeded: Path) -> None:
    tmp = seeded
    latin = tmp / "latin.jsonl"
    latin.write_bytes(b'{"kind": "category", "code": "x", "name": "Caf\xe9"}\n')
    fake_zip = tmp / "fake.zip"
    fake_zip.write_text("not a zip", encoding="utf-8")
    nan = tmp / "nan.jsonl"
    nan.write_text(json.dumps(CATEGORIES[0])[:-1] + ', "created_at": NaN}\n', encoding="utf-8")
    two = tmp / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        for folder in ("a", "b"):
            archive.writestr(f"{folder}/categories.csv", "code,name\nzz,Z\n")
    quote = tmp / "quote.csv"
    quote.write_text('kind,code,name\ncategory,zz,"open\n', encoding="utf-8")
    folder = tmp / "folder.jsonl"
    folder.mkdir()
    cases = [
        (latin, ("line 1, column 47", "not UTF-8")),
        (fake_zip, ("not a readable zip",)),
        (nan, ("line 1: created_at", "out of range")),
        (two, ("a/categories.csv", "b/categories.csv")),
        (quote, ("line 2, column 3 ('name')", "unterminated quote")),
        (folder, ("no such file",)),
        (tmp / "missing.csv", ("no such file",)),
    ]
    for path, needles in cases:
        one_line_error(cli(tmp, "import", str(path)), 2, *needles)
    assert entries_in_store(tmp) == 3


def test_a_replace_that_would_wipe_the_store_is_refused(seeded: Path) -> None:
    empty = seeded / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    result = cli(seeded, "import", str(empty), "--mode", "replace")
    one_line_error(result, 2, "would delete 3 of 3 entries", "--allow-delete")
    assert entries_in_store(seeded) == 3
    confirmed = cli(seeded, "import", str(empty), "--mode", "replace", "--allow-delete")
    assert confirmed.returncode == 0, confirmed.stderr
    assert entries_in_store(seeded) == 0


def test_db_upgrade_with_the_database_down_is_one_line(tmp_path: Path) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/heurist"
    result = cli(tmp_path, "db", "upgrade", HEURIST_DATABASE_URL=down)
    one_line_error(result, 3, "database is unavailable")


class _Answer(BaseHTTPRequestHandler):
    status = 503

    def _reply(self) -> None:
        body = json.dumps({"error": {"code": "x", "message": "the database is unavailable"}})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_DELETE = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_server_answering_503_is_one_line_and_exit_3(
    tmp_path: Path, answering: tuple[str, type[_Answer]]
) -> None:
    url, handler = answering
    for args in (("queue", "status"), ("search", "x"), ("queue", "drain", "--timeout", "1")):
        one_line_error(cli(tmp_path, *args, HEURIST_API_URL=url), 3, "503")
    handler.status = 422
    one_line_error(cli(tmp_path, "search", "x", HEURIST_API_URL=url), 2, "422")
