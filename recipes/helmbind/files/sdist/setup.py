# The extension is CFFI's out-of-line API mode: helmbind_build.py's
# ffibuilder generates C that includes the Go header and links the library.
from setuptools import setup

setup(cffi_modules=["helmbind_build.py:ffibuilder"])
