"""The page at `/` in a real browser: Debian's chromium, headless, through selenium.

Type a text, press Generate: the output, its score, the beam's n-best and the
attention heatmap appear. The screenshot is saved in `test-output/`.
"""

import os
import pathlib
import shutil
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = pathlib.Path(__file__).parents[2] / "test-output" / "serve_page.png"
SOURCE = "the encoder reads the source and attention looks back"


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="s2s_keras_chromium.")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic",
        "--window-size=1100,1000", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options, webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_the_page_shows_output_score_n_best_and_attention(live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(live_server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(until.element_to_be_clickable((By.ID, "generate")))
    assert "beam" in browser.title
    browser.find_element(By.ID, "source").send_keys(SOURCE)
    browser.find_element(By.ID, "generate").click()
    wait.until(until.visibility_of_element_located((By.ID, "attention-section")))

    answer = live_server_answer(live_server)
    assert browser.find_element(By.ID, "output").text == answer["text"]
    assert float(browser.find_element(By.ID, "score").text) == pytest.approx(
        answer["scores"], abs=1e-3
    )
    n_best = browser.find_elements(By.CSS_SELECTOR, "#n-best li")
    assert len(n_best) == 3  # the export's beam width
    # One cell per (output subword, source subword), weights summing to 1 a row.
    rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
    columns = browser.find_elements(By.CSS_SELECTOR, "#heatmap thead th")[1:]
    assert rows and len(columns) >= len(SOURCE.split())
    for row in rows:
        weights = [
            float(cell.get_attribute("data-weight"))
            for cell in row.find_elements(By.TAG_NAME, "td")
        ]
        assert len(weights) == len(columns) and sum(weights) == pytest.approx(
            1.0, abs=1e-3
        )
    assert browser.find_element(By.ID, "error").text == ""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    print(f"\nscreenshot: {SCREENSHOT}")


def test_the_page_shows_a_server_error(live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(live_server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(until.element_to_be_clickable((By.ID, "generate")))
    # A text over the server's body limit: the page says what the server said.
    browser.execute_script(
        "document.getElementById('source').value = 'word '.repeat(300000)"
    )
    browser.find_element(By.ID, "generate").click()
    wait.until(lambda driver: driver.find_element(By.ID, "error").text)
    assert "413" not in browser.find_element(By.ID, "error").text
    assert "bytes" in browser.find_element(By.ID, "error").text
    assert not browser.find_element(By.ID, "result").is_displayed()


def live_server_answer(live_server):
    """What the API answers for SOURCE with the `generate` signature."""
    import httpx2

    body = {"signature_name": "generate", "inputs": {"text": [SOURCE]}}
    outputs = httpx2.post(
        live_server.url + "/v1/models/beam:predict", json=body
    ).json()["outputs"]
    return {"text": outputs["text"][0], "scores": outputs["scores"][0]}
