"""Writing a benchmark's results: OUT.json for programs, OUT.md for people."""

import json
import sys


def write(out, name, data, lines):
    """Writes `data` to OUT.json (indented by one), the Markdown `lines` to
    OUT.md, and says so on stderr as `name`."""
    with open(out + ".json", "w") as f:
        json.dump(data, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{name}: wrote {out}.md and {out}.json", file=sys.stderr)
