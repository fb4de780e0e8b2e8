"""The report (:mod:`AngioSegLib.outputs.report`) and every other output show one lesion list:
console, qca.json, qca.csv, plots, report table and SR hold the same lesions, same numbers."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

import AngioSegLib.outputs.qca_plots as plots
from AngioSegLib.outputs.qca_plots import plot_diameter_profile
from AngioSegLib.outputs.report import render_report_html
from AngioSegLib.outputs.tables import qca_document, segments_table
from AngioSegLib.pipeline import PipelineOptions, Result


def _result(phantom, analysis) -> Result:
    return Result(cine=phantom.cine, options=PipelineOptions(),
                  probabilities=phantom.masks.astype(np.float32), masks=phantom.masks,
                  analysis=analysis)


def test_one_lesion_list_in_console_json_csv_and_plots(run_analysis):
    """Every listed stenosis is its segment's own numbers when it is the segment's first, the
    console lines are the stenosis list's, and a segment's plot is titled with its most severe
    listed lesion (never with an unlisted stretch)."""
    analysis = run_analysis
    lines = analysis.summary_lines()[1:]
    assert len(lines) == max(len(analysis.stenoses), 1)
    data = qca_document(analysis)
    assert [s["percent_diameter_stenosis_percent"] for s in data["stenoses"]] == [
        s.percent_diameter_stenosis for s in analysis.stenoses]
    for segment in analysis.segments:
        listed = [s for s in analysis.stenoses if s.segment_id == segment.segment_id]
        assert segment.n_stenoses == len(listed)
        if listed:
            assert segment.percent_diameter_stenosis in [s.percent_diameter_stenosis
                                                         for s in listed]
    for stenosis, line in zip(analysis.stenoses, lines, strict=False):
        assert line.startswith(f"{stenosis.segment_label}: "
                               f"{stenosis.percent_diameter_stenosis:.0f} %DS")
    captured = {}
    original = plots.plt.Axes.set_title

    def spy(self, label, *args, **kwargs):
        captured["title"] = label
        return original(self, label, *args, **kwargs)

    plots.plt.Axes.set_title = spy
    try:
        for segment in analysis.segments:
            plot_diameter_profile(segment, analysis)
            listed = [s for s in analysis.stenoses if s.segment_id == segment.segment_id]
            if listed:
                worst = max(listed, key=lambda s: s.percent_diameter_stenosis)
                assert captured["title"].endswith(
                    f": {worst.percent_diameter_stenosis:.0f} %DS, "
                    f"{worst.percent_area_stenosis:.0f} %AS")
            else:
                assert captured["title"].endswith("no listed stenosis")
    finally:
        plots.plt.Axes.set_title = original


def test_csv_rows_are_the_segments_with_their_listed_numbers(run_analysis):
    """qca.csv's %DS of a segment with a listed stenosis is that stenosis' %DS."""
    header, *rows = segments_table(run_analysis).splitlines()
    column = header.split(",").index("percent_diameter_stenosis_percent")
    by_label = {row.split(",")[1]: row.split(",")[column] for row in rows}
    for stenosis in run_analysis.stenoses:
        segment = run_analysis.segment(stenosis.segment_id)
        if segment.listed_lesions and segment.listed_lesions[0].mld == stenosis.mld:
            assert float(by_label[stenosis.segment_label]) == stenosis.percent_diameter_stenosis


def test_report_shows_the_stenosis_list_and_what_was_excluded(small_phantom, run_analysis):
    """The report's stenosis table has a row per listed stenosis, with both MLDs."""
    page = render_report_html(_result(small_phantom, run_analysis))
    assert "MLD, densitometric" in page and "through a break" in page
    for s in run_analysis.stenoses:
        assert (f"<td>{s.segment_label}</td><td>–</td><td>{s.percent_diameter_stenosis:.0f}</td>"
                in page)  # no coronary segment named by a vessel-only model


def test_without_stenoses_the_report_names_the_threshold_used(small_phantom, run_analysis):
    """The "no stenosis" line gives the run's own ``min_stenosis_percent``, as the console does."""
    options = replace(run_analysis.options, min_stenosis_percent=35.0)
    none = replace(run_analysis, stenoses=(), options=options)
    page = render_report_html(_result(small_phantom, none))
    assert "No stenosis of 35 % diameter or more was found." in page
    assert none.summary_lines()[1] == "no stenosis of 35 % or more"
    assert not re.search(r"No stenosis of 20 %", page)
