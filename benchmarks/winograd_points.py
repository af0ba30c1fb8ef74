#!/usr/bin/env python3
"""Winograd F(4x4,3x3) transform matrices for a choice of interpolation points, derived exactly.

Standard library only (fractions). For five finite points p_0..p_4 and infinity:
  V   (6x6): V[j][k] = p_j^k (k < 6) for the finite points, [0 0 0 0 0 1] for infinity
  A^T (4x6): the first four columns of V, transposed   (the output transform)
  G   (6x3): the first three columns of V               (the kernel transform)
  B^T (6x6): V^{-T}                                      (the input transform)
so that the correlation y_i = sum_k g_k d_{i+k} (i < 4) is y = A^T [(G g) * (B^T d)] (Toom-Cook,
transposed), and in 2-D Y = A^T [(G g G^T) * (B^T d B)] A. Each row j of B^T is then scaled by
s_j (row j of G by 1/s_j) so that B^T has coprime integer entries (G is applied in double, once
per weight, so its fractions cost nothing); optionally the columns of A^T are scaled by powers
of two (with G's rows by the inverse) so that A^T's largest entry per column is 1 or an integer.

  python3 benchmarks/winograd_points.py                    # the candidates of benchmarks/RESULTS.md
  python3 benchmarks/winograd_points.py 0 1 -1 1/2 -1/2    # one set of five finite points
  python3 benchmarks/winograd_points.py --table FILE       # also write them for winograd_accuracy
  python3 benchmarks/winograd_points.py --integer-a ...     # A^T's columns scaled to integers
  python3 benchmarks/winograd_points.py --nst               # the matrices nst's kernels use

Each set is checked exactly: the 1-D and 2-D identities on random integer data in rationals.
"""
import random
import sys
from fractions import Fraction as F
from math import gcd

CANDIDATES = [
    "0 1 -1 2 -2",        # Lavin & Gray's points (integer A^T up to 8, B^T up to 5)
    "0 1 -1 1/2 -1/2",    # ±1/2 instead of ±2: the same matrices mirrored, the same error
    "0 1 -1 1/2 -2",      # Barabasz et al. (2020)'s choice for F(4,3)
    "0 1 -1 2 -1/2",      # its mirror image (p -> -p)
    "0 -1 1 1/2 -3",
    "0 1 -1 3/2 -3/2",
    "0 1 -1 2/3 -2/3",
    "0 1/2 -1/2 2 -2",
    "0 1 -1 1/4 -1/4",
    "0 1 -1 3/4 -3/4",
    "0 1 -1 1/2 -3/2",
    "0 1 -1 2/3 -3/2",
    "0 1 -1 1/2 -5/2",
    "0 1 -1 1/3 -2",
    # symmetric reciprocal pairs {0, ±1/p, ±p} (sparse B^T, as cheap as Lavin's):
    "0 1/2 -1/2 2 -2",
    "0 2/3 -2/3 3/2 -3/2",  # nst's points: the lowest error of all these
    "0 3/4 -3/4 4/3 -4/3",
    "0 3/5 -3/5 5/3 -5/3",
    "0 1/2 -1/2 5/2 -5/2",
    "0 1/2 -1/2 3 -3",
    "0 1/3 -1/3 3 -3",
    "0 1/4 -1/4 4 -4",
    # and neighbours
    "0 1/2 -1/2 3/2 -3/2",
    "0 2/3 -2/3 4/3 -4/3",
    "0 3/4 -3/4 3/2 -3/2",
    "0 2/3 -2/3 2 -2",
]

# nst's transforms (src/kernels/winograd_rows.inl, winograd.cpp): points 0, ±2/3, ±3/2, with the
# rows of the integer B^T divided by these powers of two (fewer multiplications, every
# coefficient still exact in binary: 9, 97/4, 9/4, 27/8, 3/2, 1) and A^T's columns of ±2/3
# multiplied by 27 (integers instead of 2/3, 4/9, 8/27); G's rows take the inverse factors.
NST_POINTS = "0 2/3 -2/3 3/2 -3/2"
NST_BT_ROW_DIVISORS = [4, 8, 8, 8, 8, 4]
NST_AT_COLUMN_FACTORS = [1, 27, 27, 1, 1, 1]


