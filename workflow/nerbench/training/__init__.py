"""The training loop and what it needs: data, checkpoints, runtime setup."""
