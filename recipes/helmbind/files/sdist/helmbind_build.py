# CFFI API mode, out of line: compiles helmbind._helmshim against the header
# Go wrote for libhelmshim.so (-buildmode=c-shared) and links the library.
# Both are found through the compiler's sysroot (the cross build puts the
# Go package's staged /usr/include and /usr/lib there); HELMSHIM_PREFIX
# points elsewhere for a native build.
import os

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    char *helmshim_render(char *tmpl, char *values, char **err);
    char *helmshim_platform(void);
    void helmshim_free(char *p);
    """
)
prefix = os.environ.get("HELMSHIM_PREFIX")
ffibuilder.set_source(
    "helmbind._helmshim",
    '#include "libhelmshim.h"',
    libraries=["helmshim"],
    include_dirs=[os.path.join(prefix, "include")] if prefix else [],
    library_dirs=[os.path.join(prefix, "lib")] if prefix else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
