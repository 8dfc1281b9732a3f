"""Writes every parity fixture into fixtures/. Run with Debian's python3-torch 1.13 (CPU):

    /usr/bin/python3 tests/reference/make_fixtures.py [NAME_PREFIX]

Each cases_*.py module beside this file defines cases() yielding (fixture_name, tensors). Fixtures are
deterministic: the same torch build writes the same bytes.
"""
import glob
import importlib
import os
import sys

import torch

torch.set_num_threads(1)  # deterministic accumulation order
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
# The models and the method live in the job's Python package (python/scalekd); the fixtures are written from it.
sys.path.insert(0, os.path.join(here, "..", "..", "python"))
import fixture  # noqa: E402  (after the paths it imports from)

prefix = sys.argv[1] if len(sys.argv) > 1 else ""
for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
    module = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
    for name, tensors in module.cases():
        if name.startswith(prefix):
            fixture.write(name, tensors)
