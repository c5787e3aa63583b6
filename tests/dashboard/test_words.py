"""The dashboard's words: every key in both languages, and every key a template uses."""

from __future__ import annotations

import re
from pathlib import Path

from api.dashboard.i18n import TEXTS

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "dashboard" / "templates"


def test_norwegian_and_english_have_the_same_words():
    assert set(TEXTS["nb"]) == set(TEXTS["en"])


def test_every_word_a_template_names_exists():
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_0-9]+)\b", path.read_text(encoding="utf-8")))
    missing = sorted(used - set(TEXTS["nb"]))
    assert missing == []
