"""Import files that are broken in structure are refused whole, naming the member, the
line and the column (issue 13, classes 2, 3 and 8); nothing is read past them."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from heurist import limits
from heurist.transfer.csv_format import SINGLE_COLUMNS
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.files import read_items

HEADER = "kind,code,name,id,category,section,title,playbook\n"
CATEGORY = "category,py,Python,,,,,\n"


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def zipped(tmp_path: Path, members: list[tuple[str, str]]) -> Path:
    path = tmp_path / "store.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: on purpose
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def refused(path: Path) -> str:
    with pytest.raises(InvalidRecord) as caught:
        read_items(path)
    return caught.value.message


def test_a_cell_as_long_as_the_api_allows_is_read(tmp_path: Path) -> None:
    content = "x" * limits.MANUAL_CONTENT_MAX
    header = "kind,id,category,title,content\n"
    path = write(tmp_path, "big.csv", header + f'manual,m1,py,T,"{content}"\n')
    [(_, record)] = read_items(path)
    assert record["content"] == content


def test_a_zip_with_the_same_member_twice_is_refused(tmp_path: Path) -> None:
    one = "code,name\npy,Python\n"
    path = zipped(tmp_path, [("categories.csv", one), ("categories.csv", "code,name\nx,X\n")])
    assert "categories.csv twice" in refused(path)


def test_a_zip_with_the_same_name_in_two_folders_is_refused(tmp_path: Path) -> None:
    exp = "id,category,section,title,playbook\ne1,py,useful,T,P\n"
    path = zipped(tmp_path, [("a/experiences.csv", exp), ("b/experiences.csv", exp)])
    message = refused(path)
    assert "'a/experiences.csv'" in message and "'b/experiences.csv'" in message


def test_an_unterminated_quote_names_line_and_column(tmp_path: Path) -> None:
    rows = HEADER + CATEGORY + 'experience,,,e1,py,useful,"never closed,P\n' + CATEGORY
    message = refused(write(tmp_path, "bad.csv", rows))
    assert message.startswith("line 3, column 7 ('title'): ")
    assert "unterminated quote" in message


def test_text_after_a_closing_quote_names_line_and_column(tmp_path: Path) -> None:
    path = zipped(tmp_path, [("experiences.csv", 'id,title\ne1,"a"b\n')])
    assert refused(path).startswith("experiences.csv line 2, column 2 ('title'): ")


def test_a_csv_without_a_header_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "noheader.csv", CATEGORY + CATEGORY))
    assert message.startswith("line 1, column 2: unknown column 'py'")
    assert "no header row" in refused(write(tmp_path, "empty.csv", ""))
    assert "no header row" in refused(zipped(tmp_path, [("manuals.csv", "")]))


def test_a_header_without_the_kind_column_is_refused(tmp_path: Path) -> None:
    assert "no 'kind' column" in refused(write(tmp_path, "nokind.csv", "code,name\npy,P\n"))


def test_a_column_twice_in_the_header_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "dup.csv", "kind,code,name,name\ncategory,py,A,B\n"))
    assert message == "line 1, column 4: name: column appears twice (also column 3)"


def test_every_exported_column_is_a_known_header(tmp_path: Path) -> None:
    path = write(tmp_path, "all.csv", ",".join(SINGLE_COLUMNS) + "\n")
    assert read_items(path) == []


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.csv"])
def test_a_file_that_is_not_utf8_names_line_and_column(tmp_path: Path, name: str) -> None:
    first = '{"kind": "category", "code": "py", "name": "P"}\n' if name.endswith("l") else HEADER
    path = write(tmp_path, name, first.encode() + b"cat\xe9gory\n")
    assert refused(path).startswith("line 2, column 4: not UTF-8 text (byte 0xe9)")


def test_a_zip_member_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("categories.csv", "code,name\npy,Caf\xe9\n".encode("latin-1"))
    assert refused(path).startswith("categories.csv line 2, column 7: not UTF-8")


def test_a_file_named_zip_that_is_not_one_is_refused(tmp_path: Path) -> None:
    assert "not a readable zip archive" in refused(write(tmp_path, "fake.zip", "hello"))
