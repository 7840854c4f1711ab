"""The model core: the DCGAN networks and everything that runs them: building them from a
checkpoint, their typed training config, seeds -> z, the training step and loop, devices,
distributed training, rendering, D's features and the metrics. Imports only io, data and the
plain records (modelconfig, errors, progress); io and data never import core."""
