"""Build of the optional C extensions (everything else is in pyproject.toml).

``tandem.state._fastwin`` is the loop of ``MemoryCounters.run_program`` in C;
``tandem.fraud._scanwin`` the window counters of ``tandem fraud scan``;
``tandem.rating._fastrate`` the per-CDR loops of batch pricing (the prefix trie walk,
increments, fees and rounding of one side of a batch, and the match keys of plain E.164
numbers). When they cannot be built (no compiler, no Python headers) the install goes on
without them and the same loops run in Python and numpy (``tandem.state.memory.NATIVE``,
``tandem.fraud.windows.NATIVE`` and ``tandem.rating.fastrate.NATIVE`` say which). For a
checkout run from its directory (``PYTHONPATH=$PWD``): ``python setup.py build_ext --inplace``.
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
        Extension(
            "tandem.rating._fastrate",
            ["tandem/rating/_fastrate.c"],
            optional=True,  # no compiler: installed without it (the numpy path runs)
        ),
    ]
)
