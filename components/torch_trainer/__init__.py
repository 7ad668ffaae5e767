"""The PyTorch trainer: an MLP trained with Lightning Fabric (DDP), launched by TorchX, exported.

Importing this package imports nothing heavy; torch, lightning and torchx are imported by its
modules, which only the PyTorch image loads.
"""
