"""Pointers from the code to the documentation resolve (docs/CONTRIBUTING.md, How to test).

A pointer is ``README, <Section>``, ``docs/<page>.md`` or ``docs/<page>.md, <Section>``, in a
comment, docstring or message; <Section> is the exact text of a heading of that file and ends at
the first of ``) ] ; : , " ' `` ``, ". " or the end of the line, so a pointer sits on one line.
Every pointer in the code, in README.md, CHANGELOG.md and docs/*.md must name an existing file and
heading; in the code, any other mention of the README ("see the README") is an error too, because
it names no section (another project's README, "its README" or "the port's README", is not ours). Local Markdown links of the documentation must name existing files. The
README stays a manual: at most 16 KB, and its Quick start holds the two commands .ci/run runs.
"""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_DIRS = ("src", "scripts", "benchmarks", "tests", "ascend310_infer", "config")
CODE_SUFFIXES = (".py", ".sh", ".cc", ".cpp", ".h", ".hpp", ".txt", ".yaml", ".yml", ".cmake")
SKIP_DIRS = {"__pycache__", "build", ".pytest_cache"}
THIS_FILE = os.path.relpath(os.path.abspath(__file__), REPO)
README_MAX_BYTES = 16 * 1024

POINTER = re.compile(r"(?<![\w/.-])(README(?:\.md)?|docs/[\w.-]+?\.md)(?![\w/-]|\.\w)"
                     r"(?:, ((?:(?!\.\s|\.$)[^)\];:,\"'`\n])+))?")
README_MENTION = re.compile(r"(?<![\w/.-])README(?!\.md)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
LOCAL_LINK = re.compile(r"\]\(([^)#\s]+?)(?:#[^)\s]*)?\)")


def code_files():
    """Repository-relative paths of the code that may point at the documentation."""
    paths = [name for name in sorted(os.listdir(REPO)) if name.endswith(".py")]
    for top in CODE_DIRS:
        for root, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(CODE_SUFFIXES) or name == "CMakeLists.txt":
                    paths.append(os.path.relpath(os.path.join(root, name), REPO))
    return [path for path in paths if path != THIS_FILE]


def doc_files():
    paths = ["README.md", "CHANGELOG.md"]
    docs = os.path.join(REPO, "docs")
    if os.path.isdir(docs):
        paths += ["docs/" + name for name in sorted(os.listdir(docs)) if name.endswith(".md")]
    return [path for path in paths if os.path.isfile(os.path.join(REPO, path))]


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8", errors="replace") as f:
        return f.read()


def headings(text):
    """The heading texts of a Markdown file (lines in ``` fences are not headings)."""
    found, fenced = set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and HEADING.match(line):
            found.add(HEADING.match(line).group(1))
    return found


def pointers(text):
    """(line number, file, section or None) of every pointer in ``text``."""
    for number, line in enumerate(text.splitlines(), 1):
        for match in POINTER.finditer(line):
            target = "README.md" if match.group(1) == "README" else match.group(1)
            section = match.group(2).strip().rstrip(".") if match.group(2) else None
            if section is None or not section.startswith("<"):  # "README, <Section>" describes the form
                yield number, target, section


def broken_pointers(text, where, exists=None, headings_of=None):
    """Messages for the pointers of ``text`` that do not resolve; ``where`` names the text."""
    exists = exists or (lambda target: os.path.isfile(os.path.join(REPO, target)))
    headings_of = headings_of or (lambda target: headings(read(target)))
    problems = []
    for number, target, section in pointers(text):
        if not exists(target):
            problems.append(f"{where}:{number}: {target} does not exist")
        elif section is not None and section not in headings_of(target):
            problems.append(f"{where}:{number}: {target} has no heading {section!r}")
    return list(dict.fromkeys(problems))  # a Markdown link names its page twice on one line


def loose_readme_mentions(text, where):
    """Messages for mentions of the README that are not a ``README, <Section>`` pointer."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in README_MENTION.finditer(line):
            if re.search(r"(\bits|'s) $", line[:match.start()]):
                continue  # another project's README ("the port's README", "its README")
            if not line.startswith(", ", match.end()):
                problems.append(f"{where}:{number}: {line.strip()!r} names no section: write 'README, <Section>'")
    return problems


def test_the_finder_reports_planted_broken_pointers():
    planted = ("see (README, Quick start) and (docs/cpu.md, Kernels)\n"
               "see (README, No such section) and docs/no_such_page.md\n"
               "and (docs/cpu.md, No such heading; more) and see the README for details\n")
    files = {"README.md": {"Quick start"}, "docs/cpu.md": {"Kernels"}}
    problems = broken_pointers(planted, "planted", exists=files.__contains__, headings_of=files.get)
    assert problems == ["planted:2: README.md has no heading 'No such section'",
                        "planted:2: docs/no_such_page.md does not exist",
                        "planted:3: docs/cpu.md has no heading 'No such heading'"]
    assert [p.split(":")[1] for p in loose_readme_mentions(planted, "planted")] == ["3"]
    assert loose_readme_mentions("flags of the port (its README); the port's README says so", "x") == []


def test_a_section_ends_where_the_pointer_ends():
    found = list(pointers('x (docs/a.md, Host dependence; y) README, Search. Next "README, Quick start"\n'
                          "README.md and docs/b.md, Two words: more, docs/c.md"))
    assert found == [(1, "docs/a.md", "Host dependence"), (1, "README.md", "Search"),
                     (1, "README.md", "Quick start"), (2, "README.md", None), (2, "docs/b.md", "Two words"),
                     (2, "docs/c.md", None)]


def test_every_pointer_in_the_code_resolves():
    problems = [p for path in code_files() for p in broken_pointers(read(path), path)]
    assert problems == [], "pointers to missing documentation:\n" + "\n".join(problems)


def test_the_code_mentions_the_readme_only_by_section():
    problems = [p for path in code_files() for p in loose_readme_mentions(read(path), path)]
    assert problems == [], "\n".join(problems)


def test_the_code_cites_no_spec():
    """The reference notes the project was first built against are not in the repository."""
    problems = [f"{path}:{number}: {line.strip()!r}" for path in code_files()
                for number, line in enumerate(read(path).splitlines(), 1) if re.search(r"\bSPEC\b", line)]
    assert problems == [], "no SPEC is in the repository; point to README or docs/ instead:\n" + "\n".join(problems)


def test_every_pointer_in_the_documentation_resolves():
    problems = [p for path in doc_files() for p in broken_pointers(read(path), path)]
    assert problems == [], "pointers to missing documentation:\n" + "\n".join(problems)


def test_local_links_of_the_documentation_exist():
    problems = []
    for path in doc_files():
        for number, line in enumerate(read(path).splitlines(), 1):
            for link in LOCAL_LINK.findall(line):
                if "://" in link or link.startswith("mailto:"):
                    continue
                if not os.path.exists(os.path.normpath(os.path.join(REPO, os.path.dirname(path), link))):
                    problems.append(f"{path}:{number}: link to {link}, which does not exist")
    assert problems == [], "\n".join(problems)


def test_the_readme_stays_a_manual():
    size = os.path.getsize(os.path.join(REPO, "README.md"))
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move studies and figures to docs/"
    text = read("README.md")
    quick_start = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", quick_start, re.M | re.S)
    assert len(blocks) == 2 and all(block.count("\n") == 1 for block in blocks), \
        "the Quick start must hold exactly two one-line ```bash blocks (.ci/run runs them)"
