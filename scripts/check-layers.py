#!/usr/bin/env python3
"""Prints the module graph of crates/server/src and fails on an import cycle or on an
import that runs up a floor.

    scripts/check-layers.py            # the graph, one line per file, and the verdict
    scripts/check-layers.py --quiet    # only the verdict (and what is wrong)
    scripts/check-layers.py --src DIR  # another copy of the server crate's src/

A file's imports are its `crate::a::b` and `super::x` paths (in `use` lines and inline),
outside `#[cfg(test)] mod tests`. A folder's `mod.rs` is the folder's own module; declaring
its children (`mod x;`) is not an import.

The floors, lowest first, are those the crate doc of crates/server/src/main.rs lists: a file
may import files of its own floor and of floors below it, never above; within a floor the
imports must not form a cycle. Exit status 1 if either rule is broken.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "server", "src")

# Lowest first. A module belongs to the first floor whose prefix names it.
FLOORS = [
    ("host", ["host"]),
    ("engine", ["engine"]),
    ("client", ["client"]),
    ("features", ["features"]),
    ("conn", ["conn"]),
    ("main", [""]),
]


def modules(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if not n.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, n), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "main", "lib"):
                rel = rel[:-1]
            files["::".join(rel)] = os.path.join(root, n)
    return files


def floor_of(module):
    for i, (_, prefixes) in enumerate(FLOORS):
        for p in prefixes:
            if p == "" or module == p or module.startswith(p + "::"):
                return i
    return len(FLOORS) - 1


def resolve(files, path):
    segs = path.split("::")
    for k in range(len(segs), -1, -1):
        m = "::".join(segs[:k])
        if m in files:
            return m
    return None


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{.*", re.S)
COMMENT = re.compile(r"//[^\n]*")


def imports(files, module, path):
    text = open(path, encoding="utf-8").read()
    text = TESTS.sub("", text)
    text = COMMENT.sub("", text)
    # `super` from a folder's mod.rs is the folder's parent; from x.rs, x's parent.
    parent = module.split("::")[:-1] if module else []
    found = set()

    def add(root, rest):
        segs = [s for s in rest.split("::") if s]
        base = [] if root == "crate" else list(parent)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        target = resolve(files, "::".join(base + segs))
        if target is not None and target != module:
            found.add(target)

    groups = GROUP.findall(text)
    text = GROUP.sub("", text)
    for root, prefix, inner in groups:
        for item in re.split(r",(?![^{]*\})", inner):
            if not item.strip():
                continue
            head = item.strip().split("::")[0].split(" ")[0].strip("{} ")
            if head != "self":
                add(root, prefix + "::" + head)
            else:
                add(root, prefix)
    for root, rest in PATH.findall(text):
        add(root, rest)
    return found


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    quiet = "--quiet" in args
    src = args[args.index("--src") + 1] if "--src" in args else ROOT
    files = modules(src)
    graph = {m: imports(files, m, p) for m, p in files.items()}
    bad = []
    for m in sorted(graph):
        up = sorted(t for t in graph[m] if floor_of(t) > floor_of(m))
        bad += [f"upward: {m or 'main'} ({FLOORS[floor_of(m)][0]}) -> {t} ({FLOORS[floor_of(t)][0]})" for t in up]
        if not quiet:
            deps = ", ".join(sorted(graph[m])) or "-"
            print(f"{FLOORS[floor_of(m)][0]:9} {m or 'main'} -> {deps}")
    found = cycles(graph)
    bad += ["cycle: " + " -> ".join(c) for c in found]
    edges = sum(len(v) for v in graph.values())
    for b in bad:
        print(b)
    print(f"files {len(files)}, imports {edges}, upward {sum(b.startswith('upward') for b in bad)}, cycles {len(found)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
