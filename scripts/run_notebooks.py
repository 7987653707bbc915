#!/usr/bin/env python3
"""Execute notebooks in order through the real Jupyter kernel protocol (nbclient).

Used by `npm run workshop` and the notebook tests. Each notebook runs in a fresh kernel
with its own folder as working directory; the executed copy (outputs included, also when
a cell fails) is written to the output folder. Prints one line per notebook and a table
at the end; on the first failing cell it names the notebook, the cell and the error, and
exits with status 1 (later notebooks are skipped: they build on earlier ones).

usage: run_notebooks.py --out DIR [--kernel NAME] [--timeout S] NOTEBOOK...
"""
import argparse
import json
import os
import re
import sys
import time

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
except ImportError as e:  # pragma: no cover - reported to the user
    sys.stderr.write(
        "nbclient is missing (%s). Install it with:\n"
        "  python3 -m pip install --user nbclient\n"
        "  sudo apt-get install python3-nbclient     (Debian / Ubuntu)\n" % e
    )
    sys.exit(2)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def describe_failure(nb, cell_index):
    """(code-cell number from 1, ename, evalue, details) for the cell that failed.

    A runtime error arrives as an `error` output; a TypeScript compile error arrives
    from tslab as text on stderr with an `error` execute reply, so both are read.
    """
    code_number = sum(1 for c in nb.cells[: cell_index + 1] if c.cell_type == "code")
    cell = nb.cells[cell_index]
    stderr = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
            return code_number, out.get("ename", ""), out.get("evalue", ""), tb
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            stderr.append(out.get("text", ""))
    text = ANSI.sub("", "".join(stderr)).strip()
    lines = text.splitlines()
    # tslab prints a thrown error as node does: source context, then "Name: message".
    for line in lines:
        m = re.match(r"^([A-Za-z_$][\w$]*(?:Error|Exception)|Error)(?: \[[^\]]*\])?: (.*)$", line)
        if m:
            return code_number, m.group(1), m.group(2), text
    first = lines[0] if lines else "the cell reported an error with no message"
    # A TypeScript diagnostic: "line:column - message".
    return code_number, "CompileError" if re.match(r"^\d+:\d+ - ", first) else "Error", first, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--out", required=True, help="folder for the executed copies")
    ap.add_argument("--kernel", default="ttslab")
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("TTSLAB_CELL_TIMEOUT", "3600")),
                    help="seconds one cell may run (default 3600, or $TTSLAB_CELL_TIMEOUT)")
    ap.add_argument("--json", help="also write the results table as JSON to this file")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    results = []
    failed = None
    for path in args.notebooks:
        name = os.path.basename(path)
        if failed:
            results.append({"notebook": name, "status": "skipped", "seconds": 0.0})
            continue
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name=args.kernel,
            timeout=args.timeout,
            startup_timeout=120,
            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        )
        failed_cells = []
        client.on_cell_error = lambda cell, cell_index, execute_reply: failed_cells.append(cell_index)
        print(f"running {name} ...", flush=True)
        t0 = time.time()
        status, error = "ok", None
        try:
            client.execute()
        except CellTimeoutError as e:
            status, error = "timeout", str(e).strip().splitlines()[0] if str(e).strip() else "cell timed out"
        except DeadKernelError as e:
            status, error = "kernel died", str(e)
        except CellExecutionError:
            status = "error"
        except Exception as e:  # kernel could not start, bad notebook, ...
            status, error = "error", f"{type(e).__name__}: {e}"
        seconds = time.time() - t0
        out_path = os.path.join(args.out, name)
        nbformat.write(nb, out_path)
        row = {"notebook": name, "status": status, "seconds": round(seconds, 1), "executed": out_path}
        if status != "ok":
            if failed_cells:
                index = failed_cells[0]
                code_number, ename, evalue, details = describe_failure(nb, index)
                row.update(cell=index + 1, code_cell=code_number, ename=ename, evalue=evalue)
                failed = (
                    f"{name}: cell {index + 1} (code cell {code_number}) failed: {ename}: {evalue}\n"
                    f"{details}\nexecuted copy: {out_path}"
                )
            else:
                failed = f"{name}: {status}: {error or 'see the executed copy'}\nexecuted copy: {out_path}"
        results.append(row)
        print(f"  {status} in {seconds:.1f} s", flush=True)

    width = max(len(r["notebook"]) for r in results)
    print()
    print(f"{'notebook'.ljust(width)}  status       seconds")
    for r in results:
        print(f"{r['notebook'].ljust(width)}  {r['status'].ljust(11)}  {r['seconds']:7.1f}")
    print(f"\nexecuted notebooks: {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if failed:
        print("\nFAILED " + failed, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
