"""``python -m langchain_rpm.evaluation``: the standalone evaluation harness (see :mod:`langchain_rpm.evaluation.cli`)."""

import sys

from langchain_rpm.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
