#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the code-shape figures docs/architecture.md talks about, for src/ (or DIR):
the number of function definitions, their length in lines (median, p90, max, the longest
ones) and the include cycles between files of one folder.

Function definitions are found by the house style: the name at column 0 followed by "(",
the body from a "{" at column 0 to the next "}" at column 0. Length counts the body's lines
between the braces. An include cycle is a pair or longer loop of #include "folder/x.h"
edges among the files of one folder, where a.c/a.h count as one module "a".

usage: scripts/code-figures.py [DIR]
"""
import os
import re
import statistics
import sys

DEF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
INCLUDE = re.compile(r'^#include "([^"/]+)/([^"/]+)\.h"')


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    name = None
    start = None
    for i, line in enumerate(lines):
        m = DEF.match(line)
        if m and start is None:
            name = m.group(1)
        elif line == "{" and name is not None and start is None:
            start = i
        elif line == "}" and start is not None:
            out.append((i - start - 1, name, path))
            name = start = None
        elif line.endswith(";") and start is None:
            name = None  # a prototype
    return out


def module_edges(folder, files):
    edges = {}
    for path in files:
        mod = os.path.splitext(os.path.basename(path))[0].removesuffix("_int")
        for line in open(path, encoding="utf-8"):
            m = INCLUDE.match(line)
            if m and m.group(1) == os.path.basename(folder):
                dep = m.group(2).removesuffix("_int")
                if dep != mod:
                    edges.setdefault(mod, set()).add(dep)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    funcs, loops = [], []
    for folder, _, names in sorted(os.walk(root)):
        files = [os.path.join(folder, n) for n in sorted(names) if n.endswith((".c", ".h"))]
        for path in files:
            if path.endswith(".c"):
                funcs += functions(path)
        for comp in cycles(module_edges(folder, files)):
            loops.append(f"{os.path.relpath(folder, root)}: {' <-> '.join(comp)}")
    lengths = sorted(n for n, _, _ in funcs)
    p90 = lengths[int(0.9 * (len(lengths) - 1))]
    print(f"functions: {len(funcs)}")
    print(f"lines per function: median {statistics.median(lengths):g}, p90 {p90}, "
          f"max {lengths[-1]}")
    for n, name, path in sorted(funcs, reverse=True)[:5]:
        print(f"  {n:4d}  {name}  {os.path.relpath(path, root)}")
    print(f"include cycles within a folder: {len(loops)}")
    for loop in loops:
        print(f"  {loop}")


if __name__ == "__main__":
    main()
