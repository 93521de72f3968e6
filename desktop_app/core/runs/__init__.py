"""Dataset runs: a model over every row of a dataset, scored, resumable and replayable."""
