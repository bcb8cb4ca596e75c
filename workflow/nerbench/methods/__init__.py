"""Model methods: the common interface, the encoder, the decoder labeler and generator, adapters."""