def inverse(m):
    n = len(m)
    a = [row[:] + [F(int(i == j)) for j in range(n)] for i, row in enumerate(m)]
    for c in range(n):
        p = next(r for r in range(c, n) if a[r][c] != 0)
        a[c], a[p] = a[p], a[c]
        piv = a[c][c]
        a[c] = [v / piv for v in a[c]]
        for r in range(n):
            if r != c and a[r][c] != 0:
                f = a[r][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    return [row[n:] for row in a]


def transpose(m):
    return [list(r) for r in zip(*m)]


def lcm(a, b):
    return a * b // gcd(a, b)


def derive(points, integer_a=False):
    assert len(points) == 5 and len(set(points)) == 5
    V = [[p ** k for k in range(6)] for p in points] + [[F(int(k == 5)) for k in range(6)]]
    AT = transpose([row[:4] for row in V[:5]] + [[F(0)] * 3 + [F(1)]])
    G = [row[:3] for row in V[:5]] + [[F(0), F(0), F(1)]]
    BT = transpose(inverse(V))
    # Integer rows of B^T: multiply by the lcm of the denominators, divide by the gcd of the
    # numerators; G's row takes the inverse factor. Sign: first nonzero entry positive.
    for j in range(6):
        den = 1
        for v in BT[j]:
            den = lcm(den, v.denominator)
        num = 0
        for v in BT[j]:
            num = gcd(num, abs(v.numerator * (den // v.denominator)))
        s = F(den, num)
        if next(v for v in BT[j] if v != 0) < 0:
            s = -s
        BT[j] = [v * s for v in BT[j]]
        G[j] = [v / s for v in G[j]]
    # Optionally integer columns of A^T too (p = a/b: column times b^3), G's row divided by it.
    if integer_a:
        for j in range(6):
            den = 1
            for i in range(4):
                den = lcm(den, AT[i][j].denominator)
            for i in range(4):
                AT[i][j] *= den
            G[j] = [v / den for v in G[j]]
    return AT, G, BT


def correlate_1d(g, d):
    return [sum(g[k] * d[i + k] for k in range(3)) for i in range(4)]


def check(AT, G, BT, rng):
    for _ in range(20):
        g = [F(rng.randint(-50, 50)) for _ in range(3)]
        d = [F(rng.randint(-50, 50)) for _ in range(6)]
        u = [sum(G[j][k] * g[k] for k in range(3)) for j in range(6)]
        v = [sum(BT[j][a] * d[a] for a in range(6)) for j in range(6)]
        y = [sum(AT[i][j] * u[j] * v[j] for j in range(6)) for i in range(4)]
        assert y == correlate_1d(g, d), "1-D identity fails"
    for _ in range(5):
        g = [[F(rng.randint(-9, 9)) for _ in range(3)] for _ in range(3)]
        d = [[F(rng.randint(-9, 9)) for _ in range(6)] for _ in range(6)]
        mul = lambda a, b: [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]
        U = mul(mul(G, g), transpose(G))
        Vd = mul(mul(BT, d), transpose(BT))
        M = [[U[i][j] * Vd[i][j] for j in range(6)] for i in range(6)]
        Y = mul(mul(AT, M), transpose(AT))
        ref = [[sum(g[a][b] * d[y + a][x + b] for a in range(3) for b in range(3)) for x in range(4)] for y in range(4)]
        assert Y == ref, "2-D identity fails"


def fmt(m):
    return "\n".join("    [" + " ".join(f"{str(v):>7}" for v in row) + "]" for row in m)


def main(argv):
    table = None
    integer_a = "--integer-a" in argv
    nst = "--nst" in argv
    argv = [a for a in argv if a not in ("--integer-a", "--nst")]
    if nst:
        AT, G, BT = derive([F(p) for p in NST_POINTS.split()])
        BT = [[v / d for v in row] for row, d in zip(BT, NST_BT_ROW_DIVISORS)]
        G = [[v * d for v in row] for row, d in zip(G, NST_BT_ROW_DIVISORS)]
        AT = [[v * NST_AT_COLUMN_FACTORS[j] for j, v in enumerate(row)] for row in AT]
        G = [[v / c for v in row] for row, c in zip(G, NST_AT_COLUMN_FACTORS)]
        check(AT, G, BT, random.Random(7))
        dyadic = lambda v: v.denominator & (v.denominator - 1) == 0
        assert all(dyadic(v) for m in (AT, BT) for row in m for v in row), "a coefficient is not exact in binary"
        print(f"nst: points {NST_POINTS}, infinity; B^T rows divided by {NST_BT_ROW_DIVISORS}, "
              f"A^T columns times {NST_AT_COLUMN_FACTORS}  (identities checked exactly)")
        print("  A^T =\n" + fmt(AT))
        print("  G =\n" + fmt(G))
        print("  B^T =\n" + fmt(BT))
        return
    if "--table" in argv:
        i = argv.index("--table")
        table = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    sets = [" ".join(argv)] if argv else CANDIDATES
    rng = random.Random(7)
    lines = []
    for s in sets:
        points = [F(p) for p in s.split()]
        AT, G, BT = derive(points, integer_a)
        check(AT, G, BT, rng)
        print(f"points {s}, infinity{', A^T integer' if integer_a else ''}  (identities checked exactly)")
        print("  A^T =\n" + fmt(AT))
        print("  G =\n" + fmt(G))
        print("  B^T =\n" + fmt(BT))
        print()
        vals = [float(v) for m in (AT, G, BT) for row in m for v in row]
        lines.append(s.replace(" ", ",") + (",int" if integer_a else "") + " " + " ".join(repr(v) for v in vals))
    if table:
        with open(table, "w") as f:
            f.write("# points, then A^T (4x6), G (6x3), B^T (6x6) row-major, as doubles\n")
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
