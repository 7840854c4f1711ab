"""What ganlab reads and writes on disk: atomic writes, checkpoints, run directories, images and
every `--out` kind, the feature store, concepts.json and forget masks."""
