import pytest

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.units import format_count, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4096", 4096),
        ("0x1000", 4096),
        ("64K", 65536),
        ("64KB", 65536),
        ("64KiB", 65536),
        ("64 kib", 65536),
        ("2MiB", 2 << 20),
        ("1.5MiB", 3 << 19),
        ("1G", 1 << 30),
        ("0", 0),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "64XB", "-1", "0x10K", "1.3B", "1e3"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_size(text)


def test_format() -> None:
    assert format_size(512) == "512 B"
    assert format_size(65536) == "64.0 KiB"
    assert format_size(3 << 20) == "3.0 MiB"
    assert format_count(7_489_664) == "7.49 M"
    assert format_count(999) == "999"
