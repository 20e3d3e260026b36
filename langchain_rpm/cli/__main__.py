"""``python -m langchain_rpm.cli``: the ``rpm`` command."""

import sys

try:
    from langchain_rpm.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the command is still loading: the same one line and exit code
    sys.stderr.write("error: interrupted\n")
    sys.exit(130)

sys.exit(main())
