"""Small test helpers (importable: tests/ is on sys.path via conftest's rootdir)."""

import hashlib
from pathlib import Path


def same_picture(a: bytes, b: bytes) -> bool:
    """The same bytes, or two encodings of pictures at most 2 levels apart in at most 0.5 % of their
    values: what the generator gives at two thread counts (oneDNN sums in a thread-dependent order,
    so a value near a rounding edge can land one level apart, and JPEG spreads it over its block)."""
    if a == b:
        return True
    import cv2
    import numpy as np

    x, y = (cv2.imdecode(np.frombuffer(v, np.uint8), cv2.IMREAD_UNCHANGED) for v in (a, b))
    if x is None or y is None or x.shape != y.shape:
        return False
    d = np.abs(x.astype(int) - y.astype(int))
    return int(d.max()) <= 2 and float((d > 0).mean()) <= 0.005


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers the tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def file_hashes(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def peak_rss_mb(code: str, timeout: int = 300) -> tuple[float, str]:
    """Run ``code`` in a fresh Python; return (its peak RSS in MB, its stderr)."""
    import subprocess
    import sys

    # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across exec)
    wrapper = code + (
        "\nimport sys\nhwm = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM'))"
        "\nprint('RSS', hwm / 1024, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("RSS ")]
    assert line, proc.stderr[-2000:]
    return float(line[-1].split()[1]), proc.stderr


def cmyk_icc_profile() -> bytes:
    """A minimal but valid ICC v2 CMYK -> Lab printer profile (a 2-point CLUT), for colour-management tests
    (no CMYK profile ships with the machine or with Pillow)."""
    import struct

    def s15(x: float) -> bytes:
        return struct.pack(">i", int(round(x * 65536)))

    clut = []
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    lum = 100 * (1 - k) * (1 - 0.3 * (c + m + y))
                    clut += [int(lum / 100 * 0xFF00), int((40 * (m - c) + 128) * 256), int((40 * (y - m) + 128) * 256)]
    lut = b"mft2" + b"\0" * 4 + bytes([4, 3, 2, 0]) + b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut += struct.pack(">HH", 2, 2) + struct.pack(">8H", *([0, 65535] * 4))
    lut += struct.pack(f">{len(clut)}H", *clut) + struct.pack(">6H", *([0, 65535] * 3))
    wtpt = b"XYZ " + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249)
    text = b"faceblur test CMYK\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 78
    tags = [(b"A2B0", lut), (b"wtpt", wtpt), (b"desc", desc)]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, blob in tags:
        data += b"\0" * (-(offset + len(data)) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(blob))
        data += blob
    body = struct.pack(">I", len(tags)) + table + data
    header = struct.pack(">I", 128 + len(body)) + b"lcms" + struct.pack(">I", 0x02100000) + b"prtrCMYKLab "
    header += b"\0" * 12 + b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    return header + body


def tiff_with_header_size(src: Path, dst: Path, width: int, height: int) -> None:
    """Copy a little-endian classic TIFF, rewriting its first page's width/height tags (a "bomb" header)."""
    import struct

    data = bytearray(Path(src).read_bytes())
    assert data[:2] == b"II"
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd : ifd + 2])[0]
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag = struct.unpack("<H", data[e : e + 2])[0]
        if tag in (256, 257):
            struct.pack_into("<HHII", data, e, tag, 4, 1, width if tag == 256 else height)
    Path(dst).write_bytes(bytes(data))
