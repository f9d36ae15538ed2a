"""Writes N generated RGB PNG images (64x64 by default) into a folder with
one sub-folder per class, for `bench/images.sh`: smooth gradients with
noise, so that they compress like photographs rather than flat colour.

    python3 bench/make_images.py OUT [N] [SIDE]
"""

import os
import random
import struct
import sys
import zlib


def png(rgb, side):
    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    stride = side * 3
    rows = b"".join(b"\0" + rgb[r * stride : (r + 1) * stride] for r in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    side = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    rng = random.Random(0)
    for i in range(n):
        cls = i % 10
        folder = os.path.join(out, f"class{cls}")
        os.makedirs(folder, exist_ok=True)
        a, b = rng.randrange(256), rng.randrange(256)
        pixels = bytearray()
        for y in range(side):
            for x in range(side):
                noise = rng.randrange(24)
                pixels += bytes(((a + x * 2 + noise) % 256, (b + y * 2 + noise) % 256, (cls * 25 + noise) % 256))
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            f.write(png(bytes(pixels), side))


if __name__ == "__main__":
    main()
