"""The drift report: one self-contained HTML file that headless Chromium renders with every plot."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from otel_modeldata import analysis
from otel_modeldata.analysis.report import BASELINE_COLOR, CURRENT_COLOR

ROWS = 8_000


class Page(HTMLParser):
    """The tags and attributes a self-contained page must get right, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def of(cls, markup: str) -> Page:
        page = cls()
        page.feed(markup)
        return page

    def images(self) -> list[str]:
        return [attrs.get("src") or "" for tag, attrs in self.tags if tag == "img"]


def frame(seed: int, shift: float = 0.0, new: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"age": rng.normal(40, 12, ROWS), "income": rng.lognormal(10, 0.5, ROWS)})
    data["age"] += shift * 12
    plan = rng.choice(["basic", "plus", "pro"], p=[0.6, 0.3, 0.1], size=ROWS).astype(object)
    plan[rng.random(ROWS) < new] = "enterprise"
    data["plan"] = plan
    data["$day"] = [date(2026, 11, 1) + timedelta(days=int(d)) for d in rng.integers(0, 4, ROWS)]
    return data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[analysis.DriftResult, Path]:
    result = analysis.drift(analysis.baseline(frame(1).drop(columns="$day")), frame(2, shift=0.5, new=0.1))
    path = tmp_path_factory.mktemp("drift-report") / "report.html"
    result.to_html(path)
    return result, path


def colour_share(image: Image.Image, hex_colour: str) -> float:
    """Share of the pixels within a small distance of ``hex_colour``."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return float((np.abs(pixels - target).sum(axis=2) < 30).mean())


def test_report_is_self_contained(report: tuple[analysis.DriftResult, Path]) -> None:
    """No script, style sheet, font or image from elsewhere: every plot is an inline PNG with content."""
    result, path = report
    page = Page.of(path.read_text(encoding="utf-8"))
    assert not [tag for tag, _ in page.tags if tag in {"script", "link", "iframe", "object", "embed"}]
    assert "url(" not in path.read_text(encoding="utf-8")
    images = page.images()
    assert len(images) == len(result.features) + 1  # one per feature and the per-day series
    for src in images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.width > 200
        assert image.height > 100
        assert colour_share(image, BASELINE_COLOR) + colour_share(image, CURRENT_COLOR) > 0.001
    text = " ".join(page.text)
    assert "Drift detected in 2 of 3 features: age, plan" in text
    rows = [attrs.get("class") for tag, attrs in page.tags if tag == "tr"][1:]
    assert rows == ["drifted", "drifted", ""]  # sorted by drift, the calm feature last


def chromium() -> str:
    """Debian's chromium, installed when missing and we may (root with apt-get), as CI does."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=False, capture_output=True, timeout=600
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed and cannot be installed here")
    return found


def headless(binary: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_chromium_renders_every_plot(report: tuple[analysis.DriftResult, Path], tmp_path: Path) -> None:
    """Headless Chromium shows the verdict, the table and every plot (their colours in the screenshot)."""
    result, path = report
    binary = chromium()
    dom = Page.of(headless(binary, tmp_path / "profile", "--dump-dom", path.as_uri()).stdout)
    assert len(dom.images()) == len(result.features) + 1
    assert all(src.startswith("data:image/png;base64,") for src in dom.images())
    assert "Drift detected in 2 of 3 features" in " ".join(dom.text)
    screenshot = path.with_suffix(".png")
    headless(
        binary, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1200,3000", path.as_uri()
    )
    shot = Image.open(screenshot)
    assert shot.size == (1200, 3000)
    assert len(shot.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 100  # not blank
    assert colour_share(shot, BASELINE_COLOR) > 0.002  # the plots were drawn, not broken-image icons
    assert colour_share(shot, CURRENT_COLOR) > 0.002
    assert colour_share(shot, "#fde2e1") > 0.002  # the red verdict banner


def test_png_summary_has_every_feature(report: tuple[analysis.DriftResult, Path], tmp_path: Path) -> None:
    """``to_png``: one image, a panel per feature in the two plot colours."""
    result, _ = report
    result.to_png(tmp_path / "summary.png")
    image = Image.open(tmp_path / "summary.png")
    assert image.width >= 3 * 300
    assert colour_share(image, BASELINE_COLOR) > 0.005
    assert colour_share(image, CURRENT_COLOR) > 0.005
