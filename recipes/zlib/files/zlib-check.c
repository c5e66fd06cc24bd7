/* A smoke test of the cross-built zlib, run on the target: the header and
 * the shared library agree on the version, and deflate, inflate, crc32 and
 * the gzip file functions round-trip data. Written for the recipe. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static int fail(const char *what) {
    fprintf(stderr, "zlib-check: %s\n", what);
    return 1;
}

int main(void) {
    static unsigned char input[64 * 1024], packed[80 * 1024], unpacked[64 * 1024];
    for (size_t i = 0; i < sizeof input; i++)
        input[i] = (unsigned char)("recipe zlib check "[i % 18] ^ (i / 1024));

    if (strcmp(zlibVersion(), ZLIB_VERSION) != 0)
        return fail("header and library versions differ");

    uLongf packed_len = sizeof packed;
    if (compress2(packed, &packed_len, input, sizeof input, 9) != Z_OK)
        return fail("compress2 failed");
    uLongf unpacked_len = sizeof unpacked;
    if (uncompress(unpacked, &unpacked_len, packed, packed_len) != Z_OK)
        return fail("uncompress failed");
    if (unpacked_len != sizeof input || memcmp(unpacked, input, sizeof input) != 0)
        return fail("round trip changed the data");
    if (packed_len >= sizeof input / 4)
        return fail("repetitive data did not compress");
    if (crc32(0L, Z_NULL, 0) != 0 || crc32(0L, (const Bytef *)"123456789", 9) != 0xcbf43926UL)
        return fail("crc32 check value is wrong");

    const char *path = "zlib-check.gz";
    gzFile out = gzopen(path, "wb");
    if (out == NULL || gzwrite(out, input, sizeof input) != (int)sizeof input || gzclose(out) != Z_OK)
        return fail("cannot write a gzip file");
    gzFile in = gzopen(path, "rb");
    memset(unpacked, 0, sizeof unpacked);
    if (in == NULL || gzread(in, unpacked, sizeof unpacked) != (int)sizeof input || gzclose(in) != Z_OK)
        return fail("cannot read the gzip file back");
    if (memcmp(unpacked, input, sizeof input) != 0)
        return fail("gzip round trip changed the data");

    printf("zlib %s: %lu bytes -> %lu, round trips ok\n", zlibVersion(), (unsigned long)sizeof input,
           (unsigned long)packed_len);
    return 0;
}
