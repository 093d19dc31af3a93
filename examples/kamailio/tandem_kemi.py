"""The script Kamailio's app_python3 loads (modparam "load"): it makes the Tandem package
importable and hands Kamailio Tandem's KEMI object (tandem.serve.kamailio).

app_python3 runs Debian's python3 (/usr/bin/python3). Install Tandem in a virtualenv made
with that interpreter and name its site-packages in TANDEM_SITE (several: separated by
':'), e.g. TANDEM_SITE=/opt/tandem/lib/python3.11/site-packages. Everything else is read
from the TANDEM_* environment variables (see the README, "Kamailio in-process").
"""

import os
import site

for _dir in filter(None, os.environ.get("TANDEM_SITE", "").split(os.pathsep)):
    site.addsitedir(_dir)

from tandem.serve.kamailio import mod_init  # noqa: E402,F401  (app_python3 calls it)
