import sys

from runtime.kernels import main

sys.exit(main())
