import sys

from sciml.cli.main import main

sys.exit(main())
