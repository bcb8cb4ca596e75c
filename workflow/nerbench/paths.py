"""Every path the workflow builds: the project layout and the result files of each stage.

This is the only module that spells a result path; rules (through ``common.smk``) and the
package's commands take their paths from here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]  # workflow/nerbench -> the repository
SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"
DEMO_CORPORA = PROJECT_ROOT / "resources" / "corpora" / "demo"
