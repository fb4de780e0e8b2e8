"""The AngioSeg Slicer module's helpers, beside ``AngioSeg.py`` (as MONAIAuto3DSegLib is beside
MONAIAuto3DSeg.py), so that Slicer does not take them for modules.

- :mod:`.mrml`: MRML ↔ AngioSegLib conversions (arrays, the XA cine's volume sequence ↔
  CineRun, the sequence browser); Qt-free, its MRML-only helpers import without AngioSegLib.
- :mod:`.labelmaps`: result masks → labelmap sequences that play with the cine, and back.
- :mod:`.colors`: the vessel and coronary-segment color tables.
- :mod:`.segment_editor`: one label frame to the Segment Editor and the edit back.
- :mod:`.seg_import`: a DICOM SEG of a cine → labelmap sequence.
- :mod:`.qca_nodes`: QCA results as MRML tables and charts.
- :mod:`.outputs`: what one run adds to the scene (labels, tables, charts), and its summary.
- :mod:`.views`: showing a run's outputs in Slicer's views (needs the Slicer application).
- :mod:`.dicom_export`: the labels as DICOM SEG and their QCA as DICOM SR.
- :mod:`.options`: the panel's values → ``PipelineOptions``.
- :mod:`.results`: the bounded store of results kept for export.
- :mod:`.process`: the background worker (reads the run itself), progress and cancel.
- :mod:`.dicom_plugin`: loads a DICOM SEG of an XA cine as a labelmap sequence.
- :mod:`.dependencies`: installs AngioSeg's Python packages into Slicer's Python.
- :mod:`.selftest`: the steps of the module's self-test (``AngioSegTest``).

Nothing is imported here: each module is imported where it is used (most need AngioSegLib,
which is installed on first use).
"""
