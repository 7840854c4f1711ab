"""ganlab: the DCGAN paper (Radford, Metz & Chintala, 2016) as a command-line toolkit."""

__version__ = "0.1.0"
