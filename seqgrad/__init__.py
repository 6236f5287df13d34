"""seqgrad: measure and beat vanishing and exploding gradients in sequence models."""

__version__ = "0.1.0"
