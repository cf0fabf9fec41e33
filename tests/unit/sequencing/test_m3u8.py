"""Extended M3U8 text: header, EXTINF lines, paths relative to the playlist's folder."""

from __future__ import annotations

from sonicmap.sequencing.m3u8 import Entry, relative_path, render_m3u8


def test_render_relative_paths_and_labels() -> None:
    text = render_m3u8(
        [
            Entry("/music/A/01 one.flac", 201.6, "Artist A", "One"),
            Entry("/lists/here.mp3", None, None, None),
            Entry("/music/B/two.ogg", 99.4, None, "Two\nlines"),
        ],
        "/lists",
    )
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXTINF:202,Artist A - One",
        "../music/A/01 one.flac",
        "#EXTINF:-1,here.mp3",
        "here.mp3",
        "#EXTINF:99,Two lines",
        "../music/B/two.ogg",
    ]
    assert text.endswith("\n")


def test_windows_paths() -> None:
    assert relative_path("C:\\Music\\a\\b.flac", "C:\\Lists") == "../Music/a/b.flac"
    assert relative_path("D:\\Music\\b.flac", "C:\\Lists") == "D:/Music/b.flac"
