"""The paper's experiments, one module per command: each is a plain library function over core,
data and io. No experiment imports another; what two of them share lives below them."""
