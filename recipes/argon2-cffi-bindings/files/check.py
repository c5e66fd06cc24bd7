# On the target: the compiled CFFI extension pip installed into a fresh
# directory (argv[1]) hashes RFC 9106's Argon2id test vector (section 5.3).
import sys

site = sys.argv[1]
sys.path.insert(0, site)
from _argon2_cffi_bindings import ffi, lib
import _argon2_cffi_bindings._ffi as compiled

assert compiled.__file__.startswith(site) and compiled.__file__.endswith(".so"), compiled.__file__
password, salt = b"\x01" * 32, b"\x02" * 16
secret, ad = b"\x03" * 8, b"\x04" * 12
out = ffi.new("uint8_t[]", 32)
ctx = ffi.new(
    "argon2_context *",
    dict(
        out=out, outlen=32,
        pwd=ffi.new("uint8_t[]", password), pwdlen=len(password),
        salt=ffi.new("uint8_t[]", salt), saltlen=len(salt),
        secret=ffi.new("uint8_t[]", secret), secretlen=len(secret),
        ad=ffi.new("uint8_t[]", ad), adlen=len(ad),
        t_cost=3, m_cost=32, lanes=4, threads=4,
        version=lib.ARGON2_VERSION_13,
        allocate_cbk=ffi.NULL, free_cbk=ffi.NULL, flags=lib.ARGON2_DEFAULT_FLAGS,
    ),
)
rc = lib.argon2_ctx(ctx, lib.Argon2_id)
assert rc == lib.ARGON2_OK, ffi.string(lib.argon2_error_message(rc))
expected = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
assert bytes(out).hex() == expected, bytes(out).hex()
print("argon2-cffi-bindings: RFC 9106 Argon2id vector from", compiled.__file__)
