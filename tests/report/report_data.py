"""Constants shared by the report tests (a module of its own: conftest.py files cannot be imported by name)."""

from pathlib import Path

HOSTILE = '<img src=x onerror=alert(1)> & "q"'  # a legal folder name; must show as text, never as markup
COLOURS = {"red": (200, 50, 50), "green": (50, 170, 70), HOSTILE: (60, 70, 200)}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # screenshots (ignored by git; CI keeps them)
