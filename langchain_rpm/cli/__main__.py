"""``python -m langchain_rpm.cli``: the ``rpm`` command."""

import sys

from langchain_rpm.cli._entry import main

sys.exit(main())
