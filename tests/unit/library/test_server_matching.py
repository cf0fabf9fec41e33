"""The matching ladder: every rung, its tie-breaks, and never a guess."""

from __future__ import annotations

from sonicmap.library.matching import LocalTrack, Matcher, RemoteSong, method_counts, norm_text


def local(i: int, rel: str | None, **kw: object) -> LocalTrack:
    return LocalTrack(id=i, rel_path=rel, abs_path=f"/data/music/{rel}" if rel else None, **kw)


LIB = [
    local(1, "Daft Punk/Discovery/01 One More Time.flac", artist="Daft Punk",
          title="One More Time", album="Discovery", duration_s=320.4, track_no=1),
    local(2, "Daft Punk/Discovery/02 Aerodynamic.flac", artist="Daft Punk",
          title="Aerodynamic", album="Discovery", duration_s=212.0, track_no=2,
          mbid="0e3e5b0f-ab9c-4a0c-9d3f-1a3a1bbd3f65"),
    local(3, "Björk/Post/01 Army of Me.mp3", artist="Björk", title="Army of Me",
          album="Post", duration_s=234.0, isrc="GBAAN9500079"),
    # the same recording on a best-of: same title, artist and ISRC, another album
    local(4, "Björk/Greatest Hits/03 Army of Me.mp3", artist="Björk", title="Army of Me",
          album="Greatest Hits", duration_s=234.5, isrc="GBAAN9500079"),
    # two "Intro"s on one album, told apart only by the track number
    local(5, "X/Y/01 Intro.ogg", artist="X", title="Intro", album="Y", duration_s=60.0, track_no=1),
    local(6, "X/Y/09 Intro.ogg", artist="X", title="Intro", album="Y", duration_s=60.0, track_no=9),
    local(7, "loose.mp3", artist="Z", title="Loose", album=None, duration_s=100.0),
    local(8, "Other/Discovery/01 One More Time.flac", artist="Someone Else",
          title="One More Time", album="Discovery", duration_s=320.0),
]  # fmt: skip


def test_path_relative_or_under_the_servers_own_folder() -> None:
    m = Matcher(LIB)
    songs = [
        RemoteSong("a", path="Daft Punk/Discovery/01 One More Time.flac"),
        RemoteSong("b", path="/media/music/Daft Punk/Discovery/02 Aerodynamic.flac"),
        RemoteSong("c", path="C:\\Music\\Björk\\Post\\01 Army of Me.mp3"),
        RemoteSong("d", path="daft punk/discovery/01 one more time.flac"),  # case folded
    ]
    got = m.match_all(songs)
    assert got == {"a": (1, "path"), "b": (2, "path"), "c": (3, "path"), "d": (1, "path")}


def test_a_lone_file_name_needs_a_trusted_prefix() -> None:
    m = Matcher(LIB)
    # "loose.mp3" at the root matches only under a prefix other matches have shown
    alone = [RemoteSong("l", path="/srv/elsewhere/loose.mp3")]
    assert m.match_all(alone)["l"] is None
    with_others = [
        RemoteSong("a", path="/srv/music/Daft Punk/Discovery/01 One More Time.flac"),
        RemoteSong("l", path="/srv/music/loose.mp3"),
        RemoteSong("m", path="/srv/elsewhere/loose.mp3"),
    ]
    got = m.match_all(with_others)
    assert got["l"] == (7, "path") and got["m"] is None
    # a configured prefix is trusted, and everything else is refused
    m2 = Matcher(LIB, path_prefix="/srv/elsewhere")
    got = m2.match_all(
        alone + [RemoteSong("a", path="/srv/music/Daft Punk/Discovery/01 One More Time.flac")]
    )
    assert got == {"l": (7, "path"), "a": None}


def test_tag_rungs_in_order() -> None:
    m = Matcher(LIB)
    songs = [
        # MBID wins even with other tags wrong
        RemoteSong("mb", title="???", artist="???", mbid="0E3E5B0F-AB9C-4A0C-9D3F-1A3A1BBD3F65"),
        # one ISRC, two tracks: the album decides
        RemoteSong("isrc", title="Army of Me", artist="Björk", album="Greatest Hits",
                   isrc="GBAAN9500079", duration_s=234.0),
        # artist + title + album within 2 s, punctuation and case aside
        RemoteSong("tags", title="one more time!", artist="DAFT PUNK", album="Discovery",
                   duration_s=318.5),
        # artist + title + duration (album differs on the server)
        RemoteSong("td", title="Loose", artist="Z", album="Singles", duration_s=101.9),
        # two Intros: the track number decides
        RemoteSong("intro9", title="Intro", artist="X", album="Y", duration_s=60, track_no=9),
    ]  # fmt: skip
    got = m.match_all(songs, use_paths=False)
    assert got == {
        "mb": (2, "mbid"),
        "isrc": (4, "isrc"),
        "tags": (1, "tags"),
        "td": (7, "title_duration"),
        "intro9": (6, "tags"),
    }
    assert method_counts(got.values()) == {
        "path": 0, "mbid": 1, "isrc": 1, "tags": 2, "title_duration": 1
    }  # fmt: skip


def test_never_a_guess() -> None:
    m = Matcher(LIB)
    songs = [
        RemoteSong("far", title="Loose", artist="Z", duration_s=102.5),  # 2.5 s off
        RemoteSong("nodur", title="Loose", artist="Z"),  # no duration: no tag match
        RemoteSong("intro?", title="Intro", artist="X", album="Y", duration_s=60),  # which one?
        RemoteSong("isrc?", isrc="GBAAN9500079", duration_s=234.2),  # two tracks, no album
        RemoteSong("stranger", title="Unknown", artist="Nobody", duration_s=10),
        RemoteSong("nopath", path="/music/Daft Punk/Discovery/03 Digital Love.flac"),
    ]
    assert set(m.match_all(songs).values()) == {None}


def test_norm_text() -> None:
    assert norm_text("  Don’t   Stop! ") == norm_text("dont stop") == "dont stop"
    assert norm_text("ＢＪÖＲＫ") == "björk"
    assert norm_text(None) == ""
