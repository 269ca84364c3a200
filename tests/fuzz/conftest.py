"""The fuzz suite's table: printed at the end of the session, and written as JSON to
``$SYMMLE_FUZZ_TABLE`` after every test when that is set (so a long run cut short keeps its
counts)."""

import os

import fuzz_harness


def pytest_runtest_teardown(item):
    path = os.environ.get("SYMMLE_FUZZ_TABLE")
    if path and fuzz_harness.TALLY:
        fuzz_harness.dump(path)


def pytest_terminal_summary(terminalreporter):
    if not fuzz_harness.TALLY:
        return
    terminalreporter.section("symmle fuzz: outcomes per entry point")
    terminalreporter.write_line(fuzz_harness.table())
    if fuzz_harness.SURVEY:
        terminalreporter.section("symmle fuzz: violations (survey)")
        for (entry, cls, tag, sig), (count, first) in sorted(fuzz_harness.SURVEY.items()):
            terminalreporter.write_line(f"{count:6d}  {entry}  {cls}  {tag}  {sig}")
            terminalreporter.write_line("        " + first.replace("\n", "\n        ")[:1500])
