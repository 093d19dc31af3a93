"""Build of the optional C extension (everything else is in pyproject.toml).

``tandem.state._fastwin`` is the loop of ``MemoryCounters.run_program`` in C; when it
cannot be built (no compiler, no Python headers) the install goes on without it and the
same loop runs in Python (``tandem.state.memory.NATIVE`` says which). For a checkout run
from its directory (``PYTHONPATH=$PWD``): ``python setup.py build_ext --inplace``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tandem.state._fastwin",
            ["tandem/state/_fastwin.c"],
            optional=True,  # no compiler: installed without it (the Python loop runs)
        )
    ]
)
