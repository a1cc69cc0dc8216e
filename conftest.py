"""pytest's root configuration: doctests are collected from src/rosetta too (pyproject's ``testpaths``);
modules of optional extras not installed are left out of that collection instead of failing it."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("fastapi") else ["src/rosetta/engine/serve.py"]
