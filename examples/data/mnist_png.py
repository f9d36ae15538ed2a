"""Writes examples/data/mnist_png/ from the bundled MNIST IDX files.

A folder of real images for `images(...)` sources: 200 training and 100 test
digits per class, as 28x28 grayscale PNG files in one sub-folder per class
(`train/3/00042.png`, the number being the digit's index in the IDX file).
Training digits are the first 200 of each class in the file, test digits
the next 100, so the two never share an image. Uses the standard library
only, and writes the same bytes every time.

    python3 examples/data/mnist_png.py
"""

import gzip
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN, TEST = 200, 100


def idx(name):
    with gzip.open(os.path.join(HERE, name)) as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def png(pixels, width, height):
    """An 8-bit grayscale PNG (no filtering, zlib level 9)."""

    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\0" + pixels[r * width : (r + 1) * width] for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def main():
    (n, h, w), images = idx("mnist10k-images-idx3-ubyte.gz")
    _, labels = idx("mnist10k-labels-idx1-ubyte.gz")
    taken = [0] * 10
    for i in range(n):
        digit = labels[i]
        count = taken[digit]
        if count >= TRAIN + TEST:
            continue
        taken[digit] += 1
        split = "train" if count < TRAIN else "test"
        folder = os.path.join(HERE, "mnist_png", split, str(digit))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            f.write(png(images[i * h * w : (i + 1) * h * w], w, h))
    assert taken == [TRAIN + TEST] * 10, taken


if __name__ == "__main__":
    main()
