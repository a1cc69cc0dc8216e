"""Start a deeper or wider-charset recognizer from a trained one, reading exactly as it did at step 0.

A stage of one ``BasicBlock`` becomes the first block of a deeper stage (``stage1.*`` -> ``stage1.0.*``); the
blocks added after it, and added context blocks, start as identities: their last BatchNorm scale and shift are
zero, so ``relu(0 + x) = x`` for their (already rectified) input. Classifier rows follow the characters: a
character both charsets hold keeps its row, a new one starts with zero weight and the lowest bias of the old
rows, so it is not read until training teaches it. Training then only has to improve on the old model.

>>> import torch
>>> from rosetta.charset import Charset
>>> from rosetta.recognition.model import CTCRecognizer, RecognizerConfig
>>> old_cs, new_cs = Charset(("a", "b")), Charset(("a", "c", "b"))
>>> old = CTCRecognizer(RecognizerConfig(num_classes=old_cs.num_classes)).eval()
>>> new = CTCRecognizer(RecognizerConfig(num_classes=new_cs.num_classes, blocks=(2, 2, 2), context_blocks=2)).eval()
>>> _ = new.load_state_dict(grow_state(new.state_dict(), old.state_dict(), old_cs, new_cs))
>>> x = torch.randn(1, 1, 32, 48)
>>> a, b = old(x)[0], new(x)[0]
>>> torch.allclose(a[..., [0, 1, 2]], b[..., [0, 1, 3]], atol=1e-4)
True
"""

from __future__ import annotations

import re

import torch

from rosetta.charset import Charset


def _source_name(name: str, src: dict[str, torch.Tensor]) -> str | None:
    """The tensor of ``src`` that ``name`` (a tensor of the grown model) continues, or None for a new one."""
    if name in src:
        return name
    m = re.match(r"(stage\d)\.0\.(.*)", name)  # first block of a deeper stage <- the bare one-block stage
    if m and f"{m.group(1)}.{m.group(2)}" in src:
        return f"{m.group(1)}.{m.group(2)}"
    return None


def added_tensors(dst: dict[str, torch.Tensor], src: dict[str, torch.Tensor]) -> set[str]:
    """Names of ``dst`` (a grown model's tensors) that :func:`grow_state` starts fresh: neither continued from
    ``src`` nor the zeroed last BatchNorm of an added block (so their start values carry no meaning).

    >>> sorted(added_tensors({"stage1.0.conv1.0.weight": 0, "stage1.1.conv1.0.weight": 0,
    ...                       "stage1.1.conv2.1.weight": 0}, {"stage1.conv1.0.weight": 0}))
    ['stage1.1.conv1.0.weight']
    """
    return {name for name in dst if not name.startswith("classifier.") and _source_name(name, src) is None
            and not re.search(r"\.conv2\.1\.(weight|bias)$", name)}


def grow_state(dst: dict[str, torch.Tensor], src: dict[str, torch.Tensor], src_charset: Charset,
               dst_charset: Charset) -> dict[str, torch.Tensor]:
    """A full state dict for the model whose fresh state is ``dst``, continuing the trained ``src``."""
    out: dict[str, torch.Tensor] = {}
    for name, fresh in dst.items():
        if name.startswith("classifier."):
            out[name] = _grow_classifier(fresh, src[name], src_charset, dst_charset)
            continue
        sname = _source_name(name, src)
        if sname is not None and src[sname].shape == fresh.shape:
            out[name] = src[sname].clone().to(fresh.dtype)
        elif re.search(r"\.conv2\.1\.(weight|bias)$", name):  # last BatchNorm of an added residual block (see added_tensors)
            out[name] = torch.zeros_like(fresh)
        elif sname is not None:
            raise ValueError(f"cannot grow {name}: {tuple(src[sname].shape)} -> {tuple(fresh.shape)}")
        else:
            out[name] = fresh.clone()
    return out


def _grow_classifier(fresh: torch.Tensor, old: torch.Tensor, src_charset: Charset, dst_charset: Charset
                     ) -> torch.Tensor:
    """Rows (C, ...) of the classifier's weight or bias, re-indexed from ``src_charset`` to ``dst_charset``."""
    new = torch.zeros_like(fresh) if fresh.dim() > 1 else torch.full_like(fresh, float(old.min()))
    new[0] = old[0]  # blank
    for c, i in dst_charset.index.items():
        j = src_charset.index.get(c)
        if j is not None:
            new[i] = old[j]
    return new
