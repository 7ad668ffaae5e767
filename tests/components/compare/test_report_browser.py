"""The report as a browser shows it: headless Chromium renders the file, and the screenshot and
the DOM show the sections, the plots, and the red banner when the audit fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from components.compare.html import render_html
from components.compare.plots import write_plots
from tests.browser import render
from tests.components.compare.fixtures import BANNER, HEADINGS, make_comparison

BANNER_RED = "#b3261e"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def plots(tmp_path_factory) -> dict[str, Path]:
    return write_plots(make_comparison(), tmp_path_factory.mktemp("plots"))


def _pixels_of(image: np.ndarray, colour: str) -> int:
    return int((np.abs(image - np.array(to_rgb(colour))).max(axis=-1) < 0.02).sum())


@pytest.mark.parametrize("failed_audit", [True, False], ids=["audit-failed", "audit-passed"])
def test_chromium_renders_the_report(failed_audit, plots, tmp_path):
    html = tmp_path / "report.html"
    html.write_text(render_html(make_comparison(failed_audit=failed_audit), plots))

    rendered = render(html, tmp_path / "report.png")

    image = imread(rendered.screenshot)[..., :3]
    assert image.shape[:2] == (4000, 1280)
    rgb = (image * 255).astype(np.uint32)
    distinct = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(distinct) > 500, "the screenshot is (nearly) one flat colour"
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in rendered.dom
    assert rendered.dom.count('src="data:image/png;base64,') == len(plots)
    red = _pixels_of(image, BANNER_RED)
    if failed_audit:
        assert BANNER in rendered.dom
        assert red > 20_000, "the failed-audit banner is not drawn in red"
    else:
        assert "Fairness audit failed" not in rendered.dom
        assert red < 100
