#!/usr/bin/env python3
"""Draws assets/icon-256.png (the app icon): a mesh of data products over a lake. Pure Python, no deps."""
import math, struct, sys, zlib

N = 256
px = [[(0, 0, 0, 0)] * N for _ in range(N)]

def blend(x, y, c, a):
    if 0 <= x < N and 0 <= y < N:
        r, g, b, al = px[y][x]
        na = a + al / 255 * (1 - a)
        if na <= 0:
            return
        mix = lambda s, d: int((s * a + d * al / 255 * (1 - a)) / na)
        px[y][x] = (mix(c[0], r), mix(c[1], g), mix(c[2], b), int(na * 255))

# rounded square background, teal gradient
for y in range(N):
    for x in range(N):
        r = 40
        dx = max(r - x, 0, x - (N - 1 - r)); dy = max(r - y, 0, y - (N - 1 - r))
        if dx * dx + dy * dy <= r * r:
            t = y / N
            blend(x, y, (int(18 + 20 * t), int(70 + 40 * t), int(90 + 50 * t)), 1.0)
# lake: waves in the lower third
for y in range(150, 236):
    for x in range(24, 232):
        if y > 170 + 8 * math.sin(x / 18.0) and (x - 128) ** 2 / 104 ** 2 + (y - 200) ** 2 / 40 ** 2 <= 1:
            blend(x, y, (60, 160, 220), 0.9)
# mesh: nodes on a triangular lattice, connected by lines
nodes = [(64, 60), (128, 44), (192, 60), (96, 112), (160, 112), (128, 168), (48, 140), (208, 140)]
edges = [(0, 1), (1, 2), (0, 3), (1, 3), (1, 4), (2, 4), (3, 4), (3, 5), (4, 5), (0, 6), (6, 3), (2, 7), (7, 4), (6, 5), (7, 5)]
def line(a, b, w, c):
    (x0, y0), (x1, y1) = a, b
    steps = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 1
    for i in range(steps + 1):
        t = i / steps
        cx, cy = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        for oy in range(-w, w + 1):
            for ox in range(-w, w + 1):
                if ox * ox + oy * oy <= w * w:
                    blend(int(cx + ox), int(cy + oy), c, 0.8)
for a, b in edges:
    line(nodes[a], nodes[b], 2, (230, 240, 235))
for i, (x, y) in enumerate(nodes):
    c = (245, 150, 40) if i in (1, 5) else (120, 220, 140)
    for oy in range(-11, 12):
        for ox in range(-11, 12):
            d = ox * ox + oy * oy
            if d <= 121:
                blend(x + ox, y + oy, c if d <= 81 else (20, 40, 50), 1.0)

raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in px)
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", N, N, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(sys.argv[1] if len(sys.argv) > 1 else "assets/icon-256.png", "wb").write(png)
