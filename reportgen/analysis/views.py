"""Pixel-budgeted views of kernels: block-pooled heatmaps and Distill-style conv filter tiles."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..types import ConvFilters, Heatmap

NAN_CODE = 255


def pool_signed_extreme(m: np.ndarray, max_rows: int, max_cols: int) -> tuple[np.ndarray, int, int]:
    """Pool to at most max_rows x max_cols cells, keeping each block's largest-|w| value with its
    sign so that clusters of high or low values survive; a block with any NaN pools to NaN.

    Works a band of block-rows at a time (~16 MB), so a large embedding costs no full copies."""
    rows, cols = m.shape
    bh, bw = math.ceil(rows / max_rows), math.ceil(cols / max_cols)
    if bh == bw == 1:
        return np.asarray(m, np.float32), 1, 1
    r2, c2 = math.ceil(rows / bh), math.ceil(cols / bw)
    pooled = np.empty((r2, c2), np.float32)
    step = max(1, (1 << 22) // (bh * c2 * bw))  # block-rows per band
    for r0 in range(0, r2, step):
        r1 = min(r2, r0 + step)
        src = m[r0 * bh: r1 * bh]
        band = np.zeros(((r1 - r0) * bh, c2 * bw), np.float32)  # zero padding never wins a block
        band[:src.shape[0], :cols] = src
        blocks = band.reshape(r1 - r0, bh, c2, bw).transpose(0, 2, 1, 3).reshape(r1 - r0, c2, bh * bw)
        score = np.abs(np.nan_to_num(blocks, nan=0.0, posinf=np.inf, neginf=np.inf))
        out = np.take_along_axis(blocks, score.argmax(-1)[..., None], -1)[..., 0]
        out[np.isnan(blocks).any(-1)] = np.nan
        pooled[r0:r1] = out
    return pooled, bh, bw


def clip_level(values: np.ndarray, percentile: float) -> float:
    """A high percentile of |finite values|: the colour limit, robust to a few outliers."""
    mags = np.abs(values[np.isfinite(values)])
    if not mags.size:
        return 1.0
    return float(np.percentile(mags, percentile)) or float(mags.max()) or 1.0


def quantize(values: np.ndarray, clip: float) -> np.ndarray:
    """Diverging uint8 codes: 0 = -clip, 127 = 0, 254 = +clip (saturating); NaN -> 255."""
    scaled = np.clip(np.nan_to_num(values, nan=0.0) / clip, -1, 1)
    codes = np.rint(scaled * 127 + 127).astype(np.uint8)
    codes[np.isnan(values)] = NAN_CODE
    return codes


def heatmap(m: np.ndarray, max_cells: int, clip_percentile: float = 99.5, max_outliers: int = 64,
            coarser_levels: int = 2) -> Heatmap:
    """The unit matrix pooled to at most max_cells per side, plus `coarser_levels` views at half,
    a quarter, ... of that side (None where the matrix fits already; for the page-size budget),
    all with one colour limit."""
    pooled, bh, bw = pool_signed_extreme(m, max_cells, max_cells)
    clip = clip_level(pooled, clip_percentile)
    coarser: list[Heatmap | None] = []
    for level in range(1, coarser_levels + 1):
        side = max(1, max_cells >> level)
        if max(pooled.shape) <= side:  # within this side already
            coarser.append(None)
            continue
        # The extreme of a block of blocks is the extreme of the whole block: pooling the pooled
        # matrix is exact (block edges align, zero padding never wins, NaN propagates).
        again, fr, fc = pool_signed_extreme(pooled, side, side)
        coarser.append(_coded(again, m.shape, bh * fr, bw * fc, clip, max_outliers))
    return dataclasses.replace(_coded(pooled, m.shape, bh, bw, clip, max_outliers), coarser=tuple(coarser))


def _coded(pooled: np.ndarray, shape: tuple[int, ...], bh: int, bw: int, clip: float, max_outliers: int) -> Heatmap:
    finite = np.isfinite(pooled)
    codes = quantize(pooled, clip)
    over = np.argwhere(finite & (np.abs(np.where(finite, pooled, 0)) > clip))
    over = sorted(over.tolist(), key=lambda rc: -abs(pooled[rc[0], rc[1]]))[:max_outliers]
    return Heatmap(codes=codes, n_rows=shape[0], n_cols=shape[1], block_rows=bh, block_cols=bw,
                   clip=clip, outliers=tuple((r, c, float(pooled[r, c])) for r, c in over))


def conv_filters(oi: np.ndarray, max_out: int, top_inputs: int) -> ConvFilters | None:
    """[out, in, kh, kw] -> tiles: RGB for 3-input kernels, one tile for depthwise (in=1), else
    per output channel its `top_inputs` input kernels ranked by L2 norm (lucid's ranking).
    Only the `max_out` output channels with the largest kernel norm are shown, in index order."""
    if oi.ndim != 4 or oi.shape[2] * oi.shape[3] == 1:
        return None  # 1-D/3-D convs and 1x1 convs: the heatmap is the faithful view
    k = np.nan_to_num(np.asarray(oi, np.float32))
    n_out, n_in = k.shape[:2]
    out_norm = np.sqrt((k ** 2).sum(axis=(1, 2, 3)))
    shown = np.sort(np.argsort(-out_norm, kind="stable")[:max_out])
    if n_in == 3:
        tiles = k[shown].transpose(0, 2, 3, 1)
        ins = tuple((0, 1, 2) for _ in shown)
        mode = "rgb"
    else:
        norms = np.sqrt((k[shown] ** 2).sum(axis=(2, 3)))  # [shown, in]
        ranked = np.argsort(-norms, axis=1, kind="stable")[:, :top_inputs]
        tiles = np.take_along_axis(k[shown], ranked[:, :, None, None], axis=1)
        ins = tuple(tuple(int(i) for i in row) for row in ranked)
        mode = "single" if n_in == 1 else "top_inputs"
    clip = clip_level(tiles, 99.0)
    if mode == "rgb":  # each channel centred at mid-grey, the convention of Distill's figures
        codes = np.rint(np.clip(0.5 + 0.5 * tiles / clip, 0, 1) * 255).astype(np.uint8)
    else:
        codes = quantize(tiles, clip)
    return ConvFilters(mode=mode, tiles=codes, out_channels=tuple(int(o) for o in shown),
                       in_channels=ins, clip=clip, n_out=n_out)
