"""One self-contained HTML page of tables and charts, readable offline.

The simulation and the reconciliation (and any other report a person would rather look
at than read) build a :class:`ReportPage`: paragraphs, tables whose cells are printed
exactly as given (pass money as the exact decimal strings of
:func:`tandem.money.format_money`, never floats), and charts drawn with matplotlib as
inline SVG. The page needs no network and no JavaScript: one file to mail or archive.

Every chart is followed by its data, as a table in a ``<details>`` block, so that what
the chart shows can be read to the last decimal (and a test can compare it with the
``--json`` output). Each table carries ``data-key`` (the key given) and each cell
``data-col`` (its column name); :func:`read_tables` reads them back.

:func:`render_check` opens a page in headless Chromium and returns the text of the DOM it
rendered: the check that a page renders, used by the tests.
"""

from __future__ import annotations

import html
import io
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReportPage", "render_check", "read_tables", "chromium_path"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em}
p.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em}th{background:#f2f2f2;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}
details{margin-bottom:1.5em}summary{cursor:pointer;color:#444}
svg{max-width:100%;height:auto}
"""


class ReportPage:
    """A report page under construction: add sections in order, then :meth:`write` it."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self._parts: list[str] = []
        self._keys: set[str] = set()

    def heading(self, text: str) -> None:
        """A section heading."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, caption: str, frame: pd.DataFrame, key: str) -> None:
        """A table of ``frame``'s rows, cells printed as given (``str()`` of each value;
        None and NaN print empty). ``key`` names it for :func:`read_tables`."""
        self._parts.append(_table_html(caption, frame, self._key(key)))

    def line_chart(
        self, caption: str, frame: pd.DataFrame, x: str, series: str, value: str, key: str
    ) -> None:
        """Lines of ``value`` over ``x``, one per distinct ``series`` (e.g. calls carried
        per carrier per hour), followed by the data table."""
        key = self._key(key)
        svg = _line_svg(frame, x, series, value)
        self._parts.append(_figure(caption, svg, frame[[x, series, value]], key))

    def bar_chart(
        self, caption: str, frame: pd.DataFrame, category: str, value: str, key: str
    ) -> None:
        """Horizontal bars of ``value`` per ``category`` (e.g. margin by destination), in
        the frame's order, followed by the data table. Negative values draw leftwards."""
        key = self._key(key)
        svg = _bar_svg(frame, category, value)
        self._parts.append(_figure(caption, svg, frame[[category, value]], key))

    def html(self) -> str:
        """The whole page as one string."""
        sub = f'<p class="sub">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>\n"
            f"<body><h1>{html.escape(self.title)}</h1>{sub}\n{body}\n</body></html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` whole or not at all; return the path."""
        target = Path(path)
        with atomic_write(target) as fh:
            fh.write(self.html())
        return target

    def _key(self, key: str) -> str:
        if key in self._keys:
            raise ValueError(f"report page key {key!r} used twice")
        self._keys.add(key)
        return key


def _cell(value: Any) -> str:
    if value is None:
        return ""
    try:
        if value != value:  # NaN
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _numeric(text: str) -> bool:
    t = text.lstrip("-+")
    return bool(t) and t.replace(".", "", 1).replace(",", "").isdigit()


def _table_html(caption: str, frame: pd.DataFrame, key: str) -> str:
    cols = [str(c) for c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(cols, record, strict=True):
            text = _cell(value)
            cls = ' class="n"' if _numeric(text) else ""
            cells.append(f'<td data-col="{html.escape(col)}"{cls}>{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table data-key="{html.escape(key)}"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _figure(caption: str, svg: str, data: pd.DataFrame, key: str) -> str:
    return (
        f"<figure><figcaption>{html.escape(caption)}</figcaption>{svg}</figure>"
        f"<details><summary>Data</summary>{_table_html(caption, data, key)}</details>"
    )


def _floats(values: Iterable[Any]) -> list[float]:
    # Drawing only: a chart needs coordinates, the exact figures are in the data table.
    out = []
    for v in values:
        text = _cell(v)
        out.append(float(text) if text else float("nan"))
    return out


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    matplotlib.rcParams["svg.hashsalt"] = "tandem"  # same data, same file
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if 0 <= start < end:  # matplotlib's RDF block: namespaces and a generator line only
        text = text[:start] + text[end + len("</metadata>") :]
    return text


def _line_svg(frame: pd.DataFrame, x: str, series: str, value: str) -> str:
    plt = _pyplot()
    xs = list(dict.fromkeys(_cell(v) for v in frame[x]))
    position = {label: i for i, label in enumerate(xs)}
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for name in dict.fromkeys(frame[series]):
        part = frame[frame[series] == name]
        ax.plot(
            [position[_cell(v)] for v in part[x]],
            _floats(part[value]),
            marker="o" if len(xs) < 30 else None,
            markersize=3,
            label=_cell(name),
        )
    step = max(1, len(xs) // 12)
    ax.set_xticks(range(0, len(xs), step), [xs[i] for i in range(0, len(xs), step)])
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(value)
    ax.grid(alpha=0.3)
    if frame[series].nunique() > 0:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _svg(fig)


def _bar_svg(frame: pd.DataFrame, category: str, value: str) -> str:
    plt = _pyplot()
    labels = [_cell(v) for v in frame[category]]
    values = _floats(frame[value])
    fig, ax = plt.subplots(figsize=(9, max(1.6, 0.28 * len(labels) + 0.8)))
    colours = ["#c0392b" if v < 0 else "#2e86c1" for v in values]
    ax.barh(range(len(labels)), values, color=colours)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#333", linewidth=0.8)
    ax.set_xlabel(value)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self._key: str | None = None
        self._row: dict[str, str] | None = None
        self._col: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        key = a.get("data-key")
        if tag == "table" and key:
            self._key = key
            self.tables[key] = []
        elif tag == "tr" and self._key is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._col = a.get("data-col") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._col is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._col is not None:
            self._row[self._col] = "".join(self._text)
            self._col = None
        elif tag == "tr" and self._row is not None and self._key is not None:
            if self._row:
                self.tables[self._key].append(self._row)
            self._row = None
        elif tag == "table":
            self._key = None


def read_tables(page: str) -> dict[str, list[dict[str, str]]]:
    """The tables of a page's HTML text (or of a DOM Chromium rendered), by key: a list of
    rows, each ``{column: cell text}``."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def chromium_path() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_check(path: str | os.PathLike[str], *, timeout: float = 90.0) -> str:
    """Open the page at ``path`` in headless Chromium and return the DOM it rendered
    (serialised HTML). Raises :class:`FileNotFoundError` when no Chromium is installed
    and :class:`RuntimeError` when it fails or renders nothing."""
    browser = chromium_path()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    url = Path(path).resolve().as_uri()
    args: Sequence[str] = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-extensions", "--virtual-time-budget=2000",
        "--dump-dom", url,
    ]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if run.returncode != 0 or "<body" not in run.stdout:
        raise RuntimeError(
            f"chromium could not render {path}: exit {run.returncode}: {run.stderr[-500:]}"
        )
    return run.stdout
