"""Bokeh figures of neuron maps: linked PCA / UMAP / t-SNE scatters, scree plots, cross-layer maps."""
from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import numpy as np

from .structure import JointMapChart, NeuronMapChart
from .style import style

# Okabe-Ito again for clusters (at most 8), so cluster colours survive colour-blindness.
CLUSTER_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_TOOLS = "box_select,lasso_select,tap,wheel_zoom,pan,reset"


def _sequential(values: np.ndarray) -> list[str]:
    from bokeh.palettes import Viridis256

    v = np.asarray(values, np.float64)
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    idx = np.zeros(v.size, int) if hi <= lo else np.round((v - lo) / (hi - lo) * 255).astype(int)
    return [Viridis256[i] for i in idx]


def _categorical(labels: np.ndarray, palette=CLUSTER_COLORS) -> list[str]:
    from bokeh.palettes import Category20

    colours = palette if labels.max(initial=0) < len(palette) else Category20[20]
    return [colours[int(c) % len(colours)] for c in labels]


def _scatter(title: str, src, x: str, y: str, tooltips, colour: str = "c_norm", name: str = "units"):
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    p = figure(height=290, sizing_mode="stretch_width", title=title, tools=_TOOLS, toolbar_location=None,
               match_aspect=False)
    r = p.scatter(x, y, source=src, size=6, fill_color=colour, line_color=colour, fill_alpha=0.8,
                  nonselection_fill_alpha=0.12, nonselection_line_alpha=0.12,
                  name=name)  # the page's colour-by switch recolours renderers named "units"
    p.add_tools(HoverTool(renderers=[r], tooltips=tooltips))
    p.axis.major_label_text_font_size = "9px"
    p.grid.grid_line_color = "#f0f0f0"
    style(p)
    return p


def _map_data(spec: NeuronMapChart) -> dict:
    data = {"unit": spec.units, "norm": spec.norms, "top": list(spec.top_inputs), "c_norm": _sequential(spec.norms)}
    for name, xy in spec.views:
        data[f"x_{name}"], data[f"y_{name}"] = xy[:, 0], xy[:, 1]
    # Always a cluster column (all 0 when the layer has no cluster structure), so that every
    # map of one shape shares a template and the colour switch shows "one cluster" honestly.
    clusters = spec.clusters if spec.clusters is not None else np.zeros(len(spec.units), np.int32)
    data["cluster"], data["c_cluster"] = clusters, _categorical(clusters)
    if spec.groups is not None:
        data["group"], data["c_group"] = spec.groups, _categorical(spec.groups)
    return data


def _scree_data(spec: NeuronMapChart) -> tuple[dict, dict]:
    evr = np.asarray(spec.scree[:20], np.float64)
    k = np.arange(1, evr.size + 1)
    return {"x": k, "top": evr}, {"x": k, "y": np.cumsum(evr)}


def neuron_map_chart(spec: NeuronMapChart):
    from bokeh.layouts import gridplot
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    src = ColumnDataSource(_map_data(spec))  # one source: selecting in any view selects in all
    tips = [("unit", "@unit"), ("‖w‖", "@norm{0.000}"), ("cluster", "@cluster"), ("strongest inputs", "@top")]
    if spec.groups is not None:
        tips.insert(2, (spec.group_label, "@group"))
    plots = [_scatter(name.upper() if name != "tsne" else "t-SNE", src, f"x_{name}", f"y_{name}", tips)
             for name, _ in spec.views]
    bars_data, line_data = _scree_data(spec)
    scree = figure(height=290, sizing_mode="stretch_width", title="Explained variance", tools="",
                   toolbar_location=None, x_axis_label="component", y_axis_label="fraction of variance",
                   y_range=(0, 1.02))
    bars = scree.vbar(x="x", top="top", width=0.7, color="#0072B2", source=ColumnDataSource(bars_data))
    scree.line("x", "y", color="#D55E00", line_width=2, legend_label="cumulative", source=ColumnDataSource(line_data))
    scree.add_tools(HoverTool(renderers=[bars], tooltips=[("PC", "@x"), ("fraction", "@top{0.0000}")]))
    scree.legend.location = "center_right"
    scree.legend.border_line_color = None
    style(scree)
    return gridplot([[*plots, scree]], sizing_mode="stretch_width", toolbar_location="right")


