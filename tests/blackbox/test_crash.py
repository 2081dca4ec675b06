"""The crash test's short version under ctest (the long one: python3 crash_test.py --help)."""
import unittest

from crash_test import CrashTest  # noqa: F401  (unittest finds it here)

if __name__ == "__main__":
    unittest.main()
