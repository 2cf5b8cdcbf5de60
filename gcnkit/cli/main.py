"""The ``gcnkit`` command: turns arguments into config objects and calls library functions."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from gcnkit import __version__
from gcnkit.cli import node_classification, temporal

_DESCRIPTION = """gcnkit: graph convolutions on one normalization function.

  gcnkit train --dataset Cora --model kipf --seeds 10     Kipf & Welling's GCN, mean +- std accuracy
  gcnkit ablate --datasets Cora CiteSeer --seeds 100      the normalization ablation (Table 3)
  gcnkit temporal --dataset losloop --model tgcn          recurrent graph forecasting

Data: --root, else $GCNKIT_DATA, else ./datasets."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcnkit", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gcnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    node_classification.add_parsers(sub)
    temporal.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (OSError, ValueError, RuntimeError) as e:  # OSError: missing files, unusable --out paths
        print(f"gcnkit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = getattr(args, "interrupted", "finished runs are saved, run the same command to resume")
        print(f"\ngcnkit {args.command}: interrupted; {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
