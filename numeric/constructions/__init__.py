"""The float64/float32 evaluation of the Section 3 constructions (paper-notes 3): their weights, handed over as plain
numbers (`transformer.Weights`), loaded into the reference transformer and swept in batches (`sweeps`). The exact
weights themselves are built in `theory.constructions`."""
