"""The model core: the DCGAN networks, their typed config, seeds -> z, the training step and loop,
devices, distributed training and rendering. Imports only data, io, errors and progress."""
