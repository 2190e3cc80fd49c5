"""The protocol core: one module per RFC, pure functions over plain values, no I/O."""
