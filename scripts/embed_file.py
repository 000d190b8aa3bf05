#!/usr/bin/env python3
"""Embeds a file into C as `const char NAME[]` (NUL-terminated) and `const size_t NAME_len`.

usage: embed_file.py NAME INPUT OUTPUT
"""
import sys


def main() -> int:
    name, src, dst = sys.argv[1:4]
    data = open(src, "rb").read()
    with open(dst, "w", encoding="ascii") as out:
        out.write("/* generated from %s by scripts/embed_file.py; do not edit */\n" % src.split("/")[-1])
        out.write("#include <stddef.h>\n")
        out.write("const char %s[] = {\n" % name)
        for i in range(0, len(data), 16):
            out.write("    " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
        out.write("    0x00\n};\n")
        out.write("const size_t %s_len = %d;\n" % (name, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
