"""docs/games.md names the real fields of the records it describes (a reader tried ``.values``)."""
import dataclasses
import pathlib
import re

from dualgan.games import SpectrumReport

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "games.md"


def test_spectrum_report_fields_named_on_the_games_page_are_its_fields():
    text = " ".join(PAGE.read_text().split())
    sentence = re.search(r"`SpectrumReport` with the fields (.*?)\.", text)
    assert sentence, "docs/games.md no longer lists SpectrumReport's fields"
    named = set(re.findall(r"`(\w+)` \(", sentence.group(1)) + re.findall(r"and `(\w+)`", sentence.group(1)))
    assert named == {f.name for f in dataclasses.fields(SpectrumReport)}, named
