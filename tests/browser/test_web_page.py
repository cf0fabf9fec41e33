"""The web page in Chromium: the map draws every artist, an artist opens with its similar
artists, a path is drawn and listed, a model is activated with the key and refused without it,
API errors read as sentences. Screenshots of each view for docs/ui.md on request."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from browserkit import KEY, make_driver, screenshot

pytest.importorskip("selenium")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


def wait(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except Exception:  # noqa: BLE001 - element not there yet
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get_json(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + "/api/v1" + path, timeout=10) as r:
        return json.load(r)


def open_page(d: Any, base: str, view: str = "map") -> None:
    d.get("about:blank")  # a fresh page each time (a hash change alone would not reload)
    d.get(f"{base}/#{view}")
    wait(lambda: d.execute_script("return document.body.dataset.mapReady") == "1", what="map")


def results_for(d: Any, q: str) -> list[Any]:
    rows = d.find_elements(By.CSS_SELECTOR, "#track-results li[data-track-id]")
    return rows if rows and all(q in r.text for r in rows) else []


def alert_text(d: Any, needle: str) -> str:
    """The message box's text once it contains ``needle``."""

    def text() -> str:
        box = d.find_element(By.ID, "alert")
        return box.text if box.is_displayed() and needle in box.text else ""

    return wait(text, what=f"a message with {needle!r}")


def test_map_draws_one_dot_per_artist(browser, library) -> None:
    d, base = browser, library["base"]
    open_page(d, base)
    data = get_json(base, "/map")
    assert len(data["artists"]["id"]) == library["n_artists"] == 60
    assert d.find_element(By.ID, "map").get_attribute("data-points") == "60"
    # Every artist's dot is really painted: the pixel at its centre is not the background.
    painted = d.execute_script(
        """
        const c = document.getElementById('map'), ids = arguments[0];
        const ctx = c.getContext('2d'), bg = ctx.getImageData(1, 1, 1, 1).data;
        const dpr = c.width / c.getBoundingClientRect().width;
        let n = 0;
        for (const id of ids) {
          const [x, y] = c.pointOf(id);
          const p = ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
          if (p[0] !== bg[0] || p[1] !== bg[1] || p[2] !== bg[2]) n++;
        }
        return n;""",
        data["artists"]["id"],
    )
    assert painted == 60
    legend = d.find_elements(By.CSS_SELECTOR, "#legend button")
    assert len(legend) == len(data["clusters"]) and "(" in legend[0].text
    screenshot(d, "map")


def test_clicking_an_artist_opens_its_panel_with_similar_artists(browser, library) -> None:
    d, base = browser, library["base"]
    open_page(d, base)
    data = get_json(base, "/map")
    target = data["artists"]["id"][7]
    name = data["artists"]["name"][7]
    canvas = d.find_element(By.ID, "map")
    x, y = d.execute_script("return arguments[0].pointOf(arguments[1])", canvas, target)
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(d).move_to_element_with_offset(canvas, x - w / 2, y - h / 2).click().perform()
    wait(lambda: d.find_element(By.ID, "artist-title").text == name, what="artist panel")
    similar = wait(
        lambda: d.find_elements(By.CSS_SELECTOR, "#similar-artists button"), what="similar"
    )
    expected = get_json(base, f"/artists/{target}/similar?limit=10")["items"]
    assert [b.text.split(" · ")[0] for b in similar] == [s["name"] for s in expected]
    screenshot(d, "artist")
    # A similar artist is clickable and opens in turn.
    similar[0].click()
    wait(lambda: d.find_element(By.ID, "artist-title").text == expected[0]["name"], what="next")
    # By keyboard: the opened artist is in the middle of the view; Enter on the map opens it.
    name0 = d.find_element(By.ID, "artist-title").text
    open_page(d, base)
    d.execute_script("document.getElementById('find-artist-input').value = arguments[0]", name0)
    d.find_element(By.CSS_SELECTOR, "#find-artist button[type=submit]").click()
    wait(lambda: d.find_element(By.ID, "artist-title").text == name0, what="found by name")
    d.execute_script("document.getElementById('artist-title').textContent = ''")
    canvas = d.find_element(By.ID, "map")
    canvas.send_keys(Keys.ENTER)
    wait(lambda: d.find_element(By.ID, "artist-title").text == name0, what="opened by Enter")