def joint_map_chart(spec: JointMapChart):
    from bokeh.layouts import gridplot
    from bokeh.models import ColumnDataSource

    depth = spec.layer_of.astype(np.float64)
    data = {"layer": [spec.layers[i] for i in spec.layer_of], "unit": spec.unit_of,
            "c_layer": _sequential(depth)}
    for name, xy in spec.views:
        data[f"x_{name}"], data[f"y_{name}"] = xy[:, 0], xy[:, 1]
    src = ColumnDataSource(data)
    tips = [("layer", "@layer"), ("unit", "@unit")]
    # The first title names the group: a layout has no title of its own on the page.
    plots = [_scatter(f"{spec.title} · {name.upper()}" if k == 0 else f"{name.upper()} (dark: early, yellow: late)",
                      src, f"x_{name}", f"y_{name}", tips, "c_layer", "joint")
             for k, (name, _) in enumerate(spec.views)]
    return gridplot([plots], sizing_mode="stretch_width", toolbar_location="right")


# Building a Bokeh layout costs ~0.2-0.45 s of Python per map (its property system), and a
# model has dozens of maps of the same shape. So the first map of each shape is built and
# serialized once; later ones copy that JSON, swap in their own data and get fresh ids.
_TEMPLATES: dict[tuple, dict] = {}


def _key(spec: NeuronMapChart) -> tuple:
    return (tuple(name for name, _ in spec.views), spec.groups is not None,
            spec.group_label, min(len(spec.scree), 20))


def _template_path(key: tuple):
    """Where the CLI keeps a template between runs: named by everything that shapes it."""
    import hashlib

    import bokeh

    from .. import __version__, cache

    folder = cache.directory("templates")
    if folder is None:
        return None
    here = Path(__file__).resolve().parent
    source = b"".join((here / f).read_bytes() for f in ("maps_figures.py", "style.py"))
    digest = hashlib.sha256(repr((bokeh.__version__, __version__, key)).encode() + source).hexdigest()[:24]
    return folder / f"neuron-map-{digest}.json"


def _stored_template(key: tuple) -> dict | None:
    path = _template_path(key)
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.exists() else None
    except (OSError, ValueError):
        return None  # a damaged cache entry is rebuilt


def _store_template(key: tuple, item: dict) -> None:
    path = _template_path(key)
    if path is None:
        return
    try:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(item), encoding="utf-8")
        os.replace(tmp, path)  # concurrent runs never read half a template
    except OSError:
        pass


def _sources(node, found: list) -> list:
    """The attributes of every ColumnDataSource model in a json_item."""
    if isinstance(node, dict):
        if node.get("name") == "ColumnDataSource" and "attributes" in node:
            found.append(node["attributes"])
        for value in node.values():
            _sources(value, found)
    elif isinstance(node, list):
        for value in node:
            _sources(value, found)
    return found


def neuron_map_item(spec: NeuronMapChart) -> str:
    """json_item text of a neuron map, from the cached template of its shape when there is one."""
    from bokeh.core.serialization import Serializer
    from bokeh.embed import json_item

    key = _key(spec)
    if key not in _TEMPLATES:
        stored = _stored_template(key)
        if stored is None:
            _TEMPLATES[key] = json_item(neuron_map_chart(spec))
            _store_template(key, _TEMPLATES[key])
            return stable_ids(json.dumps(_TEMPLATES[key], separators=(",", ":")), spec.id)
        _TEMPLATES[key] = stored
    item = copy.deepcopy(_TEMPLATES[key])
    bars, line = _scree_data(spec)
    by_columns = {frozenset(bars): bars, frozenset(line): line}
    for attributes in _sources(item, []):
        columns = frozenset(entry[0] for entry in attributes["data"]["entries"])
        data = by_columns.get(columns, _map_data(spec) if "unit" in columns else None)
        attributes["data"] = Serializer(deferred=False).encode(data)
        attributes["selected"]["attributes"]["indices"] = []
    return stable_ids(json.dumps(item, separators=(",", ":")), spec.id)


_ID = re.compile(r'"(id|root_id)":"([^"\\]+)"')


def stable_ids(text: str, figure_id: str) -> str:
    """Renumber a json_item's model ids from the figure's own id, in order of first appearance.

    Bokeh's ids come from a process-wide counter, so they depend on what was built before
    (other reports in the process, whether a map template came from the cache). Ids only ever
    appear as the value of an "id" or "root_id" key (a quote inside a JSON string is escaped),
    so this touches nothing else, and the same report gives the same bytes every time.
    """
    prefix = "p" + re.sub(r"\W", "", figure_id) + "_"
    seen: dict[str, str] = {}

    def renumber(m: re.Match) -> str:
        new = seen.setdefault(m.group(2), f"{prefix}{len(seen)}")
        return f'"{m.group(1)}":"{new}"'

    return _ID.sub(renumber, text)
