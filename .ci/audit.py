"""Known vulnerabilities in the installed dependencies, from PyPI's advisories.

`pip-audit` asks PyPI for each installed version (/pypi/NAME/VERSION/json) or asks OSV;
from CI's network neither answers, but PyPI's project page does (/pypi/NAME/json), and it
lists the advisories of the newest release. So: every dependency installed at its newest
release is audited, and fails the check if PyPI knows a vulnerability in it; one held at an
older release is listed as not audited, with the reason. A PyPI that cannot be reached
fails the check too: an audit that did not run must not pass.

    python .ci/audit.py [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PROJECT_URL = "https://pypi.org/pypi/{name}/json"
ATTEMPTS = 3


def installed(skip: set[str]) -> dict[str, str]:
    """Every installed distribution but the skipped ones: name -> version."""
    found = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"].lower().replace("_", "-")
        if name not in skip:
            found[name] = distribution.version
    return found


def project(name: str) -> dict[str, Any]:
    """PyPI's page of a project, tried a few times over a bad network moment."""
    for attempt in range(ATTEMPTS):
        try:
            url = PROJECT_URL.format(name=name)  # https, to PyPI only
            with urllib.request.urlopen(url, timeout=20) as answer:  # noqa: S310
                return json.load(answer)
        except (urllib.error.URLError, TimeoutError):
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def known(page: dict[str, Any]) -> list[str]:
    """The advisories of the newest release that still stand, one line each."""
    return [
        f"{item.get('id')} ({', '.join(item.get('aliases') or []) or 'no alias'}): "
        f"fixed in {', '.join(item.get('fixed_in') or []) or 'no release yet'}"
        for item in page.get("vulnerabilities") or []
        if not item.get("withdrawn")
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="distributions not to audit")
    skip = {name.lower().replace("_", "-") for name in parser.parse_args().skip}
    vulnerable, older = [], []
    dependencies = installed(skip)
    for name, version in sorted(dependencies.items()):
        try:
            page = project(name)
        except urllib.error.HTTPError as error:
            if error.code == 404:  # not on PyPI: nothing to audit it against
                older.append(f"{name} {version}: not on PyPI")
                continue
            raise
        newest = page["info"]["version"]
        if newest != version:
            older.append(f"{name} {version}: PyPI lists advisories of {newest} only")
            continue
        vulnerable += [f"{name} {version}: {line}" for line in known(page)]
    audited = len(dependencies) - len(older)
    print(f"audited {audited} of {len(dependencies)} installed distributions against PyPI")
    for line in older:
        print(f"  not audited: {line}")
    for line in vulnerable:
        print(f"  VULNERABLE: {line}")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except urllib.error.URLError as error:
        print(f"the audit could not reach PyPI: {error}", file=sys.stderr)
        sys.exit(2)