def test_a_path_between_two_tracks_is_drawn_and_listed(browser, library) -> None:
    d, base = browser, library["base"]
    open_page(d, base, "tracks")
    q = d.find_element(By.ID, "track-q")
    q.send_keys("Song 1")  # Song 1, Song 10..19, Song 100..
    d.find_element(By.CSS_SELECTOR, "#track-search button").click()
    rows = wait(lambda: results_for(d, "Song 1"), what="results")
    first, last = rows[0], rows[-1]
    a_id, b_id = first.get_attribute("data-track-id"), last.get_attribute("data-track-id")
    first.find_element(By.XPATH, ".//button[text()='From']").click()
    last.find_element(By.XPATH, ".//button[text()='To']").click()
    count = d.find_element(By.ID, "path-count")
    count.clear()
    count.send_keys("6")
    screenshot(d, "tracks")
    d.find_element(By.CSS_SELECTOR, "#path-form button[type=submit]").click()
    items = wait(lambda: d.find_elements(By.CSS_SELECTOR, "#playlist-items li"), what="path list")
    expected = get_json(base, f"/tracks/{a_id}/path?to={b_id}&count=6")["tracks"]
    assert len(items) == len(expected) == 6
    assert [li.find_element(By.CLASS_NAME, "who").text for li in items] == [
        f"{t['artist']} — {t['title']}" for t in expected
    ]
    drawn = int(d.find_element(By.ID, "map").get_attribute("data-path"))
    artists = [t["artist_id"] for t in expected]
    assert drawn == 1 + sum(a != b for a, b in zip(artists, artists[1:], strict=False)) >= 2
    assert d.find_element(By.ID, "export-m3u8").is_displayed()
    screenshot(d, "path")


