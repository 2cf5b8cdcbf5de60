import sys

from gcnkit.cli.main import main

sys.exit(main())
