import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault('GANLIB_TYPE_CHECK', '1')  # training turns Chainer's type checks off; the tests keep them

import ganlib.compat  # noqa: E402,F401  (before chainer)
