"""Grounding evaluation: how often a backend points inside the described element (`deskpilot eval`).

readers/    one module per data set format: samples with the image, the instruction and the target in
            the image's own pixels (each format's box convention documented where it is read)
datasets    which format a path holds, and loading it (the built-in set too)
targets     the target shapes and the one hit rule per shape (edges included)
locate      the seam: a backend, a family, an image and an instruction -> the point it would click
runner      asking for every sample (N requests in flight for a server), predictions appended to a
            JSONL file as they come so that an interrupted eval resumes (store)
scoring     hits, accuracy, per-group figures, the JSON
report      the self-contained HTML report: the table and a grid of misses
"""
