#!/usr/bin/env python3
"""Convert a SNAC checkpoint (pytorch_model.bin, as hubertsiuzdak/snac_24khz ships it) to
model.safetensors for ttslab's SnacModel.fromPretrained.

The tensors keep their reference names and values (f32): the weight-norm pairs stay as
they are (`*.parametrizations.weight.original0/1` or legacy `*.weight_g/_v`) and ttslab
folds them at load (w = g * v / ||v||, torch weight_norm dim 0). config.json is copied next
to it unchanged. Needs torch and safetensors only (not the snac package).

  huggingface-cli download hubertsiuzdak/snac_24khz --local-dir snac_24khz
  python3 scripts/convert_snac.py snac_24khz            # writes snac_24khz/model.safetensors
  python3 scripts/convert_snac.py in_dir --out out_dir  # or into another folder

torch.load runs with weights_only=True: a pickle cannot run code while loading.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="folder with pytorch_model.bin and config.json")
    ap.add_argument("--out", help="output folder (default: src)")
    args = ap.parse_args()
    out = args.out or args.src
    os.makedirs(out, exist_ok=True)
    sd = torch.load(os.path.join(args.src, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()}
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    cfg_src, cfg_dst = os.path.join(args.src, "config.json"), os.path.join(out, "config.json")
    if os.path.abspath(cfg_src) != os.path.abspath(cfg_dst):
        shutil.copyfile(cfg_src, cfg_dst)
    with open(cfg_dst) as f:
        config = json.load(f)
    print(f"wrote {len(tensors)} tensors ({sum(t.numel() for t in tensors.values())} values) to {out}/model.safetensors; config {config}")


if __name__ == "__main__":
    main()
