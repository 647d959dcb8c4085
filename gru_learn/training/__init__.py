"""Training: the only layer (with ``cli``) that imports Lightning. The LightningModule, the
DataModules, the callbacks, the plain epoch loop, the batched ensemble, the checkpoint format."""
