"""Build of the optional C extensions (everything else is in pyproject.toml).

``tandem.state._fastwin`` is the loop of ``MemoryCounters.run_program`` in C; when it
cannot be built (no compiler, no Python headers) the install goes on without it and the
same loop runs in Python (``tandem.state.memory.NATIVE`` says which). Likewise
``tandem.fraud._scanwin``, the window counters of ``tandem fraud scan`` (numpy otherwise;
``tandem.fraud.windows.NATIVE``). For a checkout run
from its directory (``PYTHONPATH=$PWD``): ``python setup.py build_ext --inplace``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tandem.state._fastwin",
            ["tandem/state/_fastwin.c"],
            optional=True,  # no compiler: installed without it (the Python loop runs)
        ),
        Extension(
            "tandem.fraud._scanwin",
            ["tandem/fraud/_scanwin.c"],
            extra_compile_args=["-O2"],
            optional=True,  # no compiler: installed without it (numpy runs the windows)
        ),
    ]
)
