"""What a run writes: the output folder and its files (:mod:`.writers`), the QCA tables
(:mod:`.tables`: qca.json, qca.csv, frames.csv), overlays (:mod:`.overlay`), QCA plots
(:mod:`.qca_plots`) and the HTML report (:mod:`.report`)."""

from AngioSegLib.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "OUTPUT_NAMES": "writers",
    "OutputOptions": "writers",
    "write_outputs": "writers",
    "render_report_html": "report",
    "qca_document": "tables",
    "write_frames_csv": "tables",
    "write_qca_json": "tables",
    "write_segments_csv": "tables",
})
