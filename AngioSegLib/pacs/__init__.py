"""AngioSeg and a PACS: DICOMweb input and store (:mod:`.dicomweb`), a DICOM node (:mod:`.node`,
:mod:`.listen`).

Every network failure is one :class:`~AngioSegLib.errors.NetworkError` that names the server,
what went wrong and what to do; credentials come from the environment or a file, never from a
command line (where every user of the machine can read them).
"""
