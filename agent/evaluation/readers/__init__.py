"""One reader per data set format; each turns its format's own conventions into Samples (common.Sample) with
the target in the image's own pixels. agent.evaluation.datasets picks the reader for a path."""
