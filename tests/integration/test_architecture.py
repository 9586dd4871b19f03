"""The shape of the code and the schema: dependencies point one way, migrations match."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import get_engine
from core.models import Base

ROOT = Path(__file__).resolve().parents[2]


def test_imports_follow_the_dependency_direction_of_the_design() -> None:
    lint_imports = shutil.which("lint-imports")
    assert lint_imports, "import-linter is not installed (pip install -e '.[test]')"
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


# SQLite cannot reflect expression indexes (lower(email)), and alembic says so.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
# PostgreSQL reflects an index's operator class (text_pattern_ops) inside its expression,
# which alembic cannot compare: it says so and leaves that index be.
@pytest.mark.filterwarnings("ignore:Expression #1 .* detected to include an operator clause")
def test_the_migrations_build_exactly_the_schema_of_the_models(database: str) -> None:
    with get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
