"""Artist and album identity rules."""

from __future__ import annotations

from sonicmap.library.identity import (
    VARIOUS_ARTISTS_MBID,
    album_identity,
    artist_identity,
    normalise_name,
)


def test_normalised_names_merge_spelling_variants() -> None:
    assert normalise_name("Daft Punk") == normalise_name("daft punk ") == "daft punk"
    assert normalise_name("ＤＡＦＴ　ＰＵＮＫ") == "daft punk"  # full-width (NFKC)
    assert normalise_name("  Sigur\tRós ") == "sigur rós"
    assert normalise_name("STRASSE") == normalise_name("straße")  # casefold, not lower
    assert normalise_name(None) == ""


def test_artist_key_from_name_or_mbid() -> None:
    a = artist_identity({"artist": "Daft Punk"})
    b = artist_identity({"artist": " daft  punk"})
    assert a is not None and b is not None
    assert a.key == b.key == "name:daft punk"
    assert a.name == "Daft Punk"
    mb = artist_identity(
        {"artist": "Daft Punk", "musicbrainz_artistid": "056E4F3E-D505-4DAD-8EC1-D04F521CBB56"}
    )
    assert mb is not None and mb.key == "mbid:056e4f3e-d505-4dad-8ec1-d04f521cbb56"
    multi = artist_identity({"artist": "A feat. B", "musicbrainz_artistid": "id-a; id-b"})
    assert multi is not None and multi.key == "mbid:id-a"


def test_various_artists_album_belongs_to_track_artist() -> None:
    tags = {"artist": "Aphex Twin", "album_artist": "Various Artists", "album": "Warp 10"}
    a = artist_identity(tags)
    assert a is not None and a.key == "name:aphex twin"
    al = album_identity(tags, a)
    other = {"artist": "Boards of Canada", "album_artist": "VA", "album": "warp 10 "}
    al2 = album_identity(other, artist_identity(other))
    assert al is not None and al2 is not None and al.key == al2.key  # one compilation


def test_fallbacks_when_track_artist_missing() -> None:
    a = artist_identity({"album_artist": "Portishead", "album": "Dummy"})
    assert a is not None and a.key == "name:portishead"
    assert artist_identity({"album_artist": "Various Artists"}) is None
    assert (
        artist_identity({"album_artist": "X", "musicbrainz_albumartistid": VARIOUS_ARTISTS_MBID})
        is None
    )
    assert artist_identity({}) is None
    assert artist_identity({"artists": ["", "Björk"]}).key == "name:björk"


def test_album_identity() -> None:
    a = artist_identity({"artist": "Björk"})
    assert album_identity({"album": "Homogenic"}, a).key == "name:björk\x1fhomogenic"
    assert album_identity({"album": "Homogenic", "album_artist": "BJÖRK"}, a).key == (
        "name:björk\x1fhomogenic"
    )
    assert album_identity({"album": "X", "musicbrainz_albumid": "ABC"}, a).key == "mbid:abc"
    assert album_identity({"album": "  "}, a) is None
    assert album_identity({}, a) is None


def test_preferred_display_name_is_order_independent() -> None:
    from itertools import permutations

    from sonicmap.library.identity import preferred_name

    spellings = ["daft punk", "DAFT PUNK", "Daft Punk", "Daft  Punk", "daft Punk"]
    winners = set()
    for order in permutations(spellings):
        best = order[0]
        for name in order[1:]:
            best = preferred_name(best, name)
        winners.add(best)
    assert winners == {"Daft Punk"}