def post_json(base: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        base + "/api/v1" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": KEY},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_push_shows_with_a_music_server_and_says_why_it_cannot_run(browser, library) -> None:
    d, base = browser, library["base"]
    open_page(d, base, "tracks")
    assert not d.find_element(By.ID, "push-box").is_displayed()  # no server yet
    post_json(base, "/servers", {"name": "home", "kind": "subsonic", "url": "http://127.0.0.1:9",
                                 "user": "me", "secret": {"value": "pw"}, "test": False})  # fmt: skip
    open_page(d, base, "tracks")
    d.execute_script("sessionStorage.setItem('sonicmap.apiKey', arguments[0])", KEY)
    d.find_element(By.ID, "track-q").send_keys("Song 3")
    d.find_element(By.CSS_SELECTOR, "#track-search button").click()
    rows = wait(lambda: results_for(d, "Song 3"), what="results")
    rows[0].find_element(By.XPATH, ".//button[text()='From']").click()
    rows[-1].find_element(By.XPATH, ".//button[text()='To']").click()
    d.find_element(By.CSS_SELECTOR, "#path-form button[type=submit]").click()
    push = wait(
        lambda: (
            d.find_element(By.ID, "push-playlist").is_displayed()
            and d.find_element(By.ID, "push-playlist")
        )
    )
    assert d.find_element(By.ID, "push-server").get_attribute("value") == "home"
    push.click()
    # Embedded mode has no worker to run the push: the page relays the server's reason.
    assert "broker_unavailable" in alert_text(d, "HTTP 503")


def test_model_activation_needs_the_key(browser, library) -> None:
    d, base = browser, library["base"]
    archived = library["archived_model"]
    open_page(d, base, "models")
    d.execute_script("sessionStorage.clear()")

    def activate_button():
        return d.find_element(By.CSS_SELECTOR, f"tr[data-model-id='{archived}'] button")

    wait(activate_button, what="models table")
    screenshot(d, "models")
    # Without a key: the dialog asks; cancelling refuses the change with a sentence.
    activate_button().click()
    wait(lambda: d.find_element(By.ID, "key-dialog").is_displayed(), what="key dialog")
    d.find_element(By.CSS_SELECTOR, "#key-form button[value=cancel]").click()
    alert_text(d, "needs the API key")
    # A wrong key: the server refuses (401) and the page says so.
    activate_button().click()
    wait(lambda: d.find_element(By.ID, "key-dialog").is_displayed(), what="key dialog")
    d.find_element(By.ID, "key-input").send_keys("wrong-key")
    d.find_element(By.CSS_SELECTOR, "#key-form button[value=save]").click()
    assert "invalid" in alert_text(d, "HTTP 401").lower()
    assert get_json(base, f"/gmm/models/{archived}")["status"] == "archived"
    # The right key: activated, and the table marks it.
    activate_button().click()
    wait(lambda: d.find_element(By.ID, "key-dialog").is_displayed(), what="key dialog")
    d.find_element(By.ID, "key-input").send_keys(KEY)
    d.find_element(By.CSS_SELECTOR, "#key-form button[value=save]").click()
    wait(lambda: "now active" in d.find_element(By.ID, "alert").text, what="activated")
    assert get_json(base, f"/gmm/models/{archived}")["status"] == "active"
    row = wait(lambda: d.find_element(By.CSS_SELECTOR, f"tr.active[data-model-id='{archived}']"))
    assert "active" in row.text
    assert d.execute_script("return sessionStorage.getItem('sonicmap.apiKey')") == KEY
    # Put the other model back for the other tests.
    d.find_element(By.CSS_SELECTOR, f"tr[data-model-id='{library['active_model']}'] button").click()
    wait(lambda: get_json(base, f"/gmm/models/{library['active_model']}")["status"] == "active")


def test_api_errors_read_as_sentences(browser, library) -> None:
    d, base = browser, library["base"]
    open_page(d, base, "tracks")
    d.get_log("browser")  # start with an empty log
    # A count the API refuses: the server's own message, not a blank page.
    d.find_element(By.ID, "track-q").send_keys("Song 2")
    d.find_element(By.CSS_SELECTOR, "#track-search button").click()
    rows = wait(lambda: results_for(d, "Song 2"), what="results")
    rows[0].find_element(By.XPATH, ".//button[text()='From']").click()
    rows[1].find_element(By.XPATH, ".//button[text()='To']").click()
    count = d.find_element(By.ID, "path-count")
    count.clear()
    count.send_keys("900")  # above the API's 500
    d.execute_script("document.getElementById('path-count').removeAttribute('max')")
    d.find_element(By.CSS_SELECTOR, "#path-form button[type=submit]").click()
    text = alert_text(d, "HTTP 422")
    assert "count" in text and "500" in text
    # No uncaught script error on the way (handled API errors are logged, not thrown).
    assert [e for e in d.get_log("browser") if e["source"] == "javascript"] == []


def test_jobs_and_dark_phone_views(library) -> None:
    base = library["base"]
    d = make_driver(width=390, height=844, dark=True, mobile=True)
    try:
        open_page(d, base, "jobs")
        wait(lambda: "train_gmm" in d.find_element(By.ID, "running").text, what="running job")
        assert d.find_elements(By.CSS_SELECTOR, "#running progress")
        assert "not readable" in d.find_element(By.ID, "failures").text
        bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(15, 19, 24)"  # the dark theme
        screenshot(d, "jobs-phone-dark")
        open_page(d, base, "map")
        # On a phone the panel goes under the map, nothing is wider than the screen.
        assert d.execute_script("return document.documentElement.scrollWidth") <= 390
        screenshot(d, "map-phone-dark")
    finally:
        d.quit()


def test_api_docs_render_offline(browser, library) -> None:
    """/docs draws Swagger UI from the package's own files (no CDN is reachable here)."""
    d, base = browser, library["base"]
    d.get(f"{base}/docs")
    title = wait(lambda: d.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title"), what="docs")
    assert "sonicmap" in title.text
    assert wait(lambda: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"), what="paths")
    scripts = d.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert scripts and all(s.startswith(base) for s in scripts)
