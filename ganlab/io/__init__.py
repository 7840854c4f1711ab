"""What ganlab stores on disk: atomic writes, checkpoints as records of tensors and a model
config, RUN:SPEC, run directories, images and every `--out` kind, the feature store,
concepts.json, latents files and forget masks. Knows nothing of networks: core builds them."""
