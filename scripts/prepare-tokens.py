#!/usr/bin/env python3
"""Tokenises a text corpus for `data.kind: tokens` (docs/data.md).

Trains a byte-level BPE with Hugging Face `tokenizers` on a text file or a directory of them,
splits the documents (the files of a directory, or the file's blank-line- or %-separated
paragraphs) into train and validation by a seeded draw, and writes:

  OUT/train.bin, OUT/val.bin   token ids (nanoGPT: flat little-endian uint16, or uint32 when the
                               vocabulary needs it; --llmc for llm.c's 1024-byte header)
  OUT/tokenizer.json           the tokenizer (`ablate generate` decodes and encodes with it)
  OUT/prepare.json             what was done: sources and their sha256, sizes, seed, counts

    scripts/prepare-tokens.py /usr/share/games/fortunes OUT --vocab 512 [--val-fraction 0.1] [--seed 0]
"""
import argparse
import hashlib
import json
import os
import random
import re
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

LLMC_MAGIC = 20240520


def documents(path, exclude):
    """(name, text) per document: each file of a directory (sorted), or the paragraphs of a file."""
    if os.path.isdir(path):
        names = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            names += [os.path.join(root, f) for f in files if not f.startswith(".") and not f.endswith(tuple(exclude))]
        out = []
        for name in sorted(names):
            with open(name, "rb") as f:
                data = f.read()
            try:
                out.append((os.path.relpath(name, path), data.decode("utf-8")))
            except UnicodeDecodeError:
                continue  # not text
        return out
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = [p for p in re.split(r"\n(?:%\n|\s*\n)", text) if p.strip()]
    return [(f"{os.path.basename(path)}#{i}", p + "\n") for i, p in enumerate(parts)]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bin(path, ids, width, llmc):
    with open(path, "wb") as f:
        if llmc:
            header = [LLMC_MAGIC, 1 if width == 2 else 2, len(ids)] + [0] * 253
            f.write(b"".join(int(v).to_bytes(4, "little", signed=True) for v in header))
        f.write(b"".join(int(i).to_bytes(width, "little") for i in ids))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a UTF-8 text file or a directory of them")
    parser.add_argument("out", help="output directory")
    parser.add_argument("--vocab", type=int, default=512, help="BPE vocabulary size (≥ 257)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="fraction of documents held out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/validation draw")
    parser.add_argument("--llmc", action="store_true", help="write llm.c's header (magic 20240520)")
    parser.add_argument("--exclude", nargs="*", default=[".dat", ".u8"], help="file suffixes to leave out")
    args = parser.parse_args()
    if args.vocab < 257:
        sys.exit("--vocab must be at least 257 (256 bytes and one merge)")

    docs = documents(args.source, args.exclude)
    if len(docs) < 2:
        sys.exit(f"{args.source}: need at least 2 documents to split, found {len(docs)}")
    order = list(range(len(docs)))
    random.Random(args.seed).shuffle(order)
    n_val = max(1, round(len(docs) * args.val_fraction))
    val_set = set(order[:n_val])

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    train_texts = [text for i, (_, text) in enumerate(docs) if i not in val_set]
    tokenizer.train_from_iterator(train_texts, trainer=trainer)
    os.makedirs(args.out, exist_ok=True)
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))

    vocab = tokenizer.get_vocab_size()
    width = 2 if vocab <= 65536 else 4
    splits = {"train": [], "val": []}
    for i, (_, text) in enumerate(docs):
        splits["val" if i in val_set else "train"] += tokenizer.encode(text).ids
    for name, ids in splits.items():
        write_bin(os.path.join(args.out, f"{name}.bin"), ids, width, args.llmc)

    sources = [args.source] if os.path.isfile(args.source) else None
    record = {
        "source": os.path.abspath(args.source),
        "documents": len(docs), "validation_documents": sorted(docs[i][0] for i in val_set),
        "seed": args.seed, "val_fraction": args.val_fraction, "vocab": vocab, "id_bytes": width,
        "format": "llmc" if args.llmc else f"uint{8 * width}",
        "train_tokens": len(splits["train"]), "val_tokens": len(splits["val"]),
        "train_bytes": sum(len(t.encode()) for i, (_, t) in enumerate(docs) if i not in val_set),
        "val_bytes": sum(len(docs[i][1].encode()) for i in val_set),
        "sha256": {name: sha256_file(os.path.join(args.out, name)) for name in ["train.bin", "val.bin", "tokenizer.json"]},
        "source_sha256": sha256_file(sources[0]) if sources else None,
    }
    with open(os.path.join(args.out, "prepare.json"), "w") as f:
        json.dump(record, f, indent=2)
    print(f"{args.out}: vocab {vocab}, train {record['train_tokens']} tokens ({record['train_bytes']} bytes), "
          f"val {record['val_tokens']} tokens ({record['val_bytes']} bytes, {n_val} of {len(docs)} documents)")


if __name__ == "__main__":
    main()
