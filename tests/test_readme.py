"""The README and docs/ say only what is true of the CLI: every `dr-audit ...` command they show
(synopsis blocks, shell examples, inline code) names a command that exists and only options
its `--help` lists; and every link and path they give stays inside the repository."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("*/README.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(dr-audit [^`]+)`")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def shown_commands(text: str) -> Iterator[str]:
    """Each `dr-audit ...` command of a document, its continuation lines joined: in a synopsis
    block (no language), the indented lines that follow; in a shell block, the lines after a
    trailing backslash. Inline code spans count too."""
    for lang, block in FENCE.findall(text):
        current: list[str] | None = None
        for line in block.splitlines():
            start = re.search(r"(?:^|[\s(])(dr-audit(?:\s.*)?)$", line)
            if start and not line.lstrip().startswith("#"):
                if current:
                    yield " ".join(current)
                current = [start.group(1).split(" #", 1)[0].strip()]
            elif current is not None and line.strip() and (
                    current[-1].endswith("\\") or (not lang and line.startswith("    "))):
                current.append(line.split(" #", 1)[0].strip())
            elif current is not None:
                yield " ".join(current)
                current = None
        if current:
            yield " ".join(current)
    yield from INLINE.findall(FENCE.sub("", text))


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def resolve(command: str) -> tuple[list[str], argparse.ArgumentParser]:
    """The subcommand path a shown command names, and the parser that reads its options."""
    words = command.replace("\\", " ").split()
    assert words[0] == "dr-audit"
    parser = build_parser()
    path: list[str] = []
    for word in words[1:]:
        subs = _subparsers(parser)
        if not subs or word not in subs:
            break
        path.append(word)
        parser = subs[word]
    return path, parser


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    out = {s for a in parser._actions for s in a.option_strings}
    for sub in _subparsers(parser).values():  # options a subcommand line may list for all
        out |= options_of(sub)
    return out


def all_shown() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), c) for p in DOCS
            for c in shown_commands(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("doc", "command"), all_shown(), ids=lambda v: v[:60])
def test_every_shown_command_and_option_exists(doc: str, command: str) -> None:
    path, parser = resolve(command)
    top = {s for a in build_parser()._actions for s in a.option_strings}
    assert path or set(command.split()[1:]) <= top, f"{doc}: `{command}` names no dr-audit command"
    known = options_of(parser) | {"--help", "--version", "--verbose"}
    unknown = [o for o in OPTION.findall(command) if o not in known]
    assert not unknown, f"{doc}: `dr-audit {' '.join(path)}` has no {unknown}: `{command}`"


def test_the_readme_synopsis_names_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = {tuple(resolve(c)[0][:1]) for c in shown_commands(readme)}
    assert {(name,) for name in _subparsers(build_parser())} <= shown


def test_the_readme_synopsis_shows_every_option() -> None:
    """Every option of every command (drill's are in docs/drills.md) is in the README, in its
    synopsis or in the list of the config/output options the synopsis calls "same"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown: dict[str, set[str]] = {}
    for command in shown_commands(readme):
        path, _ = resolve(command)
        if path:
            shown.setdefault(path[0], set()).update(OPTION.findall(command))
    same = readme.split("Same config/output options:", 1)[1].split("\n\n", 1)[0]
    shared = set(OPTION.findall(same))
    for name, parser in _subparsers(build_parser()).items():
        if name == "drill":
            continue
        options = {s for a in parser._actions for s in a.option_strings
                   if s.startswith("--")} - {"--help"}
        missing = options - shown.get(name, set()) - shared
        assert not missing, f"README synopsis of `dr-audit {name}` lacks {sorted(missing)}"


def test_the_extraction_sees_synopses_shell_lines_and_inline_code() -> None:
    text = ("```\ndr-audit scan  [--org --role-name NAME]\n               [--workers N]\n"
            "dr-audit demo  [--output-dir DIR]\n```\n\n```sh\npip install .\n"
            "dr-audit state --file s.json \\\n  --fail-on high   # a comment\n"
            "aws iam create-role --role-name x\n```\nThen `dr-audit repo .` runs.\n")
    assert list(shown_commands(text)) == [
        "dr-audit scan  [--org --role-name NAME] [--workers N]",
        "dr-audit demo  [--output-dir DIR]",
        "dr-audit state --file s.json \\ --fail-on high",
        "dr-audit repo ."]
    path, parser = resolve("dr-audit drill rds --db x")
    assert path == ["drill", "rds"] and "--db" in options_of(parser)
    assert "--no-such-option" not in options_of(resolve("dr-audit scan")[1])


def test_docs_link_only_inside_the_repository() -> None:
    for p in DOCS:
        text = p.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, p
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (p.parent / target).resolve().is_relative_to(ROOT), (p, target)
            assert (p.parent / target).exists(), (p, target)
        for path in re.findall(r"`((?:docs|examples)/[\w./-]+)`", text):
            assert (ROOT / path.rstrip(".")).exists(), (p, path)
