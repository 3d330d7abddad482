"""One end-to-end fit in a fresh process, for bench/speed.py:

    python bench/e2e_runner.py FRAMEWORK MODEL VARIANT DATA.json STEPS

The parent times this process from its start to its exit; the fit itself prints nothing.
"""
import sys

from frameworks import end_to_end   # bench/ is sys.path[0] when run as a script

if __name__ == "__main__":
    framework, model, variant, data_path, steps = sys.argv[1:6]
    end_to_end(framework, model, data_path, int(steps), variant)
