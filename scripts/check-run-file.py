#!/usr/bin/env python3
# Checks a run file against docs/hdf5-schema.md, both ways: every documented field exists with
# its type and shape (and is read), and every field in the file is documented.
# Usage: check-run-file.py docs/hdf5-schema.md RUN.h5 [--partial]   (exit 0 when they agree)
# --partial: a real run need not hold every optional field (e.g. tensors it was not asked for);
# every field it does hold must still be documented and fit its type and shape.
import re, sys, h5py, numpy as np

doc_path, run_path = sys.argv[1], sys.argv[2]
partial = "--partial" in sys.argv[3:]
fields = []  # (text, regex, kind, type, shape)
for line in open(doc_path, encoding="utf-8"):
    cells = [c.strip() for c in line.strip().split("|")]
    if len(cells) < 7 or not cells[1].startswith("`/"):
        continue
    text, typ, shape = cells[1].strip("`"), cells[2], cells[3]
    kind = "attribute" if "@" in text else "dataset"
    pattern = "".join(".+" if part.startswith("<") else re.escape(part)
                      for part in re.split(r"(<[^>]+>)", text))
    fields.append((text, re.compile(pattern + r"\Z"), kind, typ, shape))
assert len(fields) >= 40, f"only {len(fields)} fields parsed from {doc_path}"

def fits(typ, shape, dtype, actual_shape):
    if typ == "string":
        ok = h5py.check_string_dtype(dtype) is not None
    else:
        ok = dtype == np.dtype(typ).newbyteorder("<") or dtype == np.dtype(typ)
    if not ok:
        return False
    if shape == "any":
        return True
    if shape == "scalar":
        return actual_shape == ()
    axes = [a.strip() for a in shape.strip("[]").split(",")]
    if axes[-1] in ("…", "..."):
        return len(actual_shape) >= len(axes)
    return len(actual_shape) == len(axes)

f = h5py.File(run_path, "r")
actual = []  # (name, kind, dtype, shape)

def read_attributes(path, obj):
    for name in obj.attrs:
        value = obj.attrs[name]  # reads it
        aid = obj.attrs.get_id(name)
        actual.append((("" if path == "/" else path) + "@" + name, "attribute", aid.dtype, aid.shape))

read_attributes("/", f)
def visit(name, obj):
    path = "/" + name
    read_attributes(path, obj)
    if isinstance(obj, h5py.Dataset):
        value = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]  # reads it
        actual.append((path, "dataset", obj.dtype, obj.shape))
f.visititems(visit)

# Root attributes are written as "/@name" in the document.
def key(name):
    return "/" + name if name.startswith("@") else name

problems = []
for name, kind, dtype, shape in actual:
    matching = [fd for fd in fields if fd[2] == kind and fd[1].match(key(name))]
    if not matching:
        problems.append(f"undocumented {kind} {key(name)}")
    elif not any(fits(fd[3], fd[4], dtype, shape) for fd in matching):
        problems.append(f"{key(name)}: {dtype} {shape} fits none of " + ", ".join(f"{fd[0]} ({fd[3]}, {fd[4]})" for fd in matching))
for text, regex, kind, typ, shape in fields:
    found = [a for a in actual if a[1] == kind and regex.match(key(a[0]))]
    if not any(fits(typ, shape, a[2], a[3]) for a in found) and not (partial and not found):
        problems.append(f"documented {kind} {text} ({typ}, {shape}) is not in the file")

# A few values, read the way a notebook would.
assert f.attrs["schema"] == "ablate.run" and f.attrs["schema_version"] == 1
assert f.attrs["status"] == "completed"
n = f["metrics/train/step"].shape[0]
for group in ("metrics/train", "metrics/eval"):
    lengths = {name: f[group][name].shape[0] for name in f[group]}
    assert len(set(lengths.values())) == 1, lengths
for layer in f["moe"]:
    assert all(f["moe"][layer][d].shape[0] == n for d in f["moe"][layer]), layer
slot = f["checkpoint"].attrs["current"]
assert f["checkpoint"][slot]["step"][()] == f["checkpoint"].attrs["step"]

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"ok {len(fields)} documented fields, {len(actual)} fields in the file")
